"""The options flow of Weblink NGUC: whom to follow among the company's users and queues."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio as vol

from .api import Queue, User
from .coordinator import NgucConfigEntry, NgucData
from .follow import CONF_QUEUES, CONF_USERS, chosen


class NgucOptionsFlow(OptionsFlowWithReload):
    """Choose whom to follow among the company's users and queues.

    An empty choice, or one of every item listed, follows everyone, also
    those NGUC lists later; any other choice follows exactly the items
    chosen. So the form of a company of a thousand users starts empty rather
    than with a thousand items to take away one by one.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the company's users and queues; store the choice and reload."""
        entry = self.config_entry
        company = _company(entry)
        if company is None:
            return self.async_abort(reason="not_read_yet")
        listed = {
            CONF_USERS: _user_options(company.users.values()),
            CONF_QUEUES: _queue_options(company.queues.values()),
        }
        if user_input is not None:
            options = {
                key: value for key, value in entry.options.items() if key not in listed
            }
            for key, items in listed.items():
                ids = chosen(user_input.get(key), [item["value"] for item in items])
                if ids is not None:
                    options[key] = ids
            return self.async_create_entry(data=options)
        # What was chosen, of what NGUC still lists: the form accepts no other.
        suggested: dict[str, list[str]] = {}
        for key, items in listed.items():
            if key in entry.options:
                kept = set(entry.options[key])
                suggested[key] = [
                    item["value"] for item in items if item["value"] in kept
                ]
        schema = vol.Schema(
            {vol.Optional(key): _multi_select(items) for key, items in listed.items()}
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            description_placeholders={
                key: str(len(items)) for key, items in listed.items()
            },
        )


def _company(entry: ConfigEntry) -> NgucData | None:
    """Return the company as NGUC last listed it; None before a first read."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    nguc_entry: NgucConfigEntry = entry
    return nguc_entry.runtime_data.following.everyone


def _multi_select(options: list[SelectOptionDict]) -> SelectSelector:
    # A dropdown, which can be searched: a list of a thousand check boxes
    # cannot.
    return SelectSelector(
        SelectSelectorConfig(
            options=options, multiple=True, mode=SelectSelectorMode.DROPDOWN
        )
    )


def _user_options(users: Collection[User]) -> list[SelectOptionDict]:
    """Return users as options by name; namesakes told apart by extension."""
    labels = {user.id: user.name or user.extension or user.id for user in users}
    return _sorted_options(
        labels, {user.id: user.extension or user.id for user in users}
    )


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
