"""The base entities: one NGUC item (account, user, phone or queue) per device."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, override

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Device, Queue, UserStatus
from .const import DOMAIN
from .coordinator import (
    NgucConfigEntry,
    NgucCoordinator,
    NgucData,
    device_key,
    queue_key,
    user_key,
)


@dataclass(frozen=True, kw_only=True)
class ItemKind[T]:
    """A kind of NGUC item with a device of its own: where to find one by id.

    An item of this kind exists while its id is in ``ids_fn``; its entities
    read ``T``, the value ``values_fn`` holds for that id.
    """

    key_fn: Callable[[str], str]
    """The coordinator's listener key of an item."""
    ids_fn: Callable[[NgucData], Collection[str]]
    """The ids of the items that exist now."""
    values_fn: Callable[[NgucData], Mapping[str, T]]
    """The values the entities read, by item id."""

    def exists(self, data: NgucData, item_id: str) -> bool:
        """Return whether the item is still known."""
        return item_id in self.ids_fn(data)

    def lookup(self, data: NgucData, item_id: str) -> T | None:
        """Return the item's value, None when it is not known."""
        return self.values_fn(data).get(item_id)


# A user's entities read its line status, which NGUC keeps apart from the user.
USER_LINE: ItemKind[UserStatus] = ItemKind(
    key_fn=user_key,
    ids_fn=lambda data: data.users,
    values_fn=lambda data: data.statuses,
)
PHONE: ItemKind[Device] = ItemKind(
    key_fn=device_key,
    ids_fn=lambda data: data.devices,
    values_fn=lambda data: data.devices,
)
QUEUE: ItemKind[Queue] = ItemKind(
    key_fn=queue_key,
    ids_fn=lambda data: data.queues,
    values_fn=lambda data: data.queues,
)

# Each kind with the descriptions of the entities every item of it has.
type ItemDescriptions[D: EntityDescription] = tuple[
    tuple[ItemKind[Any], tuple[D, ...]], ...
]


def item_entities[D: EntityDescription, E: Entity](
    entity_class: Callable[[NgucCoordinator, ItemKind[Any], str, D], E],
    items: ItemDescriptions[D],
) -> Callable[[NgucCoordinator], list[E]]:
    """Return a ``build`` for :func:`async_add_item_entities`.

    It makes an entity of ``entity_class`` for every description of every item
    known at the time, kind by kind.
    """

    def build(coordinator: NgucCoordinator) -> list[E]:
        return [
            entity_class(coordinator, kind, item_id, description)
            for kind, descriptions in items
            for item_id in kind.ids_fn(coordinator.data)
            for description in descriptions
        ]

    return build


@callback
def async_add_item_entities(
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    build: Callable[[NgucCoordinator], Sequence[Entity]],
) -> None:
    """Add the entities of the items known now, and of those that appear later.

    ``build`` returns the entities of every item known now; only those not yet
    added are added. The entities of items that are gone were removed with
    their devices, so they are forgotten and added again if the item returns.
    """
    coordinator = entry.runtime_data
    added: set[str | None] = set()  # unique ids

    @callback
    def add_new_entities() -> None:
        entities = build(coordinator)
        added.intersection_update(entity.unique_id for entity in entities)
        new = [entity for entity in entities if entity.unique_id not in added]
        added.update(entity.unique_id for entity in new)
        if new:
            async_add_entities(new)

    add_new_entities()
    entry.async_on_unload(coordinator.async_add_items_listener(add_new_entities))


class NgucEntity(Entity):
    """An entity that is told, by key, when its item changes.

    ``item_key`` is the coordinator's listener key ("user_86480",
    "queue_501", ...); only events about that item write this entity's state.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

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
        self.coordinator = coordinator
        self.item_key = item_key
        self.listen_key = listen_key or item_key
        self.entity_description = description
        identifier = coordinator.identifier(item_key)
        self._attr_unique_id = f"{identifier}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, identifier)})

    @property
    def available(self) -> bool:
        """Return False while the event stream is down: the state may be stale."""
        return self.coordinator.available

    async def async_added_to_hass(self) -> None:
        """Listen for changes of this entity's item only."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_subscribe(self.listen_key, self.async_write_ha_state)
        )


class NgucItemEntity[T](NgucEntity):
    """An entity of one user, phone or queue: gone when its item is gone."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        kind: ItemKind[T],
        item_id: str,
        description: EntityDescription,
        listen_key: str | None = None,
    ) -> None:
        """Attach to the device of the item ``item_id`` of ``kind``."""
        super().__init__(coordinator, kind.key_fn(item_id), description, listen_key)
        self.kind = kind
        self.item_id = item_id

    @property
    @override
    def available(self) -> bool:
        """Return False while the stream is down or the item is gone."""
        return super().available and self.kind.exists(
            self.coordinator.data, self.item_id
        )

    @property
    def item(self) -> T | None:
        """Return the item's value, None when it is not known."""
        return self.kind.lookup(self.coordinator.data, self.item_id)
