"""Fix flows of Weblink NGUC's repair issues: a step only where it really fixes something.

- Entities left out for lack of room (:mod:`.budget`): the options form,
  whom to follow, the same as the options flow's; saving it reloads the
  entry, which weighs every item again.
- The event stream refusing our sign-in (:mod:`.health`): says what it means
  and starts reauthentication, to sign in again once the account has the
  right, or with an account of the company that has it.
- A list NGUC refuses (:mod:`.reader`): says whom to ask; nothing here can
  grant the permission, so the step is only acknowledged.

Every other issue goes away by itself and has no fix flow.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import (
    ConfirmRepairFlow,
    RepairsFlow,
    RepairsFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import probatio as vol

from .const import (
    DOMAIN,
    ISSUE_DATA_ENTRY_ID,
    ISSUE_ENTITY_LIMIT,
    ISSUE_STREAM_REJECTED,
)
from .options_flow import follow_step

type IssueData = dict[str, str | int | float | None]


class _EntryFixFlow(RepairsFlow):
    """A fix flow that acts on the config entry its issue names."""

    def __init__(self, entry_id: str) -> None:
        """Act on the entry ``entry_id``."""
        self._entry_id = entry_id

    def _placeholders(self) -> dict[str, str]:
        """Return the issue's placeholders, for the step's description."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return dict(issue.translation_placeholders or {}) if issue else {}


class FollowFixFlow(_EntryFixFlow):
    """Entities left out: choose whom to follow; saving reloads the entry."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Go to the form (what the first step is given is no choice)."""
        return await self.async_step_follow()

    async def async_step_follow(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Show the options form; store the choice and reload."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_gone")
        return follow_step(
            self,
            entry,
            user_input,
            self._save,
            placeholders=self._placeholders(),
            step_id="follow",
        )

    def _save(self, options: dict[str, Any]) -> RepairsFlowResult:
        entries = self.hass.config_entries
        if (entry := entries.async_get_entry(self._entry_id)) is not None:
            entries.async_update_entry(entry, options=options)
            # As the options flow does: the entry is set up again with the
            # new choice, and counts afresh.
            entries.async_schedule_reload(entry.entry_id)
        return self.async_create_entry(data={})


class ReauthFixFlow(_EntryFixFlow):
    """The event stream refuses the sign-in: explain, and start reauthentication."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Go to the one step."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Say what the refusal means; on submit, start reauthentication."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_gone")
        if user_input is not None:
            entry.async_start_reauth(self.hass)
            # The issue comes back if connections are still refused after.
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=self._placeholders(),
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: IssueData | None
) -> RepairsFlow:
    """Return the fix flow of a fixable issue, by what the issue is about."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    key = None if issue is None else issue.translation_key
    entry_id = None if data is None else data.get(ISSUE_DATA_ENTRY_ID)
    if isinstance(entry_id, str):
        if key == ISSUE_ENTITY_LIMIT:
            return FollowFixFlow(entry_id)
        if key == ISSUE_STREAM_REJECTED:
            return ReauthFixFlow(entry_id)
    # A refused list (ISSUE_LIST_FORBIDDEN): explained, then acknowledged.
    return ConfirmRepairFlow()
