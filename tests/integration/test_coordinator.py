"""The coordinator's truth and its cost: reads, resyncs, devices, repair issues, writes.

Each test runs the integration against the simulator and checks what a user
would see: devices and entities, their states, repair issues, the number of
REST reads and of state writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import ATTR_FRIENDLY_NAME, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.binary_sensor import NgucBinarySensor
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.event import NgucCallEvent
from custom_components.weblink_nguc.sensor import (
    QUEUE_SENSORS,
    NgucSensor,
    NgucWaitingSinceSensor,
)
from tests.harness.clock import advance
from tests.harness.timings import Timings, applied
from tests.simulator import Device, Queue, QueueMember, Simulator, User

from .conftest import ENTRY_UNIQUE_ID, StateWrites, reconnect, wait_for, wait_in_sync

ANNA_LINE = "sensor.anna_lindqvist_line_status"
ERIK_LINE = "sensor.erik_johansson_line_status"
ERIK_DESK = "binary_sensor.erik_bordstelefon_registered"
SUPPORT_AVERAGE_WAIT = "sensor.support_average_wait"
STREAM = "binary_sensor.demo_anna_lindqvist_event_stream"
LIST_PATHS = (c.PATH_USERS, c.PATH_USER_STATUSES, c.PATH_DEVICES, c.PATH_QUEUES)
SYNC = "custom_components.weblink_nguc.sync"
UNKNOWN = "custom_components.weblink_nguc.unknown"


def device(
    hass: HomeAssistant, entry: MockConfigEntry, key: str
) -> dr.DeviceEntry | None:
    """Return the device of an item, by its key ("user_86480")."""
    return dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), entry.entry_id
    )


def entities_of(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> list[str]:
    """Return the unique ids of the entities of an item."""
    prefix = f"{ENTRY_UNIQUE_ID}_{key}_"
    return [
        entity.unique_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if entity.unique_id.startswith(prefix)
    ]


def requests_to(simulator: Simulator, path: str) -> int:
    """Return how many REST requests reached ``path``."""
    return sum(1 for request in simulator.requests if request == f"GET {path}")


def issue(
    hass: HomeAssistant, entry: MockConfigEntry, name: str
) -> ir.IssueEntry | None:
    """Return one of the entry's repair issues, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{name}")


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up (or set up again) the entry and wait until in sync."""
    if hass.config_entries.async_get_entry(entry.entry_id) is None:
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry, as Home Assistant does when it stops."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def events_received(entry: MockConfigEntry) -> Callable[[], int]:
    """Return a count of the NGUC events the integration received from now on.

    Not the bus: line statuses, queues and phones do not go on it.
    """
    stream = entry.runtime_data.stream
    start = stream.events
    return lambda: stream.events - start


async def events_handled(
    hass: HomeAssistant, received: Callable[[], int], count: int
) -> None:
    """Wait until ``count`` NGUC events were received (each is applied at once)."""
    await wait_for(hass, lambda: received() >= count)


# --- A list that cannot be read never removes a device ------------------------------


async def test_missing_list_at_resync_keeps_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A 404 of the phones' list keeps every phone, with a repair issue that names it."""
    del simulator.company.devices["9004"]
    simulator.fail_path(c.PATH_DEVICES, 404)
    await reconnect(hass, init_integration, simulator)

    assert device(hass, init_integration, "device_9004") is not None
    assert entities_of(hass, init_integration, "device_9004")
    assert hass.states.get(ERIK_DESK).state == "on"
    found = issue(hass, init_integration, "missing_endpoint_devices")
    assert found is not None
    assert found.translation_key == "missing_endpoint"
    assert found.translation_placeholders == {
        "account": "demo (Anna Lindqvist)",
        "endpoint": c.PATH_DEVICES,
    }
    assert not found.is_fixable

    # Once NGUC answers again, the phone it no longer lists goes; so does the
    # issue. A reconnect leaves the list to its own retry (30 s to a minute).
    simulator.clear_path(c.PATH_DEVICES)
    await reconnect(hass, init_integration, simulator)
    await advance(hass, 61)
    await wait_for(hass, lambda: device(hass, init_integration, "device_9004") is None)
    assert not entities_of(hass, init_integration, "device_9004")
    assert issue(hass, init_integration, "missing_endpoint_devices") is None
    assert device(hass, init_integration, "device_9001") is not None


async def test_missing_list_at_restart_keeps_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """After a restart, a 404 of a list keeps the devices it listed before."""
    await unload(hass, init_integration)
    simulator.fail_path(c.PATH_DEVICES, 404)
    simulator.fail_path(c.PATH_QUEUES, 404)
    await setup(hass, init_integration)

    for key in ("device_9001", "device_9005", "queue_501", "queue_502"):
        assert device(hass, init_integration, key) is not None, key
    # The phones are there, their registration unknown until an event says.
    assert hass.states.get(ERIK_DESK).state == STATE_UNKNOWN
    await simulator.set_device_registered("9002", True)
    await wait_for(hass, lambda: hass.states.get(ERIK_DESK).state == "on")
    assert hass.states.get(ANNA_LINE).state == "idle"
    assert init_integration.runtime_data.reader.missing_endpoints == sorted(
        [c.PATH_DEVICES, c.PATH_QUEUES]
    )


async def test_setup_retried_when_me_is_unreadable(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """An answer to /user/me that cannot be read is retried later, not fatal."""
    simulator.override_path(c.PATH_ME, text="<html>maintenance</html>")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not _reauth_flows(hass)


async def test_missing_list_at_first_setup_leaves_part_empty(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At an entry's very first setup, a list that answers 404 is empty, once warned."""
    simulator.fail_path(c.PATH_DEVICES, 404)
    await setup(hass, mock_config_entry)
    assert hass.states.get(ANNA_LINE).state == "idle"
    assert not mock_config_entry.runtime_data.data.devices
    assert device(hass, mock_config_entry, "device_9001") is None
    assert issue(hass, mock_config_entry, "missing_endpoint_devices") is not None
    await reconnect(hass, mock_config_entry, simulator)
    assert caplog.text.count("NGUC has no such endpoint") == 1

    # Phones named by events are not read about while their list is missing.
    requests = len(simulator.requests)
    with applied(hass, Timings(unknown_item_delay=0.01)):
        await simulator.set_device_registered("9001", False)
        await asyncio.sleep(0.2)
    await hass.async_block_till_done()
    assert not mock_config_entry.runtime_data.data.devices
    assert len(simulator.requests) == requests


async def test_stale_devices_removed_at_setup(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A user removed from NGUC while Home Assistant was stopped is gone at the start."""
    assert device(hass, init_integration, "user_86483") is not None
    await unload(hass, init_integration)
    simulator.company.remove_user("86483")  # with their phone, 9004
    await setup(hass, init_integration)

    # Gone once a second read agrees (issue 18 §1).
    await wait_for(hass, lambda: device(hass, init_integration, "user_86483") is None)
    await wait_for(hass, lambda: device(hass, init_integration, "device_9004") is None)
    assert not entities_of(hass, init_integration, "user_86483")
    assert hass.states.get("sensor.lars_oberg_line_status") is None
    assert device(hass, init_integration, "user_86482") is not None


async def test_failed_list_keeps_devices_and_is_retried(
    hass: HomeAssistant,
    short_stream_grace: None,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """A list answering 500 or 429 is retried on its own with backoff; nothing goes."""
    simulator.fail_path(c.PATH_USERS, 500, count=2)
    simulator.fail_path(c.PATH_QUEUES, 429, count=1, retry_after=0)
    simulator.company.statuses["86481"] = 1
    with applied(hass, Timings(resync_retry_base=0.05)):
        await reconnect(hass, init_integration, simulator)
        # setup, 2 failures, success
        await simulator.wait_for_requests(c.PATH_USERS, 4)
        await simulator.wait_for_requests(c.PATH_QUEUES, 3)
    assert hass.states.get(ERIK_LINE).state == "in_use"
    assert device(hass, init_integration, "user_86483") is not None
    assert issue(hass, init_integration, "missing_endpoint_users") is None


# --- Credentials ---------------------------------------------------------------------


def _reauth_flows(hass: HomeAssistant) -> list[Any]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def test_credentials_rejected_during_resync(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Credentials refused while reading: unavailable, stream stopped, reauth, one line."""
    coordinator = init_integration.runtime_data
    simulator.hang_path(c.PATH_USERS, 0.3, count=1)
    await simulator.drop_connections()
    await wait_for(hass, lambda: coordinator.stream.connected)
    caplog.clear()
    # The read is under way: now nothing is accepted any more.
    simulator.company.accounts["demo"].password = "changed"
    simulator.revoke_tokens()
    await wait_for(hass, lambda: len(_reauth_flows(hass)) == 1)
    await wait_for(hass, lambda: simulator.open_connections == 0)

    assert hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE
    assert hass.states.get(STREAM).state == "off"
    assert not coordinator.stream.connected
    ours = [
        record
        for record in caplog.records
        if record.name == "custom_components.weblink_nguc"
        and record.levelno >= logging.INFO
    ]
    assert [record.levelno for record in ours] == [logging.WARNING]
    assert "credentials" in ours[0].getMessage()
    # Stopped for good: no reconnect, no read, until the user signs in again.
    connections, requests = simulator.connection_count, len(simulator.requests)
    await simulator.push_event(
        "UserStatus", {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"}
    )
    await hass.async_block_till_done()
    assert simulator.connection_count == connections
    assert len(simulator.requests) == requests
    assert hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE


# --- Items that appear, change and go without a reconnect ----------------------------


async def test_user_appears_by_event(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An event about a user we do not know reads the state again, once, soon."""
    connections = simulator.connection_count
    reads = requests_to(simulator, c.PATH_USERS)
    with applied(hass, Timings(unknown_item_delay=0.1)):
        await simulator.add_user_by_event(
            User("86490", "Nils Holm", "110", "nils@demo.example"),
            status=1,
            phone=Device("9010", "86490", "Nils bordstelefon", "Snom D785"),
        )
        await wait_for(
            hass, lambda: hass.states.get("sensor.nils_holm_line_status") is not None
        )
    assert hass.states.get("sensor.nils_holm_line_status").state == "in_use"
    nils = device(hass, init_integration, "user_86490")
    phone = device(hass, init_integration, "device_9010")
    assert nils is not None
    assert phone is not None
    assert phone.via_device_id == nils.id
    await wait_for(
        hass,
        lambda: (
            hass.states.get("binary_sensor.nils_bordstelefon_registered") is not None
        ),
    )
    # One read for both (debounced), and no reconnect.
    assert requests_to(simulator, c.PATH_USERS) == reads + 1
    assert simulator.connection_count == connections


async def test_user_listed_late_is_asked_about_again(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A user whose first event comes before NGUC lists them is read about again later."""
    reads = requests_to(simulator, c.PATH_USERS)
    with applied(hass, Timings(unknown_item_delay=0.05)):
        # Not in NGUC's lists yet: only the event.
        await simulator.push_event(
            "UserStatus",
            {"pbx_user_id": "86490", "status": "0", "status_text": "Idle"},
            apply=False,
        )
        await simulator.wait_for_requests(c.PATH_USERS, reads + 1)
        simulator.company.add_user(User("86490", "Nils Holm", "110", "n@demo.example"))
        await wait_for(
            hass, lambda: device(hass, init_integration, "user_86490") is not None
        )
    assert requests_to(simulator, c.PATH_USERS) == reads + 2
    # Once known, more of its events ask nothing.
    await simulator.set_user_status("86490", 1)
    await wait_for(
        hass, lambda: hass.states.get("sensor.nils_holm_line_status").state == "in_use"
    )
    assert requests_to(simulator, c.PATH_USERS) == reads + 2


async def test_unknown_user_asked_about_a_few_times_only(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Events about a user NGUC never lists do not read the state over and over."""
    reads = requests_to(simulator, c.PATH_USERS)
    seen = events_received(init_integration)
    with (
        applied(hass, Timings(unknown_item_delay=0.01)),
        patch(f"{UNKNOWN}.UNKNOWN_ITEM_READS", 2),
    ):
        for status in range(6):
            await simulator.push_event(
                "Cdr",
                {
                    "src_pbx_user_id": "99999",
                    "direction": "OUT",
                    "billsec": str(status),
                },
                apply=False,
            )
            await events_handled(hass, seen, status + 1)
            await simulator.wait_for_requests(c.PATH_USERS, reads + min(status + 1, 2))
        await asyncio.sleep(0.3)  # time enough for several more reads
    await hass.async_block_till_done()
    assert requests_to(simulator, c.PATH_USERS) == reads + 2


async def test_new_user_not_held_up_by_one_never_listed(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A user NGUC never lists is asked about less and less often; a new one, soon."""
    reads = requests_to(simulator, c.PATH_USERS)
    with applied(hass, Timings(unknown_item_delay=0.2)):
        ghost = {"pbx_user_id": "99999", "status": "0", "status_text": "Idle"}
        await simulator.push_event("UserStatus", ghost, apply=False)
        # Read after 0.2 s, then 0.8 s; the next would be 3.2 s later.
        await simulator.wait_for_requests(c.PATH_USERS, reads + 2)
        simulator.company.add_user(User("86490", "Nils Holm", "110", "n@demo.example"))
        await simulator.set_user_status("86490", 1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await wait_for(
            hass, lambda: hass.states.get("sensor.nils_holm_line_status") is not None
        )
        assert loop.time() - start < 1.5
    assert hass.states.get("sensor.nils_holm_line_status").state == "in_use"


async def test_hourly_resync_follows_renames_and_removals(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """On a healthy stream the state is read again hourly: names follow, the gone go."""
    with applied(hass, Timings(resync_interval=0.2)):
        await setup(hass, mock_config_entry)
        connections = simulator.connection_count
        me_reads = requests_to(simulator, c.PATH_ME)
        company = simulator.company
        company.rename_user("86481", "Erik Ek")
        company.rename_device("9002", "Eriks skrivbord", model="Yealink T48U")
        company.rename_queue("502", "Försäljning")
        company.remove_user("86483")
        company.statuses["86480"] = 1

        def renamed() -> bool:
            queue = device(hass, mock_config_entry, "queue_502")
            return queue is not None and queue.name == "Försäljning"

        await wait_for(hass, renamed)
        await wait_for(
            hass, lambda: device(hass, mock_config_entry, "user_86483") is None
        )
    erik = device(hass, mock_config_entry, "user_86481")
    desk = device(hass, mock_config_entry, "device_9002")
    assert erik is not None
    assert erik.name == "Erik Ek"
    assert desk is not None
    assert (desk.name, desk.model) == ("Eriks skrivbord", "Yealink T48U")
    assert hass.states.get(ANNA_LINE).state == "in_use"
    # The entity ids stay; the names shown follow the device.
    assert hass.states.get(ERIK_LINE).attributes[ATTR_FRIENDLY_NAME] == (
        "Erik Ek Line status"
    )
    assert hass.states.get("sensor.lars_oberg_line_status") is None
    assert simulator.connection_count == connections
    assert requests_to(simulator, c.PATH_ME) > me_reads


async def test_events_held_during_a_read_are_bounded(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """More events during a read than may be held: the state is read again, nothing lost."""
    coordinator = init_integration.runtime_data
    reads = requests_to(simulator, c.PATH_USERS)
    simulator.hang_path(c.PATH_USERS, 0.5, count=1)
    with patch(f"{SYNC}.HELD_EVENTS_MAX", 2):
        await simulator.drop_connections()
        await simulator.wait_for_requests(c.PATH_USERS, reads + 1)
        assert not coordinator.in_sync
        for user in ("86480", "86481", "86482", "86483"):
            await simulator.set_user_status(user, 1)
        await wait_in_sync(hass, init_integration)
    assert requests_to(simulator, c.PATH_USERS) == reads + 2
    for entity_id in (ANNA_LINE, ERIK_LINE, "sensor.lars_oberg_line_status"):
        assert hass.states.get(entity_id).state == "in_use", entity_id
    assert hass.states.get("sensor.maja_karlsson_line_status").state == "in_use"


async def test_older_read_never_overwrites_newer_event(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An event that arrives while the state is read wins over the read's answer."""
    simulator.stale_path(c.PATH_USER_STATUSES, 0.4, count=1)
    reads = requests_to(simulator, c.PATH_USER_STATUSES)
    # A user added while disconnected, whom the read lists.
    simulator.company.add_user(User("86490", "Nils Holm", "110", "n@demo.example"))
    await simulator.drop_connections()
    await simulator.wait_for_requests(c.PATH_USER_STATUSES, reads + 1)
    await simulator.set_user_status("86480", 8)
    # Call records naming the new user, before the read's answer.
    await simulator.finish_call("86490")
    await simulator.push_event(
        "QueueCdr",
        simulator.company.queue_cdr(
            "501",
            call_guid="1725958989.91",
            callerid="0701234567",
            disposition="ANSWERED",
            agent_id="86490",
        ),
    )
    await wait_in_sync(hass, init_integration)
    assert hass.states.get(ANNA_LINE).state == "ringing"
    assert device(hass, init_integration, "user_86490") is not None
    # Nothing unknown is left to read about.
    await hass.async_block_till_done()
    assert requests_to(simulator, c.PATH_USER_STATUSES) == reads + 1


async def test_a_read_also_answers_for_unknown_items(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A reconnect's read serves an unknown user named before it: no read of its own."""
    with applied(hass, Timings(unknown_item_delay=60)):
        await simulator.add_user_by_event(
            User("86490", "Nils Holm", "110", "nils@demo.example")
        )
        reads = requests_to(simulator, c.PATH_USERS)
        await reconnect(hass, init_integration, simulator)
    assert device(hass, init_integration, "user_86490") is not None
    assert requests_to(simulator, c.PATH_USERS) == reads + 1


async def test_reads_do_not_pile_up(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A read asked for while one is under way follows it, once."""
    with (
        applied(hass, Timings(resync_interval=0.05)),
        applied(hass, Timings(resync_retry_base=0.05)),
    ):
        await setup(hass, mock_config_entry)
        reads = requests_to(simulator, c.PATH_USERS)
        simulator.hang_path(c.PATH_USERS, 0.5, count=1)
        simulator.fail_path(c.PATH_ME, 500, count=1)  # the hourly read's /user/me
        await simulator.wait_for_requests(c.PATH_USERS, reads + 1)
        await asyncio.sleep(0.3)
        # Hourly reads came due meanwhile: none started beside the one under way.
        assert requests_to(simulator, c.PATH_USERS) == reads + 1
        await simulator.wait_for_requests(c.PATH_USERS, reads + 3)
        await unload(hass, mock_config_entry)


# --- The event stream refuses the account --------------------------------------------


async def test_stream_rejected_repair_issue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Connections refused one after another raise an issue; it goes once one is accepted."""
    actions: list[str] = []
    issue_id = f"{init_integration.entry_id}_stream_rejected"

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["issue_id"] == issue_id:
            actions.append(event.data["action"])

    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, record)
    simulator.close_after_auth(count=4)
    await simulator.drop_connections()
    await wait_for(hass, lambda: "remove" in actions)
    assert actions[0] == "create"
    assert issue(hass, init_integration, "stream_rejected") is None
    assert not _reauth_flows(hass)
    await wait_in_sync(hass, init_integration)


# --- Writes: only what an entity shows, only when it changed -------------------------


async def test_setup_reads_once_and_writes_each_entity_once(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """Setup reads each list once and writes each entity once (the stream twice)."""
    await setup(hass, mock_config_entry)
    for path in (c.PATH_ME, *LIST_PATHS):
        assert requests_to(simulator, path) == 1, path
    entity_ids = [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), mock_config_entry.entry_id
        )
        if entity.disabled_by is None
    ]
    # Enabled: per user 7, per phone 1, per queue 14 (and 2 disabled), the
    # account's event stream (and its last event, disabled). Users and queues
    # have their calls to return among them.
    assert len(entity_ids) == 4 * 7 + 5 * 1 + 2 * 14 + 1
    writes = {entity_id: state_writes.counts[entity_id] for entity_id in entity_ids}
    # The event stream's sensor is written off, then on once connected.
    assert writes.pop(STREAM) == 2
    assert set(writes.values()) == {1}


async def test_repeated_events_write_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """The last UserStatus, Queue or DeviceStatus again: no state is written."""
    seen = events_received(init_integration)
    await simulator.set_user_status("86481", 1)
    await simulator.update_queue("501", waiting=2)
    await simulator.set_device_registered("9002", False)
    await events_handled(hass, seen, 3)
    state_writes.clear()

    await simulator.set_user_status("86481", 1)
    await simulator.push_queue(simulator.company.queues["501"])
    await simulator.set_device_registered("9002", False)
    await events_handled(hass, seen, 6)
    assert state_writes.total == 0, state_writes.counts


async def test_event_writes_only_what_changed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """A queue snapshot with one figure changed writes that figure's sensor only."""
    seen = events_received(init_integration)
    await simulator.update_queue("501", wait_avg=33)
    await events_handled(hass, seen, 1)
    assert dict(state_writes.counts) == {SUPPORT_AVERAGE_WAIT: 1}
    # A caller joining changes the waiting figures, not the averages.
    state_writes.clear()
    await simulator.add_caller("501", "0701234567")
    await events_handled(hass, seen, 2)
    assert set(state_writes.counts) == {
        "sensor.support_waiting",
        "sensor.support_waiting_since",
    }


async def test_resync_writes_only_what_changed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """A reconnect's read writes the entities whose state it changed, and no other."""
    simulator.company.statuses["86481"] = 1  # missed while disconnected
    simulator.company.queues["501"].wait_avg = 50
    state_writes.clear()
    await reconnect(hass, init_integration, simulator)
    await hass.async_block_till_done()
    assert dict(state_writes.counts) == {
        ERIK_LINE: 1,
        SUPPORT_AVERAGE_WAIT: 1,
        STREAM: 2,  # off, then on again
    }
    assert hass.states.get(ERIK_LINE).state == "in_use"
    assert hass.states.get(SUPPORT_AVERAGE_WAIT).state == "50"


async def test_new_queue_builds_only_its_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A new queue registers its own device and builds its own entities, no other."""
    built: list[str] = []
    registered: list[Any] = []

    def counting[**P](name: str, original: Callable[P, None]) -> Callable[P, None]:
        def init(*args: P.args, **kwargs: P.kwargs) -> None:
            built.append(name)
            original(*args, **kwargs)

        return init

    get_or_create = dr.DeviceRegistry.async_get_or_create

    def count_devices(self: dr.DeviceRegistry, **kwargs: Any) -> dr.DeviceEntry:
        registered.append(kwargs["identifiers"])
        return get_or_create(self, **kwargs)

    with (
        patch.object(NgucSensor, "__init__", counting("sensor", NgucSensor.__init__)),
        patch.object(
            NgucBinarySensor,
            "__init__",
            counting("binary_sensor", NgucBinarySensor.__init__),
        ),
        patch.object(
            NgucCallEvent, "__init__", counting("event", NgucCallEvent.__init__)
        ),
        patch.object(
            NgucWaitingSinceSensor,
            "__init__",
            counting("sensor", NgucWaitingSinceSensor.__init__),
        ),
        patch.object(dr.DeviceRegistry, "async_get_or_create", count_devices),
    ):
        billing = Queue(
            id="503",
            name="Billing",
            members=[QueueMember("86483", "Lars Öberg")],
        )
        await simulator.push_queue(billing)
        await wait_for(
            hass,
            lambda: (
                len(entities_of(hass, init_integration, "queue_503"))
                == len(QUEUE_SENSORS) + 3
            ),
        )
    # Its sensors, its longest-waiting-since sensor and its call event (and
    # its calls to return, not counted here).
    assert sorted(built) == ["event"] + ["sensor"] * (len(QUEUE_SENSORS) + 1)
    # Its device, also once per entity (Home Assistant links each one to it):
    # no other device is touched.
    assert {frozenset(identifiers) for identifiers in registered} == {
        frozenset({(DOMAIN, f"{ENTRY_UNIQUE_ID}_queue_503")})
    }
    assert hass.states.get("sensor.billing_waiting").state == "0"


async def test_nothing_added_while_unloading(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """No event is taken in once unloading starts: no entity is left behind.

    A queue that appears while the platforms unload would otherwise get
    entities on platforms that are gone, and clash with itself on reload.
    """
    unload_platforms = hass.config_entries.async_unload_platforms

    async def unload_then_event(*args: Any) -> bool:
        unloaded = await unload_platforms(*args)
        await simulator.push_queue(Queue(id="503", name="Billing"))
        await asyncio.sleep(0.3)
        return unloaded

    with patch.object(hass.config_entries, "async_unload_platforms", unload_then_event):
        assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert not entities_of(hass, init_integration, "queue_503")
    assert hass.states.get("sensor.billing_waiting") is None
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await wait_in_sync(hass, init_integration)
    # Read at setup like any queue, once.
    assert hass.states.get("sensor.billing_waiting").state == "0"


async def test_removed_store_with_the_entry(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """What an entry keeps on disk goes with it."""
    key = f"{DOMAIN}.{init_integration.entry_id}"
    await unload(hass, init_integration)
    assert {item["id"] for item in hass_storage[key]["data"]["users"]} == {
        "86480",
        "86481",
        "86482",
        "86483",
    }
    assert "email" not in hass_storage[key]["data"]["users"][0]
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


# --- Call records, for the features that keep them ------------------------------------


async def test_record_listener_hears_each_call_record_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Every new call record of any user or queue, once however often it comes."""
    coordinator = init_integration.runtime_data
    records: list[Any] = []
    remove = coordinator.async_add_record_listener(records.append)
    seen = events_received(init_integration)
    cdr = await simulator.finish_call("86481", disposition="NO ANSWER")
    await simulator.push_event("Cdr", cdr)  # the same record again
    await simulator.push_event(
        "QueueCdr",
        simulator.company.queue_cdr(
            "501",
            call_guid="1725958989.91",
            callerid="0701234567",
            disposition="ANSWERED",
        ),
    )
    await simulator.set_user_status("86480", 1)  # not a call record
    await events_handled(hass, seen, 4)
    assert [type(record).__name__ for record in records] == ["Cdr", "QueueCdr"]
    remove()
    await simulator.finish_call("86482", disposition="NO ANSWER")
    await events_handled(hass, seen, 5)
    assert len(records) == 2
