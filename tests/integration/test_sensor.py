"""The sensors: each user's line state, queue figures and the last event."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import logging
from unittest.mock import PropertyMock, patch

from homeassistant.components.sensor import ATTR_OPTIONS, ATTR_STATE_CLASS
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNKNOWN,
    EntityCategory,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import KEY_ACCOUNT, queue_key, user_key
from custom_components.weblink_nguc.entity import QUEUE, USER_LINE
from custom_components.weblink_nguc.sensor import (
    QUEUE_SENSORS,
    USER_SENSORS,
    NgucSensor,
)
from tests.simulator import Device, Queue, QueueMember, Simulator

from .conftest import (
    ENTRY_UNIQUE_ID,
    entity_id_of,
    setup_platform,
    wait_for,
    wait_in_sync,
)

ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
SUPPORT, SALES = "501", "502"
QUEUE_KEYS = (
    "waiting",
    "current_longest_wait",
    "longest_waiting_since",
    "agents_on_call",
    "agents_paused",
    "available_agents",
    "total_agents",
    "longest_wait",
    "average_wait",
    "service_level",
    "completed_today",
    "abandoned_today",
    "talk_time_today",
    "hold_time_today",
)


@pytest.fixture
def enable_all_entities() -> Generator[None]:
    """Create every entity enabled, the disabled-by-default ones too."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
async def setup_sensors(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the integration with the sensor platform only."""
    async with setup_platform(hass, mock_config_entry, Platform.SENSOR) as entry:
        yield entry


def sensor_id(hass: HomeAssistant, item_key: str, key: str) -> str:
    """Return the entity id of a sensor, found by its unique id."""
    entity_id = entity_id_of(hass, Platform.SENSOR, item_key, key)
    assert entity_id is not None, f"no sensor {key} of {item_key}"
    return entity_id


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """Return the state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


@pytest.mark.usefixtures("enable_all_entities")
# The day the missed calls were last reset (that day's start) is in the states.
@pytest.mark.freeze_time("2026-11-20 09:00:00+01:00", tick=True)
async def test_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    setup_sensors: MockConfigEntry,
) -> None:
    """Every sensor of the demo company, registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, setup_sensors.entry_id)


async def test_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    setup_sensors: MockConfigEntry,
) -> None:
    """The last event and the daily talk and hold times start disabled."""
    disabled = {
        sensor_id(hass, KEY_ACCOUNT, "last_event"),
        *(
            sensor_id(hass, queue_key(queue), key)
            for queue in (SUPPORT, SALES)
            for key in ("talk_time_today", "hold_time_today")
        ),
    }
    for entry in er.async_entries_for_config_entry(
        entity_registry, setup_sensors.entry_id
    ):
        if entry.entity_id in disabled:
            assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
            assert hass.states.get(entry.entity_id) is None
        else:
            assert entry.disabled_by is None, entry.entity_id
            assert hass.states.get(entry.entity_id) is not None


async def test_line_status_seed(
    hass: HomeAssistant, setup_sensors: MockConfigEntry
) -> None:
    """The line states read over REST at setup."""
    assert state_of(hass, sensor_id(hass, user_key(ANNA), "line_status")) == "idle"
    assert state_of(hass, sensor_id(hass, user_key(MAJA), "line_status")) == "offline"
    state = hass.states.get(sensor_id(hass, user_key(ERIK), "line_status"))
    assert state is not None
    assert state.attributes[ATTR_DEVICE_CLASS] == "enum"
    assert state.attributes[ATTR_OPTIONS] == [
        "idle",
        "in_use",
        "ringing",
        "in_use_ringing",
        "offline",
    ]


async def test_line_status_follows_events(
    hass: HomeAssistant, setup_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """Each UserStatus bit field is decoded as flags (busy and on hold too)."""
    entity_id = sensor_id(hass, user_key(ERIK), "line_status")
    for status, expected in (
        (8, "ringing"),
        (9, "in_use_ringing"),
        (1, "in_use"),
        (4, "offline"),
        (2, "in_use"),  # busy
        (0, "idle"),
        (16, "in_use"),  # on hold
        (12, "offline"),  # unavailable wins over ringing
        (24, "in_use_ringing"),  # on hold, another call ringing
        (0, "idle"),
        (32, STATE_UNKNOWN),  # only a bit we do not know: never claim idle
        (1, "in_use"),
    ):
        await simulator.set_user_status(ERIK, status)
        await wait_for(hass, lambda e=expected: state_of(hass, entity_id) == e)
    # Only Erik's line was touched.
    assert state_of(hass, sensor_id(hass, user_key(LARS), "line_status")) == "idle"


async def test_line_status_unknown_without_status(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A user NGUC reports no line state for has an unknown line status."""
    del simulator.company.statuses[LARS]
    with patch("custom_components.weblink_nguc.PLATFORMS", [Platform.SENSOR]):
        mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        await wait_in_sync(hass, mock_config_entry)
    entity_id = sensor_id(hass, user_key(LARS), "line_status")
    assert state_of(hass, entity_id) == STATE_UNKNOWN
    await simulator.set_user_status(LARS, 1)
    await wait_for(hass, lambda: state_of(hass, entity_id) == "in_use")


@pytest.mark.usefixtures("enable_all_entities")
async def test_queue_sensors(
    hass: HomeAssistant, setup_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """Queue figures from the seed, then from a Queue event."""
    support = queue_key(SUPPORT)
    ids = {key: sensor_id(hass, support, key) for key in QUEUE_KEYS}
    assert {key: state_of(hass, ids[key]) for key in QUEUE_KEYS} == {
        "waiting": "0",
        "current_longest_wait": "0",  # nobody waits
        "longest_waiting_since": STATE_UNKNOWN,
        "agents_on_call": "0",
        "agents_paused": "1",  # Maja
        "available_agents": "2",  # Maja is paused
        "total_agents": "3",
        "longest_wait": "95",
        "average_wait": "32",
        "service_level": "92",
        "completed_today": "12",
        "abandoned_today": "1",
        "talk_time_today": "2710",
        "hold_time_today": "420",
    }

    await simulator.update_queue(
        SUPPORT,
        waiting=3,
        member_available=1,
        member_total=4,
        wait_longest=120,
        wait_avg=41,
        service_level=80,
        completed=13,
        abandoned=2,
        talktime=3000,
        holdtime=510,
    )
    await wait_for(hass, lambda: state_of(hass, ids["waiting"]) == "3")
    assert {key: state_of(hass, ids[key]) for key in QUEUE_KEYS} == {
        "waiting": "3",
        # Three waiting, but the snapshot lists none: their waits are unknown.
        "current_longest_wait": STATE_UNKNOWN,
        "longest_waiting_since": STATE_UNKNOWN,
        "agents_on_call": "0",
        "agents_paused": "1",
        "available_agents": "1",
        "total_agents": "4",
        "longest_wait": "120",
        "average_wait": "41",
        "service_level": "80",
        "completed_today": "13",
        "abandoned_today": "2",
        "talk_time_today": "3000",
        "hold_time_today": "510",
    }
    # The other queue did not move.
    assert state_of(hass, sensor_id(hass, queue_key(SALES), "completed_today")) == "5"


async def test_queue_sensor_attributes(
    hass: HomeAssistant, setup_sensors: MockConfigEntry
) -> None:
    """Durations in seconds, the service level in percent, daily counters."""
    support = queue_key(SUPPORT)

    def attributes(key: str) -> dict[str, object]:
        state = hass.states.get(sensor_id(hass, support, key))
        assert state is not None
        return dict(state.attributes)

    assert attributes("waiting")[ATTR_STATE_CLASS] == "measurement"
    assert ATTR_UNIT_OF_MEASUREMENT not in attributes("waiting")
    for key in ("longest_wait", "average_wait"):
        assert attributes(key)[ATTR_DEVICE_CLASS] == "duration"
        assert attributes(key)[ATTR_UNIT_OF_MEASUREMENT] == "s"
        assert attributes(key)[ATTR_STATE_CLASS] == "measurement"
    assert attributes("service_level")[ATTR_UNIT_OF_MEASUREMENT] == "%"
    assert attributes("service_level")[ATTR_STATE_CLASS] == "measurement"
    for key in ("completed_today", "abandoned_today"):
        assert attributes(key)[ATTR_STATE_CLASS] == "total_increasing"


async def test_queue_figure_missing(
    hass: HomeAssistant, setup_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """A figure sent as null or false is unknown, the others still shown."""
    payload = simulator.company.queues[SUPPORT].to_wire()
    payload["queue"]["waiting"] = None
    payload["queue"]["wait_avg"] = False
    payload["queue"]["completed"] = "14"
    await simulator.push_event("Queue", payload, apply=False)
    support = queue_key(SUPPORT)
    await wait_for(
        hass, lambda: state_of(hass, sensor_id(hass, support, "waiting")) == "unknown"
    )
    assert state_of(hass, sensor_id(hass, support, "average_wait")) == STATE_UNKNOWN
    assert state_of(hass, sensor_id(hass, support, "completed_today")) == "14"


async def test_queue_appears_by_event(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    setup_sensors: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A queue first seen in a Queue event gets its device and sensors, once."""
    billing = Queue(
        id="503",
        name="Billing",
        wait_longest=12,
        wait_avg=7,
        completed=2,
        total=2,
        members=[QueueMember(LARS, "Lars Öberg", avg_call_length=90)],
    )
    billing.recount()
    await simulator.push_queue(billing)
    key = queue_key("503")
    unique_id = f"{ENTRY_UNIQUE_ID}_{key}_waiting"
    await wait_for(
        hass,
        lambda: (
            entity_registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id)
            is not None
        ),
    )
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), setup_sensors.entry_id
    )
    assert device is not None
    assert device.name == "Billing"
    entries = er.async_entries_for_device(
        entity_registry, device.id, include_disabled_entities=True
    )
    assert sorted(entry.unique_id for entry in entries) == sorted(
        f"{ENTRY_UNIQUE_ID}_{key}_{k}" for k in QUEUE_KEYS
    )
    assert state_of(hass, sensor_id(hass, key, "waiting")) == "0"
    assert state_of(hass, sensor_id(hass, key, "total_agents")) == "1"
    assert state_of(hass, sensor_id(hass, key, "completed_today")) == "2"

    # Its next snapshot updates the same sensors; nothing is added twice.
    billing.completed = 3
    await simulator.push_queue(billing)
    await wait_for(
        hass, lambda: state_of(hass, sensor_id(hass, key, "completed_today")) == "3"
    )
    # A reconnect re-reads every item: still nothing added twice.
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, setup_sensors)
    assert len(
        er.async_entries_for_device(
            entity_registry, device.id, include_disabled_entities=True
        )
    ) == len(QUEUE_KEYS)
    assert "does not generate unique IDs" not in caplog.text
    assert "already exists" not in caplog.text


@pytest.mark.usefixtures("enable_all_entities")
async def test_last_event(
    hass: HomeAssistant, setup_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """The time of the last event of any kind, documented or not."""
    entity_id = sensor_id(hass, KEY_ACCOUNT, "last_event")
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_DEVICE_CLASS] == "timestamp"

    before = dt_util.utcnow()
    await simulator.push_event("CallFlow", {"id": "31", "state": "closed"})
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    last = dt_util.parse_datetime(state_of(hass, entity_id))
    assert last is not None
    assert last >= before.replace(microsecond=0)
    entry = er.async_get(hass).async_get(entity_id)
    assert entry is not None
    assert entry.entity_category is EntityCategory.DIAGNOSTIC


async def test_new_phone_adds_no_sensor(
    hass: HomeAssistant,
    setup_sensors: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A phone found at a resync has no sensors; the others are not added again."""
    registry = er.async_get(hass)
    before = len(er.async_entries_for_config_entry(registry, setup_sensors.entry_id))
    caplog.set_level(logging.DEBUG, "homeassistant.helpers.entity_platform")
    caplog.clear()
    simulator.company.add_device(Device("9006", LARS, "Lars mobilapp", "NGUC App"))
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, setup_sensors)
    assert "9006" in setup_sensors.runtime_data.data.devices
    after = len(er.async_entries_for_config_entry(registry, setup_sensors.entry_id))
    assert after == before
    # Not even the disabled ones are offered again.
    assert "disabled" not in caplog.text


async def test_item_gone(hass: HomeAssistant, setup_sensors: MockConfigEntry) -> None:
    """A sensor whose user or queue is gone is unavailable and has no value."""
    coordinator = setup_sensors.runtime_data
    line = NgucSensor(coordinator, USER_LINE, "99999", USER_SENSORS[0])
    queue = NgucSensor(coordinator, QUEUE, "599", QUEUE_SENSORS[0])
    for sensor in (line, queue):
        assert not sensor.available
        assert sensor.native_value is None


async def test_queue_gone_and_back(
    hass: HomeAssistant, setup_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """A queue gone at a resync loses its sensors; when it comes back, so do they."""
    registry = er.async_get(hass)
    key = queue_key(SALES)

    def sales_entries() -> list[er.RegistryEntry]:
        return [
            entry
            for entry in er.async_entries_for_config_entry(
                registry, setup_sensors.entry_id
            )
            if entry.unique_id.startswith(f"{ENTRY_UNIQUE_ID}_{key}_")
        ]

    assert len(sales_entries()) == len(QUEUE_KEYS)
    sales = simulator.company.queues.pop(SALES)
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, setup_sensors)
    await wait_for(hass, lambda: not sales_entries())

    # Back by a Queue event: every sensor again, the disabled ones included.
    sales.completed = 6
    await simulator.push_queue(sales)
    await wait_for(hass, lambda: len(sales_entries()) == len(QUEUE_KEYS))
    entity_id = sensor_id(hass, key, "completed_today")
    await wait_for(hass, lambda: hass.states.get(entity_id) is not None)
    assert state_of(hass, entity_id) == "6"
    disabled = {
        entry.unique_id.removeprefix(f"{ENTRY_UNIQUE_ID}_{key}_")
        for entry in sales_entries()
        if entry.disabled_by is not None
    }
    assert disabled == {"talk_time_today", "hold_time_today"}
