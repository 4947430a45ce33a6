"""Whom to follow: the options flow, and what leaving users and queues out does.

Against the simulator: the form lists the company, a choice reloads the
entry, the devices and entities of those left out go, items NGUC lists later
are followed unless a subset was chosen, and events about those not followed
still reach the bus but make no entity and no read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.util import dt as dt_util
import probatio
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
    EVENT_NGUC,
)
from custom_components.weblink_nguc.coordinator import user_key
from tests.simulator import Device, Simulator, User
from tests.simulator.scale import SCALE_COMPANY_ID, scale_company

from .conftest import ENTRY_UNIQUE_ID, entity_id_of, wait_for, wait_in_sync

ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
ERIK_PHONE = "9002"
SUPPORT, SALES = "501", "502"
NILS = User("86490", "Nils Holm", "110", "nils@demo.example")
NILS_PHONE = Device("9010", "86490", "Nils bordstelefon", "Snom D785")
LIST_PATHS = (c.PATH_USERS, c.PATH_USER_STATUSES, c.PATH_DEVICES, c.PATH_QUEUES)


def device(
    hass: HomeAssistant, entry: MockConfigEntry, key: str, unique_id: str = ""
) -> dr.DeviceEntry | None:
    """Return the device of an item, by its key ("user_86480")."""
    return dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{unique_id or ENTRY_UNIQUE_ID}_{key}"), entry.entry_id
    )


def entities_of(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> list[str]:
    """Return the entity ids of an item's entities."""
    prefix = f"{ENTRY_UNIQUE_ID}_{key}_"
    return [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if entity.unique_id.startswith(prefix)
    ]


def list_reads(simulator: Simulator) -> int:
    """Return how many times NGUC's lists were asked for."""
    return sum(
        1
        for request in simulator.requests
        for path in LIST_PATHS
        if request == f"GET {path}"
    )


def field_options(result: ConfigFlowResult, name: str) -> list[dict[str, str]]:
    """Return the options of a select field of a form."""
    data_schema = result["data_schema"]
    assert data_schema is not None
    for marker, selector in data_schema.schema.items():
        if str(marker) == name:
            return [dict(option) for option in selector.config["options"]]
    raise AssertionError(f"no field {name}")


def suggested(result: ConfigFlowResult) -> dict[str, Any]:
    """Return the values a form was shown with."""
    data_schema = result["data_schema"]
    assert data_schema is not None
    return {
        str(marker): marker.description["suggested_value"]
        for marker in data_schema.schema
        if marker.description and "suggested_value" in marker.description
    }


async def setup(
    hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any] | None = None
) -> None:
    """Set up the entry with ``options``, in sync with the simulator."""
    entry.add_to_hass(hass)
    if options is not None:
        hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)


async def choose(
    hass: HomeAssistant, entry: MockConfigEntry, choice: dict[str, Any]
) -> None:
    """Make a choice in the options form; wait until the entry is back in sync."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], choice
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the reload
    await wait_in_sync(hass, entry)


async def settle(hass: HomeAssistant, entry: MockConfigEntry, events: int) -> None:
    """Wait until ``events`` NGUC events arrived; then let any read they cause start.

    The fake clock runs past the delay of a read for unknown items; a read
    started goes to the simulator within a moment.
    """
    stream = entry.runtime_data.stream
    await wait_for(hass, lambda: stream.events >= events)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=60))
    await hass.async_block_till_done()
    await asyncio.sleep(0.2)
    await hass.async_block_till_done()


async def test_form_lists_users_and_queues(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The form offers every user (name and extension) and queue by name, sorted, none chosen."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert field_options(result, "users") == [
        {"value": ANNA, "label": "Anna Lindqvist (101)"},
        {"value": ERIK, "label": "Erik Johansson (102)"},
        {"value": LARS, "label": "Lars Öberg (104)"},
        {"value": MAJA, "label": "Maja Karlsson (103)"},
    ]
    assert field_options(result, "queues") == [
        {"value": SALES, "label": "Sales"},
        {"value": SUPPORT, "label": "Support"},
    ]
    # Everyone is followed: nothing to take away from a long list.
    assert suggested(result) == {}
    assert result["description_placeholders"] == {"users": "4", "queues": "2"}


async def test_namesakes_told_apart(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Namesakes, also written differently, told apart by extension; nameless by it.

    Two of one name and extension (an extension NGUC lists twice) by their id.
    """
    company = simulator.company
    company.rename_user(LARS, "erik johansson")
    company.rename_user(MAJA, "")
    anna = company.users[ANNA]
    company.add_user(User("86490", anna.name, anna.extension, "anna2@demo.example"))
    await setup(hass, mock_config_entry)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert field_options(result, "users") == [
        {"value": MAJA, "label": "103"},
        {"value": ANNA, "label": "Anna Lindqvist (101) (86480)"},
        {"value": "86490", "label": "Anna Lindqvist (101) (86490)"},
        {"value": ERIK, "label": "Erik Johansson (102)"},
        {"value": LARS, "label": "erik johansson (104)"},
    ]


async def test_leaving_out_removes_devices_and_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Erik and Sales left out: their devices and entities go, Erik's phone too."""
    entry = init_integration
    gone = (user_key(ERIK), f"device_{ERIK_PHONE}", f"queue_{SALES}")
    for key in gone:
        assert device(hass, entry, key) is not None
        assert entities_of(hass, entry, key)
    erik_line = "sensor.erik_johansson_line_status"
    assert hass.states.get(erik_line) is not None

    await choose(hass, entry, {"users": [ANNA, MAJA, LARS], "queues": [SUPPORT]})

    assert entry.options == {"users": [ANNA, MAJA, LARS], "queues": [SUPPORT]}
    for key in gone:
        assert device(hass, entry, key) is None, key
        assert entities_of(hass, entry, key) == [], key
    assert hass.states.get(erik_line) is None
    for key in (user_key(ANNA), "device_9001", "device_9005", f"queue_{SUPPORT}"):
        assert device(hass, entry, key) is not None, key
    assert hass.states.get("sensor.anna_lindqvist_line_status") is not None

    # The form shows the choice, in the order of the names.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result) == {"users": [ANNA, LARS, MAJA], "queues": [SUPPORT]}

    # Every one listed chosen is exactly those (issue 18 §7): never "everyone".
    # Erik is back.
    await choose(
        hass, entry, {"users": [ANNA, ERIK, MAJA, LARS], "queues": [SALES, SUPPORT]}
    )
    assert entry.options == {
        "users": [ANNA, ERIK, MAJA, LARS],
        "queues": [SUPPORT, SALES],
    }
    await wait_for(hass, lambda: device(hass, entry, user_key(ERIK)) is not None)
    assert hass.states.get(erik_line) is not None
    assert device(hass, entry, f"device_{ERIK_PHONE}") is not None


async def test_nothing_chosen_follows_everyone(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Emptying the fields follows everyone again; a choice gone from NGUC is shown by id."""
    await setup(hass, mock_config_entry, {"users": [ANNA, "99999"], "queues": []})
    entry = mock_config_entry
    assert device(hass, entry, user_key(ERIK)) is None
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result) == {"users": [ANNA, "99999"], "queues": []}
    assert {"value": "99999", "label": "99999"} in field_options(result, "users")
    await choose(hass, entry, {"users": [], "queues": []})
    assert entry.options == {}
    assert device(hass, entry, user_key(ERIK)) is not None
    assert device(hass, entry, f"queue_{SALES}") is not None


@pytest.mark.parametrize(
    ("options", "followed"),
    [({}, True), ({"users": [ANNA, ERIK]}, False)],
    ids=["everyone", "subset"],
)
async def test_user_added_later(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    options: dict[str, Any],
    followed: bool,
) -> None:
    """A new user (and phone) is followed unless a subset was chosen."""
    entry = mock_config_entry
    await setup(hass, entry, options)
    reads = list_reads(simulator)
    events = entry.runtime_data.stream.events
    await simulator.add_user_by_event(NILS, status=1, phone=NILS_PHONE)
    if followed:
        await settle(hass, entry, events + 2)
        await wait_for(
            hass,
            lambda: (
                device(hass, entry, "device_9010") is not None
                and hass.states.get("sensor.nils_holm_line_status") is not None
            ),
        )
        assert hass.states.get("sensor.nils_holm_line_status").state == "in_use"
        return
    # Not asked about, and not followed once listed either.
    await settle(hass, entry, events + 2)
    assert list_reads(simulator) == reads
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, entry)
    assert list_reads(simulator) > reads
    assert device(hass, entry, user_key(NILS.id)) is None
    assert device(hass, entry, "device_9010") is None
    assert hass.states.get("sensor.nils_holm_line_status") is None


async def test_new_phone_of_a_user_followed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A subset chosen, a new phone of a user in it still appears: phones follow their owner."""
    entry = mock_config_entry
    await setup(hass, entry, {"users": [ANNA]})
    phone = Device("9011", ANNA, "Anna headset", "Jabra Engage")
    simulator.company.add_device(phone)
    events = entry.runtime_data.stream.events
    await simulator.set_device_registered(phone.id, registered=True)
    await settle(hass, entry, events + 1)
    await wait_for(hass, lambda: device(hass, entry, "device_9011") is not None)
    assert device(hass, entry, "device_9011").via_device_id == (
        device(hass, entry, user_key(ANNA)).id
    )
    # A phone followed hears of its registration as before.
    desk = "binary_sensor.anna_bordstelefon_registered"
    assert hass.states.get(desk).state == "on"
    await simulator.set_device_registered("9001", registered=False)
    await wait_for(hass, lambda: hass.states.get(desk).state == "off")


async def test_events_of_those_not_followed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Erik and Sales not followed: their calls reach the bus, nothing else happens.

    No entity, no device, no read of NGUC's lists; a call between Erik and
    Anna still names him on Anna's call event.
    """
    entry = mock_config_entry
    await setup(hass, entry, {"users": [ANNA, MAJA, LARS], "queues": [SUPPORT]})
    bus: list[Event[Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        bus.append(event)

    hass.bus.async_listen(EVENT_NGUC, record)
    company = simulator.company
    reads = list_reads(simulator)
    events = entry.runtime_data.stream.events
    missed = company.cdr(ERIK, disposition="NO ANSWER", call_guid="g-erik")
    from_erik = {
        **company.cdr(ANNA, disposition="NO ANSWER", call_guid="g-anna"),
        "src": "102",
        "src_pbx_user_id": ERIK,
    }
    sales = company.queues[SALES]
    sales.wait_longest = 300
    queue_call = company.queue_cdr(
        SALES, call_guid="g-sales", callerid="0701234567", disposition="NOANSWERED"
    )
    await simulator.push_events(
        [
            (
                "UserStatus",
                {"pbx_user_id": ERIK, "status": "8", "status_text": "Ringing"},
            ),
            # Without its owner: the phone is known to be Erik's from the read.
            (
                "DeviceStatus",
                {"pbx_device_id": ERIK_PHONE, "status": "0", "status_text": "x"},
            ),
            ("Queue", sales.to_wire()),
            ("Cdr", missed),
            ("QueueCdr", queue_call),
            ("Cdr", from_erik),
        ]
    )
    await settle(hass, entry, events + 6)

    assert [
        (event.data["event"], event.data["data"]["call_guid"], event.data["device_id"])
        for event in bus
    ] == [
        ("Cdr", "g-erik", None),
        ("QueueCdr", "g-sales", None),
        ("Cdr", "g-anna", device(hass, entry, user_key(ANNA)).id),
    ]
    assert list_reads(simulator) == reads
    for key in (user_key(ERIK), f"device_{ERIK_PHONE}", f"queue_{SALES}"):
        assert device(hass, entry, key) is None, key
        assert entities_of(hass, entry, key) == [], key
    anna_calls = entity_id_of(hass, Platform.EVENT, user_key(ANNA), "call")
    assert anna_calls is not None
    state = hass.states.get(anna_calls)
    assert state is not None
    assert state.attributes["event_type"] == "missed"
    assert state.attributes["caller_name"] == "Erik Johansson"


async def test_options_before_the_company_is_read(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """An entry not running cannot list the company: the flow says so."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_read_yet"


# --- A company of a thousand users follows its support team ---------------------------

BIG_USERS = 1000
BIG_QUEUES = 20
FIRST_USER = 100_000  # the ids scale_company gives


@pytest.fixture
async def big_simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Run the simulator with a company of 1,000 users with a phone each, 20 queues."""
    sim = Simulator(scale_company(BIG_USERS, BIG_QUEUES))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def test_thousand_users_follow_a_team(
    hass: HomeAssistant, big_simulator: Simulator
) -> None:
    """The form lists 1,000 users as a searchable dropdown; 20 of them are followed."""
    company = big_simulator.company
    account = next(iter(company.accounts.values()))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=company.name,
        unique_id=SCALE_COMPANY_ID,
        minor_version=2,
        data={
            CONF_COMPANY: company.name,
            CONF_USERNAME: account.username,
            CONF_USER_ID: account.pbx_user_id,
            CONF_PASSWORD: account.password,
            CONF_API_URL: big_simulator.api_url,
            CONF_EVENTS_URL: big_simulator.events_url,
        },
    )
    # Set up with only the account's user, to keep the test quick.
    await setup(hass, entry, {"users": [account.pbx_user_id], "queues": ["600"]})

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    users = field_options(result, "users")
    assert len(users) == BIG_USERS
    assert users[:2] == [
        {"value": str(FIRST_USER), "label": "User 1 (1000)"},
        {"value": str(FIRST_USER + 9), "label": "User 10 (1009)"},
    ]
    assert len(field_options(result, "queues")) == BIG_QUEUES
    # What the frontend receives: one dropdown of 1,000, not 1,000 check boxes.
    data_schema = result["data_schema"]
    assert data_schema is not None
    fields = {
        field["name"]: field
        for field in probatio.to_field_list(
            data_schema, custom_serializer=cv.custom_serializer
        )
    }
    select = fields["users"]["selector"]["select"]
    assert select["multiple"] is True
    assert select["mode"] == "dropdown"
    assert len(select["options"]) == BIG_USERS

    team = [str(FIRST_USER + 500 + n) for n in range(20)]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"users": team, "queues": ["600"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    # The account, 20 users, their 20 phones, one queue.
    assert len(devices) == 1 + 20 + 20 + 1
    assert device(hass, entry, user_key(team[0]), SCALE_COMPANY_ID) is not None
    assert device(hass, entry, user_key(account.pbx_user_id), SCALE_COMPANY_ID) is None
