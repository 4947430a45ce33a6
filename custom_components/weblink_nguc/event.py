"""Event entities of Weblink NGUC: calls of each user, and calls of each queue.

The coordinator turns call records (``Cdr``, ``QueueCdr``) and a line that
starts ringing into call events, each fired once; an entity triggers on every
one it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .calls import CALL_EVENT_TYPES, QUEUE_CALL_EVENT_TYPES, CallEvent
from .coordinator import KEY_STREAM, NgucConfigEntry, NgucCoordinator
from .data import split_key
from .entity import QUEUE, USER_LINE, ItemKind, NgucItemEntity, async_add_item_entities

# Push only: nothing is polled or sent.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NgucEventEntityDescription(EventEntityDescription):
    """Call events of one kind of item (users or queues).

    The kind is part of the description, not paired with it as on the
    sensor platforms: each kind has call events of its own.
    """

    kind: ItemKind[object]
    """The items that have this entity; their key is where their calls come."""


EVENT_DESCRIPTIONS: tuple[NgucEventEntityDescription, ...] = (
    NgucEventEntityDescription(
        key="call",
        translation_key="call",
        event_types=CALL_EVENT_TYPES,
        kind=USER_LINE,
    ),
    NgucEventEntityDescription(
        key="queue_call",
        translation_key="queue_call",
        event_types=QUEUE_CALL_EVENT_TYPES,
        kind=QUEUE,
    ),
)


def _entities(coordinator: NgucCoordinator, keys: Iterable[str]) -> list[NgucCallEvent]:
    """Return an event entity for every description of the kind of each item."""
    entities: list[NgucCallEvent] = []
    for key in keys:
        kind, item_id = split_key(key)
        entities.extend(
            NgucCallEvent(coordinator, item_id, description)
            for description in EVENT_DESCRIPTIONS
            if description.kind.kind == kind
        )
    return entities


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the event entities of the items known now, and of those that appear later."""
    # What this platform makes of each item, counted against the limit.
    entry.runtime_data.budget.expect(
        Platform.EVENT,
        [(description.kind.kind, (description,)) for description in EVENT_DESCRIPTIONS],
    )
    async_add_item_entities(entry, async_add_entities, _entities)


class NgucCallEvent(NgucItemEntity[object], EventEntity):
    """The calls of one user or one queue."""

    entity_description: NgucEventEntityDescription

    def __init__(
        self,
        coordinator: NgucCoordinator,
        item_id: str,
        description: NgucEventEntityDescription,
    ) -> None:
        """Attach to the item's device.

        Its events come through ``async_subscribe_calls``; of the state
        changes it needs only the stream's.
        """
        super().__init__(
            coordinator, description.kind, item_id, description, KEY_STREAM
        )

    @property
    @override
    def available(self) -> bool:
        """Return True while calls can arrive: the stream is up, even out of sync.

        A call event is news whatever the state read says; an entity that
        is unavailable would swallow it.
        """
        coordinator = self.coordinator
        return (
            coordinator.available or coordinator.connected
        ) and self.item_id in self.kind.ids_fn(coordinator.data)

    @override
    async def async_added_to_hass(self) -> None:
        """Listen for the item's call events; name this entity on its call records."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_subscribe_calls(self.item_key, self._async_on_call)
        )
        self.coordinator.call_entity_ids[self.item_key] = self.entity_id
        self.async_on_remove(self._forget_entity_id)

    @callback
    def _forget_entity_id(self) -> None:
        if self.coordinator.call_entity_ids.get(self.item_key) == self.entity_id:
            del self.coordinator.call_entity_ids[self.item_key]

    @callback
    def _async_on_call(self, event: CallEvent) -> None:
        self._trigger_event(event.event_type, event.data)
        self.async_write_ha_state()
