"""Repair issues name their config entry; the fixable ones have their fix flows (issue 20).

Home Assistant 2026.11 links an issue to its config entry (``config_entry_id``:
hidden while the entry is disabled, removed with it). The harness runs
2026.10, whose ``async_create_issue`` has no such argument: these tests give
it 2026.11's signature and record what each issue was raised with. The
fix flows run as the frontend runs them, over the repairs HTTP API:

- the refused sign-in of the event stream offers reauthentication;
- a list NGUC refuses explains, and can only be acknowledged;
- entities left out for lack of room open the options (test_budget.py).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.weblink_nguc import compat
from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.const import DOMAIN
from tests.harness.timings import FAULT_MATRIX, applied
from tests.simulator import Simulator
from tests.simulator.scale import scale_company

from .conftest import reconnect, wait_for, wait_in_sync
from .test_budget import entry_for, limit, running, set_up
from .test_migration import old_entry

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN

# The fix flows, by the translation key of their issue: their steps and
# the reasons they may abort with.
FIX_FLOWS = {
    "entity_limit": ({"follow"}, {"not_read_yet", "entry_gone"}),
    "stream_rejected": ({"confirm"}, {"entry_gone"}),
    "list_forbidden": ({"confirm"}, set()),
}

type Linked = dict[str, str | None]


@pytest.fixture
def linked() -> Iterator[Linked]:
    """Give ``async_create_issue`` 2026.11's ``config_entry_id``; record it by issue id."""
    original = ir.async_create_issue
    seen: Linked = {}

    def async_create_issue(
        hass: HomeAssistant,
        domain: str,
        issue_id: str,
        *,
        config_entry_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        seen[issue_id] = config_entry_id
        original(hass, domain, issue_id, **kwargs)

    with patch.object(ir, "async_create_issue", async_create_issue):
        assert compat.issues_link_entries()
        yield seen


def get_issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    """Return one of our issues."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


def test_every_issue_is_raised_through_compat() -> None:
    """No module but compat.py calls Home Assistant's async_create_issue itself.

    compat.async_create_issue is the one place that passes config_entry_id.
    """
    direct = [
        f"{path.name}:{node.lineno}"
        for path in sorted(INTEGRATION.rglob("*.py"))
        if path.name != "compat.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in {"async_create_issue", "create_issue"}
        and isinstance(node.value, ast.Name)
        and node.value.id == "ir"
    ]
    assert direct == []


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_every_fix_flow_is_translated(lang: str) -> None:
    """Each fix flow's steps and abort reasons have texts; fixable issues no description."""
    issues = json.loads(
        (INTEGRATION / "translations" / f"{lang}.json").read_text(encoding="utf-8")
    )["issues"]
    for key, (steps, aborts) in FIX_FLOWS.items():
        flow = issues[key]["fix_flow"]
        assert "description" not in issues[key]
        assert set(flow["step"]) == steps
        for step in flow["step"].values():
            assert step["title"]
            assert step["description"]
        assert set(flow.get("abort", {})) == aborts


async def test_stream_rejected_names_its_entry_and_offers_reauthentication(
    hass: HomeAssistant,
    linked: Linked,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """The refused sign-in: its fix flow explains, then starts reauthentication."""
    entry = init_integration
    issue_id = f"{entry.entry_id}_stream_rejected"
    entry.runtime_data.health.on_rejected(3)
    assert linked[issue_id] == entry.entry_id
    issue = get_issue(hass, issue_id)
    assert issue is not None
    assert issue.is_fixable

    form = await start_fix_flow(hass, hass_client, issue_id)
    assert form["type"] == "form"
    assert form["step_id"] == "confirm"
    assert form["description_placeholders"] == {"account": entry.title}
    assert not reauth_flows(hass, entry)
    done = await submit(hass_client, form["flow_id"])
    assert done["type"] == "create_entry"
    assert reauth_flows(hass, entry)
    assert get_issue(hass, issue_id) is None


async def test_a_refused_list_names_its_entry_and_is_acknowledged(
    hass: HomeAssistant,
    linked: Linked,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    hass_client: ClientSessionGenerator,
) -> None:
    """A 403 list: its fix flow explains and can only be confirmed; nothing else changes."""
    entry = mock_config_entry
    issue_id = f"{entry.entry_id}_list_failing_queues"
    # Retries of a failing list in a fraction of a second.
    with applied(hass, FAULT_MATRIX):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_in_sync(hass, entry)
        simulator.fail_path(c.PATH_QUEUES, 500)
        await reconnect(hass, entry, simulator)
        await wait_for(hass, lambda: get_issue(hass, issue_id) is not None)
        failing = get_issue(hass, issue_id)
        assert failing is not None
        # Failing for another reason: nothing a person can do but wait.
        assert not failing.is_fixable
        assert linked[issue_id] == entry.entry_id

        simulator.fail_path(c.PATH_QUEUES, 403)
        await wait_for(hass, lambda: is_key(hass, issue_id, "list_forbidden"))
        issue = get_issue(hass, issue_id)
        assert issue is not None
        assert issue.is_fixable
        assert linked[issue_id] == entry.entry_id

        form = await start_fix_flow(hass, hass_client, issue_id)
        assert form["type"] == "form"
        assert form["step_id"] == "confirm"
        assert form["data_schema"] == []
        placeholders = issue.translation_placeholders or {}
        assert form["description_placeholders"] == placeholders
        done = await submit(hass_client, form["flow_id"])
        assert done["type"] == "create_entry"
        assert get_issue(hass, issue_id) is None
        assert not reauth_flows(hass, entry)
        assert entry.state is ConfigEntryState.LOADED
        await hass.config_entries.async_unload(entry.entry_id)


async def test_a_missing_endpoint_names_its_entry(
    hass: HomeAssistant,
    linked: Linked,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """A list NGUC does not have (404): not fixable, linked to its entry."""
    entry = init_integration
    issue_id = f"{entry.entry_id}_missing_endpoint_queues"
    simulator.fail_path(c.PATH_QUEUES, 404)
    await reconnect(hass, entry, simulator)
    await wait_for(hass, lambda: get_issue(hass, issue_id) is not None)
    issue = get_issue(hass, issue_id)
    assert issue is not None
    assert not issue.is_fixable
    assert linked[issue_id] == entry.entry_id


async def test_a_duplicate_company_names_its_entry(
    hass: HomeAssistant, linked: Linked, simulator: Simulator
) -> None:
    """The migration's issue of a second entry of one company is that entry's."""
    first = old_entry(simulator, "4711_86480")
    second = old_entry(simulator, "4711_86481")
    first.add_to_hass(hass)
    second.add_to_hass(hass)
    assert await first.async_migrate(hass)
    assert await second.async_migrate(hass)
    issue_id = f"{second.entry_id}_duplicate_company"
    assert get_issue(hass, issue_id) is not None
    assert linked[issue_id] == second.entry_id


async def test_the_entity_limit_names_its_entry(
    hass: HomeAssistant, linked: Linked, socket_enabled: None
) -> None:
    """Entities left out for lack of room: fixable, linked to its entry."""
    async with running(scale_company(10, 3)) as sim:
        entry = entry_for(sim)
        with limit(30):
            await set_up(hass, entry)
            issue_id = f"{entry.entry_id}_entity_limit"
            issue = get_issue(hass, issue_id)
            assert issue is not None
            assert issue.is_fixable
            assert linked[issue_id] == entry.entry_id
            await hass.config_entries.async_unload(entry.entry_id)


# --- Helpers -------------------------------------------------------------------------


def is_key(hass: HomeAssistant, issue_id: str, key: str) -> bool:
    """Return whether the issue exists with the translation key ``key``."""
    issue = get_issue(hass, issue_id)
    return issue is not None and issue.translation_key == key


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    """Return the reauthentication flows of ``entry`` in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]


async def start_fix_flow(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, issue_id: str
) -> dict[str, Any]:
    """Start an issue's fix flow as the frontend does; return its first step."""
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def submit(
    hass_client: ClientSessionGenerator,
    flow_id: str,
    user_input: dict[str, Any] | None = None,
    check: Callable[[int], bool] = lambda status: status == 200,
) -> dict[str, Any]:
    """Submit a step of a fix flow as the frontend does; return the next."""
    client = await hass_client()
    response = await client.post(
        f"/api/repairs/issues/fix/{flow_id}", json=user_input or {}
    )
    assert check(response.status), await response.text()
    result: dict[str, Any] = await response.json()
    return result
