"""Companies of thousands in a real Home Assistant 2026.11, within its limit per entry (issue 20).

Home Assistant adds at most 10,000 enabled entities to one config entry, and
logs "Reached the maximum ..." against this integration when more come. In
the ``hass`` of ``.venv-hass`` (the release users run), used only through its
APIs as the frontend uses them:

- a company of 3,000 users and 50 queues, everyone followed, sets up with
  every entity enabled by default present (three a user, fourteen a queue,
  the account's stream), nothing left out, and no such line in the log;
- a company too large even with the defaults (3,300 users, 55 queues) gets
  what fits, no such line either, and a repair issue linked to its entry
  whose fix flow (the repairs HTTP API, as the frontend runs it) is the
  options form, whom to follow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import json
from pathlib import Path
import time
from typing import Any

import pytest

from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import RealHass, running, until
from tests.simulator import Simulator
from tests.simulator.scale import (
    SCALE_COMPANY_ID,
    SCALE_PASSWORD,
    SCALE_USERNAME,
    realistic_queues,
    scale_company,
)

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(900),
]

DOMAIN = "weblink_nguc"
REACHED = "Reached the maximum"
LIMIT = 10_000
# Enabled by default, whatever the size: per user, per queue, the account.
PER_USER = 3
PER_QUEUE = 14
ACCOUNT = 1
# Our own warning when items are left out (the repair issue says the same).
LEFT_OUT = "were left out"


@contextlib.asynccontextmanager
async def scale_simulator(users: int, queues: int) -> AsyncIterator[Simulator]:
    """Run the simulator with a scale company (stopped after Home Assistant)."""
    sim = Simulator(scale_company(users, queues))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def add_company(hass: RealHass, sim: Simulator) -> str:
    """Add the scale company's account as the frontend does; return the entry id."""
    flow = await hass.request(
        "POST",
        "/api/config/config_entries/flow",
        json_body={"handler": DOMAIN, "show_advanced_options": False},
    )
    result = await hass.request(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        json_body={
            "company": sim.company.name,
            "username": SCALE_USERNAME,
            "password": SCALE_PASSWORD,
            "advanced": {"api_url": sim.api_url, "events_url": sim.events_url},
        },
    )
    assert result["type"] == "create_entry", result
    return str(result["result"]["entry_id"])


async def ws_command_large(hass: RealHass, command: str) -> Any:
    """Run a websocket command whose answer may be tens of megabytes.

    The registry of a company of thousands is larger than aiohttp's default
    4 MiB a message.
    """
    url = f"{hass.url}/api/websocket"
    async with hass.session.ws_connect(url, max_msg_size=0) as ws:
        assert (await ws.receive_json(timeout=30))["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": hass.token})
        assert (await ws.receive_json(timeout=30))["type"] == "auth_ok"
        await ws.send_json({"id": 1, "type": command})
        while (answer := await ws.receive_json(timeout=120)).get("id") != 1:
            pass
        assert answer["success"], answer
        return answer["result"]


async def registry_of(hass: RealHass, entry_id: str) -> list[dict[str, Any]]:
    """Return the entity registry entries of ``entry_id``."""
    entries = await ws_command_large(hass, "config/entity_registry/list")
    return [e for e in entries if e.get("config_entry_id") == entry_id]


async def settled(hass: RealHass, entry_id: str, expected: int) -> list[dict[str, Any]]:
    """Wait until the entry has ``expected`` enabled entities and stays so; return them."""
    last: list[int] = []

    async def check() -> list[dict[str, Any]]:
        entries = await registry_of(hass, entry_id)
        enabled = [e for e in entries if e["disabled_by"] is None]
        last.append(len(enabled))
        # The same count twice in a row, a second apart: nothing is still coming.
        if len(enabled) >= expected and last[-2:] == [len(enabled)] * 2:
            return enabled
        return []

    return await until(check, f"{expected} enabled entities", timeout=400)


async def states(hass: RealHass) -> set[str]:
    """Return the entity ids that have a state."""
    return {state["entity_id"] for state in await hass.request("GET", "/api/states")}


def stored_issue(hass: RealHass, issue_id: str) -> dict[str, Any] | None:
    """Return an issue as Home Assistant stored it (a few seconds after a change)."""
    path = hass.config_dir / ".storage" / "repairs.issue_registry"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError, json.JSONDecodeError:
        return None
    for issue in stored["data"]["issues"]:
        if issue["domain"] == DOMAIN and issue["issue_id"] == issue_id:
            found: dict[str, Any] = issue
            return found
    return None


async def test_3000_users_fit_with_every_default_entity(tmp_path: Path) -> None:
    """3,000 users, 50 queues, everyone followed: all there, no warning, no issue."""
    users, queues = 3000, realistic_queues(3000)
    expected = PER_USER * users + PER_QUEUE * queues + ACCOUNT
    assert expected <= LIMIT
    async with scale_simulator(users, queues) as sim:
        real = RealHass(tmp_path / "config")
        async with running(real, timeout=180) as hass:
            started = time.monotonic()
            entry_id = await add_company(hass, sim)
            enabled = await settled(hass, entry_id, expected)
            print(
                f"{len(enabled)} enabled entities in {time.monotonic() - started:.0f} s"
            )
            assert len(enabled) == expected
            with_state = await states(hass)
            assert {e["entity_id"] for e in enabled} <= with_state
            # Each user's three, by unique id.
            unique_ids = {e["unique_id"] for e in enabled}
            for user_id in sim.company.users:
                for what in ("line_status", "call", "calls_to_return"):
                    assert f"{SCALE_COMPANY_ID}_user_{user_id}_{what}" in unique_ids
            issues = (await hass.ws_command("repairs/list_issues"))["issues"]
            assert [i for i in issues if i["domain"] == DOMAIN] == []
        assert REACHED not in real.log()


async def test_a_company_too_large_raises_the_issue_and_its_fix_flow(
    tmp_path: Path,
) -> None:
    """3,300 users: what fits, no warning of Home Assistant's, a fix flow to the options."""
    users, queues = 3300, realistic_queues(3300)
    need = PER_USER * users + PER_QUEUE * queues + ACCOUNT
    left_out = -(-(need - LIMIT) // PER_USER)  # users, rounded up
    assert left_out > 0
    async with scale_simulator(users, queues) as sim:
        real = RealHass(tmp_path / "config")
        async with running(real, expected_warnings=(LEFT_OUT,), timeout=180) as hass:
            entry_id = await add_company(hass, sim)
            issue_id = f"{entry_id}_entity_limit"

            async def raised() -> dict[str, Any] | None:
                issues = (await hass.ws_command("repairs/list_issues"))["issues"]
                return next((i for i in issues if i["issue_id"] == issue_id), None)

            issue = await until(raised, "the entity-limit issue", timeout=400)
            assert issue["is_fixable"]
            assert issue["translation_placeholders"]["users_left_out"] == str(left_out)
            assert issue["translation_placeholders"]["queues_left_out"] == "0"
            enabled = await settled(hass, entry_id, need - PER_USER * left_out)
            assert len(enabled) <= LIMIT
            # Linked to its entry: Home Assistant 2026.11 stores config_entry_id.
            stored = await until(
                lambda: _async(stored_issue(hass, issue_id)), "the issue stored", 60
            )
            assert stored["config_entry_id"] == entry_id

            # The fix flow, as the frontend starts it from the Repairs page.
            form = await hass.request(
                "POST",
                "/api/repairs/issues/fix",
                json_body={"handler": DOMAIN, "issue_id": issue_id},
            )
            assert form["type"] == "form", form
            assert form["step_id"] == "follow"
            assert {field["name"] for field in form["data_schema"]} == {
                "users",
                "queues",
            }
            offered = form["data_schema"][0]["selector"]["select"]["options"]
            assert len(offered) == users
            assert form["description_placeholders"]["users_left_out"] == str(left_out)
        assert REACHED not in real.log()


async def _async[T](value: T) -> T:
    return value
