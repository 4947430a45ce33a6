"""The binary sensors: the event stream, and each phone's registration."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    EntityCategory,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.weblink_nguc.binary_sensor import (
    PHONE_BINARY_SENSORS,
    NgucBinarySensor,
)
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import KEY_ACCOUNT, device_key
from custom_components.weblink_nguc.entity import PHONE
from tests.simulator import Device, Queue, Simulator

from .conftest import (
    ENTRY_UNIQUE_ID,
    entity_id_of,
    setup_platform,
    wait_for,
    wait_in_sync,
)

PHONES = ("9001", "9002", "9003", "9004", "9005")
USERS = ("86480", "86481", "86482", "86483")


@pytest.fixture
async def setup_binary_sensors(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the integration with the binary sensor platform only."""
    async with setup_platform(hass, mock_config_entry, Platform.BINARY_SENSOR) as entry:
        yield entry


def binary_sensor_id(hass: HomeAssistant, item_key: str, key: str) -> str | None:
    """Return the entity id of a binary sensor, found by its unique id."""
    return entity_id_of(hass, Platform.BINARY_SENSOR, item_key, key)


def phone_id(hass: HomeAssistant, phone: str) -> str:
    """Return the entity id of a phone's registration."""
    entity_id = binary_sensor_id(hass, device_key(phone), "registered")
    assert entity_id is not None, phone
    return entity_id


def stream_id(hass: HomeAssistant) -> str:
    """Return the entity id of the event stream's connection."""
    entity_id = binary_sensor_id(hass, KEY_ACCOUNT, "event_stream")
    assert entity_id is not None
    return entity_id


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """Return the state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def reconnect(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Cut the event stream and wait until it is back and the state re-read."""
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, entry)


async def test_binary_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    setup_binary_sensors: MockConfigEntry,
) -> None:
    """Every binary sensor of the demo company, registry entry and state."""
    await snapshot_platform(
        hass, entity_registry, snapshot, setup_binary_sensors.entry_id
    )


async def test_seed(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    setup_binary_sensors: MockConfigEntry,
) -> None:
    """Connected stream; four registered desk phones, Anna's app not running."""
    entity_id = stream_id(hass)
    assert state_of(hass, entity_id) == STATE_ON
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes[ATTR_DEVICE_CLASS] == "connectivity"
    entry = entity_registry.async_get(entity_id)
    assert entry is not None
    assert entry.entity_category is EntityCategory.DIAGNOSTIC
    assert {phone: state_of(hass, phone_id(hass, phone)) for phone in PHONES} == {
        "9001": STATE_ON,
        "9002": STATE_ON,
        "9003": STATE_ON,
        "9004": STATE_ON,
        "9005": STATE_OFF,
    }


async def test_registration_follows_events(
    hass: HomeAssistant, setup_binary_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """DeviceStatus events turn a phone's registration off and on."""
    desk, app = phone_id(hass, "9001"), phone_id(hass, "9005")
    await simulator.set_device_registered("9001", False)
    await wait_for(hass, lambda: state_of(hass, desk) == STATE_OFF)
    await simulator.set_device_registered("9005", True)
    await wait_for(hass, lambda: state_of(hass, app) == STATE_ON)
    await simulator.set_device_registered("9001", True)
    await wait_for(hass, lambda: state_of(hass, desk) == STATE_ON)
    assert state_of(hass, phone_id(hass, "9002")) == STATE_ON


async def test_unreadable_registration_status_is_skipped(
    hass: HomeAssistant,
    setup_binary_sensors: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A DeviceStatus without a readable status says nothing: skipped, one warning."""
    entity_id = phone_id(hass, "9002")
    before = state_of(hass, entity_id)
    await simulator.push_events(
        [
            ("DeviceStatus", {"pbx_device_id": "9002", "status": None}),
            ("DeviceStatus", {"pbx_device_id": "9001", "status": "0"}),
        ],
        apply=False,
    )
    await wait_for(hass, lambda: state_of(hass, phone_id(hass, "9001")) == STATE_OFF)
    assert state_of(hass, entity_id) == before
    assert sum("DeviceStatus" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.usefixtures("short_stream_grace")
async def test_stream_lost_and_back(
    hass: HomeAssistant, setup_binary_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """The stream sensor stays available and shows the outage; phones go unavailable."""
    stream, desk = stream_id(hass), phone_id(hass, "9001")
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: state_of(hass, stream) == STATE_OFF)
    # After the grace period the phones are unavailable; the stream sensor is not.
    await wait_for(hass, lambda: state_of(hass, desk) == STATE_UNAVAILABLE)
    assert state_of(hass, stream) == STATE_OFF

    simulator.clear_faults()
    await wait_in_sync(hass, setup_binary_sensors)
    await wait_for(hass, lambda: state_of(hass, stream) == STATE_ON)
    await wait_for(hass, lambda: state_of(hass, desk) == STATE_ON)


async def test_phones_appear_and_go(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    setup_binary_sensors: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A phone found at a resync gets its sensor; one gone loses it; it may return."""
    unique_id = f"{ENTRY_UNIQUE_ID}_{device_key('9006')}_registered"

    def registered_9006() -> str | None:
        return entity_registry.async_get_entity_id(
            Platform.BINARY_SENSOR, DOMAIN, unique_id
        )

    phone = Device("9006", "86483", "Lars mobilapp", "NGUC App", status=1)
    simulator.company.add_device(phone)
    await reconnect(hass, setup_binary_sensors, simulator)
    await wait_for(hass, lambda: registered_9006() is not None)
    entity_id = registered_9006()
    assert entity_id is not None
    assert state_of(hass, entity_id) == STATE_ON
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{device_key('9006')}"),
        setup_binary_sensors.entry_id,
    )
    assert device is not None
    assert device.name == "Lars mobilapp"

    # Gone from NGUC: the device and its sensor are removed.
    del simulator.company.devices["9006"]
    await reconnect(hass, setup_binary_sensors, simulator)
    await wait_for(hass, lambda: registered_9006() is None)
    await wait_for(hass, lambda: hass.states.get(entity_id) is None)

    # Back again: a new sensor, added once.
    phone.status = 0
    simulator.company.add_device(phone)
    await reconnect(hass, setup_binary_sensors, simulator)
    await wait_for(hass, lambda: registered_9006() is not None)
    entity_id = registered_9006()
    assert entity_id is not None
    await wait_for(hass, lambda: hass.states.get(entity_id) is not None)
    assert state_of(hass, entity_id) == STATE_OFF
    await reconnect(hass, setup_binary_sensors, simulator)
    entries = er.async_entries_for_config_entry(
        entity_registry, setup_binary_sensors.entry_id
    )
    # The phones, 9006, the event stream and each user's paused.
    assert len(entries) == len(PHONES) + 1 + 1 + len(USERS)
    assert "does not generate unique IDs" not in caplog.text
    assert "already exists" not in caplog.text


async def test_new_queue_adds_no_binary_sensor(
    hass: HomeAssistant, setup_binary_sensors: MockConfigEntry, simulator: Simulator
) -> None:
    """A queue that appears has no binary sensors; the others are not added again."""
    registry = er.async_get(hass)
    entry_id = setup_binary_sensors.entry_id
    before = len(er.async_entries_for_config_entry(registry, entry_id))
    await simulator.push_queue(Queue(id="503", name="Billing"))
    coordinator = setup_binary_sensors.runtime_data
    await wait_for(hass, lambda: "503" in coordinator.data.queues)
    assert len(er.async_entries_for_config_entry(registry, entry_id)) == before


async def test_phone_gone(
    hass: HomeAssistant, setup_binary_sensors: MockConfigEntry
) -> None:
    """A phone's sensor whose phone is gone is unavailable and has no state."""
    coordinator = setup_binary_sensors.runtime_data
    sensor = NgucBinarySensor(coordinator, PHONE, "9999", PHONE_BINARY_SENSORS[0])
    assert not sensor.available
    assert sensor.is_on is None
