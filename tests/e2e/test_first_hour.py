"""A new user's first hour, end to end, in a real Home Assistant and its frontend.

Home Assistant is the ``hass`` of ``.venv-hass`` (the release users run) with
the configuration that ``script/develop`` writes, beside the NGUC simulator's
demo company; its frontend runs in headless Chromium, driven by Playwright.
As a user would:

- log in on the login page, add Weblink NGUC in the Add-integration dialog
  (the form, its collapsed *Advanced settings* pointed at the simulator, the
  two-factor step), and look at a user's and a queue's device page;
- import each blueprint (as its README badge does) and create an automation
  from it, and paste the README's automation examples;
- then NGUC has a missed call, a busy line and a full queue, and its event
  stream fails for long enough that the entities turn unavailable: each
  automation ran exactly once per happening, and not again afterwards;
- load ``docs/dashboard.yaml`` into a new dashboard.

Screenshots of the flow, the device pages and the dashboard are taken on the
way; ``UPDATE_SCREENSHOTS=1`` saves them in ``docs/`` for the README.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
import importlib.util
import os
from pathlib import Path
import time
from types import ModuleType
from typing import Any

from aiohttp import web
import pytest
import yaml  # type: ignore[import-untyped]

from tests.e2e.browser import VIEWPORT, Frontend, browsing
from tests.e2e.examples import (
    DASHBOARD,
    DOCS,
    REPO_ROOT,
    blueprint_files,
    blueprint_url,
    dashboard,
    dashboard_entities,
    readme_automations,
    readme_examples,
)
from tests.e2e.marks import NEEDS_CHROMIUM, NEEDS_HASS
from tests.e2e.real_hass import (
    PASSWORD,
    USERNAME,
    RealHass,
    free_port,
    running,
    until,
)
from tests.simulator import Simulator

pytestmark = [
    NEEDS_HASS,
    NEEDS_CHROMIUM,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(480),
]


def _load_develop() -> ModuleType:
    """Return script/develop.py as a module: its configuration is the one tested."""
    spec = importlib.util.spec_from_file_location(
        "develop", REPO_ROOT / "script" / "develop.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEVELOP = _load_develop()
# script/develop's configuration, and a lamp for the busy light (a template
# light that keeps what it is told: there is no hardware).
CONFIGURATION = (
    DEVELOP.CONFIGURATION
    + """
template:
  - light:
      - name: Desk lamp
        turn_on: []
        turn_off: []
        set_rgb: []
        set_level: []
"""
)
SCREENSHOTS = DOCS if os.environ.get("UPDATE_SCREENSHOTS") else None

# The simulator's demo company (tests/simulator/model.py): the two-factor
# account is Erik Johansson's; Anna Lindqvist is user 86480, Support queue 501.
COMPANY = "demo"
ACCOUNT = "secure"
ANNA = "86480"
ERIK = "86481"
SUPPORT = "501"
ANNA_CALL = "event.anna_lindqvist_call"
ANNA_LINE = "sensor.anna_lindqvist_line_status"
SUPPORT_WAITING = "sensor.support_waiting"
LAMP = "light.desk_lamp"
CALLER = "+46701234567"
CALLED_BACK = "0812345678"  # hangs up in Support, then Anna calls back
HUNG_UP = "0709876543"  # hangs up in Support later
ANNA_TO_RETURN = "todo.anna_lindqvist_call_back"
SUPPORT_TO_RETURN = "todo.support_call_back"
LAMP_BEFORE = {"rgb_color": [255, 180, 100], "brightness": 128}
RED = [255, 0, 0]
QUEUE_WAIT = 3  # seconds the queue must stay full before the alert
DASHBOARD_HEIGHT = 1300  # pixels of the dashboard's screenshot

BLUEPRINT_INPUTS: dict[str, dict[str, Any]] = {
    "missed_call.yaml": {"call_entities": [ANNA_CALL]},
    "busy_light.yaml": {"line_status": ANNA_LINE, "light": LAMP, "color": RED},
    "queue_alert.yaml": {
        "waiting_callers": SUPPORT_WAITING,
        "more_than": 2,
        "wait_seconds": QUEUE_WAIT,
    },
}
# Automations made from the blueprints, as a user might name them.
ALIASES = {
    "missed_call": "Missed calls of Anna",
    "busy_light": "Busy light for Anna",
    "queue_alert": "Support queue alert",
}
# Warnings of the integration that this test provokes: the stream's outage.
EXPECTED_WARNINGS = ("Event stream",)


def shot(tmp_path: Path, name: str) -> Path:
    """Return where a screenshot goes: docs/ when updating them, else the test's dir."""
    return (SCREENSHOTS or tmp_path / "screenshots") / name


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """Home Assistant with script/develop's configuration, onboarded, its owner's token kept.

    Its log is printed when anything fails; an error in it that concerns the
    integration, an automation or a blueprint fails the test, as does an
    unclean exit.
    """
    real = RealHass(
        tmp_path / "config",
        configuration=CONFIGURATION,
        files=DEVELOP.INCLUDED_FILES,
        http_in_storage=True,
    )
    async with running(
        real, EXPECTED_WARNINGS, owner=(USERNAME, PASSWORD, "Office"), timeout=180
    ):
        yield real
    errors = [
        record
        for record in real.records("ERROR")
        if any(word in record for word in ("automation", "blueprint", "script"))
    ]
    assert errors == [], "automations in the hass log:\n" + "\n".join(errors)


@pytest.fixture
async def frontend(hass: RealHass) -> AsyncIterator[Frontend]:
    """Chromium on the frontend of ``hass`` (not logged in yet)."""
    async with browsing(hass.url) as front:
        yield front


@pytest.fixture
async def blueprint_server() -> AsyncIterator[str]:
    """Serve the repository's blueprints on 127.0.0.1, as GitHub would; return the base URL.

    Home Assistant imports a blueprint from an address (the README's badges
    point at GitHub); here it fetches the same files from this server.
    """
    app = web.Application()
    app.router.add_static("/blueprints", REPO_ROOT / "blueprints")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_first_hour(
    hass: RealHass,
    frontend: Frontend,
    simulator: Simulator,
    blueprint_server: str,
    tmp_path: Path,
) -> None:
    """From the login page to a dashboard, with automations that run once per call."""
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"{time.monotonic() - started:6.1f} s  {what}")

    await frontend.log_in(USERNAME, PASSWORD)
    step("logged in on the login page")
    await add_integration_in_the_ui(frontend, simulator, tmp_path)
    step("added Weblink NGUC in the Add-integration dialog")
    await check_entities(hass)

    await import_blueprints(hass, blueprint_server)
    step("imported the blueprints")
    await hass.request(
        "POST",
        "/api/services/light/turn_on",
        json_body={"entity_id": LAMP, **LAMP_BEFORE},
    )
    async with hass.subscribe("automation_triggered") as triggered:
        automations = await create_automations(hass)
        step(f"created {len(automations)} automations through the config API")

        def runs() -> Counter[str]:
            return Counter(event["data"]["entity_id"] for event in triggered)

        await a_busy_line_a_full_queue_and_calls(
            hass, simulator, automations, runs, step
        )
        # Anna is on a call and Erik's phone rings when the screenshots are
        # taken, and when the event stream fails.
        await simulator.set_user_status(ANNA, 1)
        await simulator.set_user_status(ERIK, 8)
        await until(lambda: lamp_is(hass, {"rgb_color": RED}), "the lamp red")
        await until(
            lambda: _state_is(hass, "sensor.erik_johansson_line_status", "ringing"),
            "Erik's phone ringing",
        )
        await look_at_device_pages(hass, frontend, tmp_path)
        step("looked at the device pages")
        await load_the_dashboard(hass, frontend, tmp_path)
        step("loaded docs/dashboard.yaml")
        await an_outage(hass, simulator, automations, runs, step)


async def add_integration_in_the_ui(
    frontend: Frontend, simulator: Simulator, tmp_path: Path
) -> None:
    """Add Weblink NGUC for the two-factor account, as a person does."""
    account = simulator.company.accounts[ACCOUNT]
    assert account.tfa_code is not None
    await frontend.open("/config/integrations/dashboard", "Add integration")
    await frontend.click("Add integration")
    await frontend.wait_text("Select brand")
    await frontend.page.keyboard.type("Weblink")
    await frontend.click_text("Weblink NGUC")
    await frontend.wait_text("Connect to Weblink NGUC", "Advanced settings")
    await frontend.fill("Company", COMPANY)
    await frontend.fill("Username", account.username)
    await frontend.fill("Password", account.password)
    await frontend.screenshot(shot(tmp_path, "config-flow.png"))
    # The server addresses are under the collapsed Advanced settings, set to
    # Weblink's servers; here they point at the simulator.
    await frontend.click_text("Advanced settings")
    assert (await frontend.value("API URL")).startswith("https://")
    await frontend.fill("API URL", simulator.api_url)
    await frontend.fill("Event stream URL", simulator.events_url)
    await frontend.click("Submit")

    await frontend.wait_text("Two-factor authentication")
    await frontend.fill("Code", account.tfa_code)
    await frontend.screenshot(shot(tmp_path, "config-flow-two-factor.png"))
    await frontend.click("Submit")
    # The devices it found, to name and put in areas.
    await frontend.wait_text("Name and assign")
    await frontend.click("Skip and finish")
    await frontend.wait_text("Weblink NGUC")


async def check_entities(hass: RealHass) -> None:
    """The entities that the README, blueprints and dashboard name exist, and work."""
    await until(
        lambda: _state_is(hass, ANNA_LINE, "idle"), "Anna's line idle", timeout=30
    )
    needed = dashboard_entities(dashboard()) | {ANNA_CALL, ANNA_LINE, SUPPORT_WAITING}
    states = {
        state["entity_id"]: state for state in await hass.request("GET", "/api/states")
    }
    missing = sorted(needed - set(states))
    assert missing == [], f"named in {DASHBOARD.name} etc. but missing: {missing}"
    unavailable = sorted(e for e in needed if states[e]["state"] == "unavailable")
    assert unavailable == [], unavailable


async def import_blueprints(hass: RealHass, server: str) -> None:
    """Import each blueprint as the import dialog does: fetch it, then save it."""
    for path in blueprint_files():
        relative = path.relative_to(REPO_ROOT).as_posix()
        imported = await hass.ws_command("blueprint/import", url=f"{server}/{relative}")
        assert imported["validation_errors"] is None, imported
        assert imported["blueprint"]["metadata"]["domain"] == "automation"
        await hass.ws_command(
            "blueprint/save",
            domain="automation",
            path=f"weblink_nguc/{path.stem}",
            yaml=imported["raw_data"],
            source_url=blueprint_url(path),
        )
    listed = await hass.ws_command("blueprint/list", domain="automation")
    ours = {name for name in listed if name.startswith("weblink_nguc/")}
    assert ours == {f"weblink_nguc/{path.name}" for path in blueprint_files()}
    assert not [name for name in ours if "error" in listed[name]], listed


async def create_automations(hass: RealHass) -> dict[str, str]:
    """Create an automation from each blueprint and each README example; return their entity ids.

    Saved as the automation editor saves them (into automations.yaml, which
    script/develop's configuration includes), and so loaded at once.
    """
    configs: dict[str, dict[str, Any]] = {
        path.stem: {
            "alias": ALIASES[path.stem],
            "description": "",
            "use_blueprint": {
                "path": f"weblink_nguc/{path.name}",
                "input": BLUEPRINT_INPUTS[path.name],
            },
        }
        for path in blueprint_files()
    }
    for number, example in enumerate(readme_automations(), start=1):
        configs[f"readme_{number}"] = example
    for config_id, config in configs.items():
        await hass.request(
            "POST", f"/api/config/automation/config/{config_id}", json_body=config
        )

    async def loaded() -> dict[str, str]:
        states = await hass.request("GET", "/api/states")
        found = {
            state["attributes"].get("id"): state["entity_id"]
            for state in states
            if state["entity_id"].startswith("automation.") and state["state"] == "on"
        }
        return found if set(configs) <= set(found) else {}

    return await until(loaded, "every automation loaded and on")


async def lamp_is(hass: RealHass, expected: dict[str, Any]) -> bool:
    """Return whether the lamp shows ``expected`` (state, rgb_color, brightness)."""
    state = await hass.state(LAMP) or {}
    attributes = state.get("attributes", {})
    shown = {
        "state": state.get("state"),
        "rgb_color": list(attributes.get("rgb_color") or []),
        "brightness": attributes.get("brightness"),
    }
    return all(shown[key] == value for key, value in expected.items())


async def a_busy_line_a_full_queue_and_calls(
    hass: RealHass,
    sim: Simulator,
    automations: dict[str, str],
    runs: Callable[[], Counter[str]],
    step: Callable[[str], None],
) -> None:
    """A busy line, a full queue, calls: each automation runs once per happening."""
    missed_call = automations["missed_call"]
    busy_light = automations["busy_light"]
    queue_alert = automations["queue_alert"]
    examples = [name for key, name in automations.items() if key.startswith("readme")]

    # --- A busy line: the lamp turns red while Anna's phone rings and she
    # talks, and is as it was afterwards.
    assert await lamp_is(hass, {"state": "on", **LAMP_BEFORE})
    await sim.set_user_status(ANNA, 8)
    await until(lambda: lamp_is(hass, {"rgb_color": RED}), "the lamp red")
    await sim.set_user_status(ANNA, 1)
    await until(lambda: _state_is(hass, ANNA_LINE, "in_use"), "Anna in use")
    await sim.set_user_status(ANNA, 0)
    await until(lambda: lamp_is(hass, {"state": "on", **LAMP_BEFORE}), "the lamp back")
    assert runs()[busy_light] == 2, runs()  # red once, back once
    step("busy light: red while busy, back afterwards")

    # --- A full queue: one alert once it has been full for QUEUE_WAIT s.
    for number, wait in enumerate((75, 40, 10)):
        await sim.add_caller(SUPPORT, f"070000000{number}", wait=wait)
    await until(lambda: _state_is(hass, SUPPORT_WAITING, "3"), "3 waiting")
    alerts = await until(lambda: _notifications(hass), "the queue alert")
    assert [n["title"] for n in alerts] == ["Callers waiting in Support"]
    assert alerts[0]["message"].startswith("3 callers are waiting in the queue")
    assert runs()[queue_alert] == 1
    step("queue alert")

    # --- Calls: answered and outgoing ones notify nobody, a missed one is
    # notified once by the blueprint and once by each README example. The
    # missed call is the last call before the outage. Support's calls to
    # return get a caller who hung up and whom Anna then reached (done), and
    # one who hung up later (open).
    await _queue_caller_hung_up(sim, CALLED_BACK)
    await sim.finish_call(ANNA, remote=CALLER, billsec=42)
    await sim.finish_call(ANNA, direction="OUT", remote=CALLED_BACK, billsec=185)
    guid = await sim.add_caller(SUPPORT, "0731234567")
    await sim.push_event(
        "QueueCdr",
        sim.company.queue_cdr(
            SUPPORT,
            call_guid=guid,
            callerid="0731234567",
            disposition="ANSWERED",
            agent_id=ERIK,
            wait_time=25,
            reason="CONNECT",
        ),
    )
    await until(lambda: _event_type_is(hass, ANNA_CALL, "outgoing"), "outgoing")
    await _queue_caller_hung_up(sim, HUNG_UP)
    await sim.finish_call(ANNA, remote=CALLER, disposition="NO ANSWER")
    missed = 1 + len(examples)
    notes = await until(
        lambda: _notifications(hass, 1 + missed), "the missed-call notifications"
    )
    for note in notes[1:]:
        assert note["title"] == "Missed call"
        assert CALLER in note["message"], note
        assert "Anna Lindqvist" in note["message"], note
    assert all(runs()[name] == 1 for name in (missed_call, *examples)), runs()
    step("missed-call notifications")

    # --- The calls to return, as the dashboard will show them: numbers in
    # E.164, the one reached ticked off.
    expected = {
        ANNA_TO_RETURN: [(CALLER, "needs_action")],
        SUPPORT_TO_RETURN: [
            (e164(HUNG_UP), "needs_action"),
            (e164(CALLED_BACK), "completed"),
        ],
    }

    async def lists() -> bool:
        return await _todo_items(hass, *expected) == expected

    await until(lists, f"the calls to return {expected}")
    step("calls to return")


async def _queue_caller_hung_up(sim: Simulator, number: str) -> None:
    """A caller of Support hangs up unanswered (the queue's call record)."""
    await sim.push_event(
        "QueueCdr",
        sim.company.queue_cdr(
            SUPPORT,
            call_guid=sim.company.new_call_guid(),
            callerid=number,
            disposition="NOANSWERED",
            wait_time=48,
            reason="ABANDON",
        ),
    )


def e164(number: str) -> str:
    """Return a Swedish national number in E.164, as the lists show it."""
    return "+46" + number.removeprefix("0")


async def _todo_items(
    hass: RealHass, *entity_ids: str
) -> dict[str, list[tuple[str, str]]]:
    """Return each list's items (summary, status), as todo.get_items answers."""
    answer = await hass.request(
        "POST",
        "/api/services/todo/get_items?return_response",
        json_body={"entity_id": list(entity_ids)},
    )
    return {
        entity_id: [(item["summary"], item["status"]) for item in found["items"]]
        for entity_id, found in answer["service_response"].items()
    }


async def an_outage(
    hass: RealHass,
    sim: Simulator,
    automations: dict[str, str],
    runs: Callable[[], Counter[str]],
    step: Callable[[str], None],
) -> None:
    """The event stream fails during Anna's call, long enough for the entities
    to turn unavailable; nothing runs again when they are back.
    """
    busy_light = automations["busy_light"]
    assert await _event_type_is(hass, ANNA_CALL, "missed")
    assert await lamp_is(hass, {"rgb_color": RED})
    before = runs()
    notes = len(await _notifications(hass))
    sim.refuse_events = True
    await sim.drop_connections()
    await until(
        lambda: _state_is(hass, ANNA_CALL, "unavailable"), "unavailable", timeout=120
    )
    step("event stream down, entities unavailable")
    sim.refuse_events = False
    await until(
        lambda: _event_type_is(hass, ANNA_CALL, "missed"), "call back", timeout=180
    )
    await until(lambda: _state_is(hass, ANNA_LINE, "in_use"), "Anna in use")
    await until(lambda: _state_is(hass, SUPPORT_WAITING, "4"), "4 waiting")
    step("event stream back")
    await asyncio.sleep(QUEUE_WAIT + 2)  # the queue alert's wait, and then some
    assert runs() == before, "an automation ran again after the outage"
    assert len(await _notifications(hass)) == notes
    assert await lamp_is(hass, {"rgb_color": RED})
    # The call ends: the lamp is back as it was before the first call.
    await sim.set_user_status(ANNA, 0)
    await until(lambda: lamp_is(hass, {"state": "on", **LAMP_BEFORE}), "the lamp back")
    assert runs()[busy_light] == before[busy_light] + 1
    step("nothing ran again after the outage")


async def look_at_device_pages(
    hass: RealHass, frontend: Frontend, tmp_path: Path
) -> None:
    """Open a user's and a queue's device page: what they show, and screenshots."""
    devices = await hass.ws_command("config/device_registry/list")
    by_name = {device["name"]: device["id"] for device in devices}
    pages = [
        # (device, what its page must show, screenshot)
        (
            "Anna Lindqvist",
            (
                "Line status",
                "In use",
                "Call",
                # The logbook's line for the call record, with the number.
                f"missed a call from {CALLER}",
            ),
            "device-user.png",
        ),
        (
            "Support",
            (
                "Waiting since",
                "Agents free",
                "queue call from +46731234567 answered by Erik Johansson",
            ),
            "device-queue.png",
        ),
    ]
    for name, needles, filename in pages:
        await frontend.open(f"/config/devices/device/{by_name[name]}", name, *needles)
        # The HTTP settings came from storage: no dialog asks to confirm them.
        assert await frontend.page.get_by_text("Confirm new HTTP").count() == 0
        path = await frontend.screenshot(shot(tmp_path, filename))
        print(f"screenshot: {path}")


async def load_the_dashboard(
    hass: RealHass, frontend: Frontend, tmp_path: Path
) -> None:
    """Paste docs/dashboard.yaml into a new dashboard; it shows the phone system."""
    await hass.ws_command(
        "lovelace/dashboards/create",
        url_path="phone-system",
        title="Phone system",
        icon="mdi:phone-classic",
        show_in_sidebar=True,
        require_admin=False,
    )
    # What the raw configuration editor saves: the YAML, parsed.
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    # The README's card is the dashboard's, so that it is shown here too.
    cards = [
        card
        for view in config["views"]
        for section in view["sections"]
        for card in section["cards"]
    ]
    for card in readme_examples("card"):
        assert card in cards, f"the README's card {card} is not in {DASHBOARD.name}"
    await hass.ws_command(
        "lovelace/config/save", url_path="phone-system", config=config
    )
    page = frontend.page
    # Tall enough for the whole dashboard, calls to return included (the
    # logbook draws only the lines in view).
    await page.set_viewport_size({"width": 1280, "height": DASHBOARD_HEIGHT})
    await frontend.open(
        "/phone-system/0",
        "Who is on the phone",
        "Anna Lindqvist",
        "In use",
        "Ringing",
        "Queue Support",
        "Service level",
        "Recent calls",
        "Missed",
        "Calls to return",
        CALLER,
        e164(HUNG_UP),
        e164(CALLED_BACK),
    )
    for warning in ("Entity not available", "not found", "Configuration error"):
        assert await page.get_by_text(warning).count() == 0, warning
    path = await frontend.screenshot(shot(tmp_path, "dashboard.png"))
    await page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    print(f"screenshot: {path}")


# --- Reading Home Assistant's state ------------------------------------------------


async def _state_is(hass: RealHass, entity_id: str, expected: str) -> bool:
    state = await hass.state(entity_id)
    return state is not None and state["state"] == expected


async def _event_type_is(hass: RealHass, entity_id: str, expected: str) -> bool:
    state = await hass.state(entity_id)
    return (
        state is not None
        and state["state"] != "unavailable"
        and state["attributes"].get("event_type") == expected
    )


async def _notifications(hass: RealHass, count: int = 1) -> list[dict[str, Any]]:
    """Return the notifications in the sidebar, oldest first, if there are ``count``."""
    shown: list[dict[str, Any]] = await hass.ws_command("persistent_notification/get")
    shown.sort(key=lambda note: note["created_at"])
    return shown if len(shown) >= count else []
