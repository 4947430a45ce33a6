"""The caller_waiting trigger end to end, in a real Home Assistant.

"An automation created through the automation editor's API with the
weblink_nguc.caller_waiting trigger runs exactly once for a caller who waits
past its threshold", and not for a caller who leaves before it: in today's
shape (the queues as the trigger's target) and in the shape saved before
(the queues as an option). Turned off and on, neither runs again for the
same caller, and the queue's device lists both under *Related*. Home
Assistant is the ``hass`` of ``.venv-hass`` (the release users run) beside
the simulator's demo company, used only through its HTTP and websocket APIs;
the clock is the real one, so the threshold is a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
import time
from typing import Any

import pytest

from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import CONFIGURATION, RealHass, running, until
from tests.simulator import QueueCaller, Simulator

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(300),
]

DOMAIN = "weblink_nguc"
SUPPORT = "501"  # the demo company's Support queue
# National numbers: a template would read "+4670..." as a number.
FIRST, LEAVES = "0701111111", "0702222222"
THRESHOLD = 3  # seconds
RAN = "caller_waiting_ran"


# The simulator (set up first) stops last, after Home Assistant: no warning
# of a lost connection is expected.
@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant that loads the automation editor's file."""
    real = RealHass(
        tmp_path / "config",
        # search: what the device page's Related asks.
        configuration=CONFIGURATION
        + "automation: !include automations.yaml\nsearch:\n",
        files={"automations.yaml": "[]\n"},
    )
    async with running(real, timeout=180) as started:
        yield started


async def add_integration(hass: RealHass, simulator: Simulator) -> str:
    """Add the demo account as the frontend does; return the Support queue's device id."""
    await hass.add_demo_entry(simulator.api_url, simulator.events_url)

    async def support() -> str | None:
        devices = await hass.ws_command("config/device_registry/list")
        return next(
            (
                device["id"]
                for device in devices
                if device["name"] == "Support" and device["model"] == "Call queue"
            ),
            None,
        )

    return await until(support, "the Support queue's device")


async def test_caller_waiting_in_real_home_assistant(
    simulator: Simulator, hass: RealHass
) -> None:
    """Once for a caller who waits past the threshold; never for one who left."""
    support = await add_integration(hass, simulator)

    # Translated, as the automation editor shows it.
    texts = await hass.ws_command(
        "frontend/get_translations",
        language="sv",
        category="triggers",
        integration=[DOMAIN],
    )
    name = f"component.{DOMAIN}.triggers.caller_waiting.name"
    assert texts["resources"][name] == "Uppringare väntar för länge"

    # Saved as the automation editor saves it: today's shape, and the one
    # automations saved before the queues became the target have.
    shapes = {
        "long_wait": {
            "target": {"device_id": [support]},
            "options": {"seconds": THRESHOLD},
        },
        "long_wait_old": {"options": {"device_id": [support], "seconds": THRESHOLD}},
    }
    for automation_id, shape in shapes.items():
        await hass.request(
            "POST",
            f"/api/config/automation/config/{automation_id}",
            json_body=automation(automation_id, shape),
        )

    async def loaded() -> list[str]:
        states = await hass.request("GET", "/api/states")
        on = [
            state["entity_id"]
            for state in states
            if state["attributes"].get("id") in shapes and state["state"] == "on"
        ]
        return on if len(on) == len(shapes) else []

    entity_ids = await until(loaded, "the automations loaded and on")

    # Listed on the queue's device page, under Related.
    related = await hass.ws_command(
        "search/related", item_type="device", item_id=support
    )
    assert sorted(related.get("automation", [])) == sorted(entity_ids)

    async with hass.subscribe(RAN) as runs:
        first = await simulator.add_caller(SUPPORT, FIRST)
        added = time.monotonic()
        leaves = await simulator.add_caller(SUPPORT, LEAVES)
        await simulator.remove_caller(SUPPORT, leaves, answered=False)

        async def ran() -> bool:
            return len(runs) >= len(shapes)

        await until(ran, "each automation's run", timeout=THRESHOLD + 20)
        assert time.monotonic() - added >= THRESHOLD - 0.5, "ran too early"
        # Later snapshots still list the caller: no second run for them.
        await simulator.update_queue(
            SUPPORT,
            callers=[QueueCaller(first, SUPPORT, FIRST, wait=THRESHOLD + 5)],
        )
        # Nor after turning the automations off and on.
        for service in ("turn_off", "turn_on"):
            await hass.request(
                "POST",
                f"/api/services/automation/{service}",
                json_body={"entity_id": entity_ids},
            )
        await asyncio.sleep(THRESHOLD + 2)
    assert sorted(
        (run["data"]["automation"], run["data"]["caller"], run["data"]["wait"])
        for run in runs
    ) == [("long_wait", FIRST, THRESHOLD), ("long_wait_old", FIRST, THRESHOLD)]
    assert {run["data"]["device_id"] for run in runs} == {support}
    assert {run["data"]["queue"] for run in runs} == {"Support"}


def automation(automation_id: str, trigger_shape: dict[str, Any]) -> dict[str, Any]:
    """Return an automation as the editor saves it, firing RAN for each run."""
    return {
        "alias": f"Caller waiting too long in Support ({automation_id})",
        "description": "",
        "triggers": [{"trigger": f"{DOMAIN}.caller_waiting", **trigger_shape}],
        "conditions": [],
        "actions": [
            {
                "event": RAN,
                "event_data": {
                    "automation": automation_id,
                    "queue": "{{ trigger.queue }}",
                    "caller": "{{ trigger.caller }}",
                    "wait": "{{ trigger.wait }}",
                    "device_id": "{{ trigger.device_id }}",
                },
            }
        ],
        "mode": "parallel",
    }
