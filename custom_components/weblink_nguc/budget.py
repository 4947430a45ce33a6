"""What an entry enables by default, and never more than Home Assistant adds to one entry.

**Enabled by default.** Home Assistant adds at most
``MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`` (10,000) enabled entities to one
config entry; disabled ones do not count. With everything enabled a user has
eight (line status, call event, calls to return, missed calls today, last
missed call, queues, paused, and the phone's registration), so a company of
about 1,200 users would not fit. The rule, after the quality scale's
``entity-disabled-by-default``:

- Per user, what people build automations and dashboards with is always
  enabled: the line status, the call event and the calls to return.
- Missed calls today, last missed call, queues, paused and the phone's
  registration start enabled only while the company followed, everything
  enabled, needs at most :data:`COMFORTABLE` entities: half the limit, so
  that the company can double, or a person enable a good deal more, before
  the limit comes near. Past that, they start disabled: three entities a
  user, so that 3,000 users and their queues fit.
- A queue's and the account's entities are as they were: queues are few, and
  each is watched as a whole.

Home Assistant applies a default once, when it first registers an entity;
afterwards the registry keeps what a person (or an earlier version) chose.
So an entity enabled or disabled stays so across reloads, upgrades and
changes of the company's size; only entities registered from then on follow
the company's size at that time.

**Never more than fits.** Home Assistant leaves out a new enabled entity once
the entry has the limit, with a warning that blames this integration and
tells nobody what to do. So, before the devices and entities of new items are
made, :meth:`EntityBudget.admit` counts what they would enable against what
the entry has enabled already (the registry's count, the same Home Assistant
checks) and what is still being added, and admits the items that fit in a
stated order: queues first, then users by name, each with their phones. An
item that does not fit gets no device and no entity, and a repair issue says
how many were left out and leads to the options, where a person chooses whom
to follow. The choice is made when an item is first seen; a reload (as
saving the options does) weighs everything again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY

from .compat import async_create_issue
from .const import DOMAIN, ISSUE_DATA_ENTRY_ID, ISSUE_ENTITY_LIMIT, LOGGER
from .data import (
    KIND_DEVICE,
    KIND_QUEUE,
    KIND_USER,
    NgucData,
    device_key,
    split_key,
    user_key,
)
from .devices import KEY_ACCOUNT

#: The most enabled entities Home Assistant adds to one config entry.
LIMIT = MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY
#: A company whose entities, all enabled, are at most this many gets them all
#: enabled by default: it fits with room to double.
COMFORTABLE = LIMIT // 2

#: The entities of a user or a phone that start enabled only in a company
#: that fits comfortably (by their description's key).
ENABLED_WHEN_COMFORTABLE = frozenset(
    {"missed_calls_today", "last_missed_call", "queues", "paused", "registered"}
)


@dataclass(frozen=True, slots=True)
class Planned:
    """An entity every item of a kind gets: where, its key, its own default."""

    platform: Platform
    key: str
    enabled_default: bool


class EntityBudget:
    """Which items of one entry get their devices and entities, and their defaults.

    Platforms say what they make of each kind of item (:meth:`expect`);
    the coordinator asks :meth:`admit` before it makes the devices of new
    items, and :meth:`left_out` before it updates a device.
    """

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, identifier: Callable[[str], str]
    ) -> None:
        """Bind to an entry; ``identifier`` makes a device identifier of an item key."""
        self._hass = hass
        self._entry = entry
        self._identifier = identifier
        self._registry = er.async_get(hass)
        self._planned: dict[str, list[Planned]] = {}
        # Items admitted with entities not registered yet, and whether they
        # were admitted with everything enabled: their entities start so.
        self._pending: dict[str, bool] = {}
        self._left_out: set[str] = set()
        #: Whether the company fitted comfortably at the last admission.
        self.everything = True
        # The users and queues left out, as the repair issue says; None
        # until the first admission, which withdraws an issue of a last run.
        self._issue: tuple[int, int] | None = None

    @property
    def _issue_id(self) -> str:
        return f"{self._entry.entry_id}_{ISSUE_ENTITY_LIMIT}"

    # --- What the platforms make -------------------------------------------------

    @callback
    def expect(
        self,
        platform: Platform,
        kinds: Iterable[tuple[str, Iterable[EntityDescription]]],
    ) -> None:
        """Note the entities ``platform`` makes for each item of each kind.

        A kind is "user", "device", "queue", or the account's key.
        """
        for kind, descriptions in kinds:
            self._planned.setdefault(kind, []).extend(
                Planned(platform, d.key, d.entity_registry_enabled_default)
                for d in descriptions
            )

    @property
    def planned(self) -> Mapping[str, Sequence[Planned]]:
        """Return what the platforms said they make, by kind of item."""
        return self._planned

    def enabled_default(self, item_key: str, description: EntityDescription) -> bool:
        """Return whether an entity of ``item_key`` starts enabled (the rule above).

        As decided when its item was admitted: its cost was counted so.
        """
        if description.key not in ENABLED_WHEN_COMFORTABLE:
            return description.entity_registry_enabled_default
        return self._pending.get(item_key, self.everything)

    # --- Admitting items -----------------------------------------------------------

    @callback
    def admit(self, data: NgucData, keys: Collection[str]) -> list[str]:
        """Return those of the new items ``keys`` whose entities fit, in order.

        Queues first, then users by name, each with their phones, then
        phones of nobody; an item whose new entities do not fit is left out
        (and a later, smaller one may still fit), and a phone of a user left
        out with them. Updates the repair issue.
        """
        everything = self.everything = self._size(data) <= COMFORTABLE
        self._left_out = {key for key in self._left_out if data.has(key)}
        room = (
            LIMIT
            - self._registry.entities.get_enabled_count_for_config_entry_id(
                self._entry.entry_id
            )
            - self._in_flight(data)
            - self._cost(KEY_ACCOUNT, everything)[0]
        )
        admitted: list[str] = []
        for unit in _in_order(data, keys):
            costs = [self._cost(key, everything) for key in unit]
            cost = sum(enabled for enabled, _ in costs)
            if cost > room or _owner_left_out(data, unit[0], self._left_out):
                self._left_out.update(unit)
                continue
            room -= cost
            for key, (_, unregistered) in zip(unit, costs, strict=True):
                self._left_out.discard(key)
                if unregistered:
                    self._pending[key] = everything
            admitted.extend(unit)
        self._update_issue(data)
        return admitted

    def left_out(self, keys: Iterable[str]) -> list[str]:
        """Return ``keys`` without the items left out: those whose devices may be made."""
        left_out = self._left_out
        return [key for key in keys if key not in left_out]

    def left_out_counts(self, data: NgucData) -> tuple[int, int]:
        """Return how many users and queues held now were left out."""
        users = queues = 0
        for key in self._left_out:
            if not data.has(key):
                continue
            kind = split_key(key)[0]
            users += kind == KIND_USER
            queues += kind == KIND_QUEUE
        return users, queues

    def _size(self, data: NgucData) -> int:
        """Return how many entities the company held would have, everything enabled."""

        def full(kind: str) -> int:
            return sum(
                planned.enabled_default or planned.key in ENABLED_WHEN_COMFORTABLE
                for planned in self._planned.get(kind, ())
            )

        return (
            full(KEY_ACCOUNT)
            + len(data.users) * full(KIND_USER)
            + len(data.devices) * full(KIND_DEVICE)
            + len(data.queues) * full(KIND_QUEUE)
        )

    def _cost(self, key: str, everything: bool) -> tuple[int, int]:
        """Return how many enabled entities the item ``key`` adds, and how many in all.

        Entities registered already are not counted: Home Assistant adds
        them whatever the count, and the count has those enabled.
        """
        planned = self._planned.get(split_key(key)[0])
        if not planned:
            return 0, 0
        prefix = self._identifier(key)
        get_entity_id = self._registry.async_get_entity_id
        enabled = unregistered = 0
        for entity in planned:
            if get_entity_id(entity.platform, DOMAIN, f"{prefix}_{entity.key}"):
                continue
            unregistered += 1
            if (
                everything
                if entity.key in ENABLED_WHEN_COMFORTABLE
                else entity.enabled_default
            ):
                enabled += 1
        return enabled, unregistered

    def _in_flight(self, data: NgucData) -> int:
        """Return the enabled entities admitted and not registered yet.

        Items all of whose entities are registered, or that are gone, are
        forgotten.
        """
        total = 0
        for key, everything in list(self._pending.items()):
            enabled, unregistered = self._cost(key, everything)
            if unregistered and data.has(key):
                total += enabled
            else:
                del self._pending[key]
        return total

    # --- The repair issue ------------------------------------------------------------

    def _update_issue(self, data: NgucData) -> None:
        counts = self.left_out_counts(data)
        if counts == self._issue:
            return
        self._issue = counts
        users, queues = counts
        if not users and not queues:
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
            return
        LOGGER.warning(
            "%s has more entities than Home Assistant adds to one entry (%s):"
            " %s users and %s queues were left out; choose whom to follow in"
            " the integration's options",
            self._entry.title,
            LIMIT,
            users,
            queues,
        )
        async_create_issue(
            self._hass,
            self._entry,
            self._issue_id,
            data={ISSUE_DATA_ENTRY_ID: self._entry.entry_id},
            is_fixable=True,
            translation_key=ISSUE_ENTITY_LIMIT,
            translation_placeholders={
                "account": self._entry.title,
                "limit": str(LIMIT),
                "users_left_out": str(users),
                "queues_left_out": str(queues),
            },
        )

    @callback
    def delete_issue(self) -> None:
        """Withdraw the repair issue (unloading)."""
        self._issue = None
        ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)


def _in_order(data: NgucData, keys: Collection[str]) -> list[tuple[str, ...]]:
    """Return the new items as units to admit, in the stated order.

    Queues by name, then users by name, each with their new phones, then
    the phones of users admitted earlier or of nobody, by name.
    """
    new = set(keys)
    queues: list[tuple[str, str, str]] = []
    users: list[tuple[str, str, str]] = []
    for key in new:
        kind, item_id = split_key(key)
        if kind == KIND_QUEUE and (queue := data.queues.get(item_id)) is not None:
            queues.append(((queue.name or queue.id).casefold(), item_id, key))
        elif kind == KIND_USER and (user := data.users.get(item_id)) is not None:
            name = user.name or user.extension or user.id
            users.append((name.casefold(), item_id, key))
    new_users = {key for *_, key in users}
    phones_of: dict[str, list[str]] = {}
    phones: list[tuple[str, str, str]] = []
    for device_id, phone in data.devices.items():
        key = device_key(device_id)
        if key not in new:
            continue
        owner = user_key(phone.user_id) if phone.user_id else None
        if owner is not None and owner in new_users:
            phones_of.setdefault(owner, []).append(key)
        else:
            name = phone.name or phone.model or phone.id
            phones.append((name.casefold(), device_id, key))
    units: list[tuple[str, ...]] = [(key,) for *_, key in sorted(queues)]
    units.extend((key, *sorted(phones_of.get(key, ()))) for *_, key in sorted(users))
    units.extend((key,) for *_, key in sorted(phones))
    return units


def _owner_left_out(data: NgucData, key: str, left_out: Collection[str]) -> bool:
    """Return whether ``key`` is a phone of a user left out: it goes with them."""
    kind, item_id = split_key(key)
    phone = data.devices.get(item_id) if kind == KIND_DEVICE else None
    return (
        phone is not None
        and phone.user_id is not None
        and user_key(phone.user_id) in left_out
    )
