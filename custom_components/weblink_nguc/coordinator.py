"""The push coordinator: NGUC's event stream, with the state read over REST.

Events only carry changes, so the state is read over REST once the stream is
connected, after every reconnect, hourly, and soon after an event names an
item we do not know. Events are applied as they come, during a read too, and
again on top of its answer, so that an older answer never overwrites a newer
event. What changed reaches only the entities of the items it concerns,
through one registry of listeners by item key.

Other jobs live beside it: the data and what an update changes (data.py),
reading it (reader.py), devices (devices.py), call events (calls.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_time,
    async_track_time_interval,
)
from homeassistant.util import dt as dt_util

from .api import (
    Cdr,
    DeviceStatus,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucError,
    NgucEventStream,
    NgucRateLimitError,
    Queue,
    TokenSet,
    Update,
    UserStatus,
    parse_event,
)
from .api.backoff import Backoff
from .api.ratelimit import RateLimitedLog
from .calls import CallEvent, CallTracker
from .const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_TOKEN,
    DOMAIN,
    EVENT_NGUC,
    ISSUE_STREAM_REJECTED,
    LOGGER,
    RESYNC_INTERVAL,
    STREAM_GRACE,
    STREAM_REJECTED_ISSUE_AFTER,
    UNKNOWN_ITEM_RESYNC_DELAY,
)
from .data import Changes, NgucData, device_key, queue_key, split_key, user_key
from .devices import KEY_ACCOUNT, NgucDevices, key_for_event
from .follow import Following
from .reader import NgucReader, Read, async_remove_store

__all__ = [
    "KEY_ACCOUNT",
    "KEY_AVAILABILITY",
    "KEY_LAST_EVENT",
    "KEY_NEW_DAY",
    "KEY_QUEUES_OF",
    "KEY_STREAM",
    "NgucConfigEntry",
    "NgucCoordinator",
    "NgucData",
    "async_remove_store",
    "client_from_entry",
    "device_key",
    "queue_key",
    "user_key",
]

type NgucConfigEntry = ConfigEntry[NgucCoordinator]

RECENT_EVENTS = 50
# Listeners told at once; more (a resync that changed much, an availability
# flip) are told a slice of the event loop's time at a time, so that a
# company of thousands of entities does not hold the loop.
NOTIFY_AT_ONCE = 64
NOTIFY_SLICE = 0.004  # seconds
# A failed read (REST down while the stream is up) is retried with backoff.
RESYNC_RETRY_BASE = 5.0
RESYNC_RETRY_CAP = 300.0
# A list that answered 404 is read again sooner than hourly: after at least
# MISSING_RETRY_MIN seconds, then up to twice as long each time.
MISSING_RETRY_MIN = 30.0
MISSING_RETRY_BASE = 60.0
# Events kept for the read under way, one per item: past this many, the
# read is made again rather than anything lost.
HELD_EVENTS_MAX = 10_000
# Reads made for an item that events name but NGUC's lists do not, until the
# hourly read.
UNKNOWN_ITEM_READS = 3

# What to listen to besides an item's key.
KEY_STREAM = "stream"  # the stream connected or not
KEY_LAST_EVENT = "last_event"  # any event arrived
KEY_AVAILABILITY = "availability"  # only the entities became (un)available
KEY_NEW_DAY = "new_day"  # local midnight: daily counts start again
# Before a user's key: that user's queues (not their line) may have changed.
KEY_QUEUES_OF = "queues_of_"
_USER_PREFIX = user_key("")


def client_from_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> NgucClient:
    """Build the NGUC client for an entry; new tokens are stored at once."""

    @callback
    def store_tokens(tokens: TokenSet) -> None:
        # No reload: the running client already holds these tokens.
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_TOKEN: tokens.as_dict()}
        )

    token = entry.data.get(CONF_TOKEN)
    return NgucClient(
        async_get_clientsession(hass),
        company=entry.data[CONF_COMPANY],
        username=entry.data[CONF_USERNAME],
        password=entry.data.get(CONF_PASSWORD),
        tokens=TokenSet.from_dict(token) if token else None,
        api_url=entry.data[CONF_API_URL],
        events_url=entry.data[CONF_EVENTS_URL],
        on_tokens=store_tokens,
    )


class NgucCoordinator:
    """Holds one account's event stream and the state it describes.

    Platforms read :attr:`data` and :attr:`available`, and listen with
    :meth:`async_subscribe` (an item's key: what it shows may have changed),
    :meth:`async_subscribe_calls` (an item's call events) and
    :meth:`async_subscribe_items` (items that appeared).
    """

    data: NgucData

    def __init__(
        self, hass: HomeAssistant, entry: NgucConfigEntry, client: NgucClient
    ) -> None:
        """Set up; nothing is read until :meth:`async_setup`."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.stream: NgucEventStream = client.event_stream(
            self._on_event,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_rejected=self._on_rejected,
        )
        self.reader = NgucReader(hass, entry, client)
        self.devices = NgucDevices(hass, entry, self.identifier)
        self.calls = CallTracker()
        # Whom to follow (options): the data holds only those.
        self.following = Following.from_options(entry.options)
        #: The call event entity of each user and queue (item key: entity id),
        #: kept by the entities themselves, for the bus events of call records.
        self.call_entity_ids: dict[str, str] = {}
        #: False while the state may be stale: entities are unavailable.
        self.available = True
        #: True while the event stream is connected.
        self.connected = False
        #: True once the state was read after the current connection opened.
        self.in_sync = False
        self.last_event: datetime | None = None
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        # Listeners by item key (or KEY_*), of call events by item key, of new items.
        self._listeners: dict[str, dict[Callable[[], None], None]] = {}
        self._call_listeners: dict[str, dict[Callable[[CallEvent], None], None]] = {}
        self._item_listeners: dict[Callable[[Collection[str]], None], None] = {}
        # Keys still to notify, and listeners of a key being notified.
        self._unsent: dict[str, None] = {}
        self._pending: deque[tuple[str, Callable[[], None]]] = deque()
        self._notifier: asyncio.Task[None] | None = None
        self._bad_event_log = RateLimitedLog(LOGGER)
        # The events of the read under way, the latest per item.
        self._held: dict[Hashable, Update] | None = None
        self._held_overflow = False
        self._resync: asyncio.Task[None] | None = None
        self._resync_again = False
        self._read_me = False
        # Unknown items that events named: reads made for them, those due.
        self._asked: dict[str, int] = {}
        self._waiting: set[str] = set()
        self._unknown_timer: CALLBACK_TYPE | None = None
        self._unknown_at = 0.0  # when it fires, in loop time
        self._interval: CALLBACK_TYPE | None = None
        self._midnight: CALLBACK_TYPE | None = None
        self._missing_timer: CALLBACK_TYPE | None = None
        self._missing_backoff = Backoff(MISSING_RETRY_BASE, RESYNC_INTERVAL)
        self._grace: CALLBACK_TYPE | None = None
        self._lost_logged = False
        self._rejected_issue = False
        self._stopped = False

    # --- Lifecycle ---------------------------------------------------------------

    async def async_setup(self) -> None:
        """Log in if needed; raise what setup should.

        The lists are read once the event stream is connected, so that no
        event between the read and the connection is lost: one read.
        """
        try:
            me = await self.client.get_me()
        except NgucAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except NgucConnectionError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except NgucError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="unexpected_response",
                translation_placeholders={"error": str(err)},
            ) from err
        self.data = NgucData(me=me)
        await self.reader.async_load()
        self.devices.async_register_account()

    @callback
    def async_start(self) -> None:
        """Start the event stream; entities go unavailable if it stays down."""
        self.entry.async_create_background_task(
            self.hass, self._async_run_stream(), f"{DOMAIN} event stream"
        )
        self._interval = async_track_time_interval(
            self.hass,
            self._periodic_resync,
            timedelta(seconds=RESYNC_INTERVAL),
            name=f"{DOMAIN} periodic resync",
        )
        # One timer for the whole company rather than one per daily count.
        self._schedule_new_day()
        self._start_grace()

    async def async_stop(self) -> None:
        """Stop the stream and every timer and task of ours."""
        self._stopped = True
        self._cancel_resync()
        self._cancel_timers()
        if self._notifier is not None:
            self._notifier.cancel()
        await self.stream.stop()
        # A renewal under way stores its tokens before the entry starts again.
        await self.client.auth.async_close()
        # After the stream: its disconnect callback starts the grace timer.
        self._cancel_grace()
        await self.reader.async_stop(self.data)
        ir.async_delete_issue(self.hass, DOMAIN, self._rejected_issue_id)

    async def _async_run_stream(self) -> None:
        try:
            await self.stream.run()
        except NgucAuthError:
            await self._async_credentials_rejected()

    async def _async_credentials_rejected(self) -> None:
        """Stop everything until a person enters the credentials again."""
        if self._stopped:
            return
        self._stopped = True
        LOGGER.warning(
            "NGUC rejected the stored credentials; the event stream is stopped"
            " until they are entered again"
        )
        if self._resync is not asyncio.current_task():
            self._cancel_resync()
        self._resync = None
        self._held = None
        self.in_sync = False
        self._cancel_timers()
        self._cancel_grace()
        self._set_available(False, log=False)
        self.entry.async_start_reauth(self.hass)
        await self.stream.stop()
        self.connected = False
        self._notify((KEY_STREAM,))

    # --- Connection state ----------------------------------------------------------

    @callback
    def _on_connected(self) -> None:
        if self._stopped:
            return
        self.connected = True
        if self._rejected_issue:
            self._rejected_issue = False
            ir.async_delete_issue(self.hass, DOMAIN, self._rejected_issue_id)
        # Sliced like any large notification: every call event entity
        # listens to the stream.
        self._notify((KEY_STREAM,))
        self._start_resync()

    @callback
    def _on_disconnected(self) -> None:
        self.connected = False
        self.in_sync = False
        if self._stopped:
            # Unloading: no entity's availability changes, and no task of
            # ours may start now.
            self._send(KEY_STREAM)
            return
        self._notify((KEY_STREAM,))
        self._cancel_resync()
        # Counted from the first drop since the state was last current: a
        # stream that reconnects but never gets back in sync must not keep
        # postponing it, or stale state would be shown as current for good.
        if self._grace is None:
            self._start_grace()

    @callback
    def _on_rejected(self, count: int) -> None:
        """Raise a repair issue when connections with fresh tokens keep being refused."""
        if count < STREAM_REJECTED_ISSUE_AFTER or self._stopped:
            return
        self._rejected_issue = True
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._rejected_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="stream_rejected",
            translation_placeholders={"account": self.entry.title},
        )

    @property
    def _rejected_issue_id(self) -> str:
        return f"{self.entry.entry_id}_{ISSUE_STREAM_REJECTED}"

    @callback
    def _start_grace(self) -> None:
        self._cancel_grace()
        self._grace = async_call_later(self.hass, STREAM_GRACE, self._grace_expired)

    @callback
    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace()
            self._grace = None

    @callback
    def _grace_expired(self, _now: datetime) -> None:
        self._grace = None
        if not (self.connected and self.in_sync):
            self._set_available(False)

    @callback
    def _cancel_timers(self) -> None:
        for timer in (
            self._unknown_timer,
            self._interval,
            self._midnight,
            self._missing_timer,
        ):
            if timer is not None:
                timer()
        self._unknown_timer = self._interval = self._midnight = None
        self._missing_timer = None

    @callback
    def _new_day(self, _now: datetime) -> None:
        self._schedule_new_day()
        self._notify((KEY_NEW_DAY,))

    @callback
    def _schedule_new_day(self) -> None:
        """Call :meth:`_new_day` when the next local day starts.

        Not at 00:00:00 by the clock: where summer time starts at midnight,
        that time does not exist on that day, and the day starts at 01:00.
        """
        tomorrow = dt_util.now().date() + timedelta(days=1)
        self._midnight = async_track_point_in_time(
            self.hass, self._new_day, dt_util.start_of_local_day(tomorrow)
        )

    @callback
    def _set_available(self, available: bool, *, log: bool = True) -> None:
        """Flip availability; only a flip notifies, and it notifies everyone."""
        if available == self.available:
            return
        self.available = available
        if not available and log and not self._lost_logged:
            LOGGER.info(
                "Lost the NGUC event stream (%s); entities are unavailable",
                "connected, but the state cannot be read"
                if self.connected
                else self.stream.last_fault or "no connection yet",
            )
            self._lost_logged = True
        elif available and self._lost_logged:
            LOGGER.info("NGUC event stream restored")
            self._lost_logged = False
        # Every listener, whatever its key: every entity shows availability.
        self._notify(tuple(self._listeners))

    # --- Reading the state ---------------------------------------------------------

    @callback
    def _start_resync(self, *, read_me: bool = False) -> None:
        """Read the state now, or again after the read under way."""
        self._read_me |= read_me
        if self._resync is not None and not self._resync.done():
            self._resync_again = True
            return
        self._resync = self.entry.async_create_background_task(
            self.hass, self._async_resync(), f"{DOMAIN} resync"
        )

    @callback
    def _cancel_resync(self) -> None:
        self._held = None
        self._resync_again = False
        if self._resync is not None:
            self._resync.cancel()
            self._resync = None

    async def _async_resync(self) -> None:
        """Read the state, retrying with backoff; apply it and what came meanwhile."""
        backoff = Backoff(RESYNC_RETRY_BASE, RESYNC_RETRY_CAP)
        warned = False
        read_me, self._read_me = self._read_me, False
        while True:
            self._held = {}
            self._held_overflow = False
            try:
                read = await self.reader.async_read(self.data, read_me=read_me)
            except NgucAuthError:
                await self._async_credentials_rejected()
                return
            except NgucError as err:
                self._held = None
                delay = backoff.next_delay()
                if isinstance(err, NgucRateLimitError) and err.retry_after:
                    delay = max(delay, err.retry_after)
                (LOGGER.debug if warned else LOGGER.warning)(
                    "Cannot read the NGUC state (%s); retrying", err
                )
                warned = True
                await asyncio.sleep(delay)
                continue
            # Reading and comparing a large company takes a few ms each: not
            # in one go. Events meanwhile are held, as during the read.
            await asyncio.sleep(0)
            if not self._held_overflow:
                break
            LOGGER.debug("Too many events during the read; reading again")
        held, self._held = self._held, None
        self._resync = None
        self._apply_read(read, held.values())
        if self._resync_again:
            self._resync_again = False
            self._start_resync()

    def _apply_read(self, read: Read, held: Iterable[Update]) -> None:
        """Replace the data by a read's answer plus the events held meanwhile."""
        new = self.following.filter(read.data)  # follow: items not followed go
        unknown: set[str] = set()
        for update in held:
            unknown.update(new.apply(update).unknown)
        changes = self.data.diff(new)
        self.data = new
        self.calls.reset(new.statuses.values())
        if read.first_answers:
            # Devices of items removed while Home Assistant was stopped.
            kinds = self.reader.kinds_of(read.first_answers)
            self.devices.async_remove_stale(new, kinds)
        # Coming back from unavailable, the flip writes every entity.
        self._publish(changes, notify=self.available)
        self.in_sync = True
        self._cancel_grace()
        self._set_available(True)
        # Of the unknown items this read was for, those still unknown.
        waiting, self._waiting = self._waiting, set()
        if self._unknown_timer is not None:
            self._unknown_timer()
            self._unknown_timer = None
        for key in waiting:
            if new.has(key):
                self._asked.pop(key, None)
            else:
                self._asked[key] = self._asked.get(key, 0) + 1
                unknown.add(key)
        self._ask_about(unknown)
        self._retry_missing()

    @callback
    def _retry_missing(self) -> None:
        """Read again, with backoff, while a list answers 404; its items are kept."""
        if self._missing_timer is not None:
            self._missing_timer()
            self._missing_timer = None
        if not self.reader.missing_endpoints:
            self._missing_backoff.reset()
            return
        delay = max(MISSING_RETRY_MIN, self._missing_backoff.next_delay())
        self._missing_timer = async_call_later(
            self.hass, delay, self._missing_timer_fired
        )

    @callback
    def _missing_timer_fired(self, _now: datetime) -> None:
        self._missing_timer = None
        # Otherwise the reconnect reads anyway.
        if self.in_sync and self.connected:
            LOGGER.debug("Asking again for %s", self.reader.missing_endpoints)
            self._start_resync()

    @callback
    def _periodic_resync(self, _now: datetime) -> None:
        if self.in_sync and self.connected:
            LOGGER.debug("Reading the NGUC state again (hourly)")
            self._asked.clear()
            self._start_resync(read_me=True)

    @callback
    def _ask_about(self, keys: Iterable[str]) -> None:
        """Read the state again soon: events named items we do not know.

        NGUC may list a new item a little after its first event: an item
        still unknown after a read is asked about again, later, a few times.
        """
        due = {
            key
            for key in keys
            if key not in self._waiting
            and self._asked.get(key, 0) < UNKNOWN_ITEM_READS
            and self.reader.kind_answers(split_key(key)[0])
            and self.following.key(key)  # follow: not followed, not worth a read
        }
        if not due:
            return
        self._waiting |= due
        # As soon as the newest of them is due: an item NGUC never lists,
        # asked about a few times already, must not hold up a new one.
        reads = min(self._asked.get(key, 0) for key in due)
        delay = UNKNOWN_ITEM_RESYNC_DELAY * 4**reads
        at = self.hass.loop.time() + delay
        if self._unknown_timer is not None:
            if at >= self._unknown_at:
                return
            self._unknown_timer()
        LOGGER.debug("Events name items we do not know: %s", sorted(due))
        self._unknown_at = at
        self._unknown_timer = async_call_later(
            self.hass, delay, self._unknown_timer_fired
        )

    @callback
    def _unknown_timer_fired(self, _now: datetime) -> None:
        self._unknown_timer = None
        # Without a stream, the next connection reads the state anyway.
        if self.connected:
            self._start_resync()

    # --- Notifying ---------------------------------------------------------------------

    def _publish(
        self, changes: Changes, *, notify: bool, lines_only: bool = False
    ) -> None:
        """Bring devices in step and tell the entities of the items that changed.

        ``lines_only``: the changes are of lines alone, which change no
        user's queues.
        """
        if changes.removed:
            self.devices.async_remove(changes.removed)
        if changes.added or changes.renamed:
            self.devices.async_update(self.data, changes.added | changes.renamed)
        if changes.added:
            for item_listener in tuple(self._item_listeners):
                _call_listener(item_listener, changes.added)
        if notify and changes.changed:
            keys: Collection[str] = changes.changed
            if not lines_only:
                keys = [
                    *keys,
                    *(
                        KEY_QUEUES_OF + key
                        for key in keys
                        if key.startswith(_USER_PREFIX)
                    ),
                ]
            self._notify(keys)
        if changes.items_changed:
            self.reader.async_keep(lambda: self.data)

    @property
    def notifying(self) -> bool:
        """Return True while changes are still being handed to entities."""
        return bool(self._unsent or self._pending)

    def _notify(self, keys: Collection[str]) -> None:
        """Tell the listeners of ``keys``: at once if few, else a slice at a time."""
        if not (self._unsent or self._pending):
            listeners = self._listeners
            count = 0
            for key in keys:
                count += len(listeners.get(key, ()))
            if count <= NOTIFY_AT_ONCE:
                for key in keys:
                    self._send(key)
                return
        self._unsent.update(dict.fromkeys(keys))
        if self._notifier is None:
            self._notifier = self.entry.async_create_task(
                self.hass,
                self._async_notify_unsent(),
                f"{DOMAIN} notify",
                eager_start=False,
            )

    async def _async_notify_unsent(self) -> None:
        """Tell the listeners of the keys in waiting, in slices of the loop's time."""
        loop = self.hass.loop
        unsent, pending = self._unsent, self._pending
        try:
            while unsent or pending:
                until = loop.time() + NOTIFY_SLICE
                while loop.time() < until:
                    if pending:
                        key, listener = pending.popleft()
                        # Unless it went meanwhile (its entity was removed).
                        if listener in self._listeners.get(key, ()):
                            _call_listener(listener)
                    elif unsent:
                        key = next(iter(unsent))
                        del unsent[key]
                        pending.extend(
                            (key, listener) for listener in self._listeners.get(key, ())
                        )
                    else:
                        break
                await asyncio.sleep(0)
        finally:
            self._notifier = None

    def _send(self, key: str) -> None:
        # A copy: a listener may come or go meanwhile.
        if (listeners := self._listeners.get(key)) is not None:
            for listener in tuple(listeners):
                _call_listener(listener)

    def _send_call(self, call: CallEvent) -> None:
        if (listeners := self._call_listeners.get(call.item)) is not None:
            for listener in tuple(listeners):
                _call_listener(listener, call)

    @callback
    def async_subscribe(self, key: str, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` when what ``key`` stands for may have changed.

        ``key`` is an item's key (:func:`user_key`, ...), ``KEY_QUEUES_OF``
        and a user's key (that user's queues, not their line), or one of
        ``KEY_STREAM``, ``KEY_LAST_EVENT``, ``KEY_AVAILABILITY`` (nothing
        else) or ``KEY_NEW_DAY`` (local midnight). Every listener is called
        when availability flips. Returns a remover.
        """
        return _subscribe(self._listeners, key, listener)

    @callback
    def async_subscribe_calls(
        self, key: str, listener: Callable[[CallEvent], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` with each call event of the item ``key``; returns a remover."""
        return _subscribe(self._call_listeners, key, listener)

    @callback
    def async_subscribe_items(
        self, listener: Callable[[Collection[str]], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` with the keys of items that appeared; returns a remover.

        Their devices exist by then. Items that go take their devices, and so
        their entities, with them.
        """
        self._item_listeners[listener] = None
        return partial(self._item_listeners.pop, listener, None)

    def identifier(self, key: str) -> str:
        """Return the device registry identifier of an item's device."""
        return f"{self.entry.unique_id}_{key}"

    # --- Events (the hot path) -------------------------------------------------------

    @callback
    def _on_event(self, name: str, payload: Any) -> None:
        now = dt_util.utcnow()
        self.last_event = now
        self.recent_events.append({"time": now, "event": name, "data": payload})
        self._send(KEY_LAST_EVENT)
        try:
            update = parse_event(name, payload)
        except ValueError as err:
            self._bad_event_log.warning(
                "Skipping a %s event that cannot be used: %s", name, err
            )
            return
        if self.calls.on_bus(name, update, payload):
            self._fire_bus_event(name, payload, call_record=update is not None)
        if update is None:
            return  # only on the bus
        if not self.following.wants(update, self.data):
            return  # follow: the state of an item not followed
        # Calls fire as they arrive, during a read too; colleagues not
        # followed are named as well.
        names = self.following.directory(self.data)
        if (call := self.calls.event_for(update, names)) is not None:
            self._send_call(call)
        changes = self.data.apply(update)
        if self._held is not None:
            # Applied now, and again on the read's answer; what it names is
            # unknown only if that answer does not know it either.
            self._held[_held_key(update)] = update
            if len(self._held) > HELD_EVENTS_MAX:
                self._held.clear()
                self._held_overflow = True
        elif changes.unknown:
            self._ask_about(changes.unknown)
        if changes:
            # While unavailable the entities show nothing: the flip back
            # writes them all.
            self._publish(
                changes,
                notify=self.available,
                lines_only=isinstance(update, UserStatus),
            )

    def _fire_bus_event(self, name: str, payload: Any, *, call_record: bool) -> None:
        """Put an event on the bus with the device it concerns.

        A call record names the call event entity of its user or queue too,
        so that the logbook of that entity shows it.
        """
        key = key_for_event(name, payload)
        data = {
            "event": name,
            "data": payload,
            "config_entry_id": self.entry.entry_id,
            "device_id": None if key is None else self.devices.device_id(key),
        }
        if call_record and key in self.call_entity_ids:
            data[ATTR_ENTITY_ID] = self.call_entity_ids[key]
        self.hass.bus.async_fire(EVENT_NGUC, data)


def _subscribe[L: Callable[..., None]](
    registry: dict[str, dict[L, None]], key: str, listener: L
) -> CALLBACK_TYPE:
    """Add ``listener`` of ``key`` to ``registry``; return its remover."""
    registry.setdefault(key, {})[listener] = None
    return partial(_unsubscribe, registry, key, listener)


def _unsubscribe[L: Callable[..., None]](
    registry: dict[str, dict[L, None]], key: str, listener: L
) -> None:
    if (listeners := registry.get(key)) is not None:
        listeners.pop(listener, None)
        if not listeners:
            del registry[key]


def _call_listener(listener: Callable[..., None], *args: Any) -> None:
    """Call a listener; its error is logged, and the others are still called."""
    try:
        listener(*args)
    except Exception:  # noqa: BLE001 - one entity's bug must not silence the rest
        LOGGER.exception("Error in a listener of %s", DOMAIN)


def _held_key(update: Update) -> Hashable:
    """Return what an update is about: of two held updates, the later wins."""
    if isinstance(update, UserStatus):
        return (UserStatus, update.user_id)
    if isinstance(update, DeviceStatus):
        return (DeviceStatus, update.device_id)
    if isinstance(update, Queue):
        return (Queue, update.id)
    if isinstance(update, Cdr):
        # Held only for the users they name, who may be new.
        return (Cdr, update.src_user_id, update.dst_user_id)
    return (type(update), update.queue_id, update.user_id)
