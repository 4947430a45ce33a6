"""The blueprints and the README's automations, as a user sets them up.

Each blueprint passes Home Assistant's own blueprint validation, has an
import badge in the README, and, set up with the integration against the
simulator, does its job exactly once per call: also when the event stream
fails and the entities come back from ``unavailable``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components.automation.config import (
    AUTOMATION_BLUEPRINT_SCHEMA,
    async_validate_config_item,
)
from homeassistant.components.blueprint import Blueprint, BlueprintInputs
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, yaml as yaml_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from tests.e2e.examples import (
    BLUEPRINTS,
    README,
    REPO_ROOT,
    blueprint_files,
    blueprint_url,
    dashboard,
    dashboard_entities,
    import_badge_url,
    readme_automations,
)
from tests.simulator import Simulator

from .conftest import wait_for

ANNA = "86480"
ANNA_CALL = "event.anna_lindqvist_call"
ANNA_LINE = "sensor.anna_lindqvist_line_status"
SUPPORT_WAITING = "sensor.support_waiting"
LAMP = "light.desk_lamp"
CALLER = "+46701234567"
# The lamp before anyone calls: on, warm white, half bright.
LAMP_BEFORE = {"rgb_color": [255, 180, 100], "brightness": 128}
RED = [255, 0, 0]

# The blueprints, and what each is set up with (the inputs a user picks).
BLUEPRINT_INPUTS: dict[str, dict[str, Any]] = {
    "missed_call.yaml": {"call_entities": [ANNA_CALL]},
    "busy_light.yaml": {"line_status": ANNA_LINE, "light": LAMP, "color": RED},
    "queue_alert.yaml": {
        "waiting_callers": SUPPORT_WAITING,
        "more_than": 2,
        "wait_seconds": 30,
    },
}


def test_every_blueprint_is_listed() -> None:
    """The inputs above cover every blueprint file, and nothing else."""
    assert sorted(BLUEPRINT_INPUTS) == [path.name for path in blueprint_files()]


@pytest.mark.parametrize("path", blueprint_files(), ids=lambda path: path.name)
async def test_blueprint_is_valid(hass: HomeAssistant, path: Path) -> None:
    """Home Assistant accepts the blueprint, and an automation made from it."""
    data = yaml_util.load_yaml_dict(path)
    blueprint = Blueprint(
        data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert blueprint.validate() is None
    assert blueprint.metadata["source_url"] == blueprint_url(path)
    # Imported from its badge in the README.
    assert f"({import_badge_url(path)})" in README.read_text(encoding="utf-8")

    inputs = BlueprintInputs(
        blueprint,
        {"use_blueprint": {"path": path.name, "input": BLUEPRINT_INPUTS[path.name]}},
    )
    inputs.validate()
    config = inputs.async_substitute()
    await async_validate_config_item(hass, "test", config)


async def test_dashboard_and_examples_name_existing_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """docs/dashboard.yaml and the examples name entities of the demo company."""
    named = dashboard_entities(dashboard()) | {ANNA_CALL, ANNA_LINE, SUPPORT_WAITING}
    for example in readme_automations():
        named |= dashboard_entities(example)
    missing = sorted(e for e in named if hass.states.get(e) is None)
    assert missing == []
    unavailable = sorted(e for e in named if hass.states.is_state(e, "unavailable"))
    assert unavailable == []


@pytest.fixture
async def automations(
    hass: HomeAssistant, tmp_path: Path, init_integration: MockConfigEntry
) -> Counter[str]:
    """Set up a lamp, the blueprints' automations and the README's; count runs.

    Returns the number of runs (actions started) per automation entity id.
    """
    # Blueprints live in the configuration directory, as after an import.
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(REPO_ROOT / "blueprints", tmp_path / "blueprints")
    assert BLUEPRINTS.exists()
    for domain in ("persistent_notification", "scene"):
        assert await async_setup_component(hass, domain, {})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "light": [
                        {
                            "name": "Desk lamp",
                            "turn_on": [],
                            "turn_off": [],
                            "set_rgb": [],
                            "set_level": [],
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "light",
        "turn_on",
        {"entity_id": LAMP, **LAMP_BEFORE},
        blocking=True,
    )
    runs: Counter[str] = Counter()

    def count(event: Event[dict[str, Any]]) -> None:
        runs[event.data["entity_id"]] += 1

    hass.bus.async_listen("automation_triggered", count)
    configs = [
        {
            "id": name.removesuffix(".yaml"),
            "alias": name.removesuffix(".yaml"),
            "use_blueprint": {
                "path": f"weblink_nguc/{name}",
                "input": inputs,
            },
        }
        for name, inputs in BLUEPRINT_INPUTS.items()
    ]
    configs += [
        {"id": f"readme_{number}", **example}
        for number, example in enumerate(readme_automations(), start=1)
    ]
    assert await async_setup_component(hass, "automation", {"automation": configs})
    await hass.async_block_till_done()
    ids = hass.states.async_entity_ids("automation")
    assert len(ids) == len(configs), ids
    assert all(hass.states.is_state(entity_id, "on") for entity_id in ids)
    return runs


def notifications(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return the persistent notifications shown now."""
    from homeassistant.components.persistent_notification import (  # noqa: PLC0415
        _async_get_or_create_notifications,
    )

    return [dict(n) for n in _async_get_or_create_notifications(hass).values()]


def lamp(hass: HomeAssistant) -> dict[str, Any]:
    """Return the lamp's state: on or off, its colour and brightness."""
    state = hass.states.get(LAMP)
    assert state is not None
    return {
        "state": state.state,
        "rgb_color": list(state.attributes.get("rgb_color") or []),
        "brightness": state.attributes.get("brightness"),
    }


async def test_blueprints_and_examples_run_once(
    hass: HomeAssistant,
    simulator: Simulator,
    automations: Counter[str],
    short_stream_grace: None,
) -> None:
    """Each automation runs once per call, and not again after an outage."""
    runs = automations
    by_id = {
        state.attributes["id"]: state.entity_id
        for state in hass.states.async_all("automation")
    }
    missed_call = by_id["missed_call"]
    busy_light = by_id["busy_light"]
    queue_alert = by_id["queue_alert"]
    examples = [by_id[f"readme_{n}"] for n in range(1, len(readme_automations()) + 1)]

    # --- A busy line: the lamp turns red, and back --------------------------
    assert lamp(hass) == {"state": "on", **LAMP_BEFORE}
    await simulator.set_user_status(ANNA, 8)  # ringing
    await wait_for(hass, lambda: lamp(hass)["rgb_color"] == RED)
    await simulator.set_user_status(ANNA, 1)  # answered: in use
    await wait_for(hass, lambda: hass.states.is_state(ANNA_LINE, "in_use"))
    await simulator.set_user_status(ANNA, 0)
    await wait_for(hass, lambda: lamp(hass) == {"state": "on", **LAMP_BEFORE})
    assert runs[busy_light] == 2  # red once, back once

    # --- A full queue: one alert after the wait ------------------------------
    for number in range(3):
        await simulator.add_caller("501", f"070000000{number}")
    await wait_for(hass, lambda: hass.states.is_state(SUPPORT_WAITING, "3"))
    assert runs[queue_alert] == 0
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await wait_for(hass, lambda: len(notifications(hass)) == 1)
    alert = notifications(hass)[0]
    assert alert["title"] == "Callers waiting in Support"
    assert alert["message"].startswith("3 callers are waiting in the queue Support")
    assert runs[queue_alert] == 1

    # --- Answered and outgoing calls notify nobody; a missed call, once each --
    await simulator.finish_call(ANNA, remote=CALLER, billsec=42)
    await simulator.finish_call(ANNA, direction="OUT", remote=CALLER, billsec=9)
    await wait_for(
        hass,
        lambda: (
            (state := hass.states.get(ANNA_CALL)) is not None
            and state.attributes.get("event_type") == "outgoing"
        ),
    )
    assert len(notifications(hass)) == 1  # the queue's alert
    # The last call before the outage below is this missed one: the
    # entity comes back from it with event_type "missed".
    await simulator.finish_call(ANNA, remote=CALLER, disposition="NO ANSWER")
    await wait_for(hass, lambda: len(notifications(hass)) == 4)
    assert all(runs[name] == 1 for name in (missed_call, *examples)), runs
    for notification in notifications(hass)[1:]:
        assert notification["title"] == "Missed call"
        assert CALLER in notification["message"]
        assert "Anna Lindqvist" in notification["message"]

    # --- An outage of the event stream, during a call --------------------------
    await simulator.set_user_status(ANNA, 1)
    await wait_for(hass, lambda: lamp(hass)["rgb_color"] == RED)
    before = Counter(runs)
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: hass.states.is_state(ANNA_CALL, "unavailable"))
    assert hass.states.is_state(SUPPORT_WAITING, "unavailable")
    simulator.refuse_events = False
    await wait_for(hass, lambda: hass.states.is_state(ANNA_LINE, "in_use"))
    await wait_for(hass, lambda: hass.states.is_state(SUPPORT_WAITING, "3"))
    await wait_for(
        hass,
        lambda: (
            (state := hass.states.get(ANNA_CALL)) is not None
            and state.attributes.get("event_type") == "missed"
        ),
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=62))
    await hass.async_block_till_done()
    assert runs == before, "an automation ran again after the outage"
    assert len(notifications(hass)) == 4
    assert lamp(hass)["rgb_color"] == RED

    # The call ends: the lamp is back as it was before the first call.
    await simulator.set_user_status(ANNA, 0)
    await wait_for(hass, lambda: lamp(hass) == {"state": "on", **LAMP_BEFORE})
    assert runs[busy_light] == before[busy_light] + 1


def _matches(
    hass: HomeAssistant, entry: er.RegistryEntry, entity_filter: dict[str, Any]
) -> bool:
    """Whether an entity passes one filter of an entity selector, as the UI applies it."""
    if (
        "integration" in entity_filter
        and entry.platform != entity_filter["integration"]
    ):
        return False
    domains = entity_filter.get("domain")
    if domains is not None and entry.domain not in cv.ensure_list(domains):
        return False
    if (device_filter := entity_filter.get("device")) is not None:
        device = dr.async_get(hass).async_get(entry.device_id or "")
        if device is None:
            return False
        for key, wanted in device_filter.items():
            if key == "integration":
                continue
            if getattr(device, key) != wanted:
                return False
    return True


async def test_missed_call_offers_users_calls_only(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The missed-call blueprint offers users' call entities, not queues'.

    A queue's call entity never fires ``missed``; picking one would make an
    automation that never runs.
    """
    data = yaml_util.load_yaml_dict(BLUEPRINTS / "missed_call.yaml")
    selector = data["blueprint"]["input"]["call_entities"]["selector"]["entity"]
    filters = selector["filter"]
    offered = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            er.async_get(hass), init_integration.entry_id
        )
        if any(_matches(hass, entry, f) for f in filters)
    }
    assert offered == {
        "event.anna_lindqvist_call",
        "event.erik_johansson_call",
        "event.maja_karlsson_call",
        "event.lars_oberg_call",
    }


async def test_missed_call_names_a_colleague(
    hass: HomeAssistant, simulator: Simulator, automations: Counter[str]
) -> None:
    """A colleague's missed call is notified with the colleague's name."""
    # Erik (extension 102) calls Anna, who does not answer.
    missed = simulator.company.cdr(ANNA, remote="102", disposition="NO ANSWER")
    missed["src_pbx_user_id"] = "86481"
    await simulator.push_event("Cdr", missed)
    examples = len(readme_automations())
    await wait_for(hass, lambda: len(notifications(hass)) == 1 + examples)
    for notification in notifications(hass):
        assert notification["message"] == (
            "Anna Lindqvist missed a call from Erik Johansson."
        )


async def test_queue_alert_only_while_few_agents_are_free(
    hass: HomeAssistant,
    tmp_path: Path,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """With "only while fewer agents are free than", a queue with enough free is quiet.

    Support has two agents free (Anna and Erik; Maja is paused).
    """
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(REPO_ROOT / "blueprints", tmp_path / "blueprints")
    assert await async_setup_component(hass, "persistent_notification", {})
    inputs = BLUEPRINT_INPUTS["queue_alert.yaml"]
    configs = [
        {
            "id": f"fewer_than_{limit}",
            "alias": f"fewer than {limit}",
            "use_blueprint": {
                "path": "weblink_nguc/queue_alert.yaml",
                "input": {**inputs, "fewer_agents_than": limit},
            },
        }
        for limit in (2, 3)
    ]
    assert await async_setup_component(hass, "automation", {"automation": configs})
    await hass.async_block_till_done()
    assert all(
        hass.states.is_state(entity_id, "on")
        for entity_id in hass.states.async_entity_ids("automation")
    )
    ran: list[str] = []
    hass.bus.async_listen(
        "automation_triggered", lambda event: ran.append(event.data["name"])
    )
    assert init_integration.runtime_data.data.queues["501"].member_available == 2

    for number in range(3):
        await simulator.add_caller("501", f"070000000{number}")
    await wait_for(hass, lambda: hass.states.is_state(SUPPORT_WAITING, "3"))
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await wait_for(hass, lambda: len(notifications(hass)) == 1)
    await hass.async_block_till_done()
    assert ran == ["fewer than 3"]
