"""The options flow of Weblink NGUC: whom to follow among the company's users and queues."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.data_entry_flow import FlowHandler, FlowResult
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio as vol

from .api import Queue, User
from .coordinator import NgucConfigEntry, NgucCoordinator
from .follow import CONF_QUEUES, CONF_USERS, chosen


class NgucOptionsFlow(OptionsFlowWithReload):
    """Choose whom to follow among the company's users and queues.

    The form offers the whole company as last read (from disk, while a list
    has not answered since a restart), plus the items followed that NGUC no
    longer lists, with those followed selected. An empty choice follows
    everyone, also those NGUC lists later, so the form of a company of a
    thousand users starts empty rather than with a thousand items to take
    away one by one; any other choice follows exactly the items chosen, even
    when that is every item listed (:func:`.follow.chosen`). The form says
    when the company's lists could not be read lately.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the company's users and queues; store the choice and reload."""
        return follow_step(
            self,
            self.config_entry,
            user_input,
            lambda options: self.async_create_entry(data=options),
        )


def follow_step[R: FlowResult[Any, Any]](
    flow: FlowHandler[Any, R, Any],
    entry: ConfigEntry,
    user_input: dict[str, Any] | None,
    save: Callable[[dict[str, Any]], R],
    *,
    placeholders: Mapping[str, str] | None = None,
    step_id: str = "init",
) -> R:
    """Run the step "whom to follow" of ``flow``; ``save`` stores the new options.

    The options flow's one step, and the fix flow of the repair issue that
    says entities were left out for lack of room (repairs.py): one form,
    one way to store it. ``placeholders`` are more for the description;
    ``step_id`` is the step's in ``flow``.
    """
    coordinator = _coordinator(entry)
    company = None if coordinator is None else coordinator.company()
    if coordinator is None or company is None:
        return flow.async_abort(reason="not_read_yet")
    followed = {
        key: [str(item_id) for item_id in entry.options[key]]
        for key in (CONF_USERS, CONF_QUEUES)
        if entry.options.get(key) is not None
    }
    listed = {
        CONF_USERS: _user_options(company.users.values()),
        CONF_QUEUES: _queue_options(company.queues.values()),
    }
    counts = {key: str(len(items)) for key, items in listed.items()}
    counts.update(placeholders or {})
    suggested: dict[str, list[str]] = {}
    for key, items in listed.items():
        if key not in followed:
            continue
        # Followed but not listed (removed from NGUC, or not read yet):
        # offered too, by id, so that an unchanged form keeps them.
        kept = set(followed[key])
        offered = {item["value"] for item in items}
        items.extend(
            SelectOptionDict(value=item_id, label=item_id)
            for item_id in sorted(kept - offered)
        )
        # In the order of the names.
        suggested[key] = [item["value"] for item in items if item["value"] in kept]
    if user_input is not None:
        options = {
            key: value for key, value in entry.options.items() if key not in listed
        }
        for key in listed:
            ids = chosen(user_input.get(key))
            if ids is not None:
                options[key] = ids
        return save(options)
    schema = vol.Schema(
        {vol.Optional(key): _multi_select(items) for key, items in listed.items()}
    )
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(schema, suggested),
        description_placeholders=counts,
        # Shown above the fields: the lists offered may lack new items.
        errors=None if coordinator.company_current else {"base": "company_out_of_date"},
    )


def _coordinator(entry: ConfigEntry) -> NgucCoordinator | None:
    """Return the running coordinator of an entry; None when it is not loaded."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    nguc_entry: NgucConfigEntry = entry
    return nguc_entry.runtime_data


def _multi_select(options: list[SelectOptionDict]) -> SelectSelector:
    # A dropdown, which can be searched: a list of a thousand check boxes
    # cannot.
    return SelectSelector(
        SelectSelectorConfig(
            options=options, multiple=True, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _user_options(users: Collection[User]) -> list[SelectOptionDict]:
    """Return users as options by name and extension: "Anna Berg (1001)".

    The extension is always shown: a search by name lists every namesake,
    also those written a little differently ("Anna Berg", "anna berg"), and
    the extension tells them apart (and can be searched for too).
    """
    labels = {user.id: _user_label(user) for user in users}
    return _sorted_options(labels, {user.id: user.id for user in users})


def _user_label(user: User) -> str:
    """Return "Anna Berg (1001)", or the name, extension or id that is known."""
    if user.name and user.extension:
        return f"{user.name} ({user.extension})"
    return user.name or user.extension or user.id


def _queue_options(queues: Collection[Queue]) -> list[SelectOptionDict]:
    """Return queues as options by name; namesakes told apart by id."""
    labels = {queue.id: queue.name or queue.id for queue in queues}
    return _sorted_options(labels, {queue_id: queue_id for queue_id in labels})


def _sorted_options(
    labels: Mapping[str, str], extra: Mapping[str, str]
) -> list[SelectOptionDict]:
    """Return options of ids labelled by name, sorted by it.

    A name that several items share gets their ``extra`` after it.
    """
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    options = [
        SelectOptionDict(
            value=item_id,
            label=label if counts[label] == 1 else f"{label} ({extra[item_id]})",
        )
        for item_id, label in labels.items()
    ]
    options.sort(key=lambda option: (option["label"].casefold(), option["value"]))
    return options
