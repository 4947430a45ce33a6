"""The automation trigger weblink_nguc.caller_waiting, in an automation.

Callers queue up in the simulator and their waits come in Queue snapshots
over its websocket; the clock is fake, and the automation's runs are read
from the events its action fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation import automations_with_device
from homeassistant.components.persistent_notification import (
    _async_get_or_create_notifications,
)
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.trigger import (
    async_get_all_descriptions,
    async_validate_trigger_config,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
import voluptuous as vol

from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from custom_components.weblink_nguc.trigger_memory import (
    MEMORY,
    SAVE_DELAY,
    STORAGE_KEY,
)
from tests.e2e.examples import readme_examples
from tests.simulator import QueueCaller, Simulator

from .conftest import wait_for, wait_in_sync

SUPPORT, SALES = "501", "502"
ERIK = "86481"
FIRST, SECOND = "0701111111", "0702222222"
RAN = "caller_waiting_ran"
ENTRY = "the entry"  # stands for the entry's id in stored data

# The clock runs, as the simulator answers over real sockets; the tests move
# it on to a number of seconds after a snapshot arrived.
pytestmark = pytest.mark.freeze_time("2026-12-07 09:00:00+00:00", tick=True)


def device_id(entry: MockConfigEntry, key: str) -> str:
    """Return the Home Assistant device id of one of the entry's items."""
    found = entry.runtime_data.devices.device_id(key)
    assert found is not None, key
    return found


def trigger(devices: list[str], seconds: Any) -> dict[str, Any]:
    """Return the trigger's configuration, as automations hand it to validation."""
    return {
        "platform": "weblink_nguc.caller_waiting",
        "target": {"device_id": devices},
        "options": {"seconds": seconds},
    }


def old_shape(devices: list[str], seconds: Any) -> dict[str, Any]:
    """Return the trigger as automations saved before issue 18 have it."""
    return {
        "trigger": "weblink_nguc.caller_waiting",
        "options": {"device_id": devices, "seconds": seconds},
    }


def automation_config(
    devices: list[str],
    seconds: int,
    *,
    alias: str = "Long wait",
    triggers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return an automation on the trigger whose runs fire the event RAN."""
    return {
        "id": "long_wait",
        "alias": alias,
        "triggers": triggers
        or [
            {
                "trigger": "weblink_nguc.caller_waiting",
                "target": {"device_id": devices},
                "options": {"seconds": seconds},
            }
        ],
        "actions": [
            {
                "event": RAN,
                "event_data": {
                    name: f"{{{{ trigger.{name} }}}}"
                    for name in (
                        "queue",
                        "caller",
                        "wait",
                        "device_id",
                        "description",
                        "call_guid",
                    )
                },
            }
        ],
    }


async def add_automation(
    hass: HomeAssistant,
    devices: list[str],
    seconds: int,
    *,
    triggers: list[dict[str, Any]] | None = None,
) -> list[Event[Any]]:
    """Set up an automation on the trigger; return the list of its runs."""
    runs = async_capture_events(hass, RAN)
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": automation_config(devices, seconds, triggers=triggers)},
    )
    await hass.async_block_till_done()
    return runs


def waiting(entry: MockConfigEntry, queue_id: str) -> set[str | None]:
    """Return the numbers the integration sees waiting in a queue."""
    queue = entry.runtime_data.data.queues[queue_id]
    return {caller.callerid for caller in queue.callers}


def callers(entry: MockConfigEntry, queue_id: str) -> list[QueueCaller]:
    """Return the callers the integration sees waiting in a queue."""
    return list(entry.runtime_data.data.queues[queue_id].callers)


def wait_of(entry: MockConfigEntry, queue_id: str, number: str) -> int | None:
    """Return a caller's wait at the queue's last snapshot."""
    queue = entry.runtime_data.data.queues[queue_id]
    return next(c.wait for c in queue.callers if c.callerid == number)


async def at(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mark: datetime,
    seconds: float,
) -> None:
    """Move the clock to ``seconds`` after ``mark`` and run the timers due by then.

    ``mark`` is read as soon as a snapshot has arrived: a few hundredths of
    a second after it did, well inside the half second by which
    ``async_fire_time_changed`` runs timers early.
    """
    freezer.move_to(mark + timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_fires_once_per_caller_when_the_wait_reaches_the_threshold(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At the moment a caller has waited 60 s, not at the next snapshot; once."""
    support = device_id(init_integration, queue_key(SUPPORT))
    runs = await add_automation(hass, [support], 60)

    first = await simulator.add_caller(SUPPORT, FIRST, wait=10)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 49)
    assert runs == []

    # No snapshot comes: the integration's own timer fires.
    await at(hass, freezer, mark, 50)
    assert len(runs) == 1
    assert runs[0].data == {
        "queue": "Support",
        "caller": FIRST,
        "wait": 60,
        "device_id": support,
        "description": f"caller {FIRST} waited 60 s in Support",
        # The template renders the call id as a number.
        "call_guid": float(first),
    }

    # Later snapshots still list the caller, with longer waits: no second
    # run for them, one for the second caller when their turn comes.
    second = await simulator.add_caller(SUPPORT, SECOND, wait=0)
    await wait_for(hass, lambda: len(waiting(init_integration, SUPPORT)) == 2)
    await at(hass, freezer, mark, 80)
    await simulator.update_queue(
        SUPPORT,
        callers=[
            QueueCaller(first, SUPPORT, FIRST, wait=80, position=1),
            QueueCaller(second, SUPPORT, SECOND, wait=30, position=2),
        ],
    )
    await wait_for(hass, lambda: wait_of(init_integration, SUPPORT, SECOND) == 30)
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 29)
    assert len(runs) == 1
    await at(hass, freezer, mark, 30)
    assert [run.data["caller"] for run in runs] == [FIRST, SECOND]
    assert runs[1].data["wait"] == 60

    await at(hass, freezer, mark, 600)
    assert len(runs) == 2


async def test_fires_at_once_for_a_caller_already_waiting_longer(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A caller past the threshold when the automation starts: at once, with their wait."""
    await simulator.add_caller(SUPPORT, FIRST, wait=300)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()

    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 120
    )
    assert len(runs) == 1
    assert runs[0].data["caller"] == FIRST
    assert runs[0].data["wait"] == 300

    await at(hass, freezer, mark, 600)
    assert len(runs) == 1


async def test_an_old_snapshot_counts_from_its_arrival(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An automation that starts minutes after the last snapshot fires at once.

    The caller waited 10 s when NGUC last said so, 55 s ago: 65 s now,
    past a threshold of 60 s, although the snapshot says 10. (Less than a
    minute on: a stream silent for longer is presumed dead, and the trigger
    waits until it is back.)
    """
    await simulator.add_caller(SUPPORT, FIRST, wait=10)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 55)

    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    assert len(runs) == 1
    assert runs[0].data["caller"] == FIRST
    assert 64 <= runs[0].data["wait"] <= 66

    await at(hass, freezer, mark, 600)
    assert len(runs) == 1


async def test_not_for_a_caller_who_left(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A caller who leaves before the threshold is not waiting too long."""
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    first = await simulator.add_caller(SUPPORT, FIRST, wait=0)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 59)
    await simulator.remove_caller(SUPPORT, first, answered=False)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == set())

    await at(hass, freezer, mark, 600)
    assert runs == []


async def test_timed_from_the_last_snapshot(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """When NGUC's wait and our clock disagree, NGUC's newest wait counts.

    Only the chosen queues are watched.
    """
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    first = await simulator.add_caller(SUPPORT, FIRST, wait=0)
    await simulator.add_caller(SALES, SECOND, wait=500)
    await wait_for(hass, lambda: waiting(init_integration, SALES) == {SECOND})
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 10)
    # Ten seconds on, NGUC says the caller has waited 40 s: 20 s to go.
    await simulator.update_queue(
        SUPPORT, callers=[QueueCaller(first, SUPPORT, FIRST, wait=40, position=1)]
    )
    await wait_for(hass, lambda: wait_of(init_integration, SUPPORT, FIRST) == 40)
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 19)
    assert runs == []
    await at(hass, freezer, mark, 20)
    assert [(run.data["caller"], run.data["wait"]) for run in runs] == [(FIRST, 60)]


async def test_keeps_timing_across_a_reload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A reload neither loses a waiting caller nor fires again for one fired for."""
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    first = await simulator.add_caller(SUPPORT, FIRST, wait=70)
    second = await simulator.add_caller(SUPPORT, SECOND, wait=0)
    await wait_for(hass, lambda: len(waiting(init_integration, SUPPORT)) == 2)
    assert [run.data["caller"] for run in runs] == [FIRST]
    await at(hass, freezer, dt_util.utcnow(), 20)
    # What NGUC answers after the reload: the waits of now.
    await simulator.update_queue(
        SUPPORT,
        callers=[
            QueueCaller(first, SUPPORT, FIRST, wait=90, position=1),
            QueueCaller(second, SUPPORT, SECOND, wait=20, position=2),
        ],
    )
    await wait_for(hass, lambda: wait_of(init_integration, SUPPORT, SECOND) == 20)

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, init_integration)
    await wait_for(hass, lambda: len(waiting(init_integration, SUPPORT)) == 2)
    mark = dt_util.utcnow()
    assert len(runs) == 1

    await at(hass, freezer, mark, 39)
    assert len(runs) == 1
    await at(hass, freezer, mark, 40)
    assert [run.data["caller"] for run in runs] == [FIRST, SECOND]
    await at(hass, freezer, mark, 600)
    assert len(runs) == 2


async def test_quiet_while_the_entry_is_unloaded(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An unloaded entry tells nothing of its queues: no run from stale waits."""
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    await simulator.add_caller(SUPPORT, FIRST, wait=0)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    await at(hass, freezer, mark, 600)
    assert runs == []


async def test_turned_off_and_on_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Off, the automation does not run; on again, at once for who waited too long."""
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    first = await simulator.add_caller(SUPPORT, FIRST, wait=0)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.long_wait"}, blocking=True
    )
    await at(hass, freezer, mark, 600)
    assert runs == []

    second = await simulator.add_caller(SUPPORT, SECOND, wait=0)
    await simulator.update_queue(
        SUPPORT,
        callers=[
            QueueCaller(first, SUPPORT, FIRST, wait=600, position=1),
            QueueCaller(second, SUPPORT, SECOND, wait=0, position=2),
        ],
    )
    await wait_for(hass, lambda: wait_of(init_integration, SUPPORT, FIRST) == 600)
    await hass.services.async_call(
        "automation", "turn_on", {"entity_id": "automation.long_wait"}, blocking=True
    )
    await hass.async_block_till_done()
    assert [(run.data["caller"], run.data["wait"]) for run in runs] == [(FIRST, 600)]


async def test_once_per_caller_across_the_automations_queues(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A caller passed on from one watched queue to another is the same caller."""
    support = device_id(init_integration, queue_key(SUPPORT))
    sales = device_id(init_integration, queue_key(SALES))
    runs = await add_automation(hass, [support, sales], 60)
    guid = await simulator.add_caller(SUPPORT, FIRST, wait=70)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    assert [run.data["device_id"] for run in runs] == [support]

    await simulator.remove_caller(SUPPORT, guid)
    await simulator.update_queue(
        SALES, callers=[QueueCaller(guid, SALES, FIRST, wait=80, position=1)]
    )
    await wait_for(hass, lambda: waiting(init_integration, SALES) == {FIRST})
    await at(hass, freezer, dt_util.utcnow(), 600)
    assert len(runs) == 1


async def test_callers_without_a_wait_or_a_call_id(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A snapshot without a caller's wait keeps the timing of the last that had it.

    A caller without a call id is told apart by their number; one with
    neither cannot be, and is left out, as is a wait beyond belief.
    """
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    queue = simulator.company.queues[SUPPORT].to_wire()
    queue["callers"] = [
        # A wait beyond belief: not timed, and no obstacle to the others.
        {"callerid": SECOND, "call_guid": "g-x", "wait": "9" * 15, "position": "1"},
        {"callerid": FIRST, "wait": "10", "position": "2"},
        {"wait": "10", "position": "3"},
    ]
    await simulator.push_event("Queue", queue, apply=False)
    await wait_for(
        hass, lambda: waiting(init_integration, SUPPORT) == {FIRST, SECOND, None}
    )
    mark = dt_util.utcnow()
    await at(hass, freezer, mark, 20)
    queue["callers"] = [{"callerid": FIRST, "position": "2"}]
    await simulator.push_event("Queue", queue, apply=False)
    await wait_for(hass, lambda: wait_of(init_integration, SUPPORT, FIRST) is None)
    await at(hass, freezer, mark, 49)
    assert runs == []
    await at(hass, freezer, mark, 50)
    assert [(run.data["caller"], run.data["wait"]) for run in runs] == [(FIRST, 60)]
    assert runs[0].data["call_guid"] is None


async def test_quiet_while_the_stream_is_lost(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    short_stream_grace: None,
) -> None:
    """Without the stream, who still waits is unknown: no run until it is back.

    Back, the state read says the caller still waits, past the threshold:
    the automation runs at once.
    """
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    await simulator.add_caller(SUPPORT, FIRST, wait=0)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    mark = dt_util.utcnow()
    simulator.refuse_events = True
    await simulator.drop_connections()
    coordinator = init_integration.runtime_data
    await wait_for(hass, lambda: not coordinator.available)
    await at(hass, freezer, mark, 120)
    assert runs == []

    # What NGUC will answer when asked again.
    simulator.company.queues[SUPPORT].callers[0].wait = 120
    simulator.refuse_events = False
    await wait_for(hass, lambda: coordinator.available)
    assert [(run.data["caller"], run.data["wait"]) for run in runs] == [(FIRST, 120)]


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (3601, "value must be at most 3600"),
        (-1, "value must be at least 0"),
        ("soon", "expected int"),
    ],
)
async def test_seconds_out_of_range_are_rejected(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    seconds: Any,
    message: str,
) -> None:
    """The threshold is 0 to 3600 seconds."""
    support = device_id(init_integration, queue_key(SUPPORT))
    with pytest.raises(vol.Invalid, match=message):
        await async_validate_trigger_config(hass, [trigger([support], seconds)])
    # The bounds themselves are fine.
    for fine in (0, 3600):
        await async_validate_trigger_config(hass, [trigger([support], fine)])


async def test_devices_that_are_not_queues_are_rejected(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Only call queues of this integration can be watched, and one is needed."""
    other = MockConfigEntry(domain="other_phone_system")
    other.add_to_hass(hass)
    lamp = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "1")}, name="Lamp"
    )
    support = device_id(init_integration, queue_key(SUPPORT))
    erik = device_id(init_integration, user_key(ERIK))
    cases = [
        ([support, lamp.id], "Device Lamp is not a Weblink NGUC device"),
        ([erik], "Device Erik Johansson is not a Weblink NGUC call queue"),
        (["no-such-device"], "Unknown device: no-such-device"),
        ([], "length of value must be at least 1"),
    ]
    for devices, message in cases:
        with pytest.raises(vol.Invalid, match=message):
            await async_validate_trigger_config(hass, [trigger(devices, 60)])
    # Not an area or a label, even one holding queues.
    config = trigger([support], 60)
    config["target"]["area_id"] = ["office"]
    with pytest.raises(vol.Invalid, match="call queue devices, not area_id"):
        await async_validate_trigger_config(hass, [config])
    # What the editor leaves empty is no choice.
    config["target"]["area_id"] = []
    (validated,) = await async_validate_trigger_config(hass, [config])
    assert validated["target"] == {"device_id": [support]}


async def test_described_and_translated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Home Assistant reads triggers.yaml; its target picker offers queues only.

    Every field has a name and a description in English and Swedish.
    """
    await add_automation(hass, [device_id(init_integration, queue_key(SUPPORT))], 60)
    descriptions = await async_get_all_descriptions(hass)
    description = descriptions["weblink_nguc.caller_waiting"]
    fields = description["fields"]
    assert set(fields) == {"seconds"}
    assert fields["seconds"]["selector"]["number"] == {
        "min": 0,
        "max": 3600,
        "step": 1,
        "mode": "box",
        "unit_of_measurement": "s",
    }
    # The queues are the target: their devices list the automation.
    (device_filter,) = description["target"]["device"]
    support = device_registry.async_get(device_id(init_integration, queue_key(SUPPORT)))
    erik = device_registry.async_get(device_id(init_integration, user_key(ERIK)))
    assert support is not None
    assert erik is not None
    assert device_filter == {"integration": DOMAIN, "model": support.model}
    assert erik.model != support.model

    for language in ("en", "sv"):
        texts = await async_get_translations(hass, language, "triggers", [DOMAIN])
        prefix = f"component.{DOMAIN}.triggers.caller_waiting"
        for key in ("name", "description"):
            assert texts.get(f"{prefix}.{key}"), (language, key)
        for field in fields:
            for key in ("name", "description"):
                assert texts.get(f"{prefix}.fields.{field}.{key}"), (language, field)


async def reload_automations(hass: HomeAssistant, *automations: dict[str, Any]) -> None:
    """Save the automations and reload them, as the automation editor does."""
    with patch(
        "homeassistant.config.load_yaml_config_file",
        autospec=True,
        return_value={"automation": list(automations)},
    ):
        await hass.services.async_call("automation", "reload", blocking=True)
    await hass.async_block_till_done()


async def test_not_again_when_turned_off_and_on_or_edited(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Off and on, or edited, an automation has told of a waiting caller already.

    Another automation has not: it runs for them too, once.
    """
    support = device_id(init_integration, queue_key(SUPPORT))
    runs = await add_automation(hass, [support], 60)
    await simulator.add_caller(SUPPORT, FIRST, wait=70)
    await wait_for(hass, lambda: waiting(init_integration, SUPPORT) == {FIRST})
    assert len(runs) == 1

    for _ in range(2):
        for service in ("turn_off", "turn_on"):
            await hass.services.async_call(
                "automation",
                service,
                {"entity_id": "automation.long_wait"},
                blocking=True,
            )
        await hass.async_block_till_done()
    assert len(runs) == 1

    # Edited (renamed, a queue added): Home Assistant makes the automation
    # anew, with the same id.
    sales = device_id(init_integration, queue_key(SALES))
    edited = automation_config([support, sales], 60, alias="Long wait, edited")
    other = {**automation_config([support], 60, alias="Other"), "id": "other"}
    await reload_automations(hass, edited, other)
    state = hass.states.get("automation.long_wait")
    assert state is not None
    assert state.attributes["friendly_name"] == "Long wait, edited"
    await at(hass, freezer, dt_util.utcnow(), 50)
    assert [run.data["caller"] for run in runs] == [FIRST, FIRST]
    assert len(hass.states.async_entity_ids("automation")) == 2

    # A new caller: one run of each.
    await simulator.add_caller(SUPPORT, SECOND, wait=70)
    await wait_for(hass, lambda: len(runs) == 4)
    await at(hass, freezer, dt_util.utcnow(), 600)
    assert [run.data["caller"] for run in runs] == [FIRST, FIRST, SECOND, SECOND]


async def test_two_triggers_of_one_automation_each_fire(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """What one trigger fired for does not keep the automation's other one quiet."""
    support = device_id(init_integration, queue_key(SUPPORT))
    runs = await add_automation(
        hass,
        [support],
        60,
        triggers=[
            {
                "trigger": "weblink_nguc.caller_waiting",
                "target": {"device_id": [support]},
                "options": {"seconds": seconds},
            }
            for seconds in (60, 120)
        ],
    )
    await simulator.add_caller(SUPPORT, FIRST, wait=130)
    await wait_for(hass, lambda: len(runs) == 2)
    assert [run.data["caller"] for run in runs] == [FIRST, FIRST]


async def test_a_later_call_from_the_same_number_fires_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without a call id, a call is its number and when its wait began.

    The same call in later snapshots does not fire again; the number calling
    again later does, whether or not the automation saw them leave.
    """
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    queue = simulator.company.queues[SUPPORT].to_wire()

    async def snapshot(wait: int | None) -> None:
        if wait is None:
            queue["callers"] = []
            queue["queue"]["waiting"] = "0"
        else:
            caller = {"callerid": FIRST, "wait": str(wait), "position": "1"}
            queue["callers"] = [caller]
            queue["queue"]["waiting"] = "1"
        await simulator.push_event("Queue", queue, apply=False)
        await wait_for(
            hass,
            lambda: (
                {(c.callerid, c.wait) for c in callers(init_integration, SUPPORT)}
                == (set() if wait is None else {(FIRST, wait)})
            ),
        )

    await snapshot(70)
    assert len(runs) == 1
    await at(hass, freezer, dt_util.utcnow(), 30)
    await snapshot(100)
    assert len(runs) == 1

    # Gone, and back later: another call.
    await snapshot(None)
    await at(hass, freezer, dt_util.utcnow(), 45)
    await snapshot(65)
    assert len(runs) == 2

    # Calling again while the automation is off, which did not see them go.
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.long_wait"}, blocking=True
    )
    await at(hass, freezer, dt_util.utcnow(), 40)
    await snapshot(10)
    mark = dt_util.utcnow()
    await hass.services.async_call(
        "automation", "turn_on", {"entity_id": "automation.long_wait"}, blocking=True
    )
    await at(hass, freezer, mark, 49)
    assert len(runs) == 2
    await at(hass, freezer, mark, 50)
    assert len(runs) == 3
    await at(hass, freezer, dt_util.utcnow(), 600)
    assert len(runs) == 3
    assert {run.data["call_guid"] for run in runs} == {None}


async def test_held_while_the_stream_is_down_within_its_grace(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Entities stay available a while after the stream drops; the trigger waits.

    Its waits are estimates then: a caller who reached the threshold fires
    only once the state is read again, and only if still waiting.
    """
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    await simulator.add_caller(SUPPORT, FIRST, wait=50)
    second = await simulator.add_caller(SUPPORT, SECOND, wait=50)
    await wait_for(hass, lambda: len(waiting(init_integration, SUPPORT)) == 2)
    mark = dt_util.utcnow()
    coordinator = init_integration.runtime_data
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: not coordinator.connected)
    await at(hass, freezer, mark, 16)
    assert coordinator.available  # within the grace
    assert runs == []

    # What NGUC will answer: the second caller left meanwhile.
    support = simulator.company.queues[SUPPORT]
    support.callers = [c for c in support.callers if c.call_guid != second]
    support.callers[0].wait = 66
    support.recount(simulator.company.statuses)
    simulator.refuse_events = False
    await wait_in_sync(hass, init_integration)
    await at(hass, freezer, dt_util.utcnow(), 1)
    assert [run.data["caller"] for run in runs] == [FIRST]
    await at(hass, freezer, dt_util.utcnow(), 600)
    assert len(runs) == 1


async def test_queues_are_the_target_and_the_old_shape_still_works(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """The queue's device lists the automation; queues saved as an option still work.

    Automations saved before the queues became the target have them under
    ``options``: they are read as the target, listed alike, and run.
    """
    support = device_id(init_integration, queue_key(SUPPORT))
    sales = device_id(init_integration, queue_key(SALES))
    (migrated,) = await async_validate_trigger_config(
        hass,
        [
            {
                "platform": "weblink_nguc.caller_waiting",
                "options": {"device_id": [sales], "seconds": 45},
            }
        ],
    )
    assert migrated["target"] == {"device_id": [sales]}
    assert migrated["options"] == {"seconds": 45}

    runs = await add_automation(
        hass,
        [support],
        60,
        triggers=[
            {
                "trigger": "weblink_nguc.caller_waiting",
                "target": {"device_id": support},
                "options": {"seconds": 60},
            },
            old_shape([sales], 60),
        ],
    )
    assert automations_with_device(hass, support) == ["automation.long_wait"]
    assert automations_with_device(hass, sales) == ["automation.long_wait"]

    await simulator.add_caller(SUPPORT, FIRST, wait=70)
    await simulator.add_caller(SALES, SECOND, wait=70)
    await wait_for(hass, lambda: len(runs) == 2)
    assert {(run.data["caller"], run.data["device_id"]) for run in runs} == {
        (FIRST, support),
        (SECOND, sales),
    }


async def test_the_readme_automation_runs(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """The README's caller_waiting automation, its queue picked again as it says."""
    (automation,) = readme_examples("caller_waiting automation")
    support = device_id(init_integration, queue_key(SUPPORT))
    for trigger_config in automation["triggers"]:
        for part in ("target", "options"):
            if "device_id" in trigger_config.get(part, {}):
                trigger_config[part]["device_id"] = [support]
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(hass, "automation", {"automation": automation})
    await hass.async_block_till_done()
    assert automations_with_device(hass, support)

    for number in (FIRST, SECOND):
        await simulator.add_caller(SUPPORT, number, wait=90)
    notifications = _async_get_or_create_notifications(hass)
    await wait_for(hass, lambda: len(notifications) == 2)
    assert sorted(note["message"].split()[0] for note in notifications.values()) == [
        FIRST,
        SECOND,
    ]


async def test_not_again_after_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """What an automation fired for is kept on disk: a restart does not repeat it."""
    support = device_id(init_integration, queue_key(SUPPORT))
    runs = await add_automation(hass, [support], 60)
    await simulator.add_caller(SUPPORT, FIRST, wait=70)
    await wait_for(hass, lambda: len(runs) == 1)
    await at(hass, freezer, dt_util.utcnow(), SAVE_DELAY + 1)
    assert hass_storage[STORAGE_KEY]["data"]

    # As after a restart: read back from disk by the automation made anew.
    hass.data.pop(MEMORY)
    await reload_automations(
        hass, automation_config([support], 60, alias="Long wait, restarted")
    )
    await at(hass, freezer, dt_util.utcnow(), 30)
    assert len(runs) == 1
    await simulator.add_caller(SUPPORT, SECOND, wait=70)
    await wait_for(hass, lambda: len(runs) == 2)
    assert [run.data["caller"] for run in runs] == [FIRST, SECOND]


@pytest.mark.parametrize(
    "stored",
    [
        ["not", "a", "dict"],
        {
            ENTRY: {"numbers": [], "fired": {}},
            # An entry removed meanwhile: left out, not even read.
            "gone": {"numbers": {}, "fired": {"a": {"call": "not a date"}}},
        },
        {ENTRY: {"numbers": {}, "fired": {"a": {"call": "not a date"}}}},
        {ENTRY: {"numbers": {"501": {"0701": ["2026-12-07T09:00:00"]}}}},
        {ENTRY: {"numbers": {"501": {"0701": ["9:00", "9:01"]}}, "fired": {}}},
    ],
    ids=["not_a_dict", "list_for_dict", "no_date", "missing_key", "bad_dates"],
)
async def test_damaged_memory_is_set_aside(
    *,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    stored: Any,
) -> None:
    """What does not read is logged and set aside; the trigger works on."""
    if isinstance(stored, dict):
        stored = {
            init_integration.entry_id if entry_id == ENTRY else entry_id: part
            for entry_id, part in stored.items()
        }
    hass_storage[STORAGE_KEY] = {"version": 1, "key": STORAGE_KEY, "data": stored}
    runs = await add_automation(
        hass, [device_id(init_integration, queue_key(SUPPORT))], 60
    )
    assert "Setting aside the callers caller_waiting told of" in caplog.text
    await simulator.add_caller(SUPPORT, FIRST, wait=70)
    await wait_for(hass, lambda: len(runs) == 1)
