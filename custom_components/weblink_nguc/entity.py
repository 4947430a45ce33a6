"""The base entity: one NGUC item (account, user, phone or queue) per device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import NgucConfigEntry, NgucCoordinator


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
