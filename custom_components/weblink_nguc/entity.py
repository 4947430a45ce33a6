"""The base entities: one NGUC item (account, user, phone or queue) per device.

An entity is a coordinator entity whose context is its item's key: it is
told of that item's changes only, and writes its state only when what it
shows changed. A platform's entity class says what it shows in
:meth:`NgucEntity._shown`.

A company of thousands has tens of thousands of entities: what is the same
for many of them (an item's key, a translation key's path, no placeholders)
is one object they share, not one each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
import sys
from types import MappingProxyType
from typing import Any, Final, override

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import BaseCoordinatorEntity

from .api import Device, Queue, UserStatus
from .budget import ENABLED_WHEN_COMFORTABLE
from .const import DOMAIN
from .coordinator import KEY_QUEUES_OF, NgucConfigEntry, NgucCoordinator
from .data import KIND_DEVICE, KIND_QUEUE, KIND_USER, Membership, NgucData, split_key


@dataclass(frozen=True, kw_only=True)
class ItemKind[T]:
    """A kind of NGUC item with a device of its own: where to find one by id.

    An item of this kind exists while its id is in ``ids_fn``; its entities
    read ``T``, the value ``value_fn`` returns for that id, and are told of
    a change through the item's key ("user_86480"), after ``listen_prefix``.
    """

    kind: str
    """The item kind, the first part of its key: "user", "device", "queue"."""
    ids_fn: Callable[[NgucData], Collection[str]]
    """The ids of the items that exist now."""
    value_fn: Callable[[NgucData, str], T | None]
    """The value the entities of one item read, None when there is none."""
    listen_prefix: str = ""
    """Put before the item's key to listen to a part of it only (KEY_QUEUES_OF)."""

    def key(self, item_id: str) -> str:
        """Return the key of an item, which names its device."""
        # One string for all the entities of an item.
        return sys.intern(f"{self.kind}_{item_id}")

    def listen_key(self, item_id: str) -> str:
        """Return what the entities of an item listen to."""
        if not self.listen_prefix:
            return self.key(item_id)
        return sys.intern(self.listen_prefix + self.key(item_id))


# A user's entities read its line status, which NGUC keeps apart from the user.
USER_LINE: ItemKind[UserStatus] = ItemKind(
    kind=KIND_USER,
    ids_fn=lambda data: data.users,
    value_fn=lambda data, item_id: data.statuses.get(item_id),
)
# A user's queue entities read the queues they are a member of; a change of
# the user's line is not told to them.
USER_QUEUES: ItemKind[tuple[Membership, ...]] = ItemKind(
    kind=KIND_USER,
    ids_fn=lambda data: data.users,
    value_fn=lambda data, item_id: data.memberships(item_id),
    listen_prefix=KEY_QUEUES_OF,
)
PHONE: ItemKind[Device] = ItemKind(
    kind=KIND_DEVICE,
    ids_fn=lambda data: data.devices,
    value_fn=lambda data, item_id: data.devices.get(item_id),
)
QUEUE: ItemKind[Queue] = ItemKind(
    kind=KIND_QUEUE,
    ids_fn=lambda data: data.queues,
    value_fn=lambda data, item_id: data.queues.get(item_id),
)

# Each kind with the descriptions of the entities every item of it has.
type ItemDescriptions[D: EntityDescription] = tuple[
    tuple[ItemKind[Any], tuple[D, ...]], ...
]
type BuildEntities[E: Entity] = Callable[[NgucCoordinator, Iterable[str]], list[E]]


def item_entities[D: EntityDescription, E: Entity](
    entity_class: Callable[[NgucCoordinator, ItemKind[Any], str, D], E],
    items: ItemDescriptions[D],
) -> BuildEntities[E]:
    """Return a ``build`` for :func:`async_add_item_entities`.

    It makes an entity of ``entity_class`` for every description of the
    kind of each item key it is given, and nothing for other kinds.
    """
    by_kind: dict[str, list[tuple[ItemKind[Any], tuple[D, ...]]]] = {}
    for kind, descriptions in items:
        by_kind.setdefault(kind.kind, []).append((kind, descriptions))

    def build(coordinator: NgucCoordinator, keys: Iterable[str]) -> list[E]:
        entities: list[E] = []
        for key in keys:
            kind_name, item_id = split_key(key)
            for kind, descriptions in by_kind.get(kind_name, ()):
                entities.extend(
                    entity_class(coordinator, kind, item_id, description)
                    for description in descriptions
                )
        return entities

    return build


@callback
def async_add_item_entities(
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[NgucCoordinator, Iterable[str]], Sequence[Entity]],
) -> None:
    """Add the entities of the items known now, and of each item that appears.

    Entities are built for the new items alone. Those of an item that goes
    are removed with its device.
    """
    coordinator = entry.runtime_data

    @callback
    def add(keys: Iterable[str]) -> None:
        if entities := build(coordinator, keys):
            async_add_entities(entities)

    add(coordinator.data.item_keys())
    entry.async_on_unload(coordinator.async_subscribe_items(add))


def attach_device(entity: Entity, coordinator: NgucCoordinator, item_key: str) -> None:
    """Attach ``entity`` to the device of the item ``item_key``.

    The coordinator registered the device: attached to it as it is, rather
    than by a DeviceInfo that the device registry would look up and update
    again for each entity (a third of a 5,000-user setup's device updates).
    """
    device_id = coordinator.devices.device_id(item_key)
    device = (
        None
        if device_id is None
        else dr.async_get(coordinator.hass).async_get(device_id)
    )
    if device is not None:
        entity.device_entry = device
    else:
        entity._attr_device_info = DeviceInfo(  # noqa: SLF001 - what a platform sets
            identifiers={(DOMAIN, coordinator.identifier(item_key))}
        )


_NOT_WRITTEN = object()
# Shared by every entity whose description has no placeholders, rather than
# an empty dict of each entity's own.
_NO_PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType({})


def _shared(value: str | None) -> str | None:
    """Return the one copy of a string many entities keep."""
    return None if value is None else sys.intern(value)


class NgucEntity(BaseCoordinatorEntity[NgucCoordinator]):
    """An entity that is told, by key, when its item may have changed.

    ``item_key`` is the item's key ("user_86480", "queue_501", ...); only
    changes of that item reach the entity, and it writes its state only when
    its availability or :meth:`_shown` differs from what it last wrote.
    """

    _attr_has_entity_name = True
    _attr_translation_placeholders = _NO_PLACEHOLDERS
    # What was last written: two attributes rather than a tuple of each
    # entity's own.
    _written_available: bool | None = None
    _written_shown: object = _NOT_WRITTEN

    def __init__(
        self,
        coordinator: NgucCoordinator,
        item_key: str,
        description: EntityDescription,
        listen_key: str | None = None,
    ) -> None:
        """Bind to an item; its device was registered by the coordinator.

        ``listen_key`` overrides what to listen to, for the account's entities
        that follow the stream or every event rather than one item.
        """
        super().__init__(coordinator, listen_key or item_key)
        self.item_key = item_key
        self.entity_description = description
        if description.translation_placeholders:
            self._attr_translation_placeholders = description.translation_placeholders
        self._attr_unique_id = f"{coordinator.identifier(item_key)}_{description.key}"
        attach_device(self, coordinator, item_key)

    # Home Assistant's own, the same for every entity of a description; kept
    # as one string (in 2026.10 and 2026.11 alike).
    @cached_property
    @override
    def _name_translation_key(self) -> str | None:
        return _shared(super()._name_translation_key)

    @cached_property
    @override
    def _unit_of_measurement_translation_key(self) -> str | None:
        return _shared(super()._unit_of_measurement_translation_key)

    @property
    def available(self) -> bool:
        """Return False while the event stream is down: the state may be stale."""
        return self.coordinator.available

    def _shown(self) -> object:
        """Return what this entity shows (state and attributes), to compare.

        Values must compare by value; availability is compared apart.
        """
        return None

    async def async_added_to_hass(self) -> None:
        """Listen for changes of this entity's item, and of availability."""
        # Every listener is told of availability flips too.
        await super().async_added_to_hass()
        # Home Assistant writes the state once added: this is what it writes.
        self._written_available = self.available
        self._written_shown = self._shown()

    async def async_update(self) -> None:
        """Do nothing: NGUC pushes every change."""

    @callback
    def _handle_coordinator_update(self) -> None:
        """Told that what this entity listens to may have changed."""
        self._async_item_changed()

    @callback
    def _async_item_changed(self) -> None:
        """Write the state if what the entity shows changed."""
        available, shown = self.available, self._shown()
        # As a tuple compares: the same object is equal to itself.
        written = self._written_shown
        if available is self._written_available and (
            shown is written or shown == written
        ):
            return
        self._written_available = available
        self._written_shown = shown
        self.async_write_ha_state()


class NgucItemEntity[T](NgucEntity):
    """An entity of one user, phone or queue: gone when its item is gone.

    What it shows is read from its item (:attr:`item`) alone: models are
    immutable and replaced when they change, so that an item that is the
    same object as at the last notification shows nothing new. An entity
    that shows more calls :meth:`_async_item_changed` itself.
    """

    # The availability and item at the last notification; two attributes
    # rather than a tuple, which the garbage collector would have to track.
    _seen_available: bool | None = None
    _seen_item: object = _NOT_WRITTEN

    def __init__(
        self,
        coordinator: NgucCoordinator,
        kind: ItemKind[T],
        item_id: str,
        description: EntityDescription,
        listen_key: str | None = None,
    ) -> None:
        """Attach to the device of the item ``item_id`` of ``kind``."""
        super().__init__(
            coordinator,
            kind.key(item_id),
            description,
            listen_key or kind.listen_key(item_id),
        )
        self.kind = kind
        self.item_id = item_id

    # available and item run for each entity told of a change: no detours.
    @property
    @override
    def available(self) -> bool:
        """Return False while the stream is down or the item is gone."""
        coordinator = self.coordinator
        return coordinator.available and self.item_id in self.kind.ids_fn(
            coordinator.data
        )

    @property
    @override
    def entity_registry_enabled_default(self) -> bool:
        """Return whether the entity starts enabled: by the company's size (budget.py)."""
        description = self.entity_description
        if description.key not in ENABLED_WHEN_COMFORTABLE:
            return super().entity_registry_enabled_default
        return self.coordinator.budget.enabled_default(self.item_key, description)

    @property
    def item(self) -> T | None:
        """Return the item's value, None when it is not known."""
        return self.kind.value_fn(self.coordinator.data, self.item_id)

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Compare what the entity shows only if its item or availability changed."""
        available = self.available
        item = self.item
        if available is self._seen_available and item is self._seen_item:
            return
        self._seen_available = available
        self._seen_item = item
        self._async_item_changed()
