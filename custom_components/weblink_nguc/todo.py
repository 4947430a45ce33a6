"""To-do lists of Weblink NGUC: the calls each user and each queue has to return.

The lists themselves (what calls add and complete, what is stored) live in
callbacks.py; an entity shows one and passes people's edits to it. An entity
removed while its entry stays loaded (its user or queue went from NGUC, or
is no longer followed, and its device with it) takes its list along.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import override

from homeassistant.components.todo.const import TodoListEntityFeature
from homeassistant.components.todo.entity import TodoItem, TodoListEntity
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .callbacks import CallbackLists
from .const import DOMAIN
from .coordinator import NgucConfigEntry, NgucCoordinator
from .data import KIND_QUEUE, KIND_USER, split_key
from .entity import async_add_item_entities, attach_device
from .followup import followup_of

# Nothing is polled or sent to NGUC.
PARALLEL_UPDATES = 0

CALLS_TO_RETURN = EntityDescription(
    key="calls_to_return", translation_key="calls_to_return"
)
# The items that have a list: users and queues.
LIST_KINDS = (KIND_USER, KIND_QUEUE)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a list for every user and queue, now and as they appear."""
    followup = followup_of(hass, entry)
    if followup is None:  # pragma: no cover - set up before the platforms
        return
    lists = followup.lists
    # What this platform makes of each item, counted against the limit.
    entry.runtime_data.budget.expect(
        Platform.TODO, [(kind, (CALLS_TO_RETURN,)) for kind in LIST_KINDS]
    )

    def build(coordinator: NgucCoordinator, keys: Iterable[str]) -> list[CallsToReturn]:
        return [
            CallsToReturn(coordinator, lists, key)
            for key in keys
            if split_key(key)[0] in LIST_KINDS
        ]

    async_add_item_entities(entry, async_add_entities, build)


class CallsToReturn(TodoListEntity):
    """The calls one user or one queue has to return.

    Always available: the list is Home Assistant's own, usable while NGUC
    is out of reach.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_supported_features = (
        TodoListEntityFeature.CREATE_TODO_ITEM
        | TodoListEntityFeature.UPDATE_TODO_ITEM
        | TodoListEntityFeature.DELETE_TODO_ITEM
        | TodoListEntityFeature.SET_DESCRIPTION_ON_ITEM
    )
    entity_description = CALLS_TO_RETURN

    def __init__(
        self, coordinator: NgucCoordinator, lists: CallbackLists, key: str
    ) -> None:
        """Show the list of the user or queue ``key``, on its device."""
        self._entry = coordinator.entry
        self._lists = lists
        self._key = key
        identifier = coordinator.identifier(key)
        self._attr_unique_id = f"{identifier}_{CALLS_TO_RETURN.key}"
        attach_device(self, coordinator, key)
        self._attr_todo_items = lists.items(key)

    @override
    async def async_added_to_hass(self) -> None:
        """Show the list again whenever it changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self._lists.async_listen(self._key, self._changed))

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Drop the list when the entity goes for good, not when the entry unloads."""
        await super().async_will_remove_from_hass()
        # Gone from the registry (with its device): not disabled, not unloaded.
        if (
            self._entry.state is ConfigEntryState.LOADED
            and er.async_get(self.hass).async_get(self.entity_id) is None
        ):
            self._lists.forget(self._key)

    @callback
    def _changed(self) -> None:
        self._attr_todo_items = self._lists.items(self._key)
        self.async_write_ha_state()

    @override
    async def async_create_todo_item(self, item: TodoItem) -> None:
        """Add a person's own item."""
        self._lists.create(self._key, item)

    @override
    async def async_update_todo_item(self, item: TodoItem) -> None:
        """Tick, untick or edit an item."""
        if not self._lists.update(self._key, item):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="item_not_found",
                translation_placeholders={"uid": item.uid or ""},
            )

    @override
    async def async_delete_todo_items(self, uids: list[str]) -> None:
        """Delete items."""
        self._lists.delete(self._key, uids)
