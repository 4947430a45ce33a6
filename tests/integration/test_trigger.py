"""The automation trigger weblink_nguc.caller_waiting, in an automation.

Callers queue up in the simulator and their waits come in Queue snapshots
over its websocket; the clock is fake, and the automation's runs are read
from the events its action fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
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
from tests.simulator import QueueCaller, Simulator

from .conftest import wait_for, wait_in_sync

SUPPORT, SALES = "501", "502"
ERIK = "86481"
FIRST, SECOND = "0701111111", "0702222222"
RAN = "caller_waiting_ran"

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
        "options": {"device_id": devices, "seconds": seconds},
    }


async def add_automation(
    hass: HomeAssistant, devices: list[str], seconds: int
) -> list[Event[Any]]:
    """Set up an automation on the trigger; return the list of its runs."""
    runs = async_capture_events(hass, RAN)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "long_wait",
                "alias": "Long wait",
                "triggers": [
                    {
                        "trigger": "weblink_nguc.caller_waiting",
                        "options": {"device_id": devices, "seconds": seconds},
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
        },
    )
    await hass.async_block_till_done()
    return runs


def waiting(entry: MockConfigEntry, queue_id: str) -> set[str | None]:
    """Return the numbers the integration sees waiting in a queue."""
    queue = entry.runtime_data.data.queues[queue_id]
    return {caller.callerid for caller in queue.callers}


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


async def test_described_and_translated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Home Assistant reads triggers.yaml; its device picker offers queues only.

    Every field has a name and a description in English and Swedish.
    """
    await add_automation(hass, [device_id(init_integration, queue_key(SUPPORT))], 60)
    descriptions = await async_get_all_descriptions(hass)
    fields = descriptions["weblink_nguc.caller_waiting"]["fields"]
    assert set(fields) == {"device_id", "seconds"}
    assert fields["seconds"]["selector"]["number"] == {
        "min": 0,
        "max": 3600,
        "step": 1,
        "mode": "box",
        "unit_of_measurement": "s",
    }
    (device_filter,) = fields["device_id"]["selector"]["device"]["filter"]
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
