"""A state sync that trusts no single answer (issue 14 §1), against the simulator.

Each list is judged on its own: one that fails keeps its part and is read
again on its own; one that suddenly loses most of what we hold is read
again before anything goes; an item first seen by event outlives a read or
two that miss it. What a user sees: devices kept, entities available, calls
counted, a repair issue that says which list NGUC refuses.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.const import DOMAIN
from tests.harness.timings import Timings, applied, applied_to_test
from tests.simulator import Queue, QueueMember, Simulator, User

from .conftest import ENTRY_UNIQUE_ID, entity_id_of, wait_for, wait_in_sync

SYNC = "custom_components.weblink_nguc.sync"
USERS = ("86480", "86481", "86482", "86483")
ERIK_LINE = "sensor.erik_johansson_line_status"
ERIK_MISSED = "sensor.erik_johansson_missed_today"
SUPPORT_WAITING = "sensor.support_waiting"


@pytest.fixture(autouse=True)
def quick_retries(request: pytest.FixtureRequest) -> Generator[None]:
    """Read a failed or doubted list again within a fraction of a second."""
    with applied_to_test(
        request,
        Timings(resync_retry_base=0.05, resync_retry_cap=0.2, shrink_recheck_delay=0.2),
    ):
        yield


def device(
    hass: HomeAssistant, entry: MockConfigEntry, key: str
) -> dr.DeviceEntry | None:
    """Return the device of an item, by its key ("user_86480")."""
    return dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), entry.entry_id
    )


def requests_to(simulator: Simulator, path: str) -> int:
    """Return how many REST requests reached ``path``."""
    return sum(1 for request in simulator.requests if request == f"GET {path}")


def issue(hass: HomeAssistant, entry: MockConfigEntry, name: str) -> Any:
    """Return one of the entry's repair issues, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{name}")


def reauth_flows(hass: HomeAssistant) -> list[Any]:
    """Return the reauthentication flows in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


def available_entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """Return the enabled entities of the entry whose state is not unavailable."""
    return [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if entity.disabled_by is None
        and (state := hass.states.get(entity.entity_id)) is not None
        and state.state != STATE_UNAVAILABLE
    ]


async def reconnect(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Cut the event stream; wait until it is back and the state was read again."""
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, entry)


# --- One empty answer ------------------------------------------------------------------


async def test_empty_user_list_once_keeps_every_device_and_counts_calls(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A single `200 []` of the users keeps them all; a call missed meanwhile counts."""
    reads = requests_to(simulator, c.PATH_USERS)
    simulator.override_path(c.PATH_USERS, [], count=1)
    await reconnect(hass, init_integration, simulator)
    for user in USERS:
        assert device(hass, init_integration, f"user_{user}") is not None, user
    assert hass.states.get(ERIK_LINE).state == "idle"
    # While the answer is in doubt, a missed call of one of them is counted.
    await simulator.finish_call("86481", disposition="NO ANSWER")
    await wait_for(hass, lambda: hass.states.get(ERIK_MISSED).state == "1")
    # Read again soon; NGUC lists them all: nothing went.
    await simulator.wait_for_requests(c.PATH_USERS, reads + 2)
    await hass.async_block_till_done()
    for user in USERS:
        assert device(hass, init_integration, f"user_{user}") is not None, user
    await simulator.finish_call("86481", disposition="NO ANSWER")
    await wait_for(hass, lambda: hass.states.get(ERIK_MISSED).state == "2")


async def test_empty_user_list_at_restart_keeps_every_device(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """After a restart, one empty answer removes nothing kept from the last run."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    simulator.override_path(c.PATH_USERS, [], count=1)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await wait_in_sync(hass, init_integration)
    for user in USERS:
        assert device(hass, init_integration, f"user_{user}") is not None, user


async def test_users_gone_in_two_reads_in_a_row_go(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Most users gone for real: kept at the first read, gone once a second agrees."""
    reads = requests_to(simulator, c.PATH_USERS)
    for user in USERS[1:]:
        simulator.company.remove_user(user)
    await reconnect(hass, init_integration, simulator)
    assert device(hass, init_integration, "user_86481") is not None
    await simulator.wait_for_requests(c.PATH_USERS, reads + 2)
    for user in USERS[1:]:
        await wait_for(
            hass,
            lambda user=user: device(hass, init_integration, f"user_{user}") is None,
        )
    assert device(hass, init_integration, "user_86480") is not None


# --- A list that fails -------------------------------------------------------------------


@pytest.fixture
def quick_timeout(hass: HomeAssistant) -> Generator[None]:
    """A request unanswered for half a second times out (set before the entry is)."""
    with applied(hass, Timings(request_timeout=0.5)):
        yield


@pytest.mark.parametrize(
    ("fault", "arguments"),
    [
        ("fail_path", {"status": 500}),
        ("fail_path", {"status": 403}),
        ("fail_path", {"status": 401}),
        ("override_path", {"text": "<html>maintenance</html>"}),
        ("hang_path", {"seconds": 5}),
    ],
    ids=["5xx", "403", "401", "unparsable", "timeout"],
)
@pytest.mark.usefixtures("short_stream_grace", "quick_timeout")
async def test_failing_list_keeps_its_part_and_applies_the_others(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    fault: str,
    arguments: dict[str, Any],
) -> None:
    """One list failing keeps its items; the lists that answered are applied."""
    available = set(available_entities(hass, init_integration))
    getattr(simulator, fault)(c.PATH_QUEUES, **arguments)
    simulator.company.statuses["86481"] = 1  # missed while disconnected
    await reconnect(hass, init_integration, simulator)
    # Past the grace: nothing turned unavailable.
    await wait_for(hass, lambda: hass.states.get(ERIK_LINE).state == "in_use")
    await hass.async_block_till_done()
    assert set(available_entities(hass, init_integration)) == available
    assert device(hass, init_integration, "queue_501") is not None
    assert hass.states.get(SUPPORT_WAITING).state == "0"
    assert not reauth_flows(hass)
    # Read again on its own, until it answers.
    reads = requests_to(simulator, c.PATH_USERS)
    queue_reads = requests_to(simulator, c.PATH_QUEUES)
    await simulator.wait_for_requests(c.PATH_QUEUES, queue_reads + 2)
    assert requests_to(simulator, c.PATH_USERS) == reads
    simulator.clear_path(c.PATH_QUEUES)
    await simulator.update_queue("501", waiting=0, wait_avg=41)
    await wait_for(
        hass,
        lambda: hass.states.get("sensor.support_average_wait").state == "41",
    )


async def test_refused_list_raises_a_repair_issue_until_it_answers(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A persistent 403 names the list and the answer; it goes once NGUC answers."""
    simulator.fail_path(c.PATH_QUEUES, 403)
    await reconnect(hass, init_integration, simulator)
    await wait_for(
        hass, lambda: issue(hass, init_integration, "list_failing_queues") is not None
    )
    found = issue(hass, init_integration, "list_failing_queues")
    assert found.translation_key == "list_forbidden"
    assert found.translation_placeholders["endpoint"] == c.PATH_QUEUES
    assert "403" in found.translation_placeholders["answer"]
    # Explained and acknowledged in its fix flow (repairs.py).
    assert found.is_fixable
    simulator.clear_path(c.PATH_QUEUES)
    await wait_for(
        hass, lambda: issue(hass, init_integration, "list_failing_queues") is None
    )


async def test_server_error_repair_issue_says_the_answer(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A list answering 503 read after read: an issue of its own kind, with the answer."""
    simulator.fail_path(c.PATH_DEVICES, 503)
    await reconnect(hass, init_integration, simulator)
    await wait_for(
        hass, lambda: issue(hass, init_integration, "list_failing_devices") is not None
    )
    found = issue(hass, init_integration, "list_failing_devices")
    assert found.translation_key == "list_failing"
    assert "503" in found.translation_placeholders["answer"]


async def test_refused_list_at_first_setup_sets_up_everything_else(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A first setup whose queue list is refused has every user, phone and line."""
    simulator.fail_path(c.PATH_QUEUES, 403)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)
    for user in USERS:
        assert device(hass, mock_config_entry, f"user_{user}") is not None, user
    assert device(hass, mock_config_entry, "device_9001") is not None
    assert hass.states.get(ERIK_LINE).state == "idle"
    # Per user 7 (calls to return among them), per phone 1, and the event stream.
    assert len(available_entities(hass, mock_config_entry)) == 4 * 7 + 5 + 1


async def test_failing_me_at_the_hourly_read_still_adds_new_users(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """`/user/me` failing at the hourly read keeps the last one; the lists apply."""
    with applied(hass, Timings(resync_interval=0.2)):
        mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await wait_in_sync(hass, mock_config_entry)
        simulator.fail_path(c.PATH_ME, 500)
        simulator.company.add_user(User("86490", "Nils Holm", "110", "n@x.example"))
        await wait_for(
            hass, lambda: device(hass, mock_config_entry, "user_86490") is not None
        )
        assert mock_config_entry.runtime_data.data.me.id == "86480"
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


# --- Items first seen by event -----------------------------------------------------------


async def test_queue_first_seen_by_event_outlives_reads_that_miss_it(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A queue NGUC's list does not name yet stays, and its calls reach it."""
    billing = Queue(id="503", name="Billing", members=[QueueMember("86483", "Lars")])
    await simulator.push_event("Queue", billing.to_wire(), apply=False)
    await wait_for(
        hass, lambda: device(hass, init_integration, "queue_503") is not None
    )
    await reconnect(hass, init_integration, simulator)
    assert device(hass, init_integration, "queue_503") is not None
    await simulator.push_event(
        "QueueCdr",
        simulator.company.queue_cdr(
            "503",
            call_guid="1725958989.99",
            callerid="0701234567",
            disposition="ANSWERED",
            agent_id="86483",
        ),
    )
    calls = entity_id_of(hass, Platform.EVENT, "queue_503", "queue_call")
    assert calls is not None
    await wait_for(
        hass,
        lambda: hass.states.get(calls).attributes.get("event_type") == "answered",
    )
    # Never listed, and no more events about it (the call record named it,
    # so the count starts again): gone after a few reads.
    for _ in range(2):
        await reconnect(hass, init_integration, simulator)
        assert device(hass, init_integration, "queue_503") is not None
    await reconnect(hass, init_integration, simulator)
    await wait_for(hass, lambda: device(hass, init_integration, "queue_503") is None)


# --- Credentials -------------------------------------------------------------------------


async def test_401_on_one_list_renews_the_token_and_never_asks_to_sign_in(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A list refusing the token once: renewed, read again, no reauthentication."""
    grants = simulator.oauth_grants.count("refresh_token")
    simulator.fail_path(c.PATH_USERS, 401, count=1)
    simulator.company.statuses["86481"] = 1
    await reconnect(hass, init_integration, simulator)
    assert simulator.oauth_grants.count("refresh_token") == grants + 1
    assert hass.states.get(ERIK_LINE).state == "in_use"
    assert not reauth_flows(hass)


# --- A bad day, all at once ----------------------------------------------------------------


@pytest.mark.usefixtures("short_stream_grace")
async def test_a_bad_day_leaves_every_device_in_place(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An empty user list once, a refused queue list, a queue known by event only.

    Every device stays, every entity that can be current is available, and
    a repair issue says which list NGUC refuses.
    """
    registry = dr.async_get(hass)
    before = {
        device.id
        for device in dr.async_entries_for_config_entry(
            registry, init_integration.entry_id
        )
    }
    billing = Queue(id="503", name="Billing", members=[QueueMember("86483", "Lars")])
    await simulator.push_event("Queue", billing.to_wire(), apply=False)
    await wait_for(
        hass, lambda: device(hass, init_integration, "queue_503") is not None
    )
    available = set(available_entities(hass, init_integration))
    simulator.override_path(c.PATH_USERS, [], count=1)
    simulator.fail_path(c.PATH_QUEUES, 403)
    for _ in range(3):
        await reconnect(hass, init_integration, simulator)
    await wait_for(
        hass, lambda: issue(hass, init_integration, "list_failing_queues") is not None
    )
    after = {
        device.id
        for device in dr.async_entries_for_config_entry(
            registry, init_integration.entry_id
        )
    }
    assert before <= after
    assert device(hass, init_integration, "queue_503") is not None
    assert set(available_entities(hass, init_integration)) == available
    assert not reauth_flows(hass)
