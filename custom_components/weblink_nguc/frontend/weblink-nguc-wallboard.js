/**
 * The Weblink NGUC wallboard: a dashboard strategy that builds itself.
 *
 * Home Assistant's frontend calls `generate(config, hass)` each time the
 * dashboard is opened; it returns a dashboard of built-in cards for the
 * integration's devices and entities as they are then. Nothing is stored:
 * a queue or a user that is added, removed, enabled or disabled shows on the
 * next load. Entities are recognised by their translation key (their role),
 * never by their id or name, which people rename.
 *
 * Used as `strategy: {type: custom:weblink-nguc-wallboard}`; options:
 * - `wait_amber` (seconds, default 60) and `wait_red` (default 180): the
 *   longest current wait turns amber, then red, once it is past them;
 * - `layout`: `auto` (default), `single` (everything in one view) or
 *   `per_queue` (an overview, one view per queue, people in views of
 *   `people_per_view`, default 48);
 * - `entry_id`: only this config entry's devices (for more than one company);
 * - `title`: the first view's title.
 *
 * Plain JavaScript with JSDoc types, no build step and no dependency: the
 * file Home Assistant serves is this one.
 */

const DOMAIN = "weblink_nguc";
export const STRATEGY_TYPE = "weblink-nguc-wallboard";
const ELEMENT_NAME = `ll-strategy-dashboard-${STRATEGY_TYPE}`;

export const DEFAULTS = Object.freeze({
  wait_amber: 60,
  wait_red: 180,
  layout: "auto",
  people_per_view: 48,
});

// Beyond either, one view would be too long to read on a wall: an overview,
// a view per queue and views of people instead.
const SINGLE_VIEW_MAX_QUEUES = 4;
const SINGLE_VIEW_MAX_PEOPLE = 40;
// Beyond this many queue views, or views of people, they are reached from
// the overview (subviews) rather than from the tab bar, which would no
// longer fit.
const MAX_QUEUE_TABS = 8;
const MAX_PEOPLE_TABS = 4;
// Queues per section of the overview: sections flow side by side.
const OVERVIEW_QUEUES_PER_SECTION = 10;

// Line statuses (sensor.py LINE_STATES) and the colour each is shown in.
const ON_A_CALL = ["in_use", "in_use_ringing"];
const RINGING = ["ringing"];
const FREE = ["idle"];
const KNOWN_LINE_STATES = [...ON_A_CALL, ...RINGING, ...FREE];
const UNKNOWN = ["unknown", "unavailable"];

// What the wallboard itself writes, in the languages the integration speaks;
// entity names and states come translated from Home Assistant.
const TEXTS = {
  en: {
    wallboard: "Wallboard",
    overview: "Overview",
    waiting: "Waiting callers",
    who: "Who is on the phone",
    agents: "Agents",
    people: "People",
    recent: "Recent calls",
    recent_queue: "Recent queue calls",
    call_back: "Call back",
    wait_amber: "Amber past (seconds of the longest wait)",
    wait_red: "Red past (seconds of the longest wait)",
    layout: "Layout",
    layout_auto: "By the company's size",
    layout_single: "Everything in one view",
    layout_per_queue: "An overview and a view per queue",
    people_per_view: "People per view (a view per queue)",
    nothing:
      "No Weblink NGUC queue or user to show. Add the integration, or enable " +
      "its entities, then reload this page.",
  },
  sv: {
    wallboard: "Wallboard",
    overview: "Översikt",
    waiting: "Väntande uppringare",
    who: "Vem pratar i telefon",
    agents: "Agenter",
    people: "Personer",
    recent: "Senaste samtal",
    recent_queue: "Senaste kösamtal",
    call_back: "Ring tillbaka",
    wait_amber: "Gul efter (sekunder av längsta väntan)",
    wait_red: "Röd efter (sekunder av längsta väntan)",
    layout: "Upplägg",
    layout_auto: "Efter företagets storlek",
    layout_single: "Allt i en vy",
    layout_per_queue: "En översikt och en vy per kö",
    people_per_view: "Personer per vy (med en vy per kö)",
    nothing:
      "Ingen kö eller användare i Weblink NGUC att visa. Lägg till " +
      "integrationen eller aktivera dess entiteter och ladda om sidan.",
  },
};

/**
 * The texts in the language Home Assistant shows (English if not spoken).
 * @param {Hass} hass
 * @returns {typeof TEXTS.en}
 */
export function texts(hass) {
  const language = String(hass.locale?.language || hass.language || "en");
  const base = /** @type {keyof typeof TEXTS} */ (language.split("-")[0]);
  return TEXTS[base] || TEXTS.en;
}

/**
 * @typedef {object} EntityEntry Home Assistant's registry entry for display.
 * @property {string} entity_id
 * @property {string} [device_id]
 * @property {string} [platform]
 * @property {string} [translation_key]
 * @property {boolean} [hidden]
 * @property {string} [entity_category]
 *
 * @typedef {object} DeviceEntry
 * @property {string} id
 * @property {string | null} [name]
 * @property {string | null} [name_by_user]
 * @property {string | null} [model]
 * @property {string | null} [config_entry_id]
 * @property {string[]} [config_entries] before config_entry_id (kept for now)
 *
 * @typedef {object} Hass The parts of the frontend's `hass` object used here.
 * @property {Record<string, EntityEntry>} entities
 * @property {Record<string, DeviceEntry>} devices
 * @property {Record<string, {state: string, attributes: Record<string, any>}>} states
 * @property {{components?: string[]}} [config]
 * @property {string} [language]
 * @property {{language?: string}} [locale]
 *
 * @typedef {object} WallboardConfig
 * @property {string} [type]
 * @property {number} [wait_amber]
 * @property {number} [wait_red]
 * @property {"auto" | "single" | "per_queue"} [layout]
 * @property {number} [people_per_view]
 * @property {string} [entry_id]
 * @property {string} [title]
 *
 * @typedef {object} Item A queue or a user: its device and its entities by role.
 * @property {string} id The device id.
 * @property {string} name
 * @property {Record<string, string>} roles translation key -> entity id
 *
 * @typedef {Record<string, any>} Card
 */

/** Roles only a queue's device has; a user's device has none of them. */
const QUEUE_ROLES = new Set([
  "waiting",
  "current_longest_wait",
  "longest_waiting_since",
  "available_agents",
  "agents_on_call",
  "agents_paused",
  "total_agents",
  "service_level",
  "completed_today",
  "abandoned_today",
  "longest_wait",
  "average_wait",
  "queue_call",
]);
/** Roles only a user's device has. */
const USER_ROLES = new Set([
  "line_status",
  "call",
  "queues",
  "paused",
  "missed_calls_today",
  "last_missed_call",
]);

/**
 * Return the options with their defaults; thresholds that make no sense
 * (not numbers, red before amber) are an error the dashboard shows.
 * @param {WallboardConfig} config
 */
export function options(config) {
  // A field emptied in the form is no option: its default applies.
  const given = Object.entries(config || {}).filter(
    ([, value]) => value !== undefined && value !== null && value !== "",
  );
  const merged = { ...DEFAULTS, ...Object.fromEntries(given) };
  for (const key of ["wait_amber", "wait_red", "people_per_view"]) {
    const value = Number(merged[key]);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`${STRATEGY_TYPE}: ${key} must be a number of 0 or more`);
    }
    merged[key] = value;
  }
  if (merged.wait_red < merged.wait_amber) {
    throw new Error(`${STRATEGY_TYPE}: wait_red must not be below wait_amber`);
  }
  if (!["auto", "single", "per_queue"].includes(merged.layout)) {
    throw new Error(`${STRATEGY_TYPE}: layout must be auto, single or per_queue`);
  }
  merged.people_per_view = Math.max(1, Math.floor(merged.people_per_view));
  return merged;
}

/**
 * Find the integration's queues, users and account among the devices.
 *
 * An entity counts only if it is this integration's, enabled (the frontend
 * lists no disabled entity), not hidden, and has a state: no card may name
 * an entity that is not there.
 * @param {Hass} hass
 * @param {string} [entryId]
 * @returns {{queues: Item[], users: Item[], account: Item[]}}
 */
export function collect(hass, entryId) {
  /** @type {Map<string, Record<string, string>>} */
  const byDevice = new Map();
  for (const entry of Object.values(hass.entities || {})) {
    if (
      entry.platform !== DOMAIN ||
      !entry.device_id ||
      !entry.translation_key ||
      entry.hidden ||
      !(entry.entity_id in (hass.states || {}))
    ) {
      continue;
    }
    const roles = byDevice.get(entry.device_id) || {};
    // Several entities of one role on a device do not happen; keep the first.
    roles[entry.translation_key] ??= entry.entity_id;
    byDevice.set(entry.device_id, roles);
  }
  /** @type {{queues: Item[], users: Item[], account: Item[]}} */
  const found = { queues: [], users: [], account: [] };
  for (const [deviceId, roles] of byDevice) {
    const device = (hass.devices || {})[deviceId];
    if (!device) continue;
    if (entryId && !belongsTo(device, entryId)) continue;
    const name = device.name_by_user || device.name || deviceId;
    const keys = Object.keys(roles);
    /** @type {Item} */
    const item = { id: deviceId, name, roles };
    if (keys.some((key) => QUEUE_ROLES.has(key))) {
      found.queues.push(item);
    } else if (keys.some((key) => USER_ROLES.has(key))) {
      found.users.push(item);
    } else if ("event_stream" in roles) {
      found.account.push(item);
    } else if (device.model === "Call queue") {
      // Only its calls to return are enabled.
      found.queues.push(item);
    } else if (device.model === "PBX user") {
      found.users.push(item);
    }
  }
  const byName = (/** @type {Item} */ a, /** @type {Item} */ b) =>
    a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  found.queues.sort(byName);
  found.users.sort(byName);
  return found;
}

/**
 * Whether a device is of a config entry (`config_entry_id` from Home
 * Assistant 2026.10 on; `config_entries` before, and kept for a while).
 * @param {DeviceEntry} device
 * @param {string} entryId
 */
function belongsTo(device, entryId) {
  if (device.config_entry_id) return device.config_entry_id === entryId;
  return (device.config_entries || []).includes(entryId);
}

/**
 * A URL path made of a name: lower case letters, digits and dashes.
 * @param {string} name
 */
export function slug(name) {
  const plain = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return plain || "item";
}

// --- Cards ------------------------------------------------------------------

/**
 * A tile of one entity, named by its role as Home Assistant translates it.
 * @param {string} entity
 * @param {Card} [extra]
 * @returns {Card}
 */
function tile(entity, extra = {}) {
  return { type: "tile", entity, name: { type: "entity" }, ...extra };
}

/**
 * A card shown only while all `conditions` hold.
 * @param {Card} card
 * @param {Card[]} conditions
 * @returns {Card}
 */
function shownWhen(card, conditions) {
  return { ...card, visibility: conditions };
}

/**
 * @param {string} entity
 * @param {number} value
 */
const above = (entity, value) => ({ condition: "numeric_state", entity, above: value });
/**
 * @param {string} entity
 * @param {string[]} states
 */
const inStates = (entity, states) => ({ condition: "state", entity, state: states });
/** @param {Card[]} conditions */
const not = (conditions) => ({ condition: "not", conditions });
/** @param {Card[]} conditions */
const or = (conditions) => ({ condition: "or", conditions });

/**
 * One tile per colour of a wait, each shown while the wait is in its band:
 * green up to `amber` seconds, amber past it, red past `red`; uncoloured
 * while unknown. Exactly one is shown at a time.
 * @param {Card} card the tile, without colour
 * @param {string} wait the entity of the current longest wait
 * @param {{wait_amber: number, wait_red: number}} opts
 * @returns {Card[]}
 */
export function waitColoured(card, wait, opts) {
  return [
    shownWhen({ ...card }, [inStates(wait, UNKNOWN)]),
    shownWhen({ ...card, color: "green" }, [
      not([or([inStates(wait, UNKNOWN), above(wait, opts.wait_amber)])]),
    ]),
    shownWhen({ ...card, color: "amber" }, [
      above(wait, opts.wait_amber),
      not([above(wait, opts.wait_red)]),
    ]),
    shownWhen({ ...card, color: "red" }, [above(wait, opts.wait_red)]),
  ];
}

/**
 * A user's line status as tiles, one per colour, shown in its statuses:
 * green free, amber ringing, red on a call; grey offline or unknown.
 * @param {Item} user
 * @returns {Card[]}
 */
export function lineTiles(user) {
  const line = user.roles.line_status;
  if (!line) return [];
  const card = {
    type: "tile",
    entity: line,
    name: { type: "device" },
    grid_options: { columns: 6 },
  };
  return [
    shownWhen({ ...card, color: "green" }, [inStates(line, FREE)]),
    shownWhen({ ...card, color: "amber" }, [inStates(line, RINGING)]),
    shownWhen({ ...card, color: "red" }, [inStates(line, ON_A_CALL)]),
    shownWhen({ ...card, color: "disabled" }, [
      { condition: "state", entity: line, state_not: KNOWN_LINE_STATES },
    ]),
  ];
}

/**
 * A heading card.
 * @param {string} heading
 * @param {string} icon
 * @param {Card} [extra]
 * @returns {Card}
 */
function heading(heading, icon, extra = {}) {
  return { type: "heading", heading, icon, ...extra };
}

/**
 * @typedef {object} Context What every part of the dashboard is built with.
 * @property {ReturnType<typeof options>} opts
 * @property {ReturnType<typeof texts>} t
 * @property {Hass} hass
 */

/**
 * Everything about one queue: waiting callers and the longest wait
 * (coloured), agents, service level, today's calls, its calls to return
 * (unless they are shown elsewhere).
 * @param {Item} queue
 * @param {Context} ctx
 * @param {boolean} [withCallBack]
 * @returns {Card[]}
 */
export function queueCards(queue, ctx, withCallBack = true) {
  const r = queue.roles;
  /** @type {Card[]} */
  const cards = [heading(queue.name, "mdi:phone-in-talk")];
  const wait = r.current_longest_wait;
  if (r.waiting) {
    const waiting = tile(r.waiting, { icon: "mdi:account-clock" });
    cards.push(...(wait ? waitColoured(waiting, wait, ctx.opts) : [waiting]));
  }
  if (wait) {
    cards.push(...waitColoured(tile(wait, { icon: "mdi:timer-sand" }), wait, ctx.opts));
  }
  for (const role of [
    "available_agents",
    "agents_on_call",
    "agents_paused",
    "service_level",
    "completed_today",
    "abandoned_today",
  ]) {
    if (r[role]) cards.push(tile(r[role]));
  }
  if (withCallBack) cards.push(...callBack(queue, ctx.t.call_back));
  return cards;
}

/**
 * A queue's calls to return, if its list is there.
 * @param {Item} queue
 * @param {string} title
 * @returns {Card[]}
 */
function callBack(queue, title) {
  if (!queue.roles.calls_to_return) return [];
  return [
    {
      type: "todo-list",
      entity: queue.roles.calls_to_return,
      title,
      hide_create: true,
      hide_completed: true,
    },
  ];
}

/**
 * A section of the activity of call event entities (recent calls), if
 * there are any and Home Assistant records activity (its logbook).
 * @param {string[]} events
 * @param {string} title
 * @param {Context} ctx
 * @returns {Card[]}
 */
function recentCallsSection(events, title, ctx) {
  const components = ctx.hass.config?.components;
  if (!events.length || !components || !components.includes("logbook")) return [];
  return [
    {
      type: "grid",
      cards: [
        heading(title, "mdi:phone-log"),
        { type: "logbook", target: { entity_id: events }, hours_to_show: 24 },
      ],
    },
  ];
}

/**
 * The badges of a view: the event stream's connection, so that a stale
 * board says so.
 * @param {Item[]} account
 * @returns {Card[]}
 */
function badges(account) {
  return account
    .filter((item) => item.roles.event_stream)
    .map((item) => ({
      type: "entity",
      entity: item.roles.event_stream,
      name: { type: "entity" },
      show_name: true,
    }));
}

/**
 * Split a list in chunks of `size`.
 * @template T
 * @param {T[]} list
 * @param {number} size
 * @returns {T[][]}
 */
function chunks(list, size) {
  /** @type {T[][]} */
  const out = [];
  for (let start = 0; start < list.length; start += size) {
    out.push(list.slice(start, start + size));
  }
  return out;
}

/**
 * "A–F": the initials of the first and last name of a group of people.
 * @param {Item[]} group
 */
function initials(group) {
  const first = group[0].name.charAt(0).toUpperCase();
  const last = group[group.length - 1].name.charAt(0).toUpperCase();
  return first === last ? first : `${first}–${last}`;
}

/**
 * The section of who is on the phone among `users`, two columns wide.
 * @param {Item[]} users
 * @param {string} title
 * @returns {Card}
 */
function peopleSection(users, title) {
  return {
    type: "grid",
    column_span: 2,
    cards: [heading(title, "mdi:account-group"), ...users.flatMap(lineTiles)],
  };
}

/**
 * A view of sections.
 * @param {Record<string, any>} fields
 * @param {Card[]} sections
 * @param {Item[]} account
 */
function sectionsView(fields, sections, account) {
  return { type: "sections", max_columns: 4, badges: badges(account), ...fields, sections };
}

// --- Views ------------------------------------------------------------------

/**
 * One view with everything: each queue, who is on the phone, recent calls.
 * @param {{queues: Item[], users: Item[], account: Item[]}} found
 * @param {Context} ctx
 */
function singleView(found, ctx) {
  // The figures first, who is on the phone next: the lists of calls to
  // return, whose height varies, come after, all together.
  const sections = found.queues.map((queue) => ({
    type: "grid",
    cards: queueCards(queue, ctx, false),
  }));
  if (found.users.some((user) => user.roles.line_status)) {
    sections.push(peopleSection(found.users, ctx.t.who));
  }
  const lists = found.queues.flatMap((queue) => callBack(queue, queue.name));
  if (lists.length) {
    sections.push({
      type: "grid",
      cards: [heading(ctx.t.call_back, "mdi:phone-return"), ...lists],
    });
  }
  const events = [
    ...found.queues.map((queue) => queue.roles.queue_call),
    ...found.users.map((user) => user.roles.call),
  ].filter(Boolean);
  sections.push(...recentCallsSection(events, ctx.t.recent, ctx));
  const title = ctx.opts.title || ctx.t.wallboard;
  return [
    sectionsView({ title, path: "wallboard", icon: "mdi:phone-classic" }, sections, found.account),
  ];
}

/**
 * An overview of every queue, a view per queue, and views of people.
 * @param {{queues: Item[], users: Item[], account: Item[]}} found
 * @param {Context} ctx
 */
function perQueueViews(found, ctx) {
  const { opts, t } = ctx;
  const subview = { subview: true, back_path: "overview" };
  const queueSub = found.queues.length > MAX_QUEUE_TABS ? subview : {};
  /** @type {Set<string>} */
  const paths = new Set(["overview"]);
  /** @param {string} wanted */
  const uniquePath = (wanted) => {
    let path = wanted;
    for (let n = 2; paths.has(path); n += 1) path = `${wanted}-${n}`;
    paths.add(path);
    return path;
  };
  const queuePaths = found.queues.map((queue) => uniquePath(`queue-${slug(queue.name)}`));
  const groups = chunks(
    found.users.filter((user) => user.roles.line_status),
    opts.people_per_view,
  );
  const groupPaths = groups.map((group) => uniquePath(`people-${slug(initials(group))}`));

  // The overview: a tile per queue (its waiting callers, coloured by its
  // longest wait) that opens the queue's view, and where the people are.
  const queueGroups = chunks(
    found.queues.map((queue, index) => ({ queue, path: queuePaths[index] })),
    OVERVIEW_QUEUES_PER_SECTION,
  );
  const overview = queueGroups.map((group, index) => {
    const first = index * OVERVIEW_QUEUES_PER_SECTION + 1;
    const title =
      queueGroups.length > 1 ? `${t.waiting} ${first}–${first + group.length - 1}` : t.waiting;
    /** @type {Card[]} */
    const cards = [heading(title, "mdi:phone-in-talk")];
    for (const { queue, path } of group) {
      const r = queue.roles;
      const card = {
        type: "tile",
        entity: r.waiting || r.current_longest_wait || Object.values(r)[0],
        name: queue.name,
        icon: "mdi:account-clock",
        tap_action: { action: "navigate", navigation_path: path },
        grid_options: { columns: 12 },
      };
      const wait = r.current_longest_wait;
      cards.push(...(wait ? waitColoured(card, wait, opts) : [card]));
    }
    return { type: "grid", cards };
  });
  if (groups.length) {
    overview.push({
      type: "grid",
      cards: [
        heading(t.who, "mdi:account-group"),
        ...groups.map((group, index) => ({
          type: "button",
          name: `${initials(group)} (${group.length})`,
          icon: "mdi:account-group",
          tap_action: { action: "navigate", navigation_path: groupPaths[index] },
          grid_options: { columns: 4, rows: 2 },
        })),
      ],
    });
  }
  const queueEvents = found.queues.map((queue) => queue.roles.queue_call).filter(Boolean);
  overview.push(...recentCallsSection(queueEvents, t.recent_queue, ctx));

  // No icons: the tab bar shows the views' titles, the queues' names.
  const views = [
    sectionsView(
      { title: opts.title || t.overview, path: "overview" },
      overview,
      found.account,
    ),
  ];
  found.queues.forEach((queue, index) => {
    const sections = [{ type: "grid", cards: queueCards(queue, ctx) }];
    const members = membersOf(queue, found.users, ctx.hass);
    if (members.length) sections.push(peopleSection(members, t.agents));
    const events = queue.roles.queue_call ? [queue.roles.queue_call] : [];
    sections.push(...recentCallsSection(events, t.recent, ctx));
    views.push(
      sectionsView(
        { title: queue.name, path: queuePaths[index], ...queueSub },
        sections,
        found.account,
      ),
    );
  });
  groups.forEach((group, index) => {
    // Sections of 12 people flow side by side.
    const sections = chunks(group, 12).map((part) =>
      peopleSection(part, `${part[0].name} – ${part[part.length - 1].name}`),
    );
    views.push(
      sectionsView(
        {
          title: `${t.people} ${initials(group)}`,
          path: groupPaths[index],
          ...(groups.length > MAX_PEOPLE_TABS ? subview : {}),
        },
        sections,
        found.account,
      ),
    );
  });
  return views;
}

/**
 * The users who are agents of a queue, as their queues sensor lists them.
 * NGUC names a membership by the queue's name, as it names the queue's device.
 * @param {Item} queue
 * @param {Item[]} users
 * @param {Hass} hass
 */
function membersOf(queue, users, hass) {
  return users.filter((user) => {
    const sensor = user.roles.queues;
    const listed = sensor && hass.states[sensor]?.attributes?.queues;
    return (
      Array.isArray(listed) &&
      user.roles.line_status &&
      listed.some((membership) => membership && membership.name === queue.name)
    );
  });
}

/**
 * Build the dashboard.
 * @param {WallboardConfig} config
 * @param {Hass} hass
 */
export function generateDashboard(config, hass) {
  /** @type {Context} */
  const ctx = { opts: options(config), t: texts(hass), hass };
  const found = collect(hass, ctx.opts.entry_id);
  const title = ctx.opts.title || ctx.t.wallboard;
  if (!found.queues.length && !found.users.length) {
    return {
      views: [
        {
          title,
          type: "panel",
          cards: [{ type: "markdown", content: ctx.t.nothing }],
        },
      ],
    };
  }
  const perQueue =
    ctx.opts.layout === "per_queue" ||
    (ctx.opts.layout === "auto" &&
      (found.queues.length > SINGLE_VIEW_MAX_QUEUES ||
        found.users.length > SINGLE_VIEW_MAX_PEOPLE));
  return { views: perQueue ? perQueueViews(found, ctx) : singleView(found, ctx) };
}

// --- The custom element Home Assistant looks for ------------------------------

const Base = globalThis.HTMLElement ?? class {};

export class WeblinkNgucWallboardStrategy extends Base {
  /**
   * @param {WallboardConfig} config
   * @param {Hass} hass
   */
  static async generate(config, hass) {
    return generateDashboard(config, hass);
  }

  /** The form that *Edit dashboard* shows for the options. */
  static async getConfigElement() {
    return document.createElement(EDITOR_NAME);
  }
}

const EDITOR_NAME = `${STRATEGY_TYPE}-editor`;

/**
 * The options as a form of Home Assistant's own fields (`ha-form`); what is
 * changed is told with a `config-changed` event, as the dashboard's editor
 * expects of a strategy's editor.
 */
export class WeblinkNgucWallboardEditor extends Base {
  constructor() {
    super();
    /** @type {WallboardConfig} */
    this._config = {};
    /** @type {Hass | undefined} */
    this._hass = undefined;
    /** @type {any} */
    this._form = undefined;
  }

  /** @param {WallboardConfig} config */
  setConfig(config) {
    this._config = config || {};
    this._render();
  }

  /** @param {Hass} hass */
  set hass(hass) {
    this._hass = hass;
    this._render();
  }

  _render() {
    if (!this._hass) return;
    const t = texts(this._hass);
    if (!this._form) {
      this._form = document.createElement("ha-form");
      this._form.addEventListener("value-changed", (/** @type {CustomEvent} */ event) => {
        event.stopPropagation();
        const config = { ...this._config, ...event.detail.value };
        this.dispatchEvent(
          new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }),
        );
      });
      /** @type {any} */ (this).appendChild(this._form);
    }
    const seconds = {
      number: { min: 0, max: 86400, step: 1, mode: "box", unit_of_measurement: "s" },
    };
    this._form.hass = this._hass;
    this._form.schema = [
      { name: "wait_amber", required: true, selector: seconds },
      { name: "wait_red", required: true, selector: seconds },
      {
        name: "layout",
        required: true,
        selector: {
          select: {
            mode: "dropdown",
            options: ["auto", "single", "per_queue"].map((value) => ({
              value,
              label: t[/** @type {keyof typeof t} */ (`layout_${value}`)],
            })),
          },
        },
      },
      {
        name: "people_per_view",
        required: true,
        selector: { number: { min: 1, max: 500, mode: "box" } },
      },
    ];
    this._form.data = { ...DEFAULTS, ...this._config };
    this._form.computeLabel = (/** @type {{name: keyof typeof t}} */ field) => t[field.name];
  }
}

if (globalThis.customElements && !customElements.get(ELEMENT_NAME)) {
  customElements.define(ELEMENT_NAME, WeblinkNgucWallboardStrategy);
}
if (globalThis.customElements && !customElements.get(EDITOR_NAME)) {
  customElements.define(EDITOR_NAME, WeblinkNgucWallboardEditor);
}

if (globalThis.window) {
  const strategies = (window.customStrategies = window.customStrategies || []);
  if (!strategies.some((entry) => entry.type === STRATEGY_TYPE)) {
    strategies.push({
      type: STRATEGY_TYPE,
      strategyType: "dashboard",
      name: "Weblink NGUC wallboard",
      description:
        "Queues, waiting callers and who is on the phone, built from your " +
        "Weblink NGUC devices.",
      documentationURL: "https://github.com/weblink-nguc-ha/weblink_nguc#wallboard",
    });
  }
}
