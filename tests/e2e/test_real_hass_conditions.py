"""The conditions end to end, in a real Home Assistant.

"An automation saved through the automation editor's API uses each
condition and runs only when it holds": automations with one condition
each, and the README's conditions automation, are saved through
``/api/config/automation/config/<id>``; the simulator's demo company is
driven (callers, free agents, line statuses) and each automation is asked
to run by an event. A condition with a wrong device is refused with its
message. Home Assistant is the ``hass`` of ``.venv-hass`` (the release users
run), used only through its HTTP and websocket APIs; the clock is the real
one, so a wait is a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import itertools
from pathlib import Path
import time
from typing import Any

import pytest

from tests.e2e.examples import readme_examples
from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import CONFIGURATION, RealHass, running, until
from tests.simulator import QueueCaller, Simulator

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(300),
]

DOMAIN = "weblink_nguc"
SUPPORT = "501"
ANNA, LARS = "86480", "86483"
IN_USE = 1
FIRST = "0701111111"
WAIT = 8  # seconds: the callers_wait automation's threshold
CHECK = "nguc_check"  # the event that asks every automation to run
RAN = "nguc_condition_ran"
SENTINEL = "sentinel"  # an automation without conditions: the check is done
# The example device ids of the README's conditions automation.
README_SUPPORT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
README_LARS = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
README_ALIAS = "Support needs a hand"


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant that loads the automation editor's file."""
    real = RealHass(
        tmp_path / "config",
        configuration=CONFIGURATION + "automation: !include automations.yaml\n",
        files={"automations.yaml": "[]\n"},
    )
    async with running(real, timeout=180) as started:
        yield started


async def add_integration(hass: RealHass, simulator: Simulator) -> dict[str, str]:
    """Add the demo account; return the device ids of Support, Anna and Lars."""
    await hass.add_demo_entry(simulator.api_url, simulator.events_url)
    wanted = {
        "Support": ("Support", "Call queue"),
        "Anna": ("Anna Lindqvist", "PBX user"),
        "Lars": ("Lars Öberg", "PBX user"),
    }

    async def devices() -> dict[str, str]:
        listed = await hass.ws_command("config/device_registry/list")
        found = {
            key: device["id"]
            for key, (name, model) in wanted.items()
            for device in listed
            if device["name"] == name and device["model"] == model
        }
        return found if len(found) == len(wanted) else {}

    return await until(devices, "the demo's devices")


def condition(name: str, devices: list[str], **options: Any) -> dict[str, Any]:
    """Return a condition as the automation editor saves it."""
    return {
        "condition": f"{DOMAIN}.{name}",
        "target": {"device_id": devices},
        "options": {"behavior": "any", **options},
    }


def automation(automation_id: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """Return an automation as the editor saves it: on CHECK, if its conditions hold."""
    return {
        "alias": f"Condition {automation_id}",
        "description": "",
        "triggers": [{"trigger": "event", "event_type": CHECK}],
        "conditions": conditions,
        "actions": [
            {
                "event": RAN,
                "event_data": {
                    "automation": automation_id,
                    "check": "{{ trigger.event.data.check }}",
                },
            }
        ],
        "mode": "parallel",
    }


def with_devices(node: Any, devices: dict[str, str]) -> Any:
    """Return a configuration with example device ids replaced, as a user picks them."""
    if isinstance(node, dict):
        return {key: with_devices(value, devices) for key, value in node.items()}
    if isinstance(node, list):
        return [with_devices(item, devices) for item in node]
    return devices.get(node, node) if isinstance(node, str) else node


async def condition_descriptions(hass: RealHass) -> dict[str, Any]:
    """Return the conditions the automation editor offers, as it asks for them."""
    async with hass.websocket() as ws:
        await ws.send_json({"id": 1, "type": "condition_platforms/subscribe"})
        while True:
            message = await ws.receive_json(timeout=30)
            if message.get("id") == 1 and message["type"] == "event":
                described: dict[str, Any] = message["event"]
                return described


async def save(hass: RealHass, automation_id: str, config: dict[str, Any]) -> None:
    await hass.request(
        "POST", f"/api/config/automation/config/{automation_id}", json_body=config
    )


async def test_conditions_in_real_home_assistant(
    simulator: Simulator, hass: RealHass
) -> None:
    """Each automation runs only while its condition holds."""
    devices = await add_integration(hass, simulator)
    support, anna, lars = devices["Support"], devices["Anna"], devices["Lars"]

    # Translated, as the automation editor shows them.
    texts = await hass.ws_command(
        "frontend/get_translations",
        language="sv",
        category="conditions",
        integration=[DOMAIN],
    )
    resources = texts["resources"]
    assert resources[f"component.{DOMAIN}.conditions.agents_available.name"] == (
        "Lediga agenter"
    )

    # Offered in the automation editor: described, with their targets.
    described = await condition_descriptions(hass)
    assert {
        name: description["target"]["device"][0]["model"]
        for name, description in described.items()
        if name.startswith(f"{DOMAIN}.")
    } == {
        f"{DOMAIN}.callers_waiting": "Call queue",
        f"{DOMAIN}.agents_available": "Call queue",
        f"{DOMAIN}.line_status": "PBX user",
    }
    assert set(described[f"{DOMAIN}.callers_waiting"]["fields"]) == {
        "behavior",
        "above",
        "wait_above",
    }

    # A user's device for a queue condition: refused, saying why.
    wrong = automation("wrong", [condition("agents_available", [anna], below=1)])
    answer = await hass.request(
        "POST", "/api/config/automation/config/wrong", json_body=wrong, expect=400
    )
    assert "Anna Lindqvist is not a Weblink NGUC call queue" in answer["message"]

    automations = {
        SENTINEL: [],
        "callers_above": [condition("callers_waiting", [support], above=0)],
        "callers_wait": [condition("callers_waiting", [support], wait_above=WAIT)],
        "agents_below": [condition("agents_available", [support], below=1)],
        "lines_idle": [
            {
                **condition("line_status", [anna, lars], status=["idle"]),
                "options": {"behavior": "all", "status": ["idle"]},
            }
        ],
    }
    for automation_id, conditions in automations.items():
        await save(hass, automation_id, automation(automation_id, conditions))
    (example,) = readme_examples("conditions automation")
    example = with_devices(example, {README_SUPPORT: support, README_LARS: lars})
    await save(hass, "readme_conditions", example)

    async def loaded() -> bool:
        states = await hass.request("GET", "/api/states")
        on = [
            state
            for state in states
            if state["entity_id"].startswith("automation.") and state["state"] == "on"
        ]
        return len(on) == len(automations) + 1

    await until(loaded, "the automations loaded and on")

    checks = itertools.count()
    async with (
        hass.subscribe(RAN) as runs,
        hass.subscribe("automation_triggered") as triggered,
    ):

        async def passing() -> set[str]:
            """Ask every automation to run; return those whose conditions held."""
            check = f"c{next(checks)}"
            await hass.request(
                "POST", f"/api/events/{CHECK}", json_body={"check": check}
            )

            def ran() -> set[str]:
                return {
                    run["data"]["automation"]
                    for run in runs
                    if run["data"]["check"] == check
                }

            async def done() -> bool:
                return SENTINEL in ran()

            await until(done, f"check {check} run")
            # The conditions are checked together, as the event comes.
            await asyncio.sleep(0.3)
            return ran() - {SENTINEL}

        async def passes(expected: set[str], what: str) -> None:
            last: set[str] = set()

            async def now() -> bool:
                nonlocal last
                last = await passing()
                return last == expected

            try:
                await until(now, what, timeout=15)
            except AssertionError as err:
                raise AssertionError(f"{err}: {sorted(last)} passed") from None

        # The demo: nobody waits, two agents of Support are free, both idle.
        await passes({"lines_idle"}, "only the idle lines to pass")

        # A caller, nobody free, Anna on a call.
        pushed = time.monotonic()
        await simulator.update_queue(
            SUPPORT,
            callers=[QueueCaller("call-1", SUPPORT, FIRST, wait=0)],
            waiting=1,
            member_available=0,
        )
        await simulator.set_user_status(ANNA, IN_USE)
        await passes({"callers_above", "agents_below"}, "a caller and nobody free")
        assert time.monotonic() - pushed < WAIT - 1, "too slow to see the short wait"
        # No snapshot comes; the wait grows past the threshold.
        await asyncio.sleep(max(0.0, pushed + WAIT + 1.5 - time.monotonic()))
        assert await passing() == {"callers_above", "callers_wait", "agents_below"}

        # The README's automation: a caller past a minute while nobody in
        # Support is free asks Lars, only while his line is free.
        await simulator.set_user_status(LARS, IN_USE)
        callers = [
            QueueCaller("call-1", SUPPORT, FIRST, wait=WAIT + 2),
            QueueCaller("call-2", SUPPORT, "0702222222", wait=120),
        ]
        await simulator.update_queue(
            SUPPORT, callers=callers, waiting=len(callers), member_available=0
        )
        await passes(
            {"callers_above", "callers_wait", "agents_below"}, "Lars on a call"
        )

        def readme_runs() -> int:
            return sum(run["data"].get("name") == README_ALIAS for run in triggered)

        assert readme_runs() == 0
        await simulator.set_user_status(LARS, 0)
        await passes({"callers_above", "callers_wait", "agents_below"}, "Lars free")
        callers.append(QueueCaller("call-3", SUPPORT, "0703333333", wait=120))
        await simulator.update_queue(
            SUPPORT, callers=callers, waiting=len(callers), member_available=0
        )

        async def asked() -> bool:
            return readme_runs() == 1

        await until(asked, "the README's automation to run", timeout=15)
        await asyncio.sleep(1)
        assert readme_runs() == 1
