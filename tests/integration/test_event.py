"""The event entities: each user's calls and each queue's calls, each fired once."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.weblink_nguc.api import LineState
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from custom_components.weblink_nguc.event import EVENT_DESCRIPTIONS, NgucCallEvent
from tests.simulator import Device, Queue, Simulator

from .conftest import (
    ENTRY_UNIQUE_ID,
    entity_id_of,
    setup_platform,
    wait_for,
    wait_in_sync,
)

ANNA, ERIK, LARS = "86480", "86481", "86483"
EXTENSIONS = {ANNA: "101", ERIK: "102", LARS: "104"}
SUPPORT, SALES = "501", "502"
REMOTE = "0701234567"
REMOTE_E164 = "+46701234567"


@pytest.fixture
async def setup_events(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the integration with the event platform only."""
    async with setup_platform(hass, mock_config_entry, Platform.EVENT) as entry:
        yield entry


def event_id(hass: HomeAssistant, item_key: str, key: str) -> str:
    """Return the entity id of an event entity, found by its unique id."""
    entity_id = entity_id_of(hass, Platform.EVENT, item_key, key)
    assert entity_id is not None, f"no event {key} of {item_key}"
    return entity_id


def call_id(hass: HomeAssistant, user: str) -> str:
    """Return the entity id of a user's calls."""
    return event_id(hass, user_key(user), "call")


def queue_call_id(hass: HomeAssistant, queue: str) -> str:
    """Return the entity id of a queue's calls."""
    return event_id(hass, queue_key(queue), "queue_call")


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """Return the state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def attributes_of(hass: HomeAssistant, entity_id: str) -> dict[str, Any]:
    """Return the attributes of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


def fired(
    changes: list[Event[EventStateChangedData]], entity_id: str
) -> list[dict[str, Any]]:
    """Return the attributes of each event an entity fired (its state changes)."""
    return [
        dict(new_state.attributes)
        for event in changes
        if event.data["entity_id"] == entity_id
        and (new_state := event.data["new_state"]) is not None
        and new_state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    ]


def cdr(
    user: str,
    call_guid: str,
    *,
    direction: str = "IN",
    disposition: str = "ANSWER",
    billsec: str = "42",
    recording: str | bool = False,
) -> dict[str, Any]:
    """Return a Cdr payload of a call of ``user`` with an outside number."""
    incoming = direction == "IN"
    return {
        "id": f"7{call_guid.replace('.', '')}",
        "call_guid": call_guid,
        "calldate": "2024-09-10 09:03:09",
        "direction": direction,
        "src": REMOTE if incoming else EXTENSIONS[user],
        "dst": EXTENSIONS[user] if incoming else REMOTE,
        "src_pbx_user_id": None if incoming else user,
        "dst_pbx_user_id": user if incoming else None,
        "remote_pbx_contact_id": None,
        "billsec": billsec,
        "disposition": disposition,
        "pbx_recording_id": recording,
    }


def queue_cdr(
    queue: str,
    call_guid: str,
    disposition: str,
    *,
    step: int = 1,
    agent: str | None = ERIK,
    wait_time: str = "17",
    reason: str = "CONNECT",
) -> dict[str, Any]:
    """Return a QueueCdr payload: one step of a queued call."""
    names = {ANNA: "Anna Lindqvist", ERIK: "Erik Johansson", LARS: "Lars Öberg"}
    return {
        "id": f"9{step}{call_guid.replace('.', '')}",
        "call_guid": call_guid,
        "ast_queue_id": queue,
        "calldate": "2024-09-10T07:03:09+00:00",
        "callerid": REMOTE,
        "did": "0812345600",
        "e164_src": "+46701234567",
        "e164_did": "+46812345600",
        "disposition": disposition,
        "answered_by": names[agent] if agent else None,
        "pbx_user_id": agent,
        "wait_time": wait_time,
        "talk_time": "0",
        "reason": reason,
        "handled": "1" if disposition == "ANSWERED" else "0",
    }


async def test_event_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    setup_events: MockConfigEntry,
) -> None:
    """Every event entity of the demo company, registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, setup_events.entry_id)


async def test_event_types(hass: HomeAssistant, setup_events: MockConfigEntry) -> None:
    """A user's calls and a queue's calls offer their own event types."""
    assert attributes_of(hass, call_id(hass, ANNA))[ATTR_EVENT_TYPES] == [
        "ringing",
        "answered",
        "missed",
        "outgoing",
        "outgoing_unanswered",
    ]
    assert attributes_of(hass, queue_call_id(hass, SUPPORT))[ATTR_EVENT_TYPES] == [
        "answered",
        "not_answered",
        "transferred",
    ]


@pytest.mark.parametrize(
    ("call", "event_type"),
    [
        ({"direction": "IN", "disposition": "ANSWER", "recording": "7731"}, "answered"),
        ({"direction": "IN", "disposition": "NO ANSWER"}, "missed"),
        ({"direction": "IN", "disposition": "BUSY"}, "missed"),
        ({"direction": "IN", "disposition": "CANCEL"}, "missed"),
        (
            {"direction": "OUT", "disposition": "ANSWER", "recording": "7732"},
            "outgoing",
        ),
        ({"direction": "OUT", "disposition": "NO ANSWER"}, "outgoing_unanswered"),
        ({"direction": "OUT", "disposition": "BUSY"}, "outgoing_unanswered"),
        ({"direction": "OUT", "disposition": "CANCEL"}, "outgoing_unanswered"),
    ],
)
@pytest.mark.usefixtures("setup_events")
async def test_call_events(
    hass: HomeAssistant, simulator: Simulator, call: dict[str, Any], event_type: str
) -> None:
    """A Cdr fires the call's outcome on its user, with what a person wants to know."""
    entity_id = call_id(hass, ERIK)
    assert state_of(hass, entity_id) == STATE_UNKNOWN
    await simulator.push_event("Cdr", cdr(ERIK, "1725958989.11", **call))
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    direction, disposition = call["direction"], call["disposition"]
    incoming = direction == "IN"
    attributes = attributes_of(hass, entity_id)
    attributes.pop(ATTR_EVENT_TYPES)
    attributes.pop("friendly_name")
    assert attributes == {
        ATTR_EVENT_TYPE: event_type,
        "call_id": "1725958989.11",
        "direction": direction.lower(),
        # Written as everywhere (E.164 where it can be), an extension as sent.
        "caller": REMOTE_E164 if incoming else "102",
        # Erik's end is named: he is a PBX user; the outside number is not.
        "caller_name": None if incoming else "Erik Johansson",
        "callee": "102" if incoming else REMOTE_E164,
        "callee_name": "Erik Johansson" if incoming else None,
        "duration": 42,
        "disposition": disposition,
        "recording": "recording" in call,
    }
    # Only Erik's calls: nobody else's.
    for user in (ANNA, LARS):
        assert state_of(hass, call_id(hass, user)) == STATE_UNKNOWN


async def test_cdr_without_outcome(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """An INVALID call, an odd direction or no PBX user fire nothing."""
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    no_user = cdr(ERIK, "1725958989.23")
    no_user["dst_pbx_user_id"] = None
    await simulator.push_events(
        [
            ("Cdr", cdr(ERIK, "1725958989.21", disposition="INVALID")),
            ("Cdr", cdr(ERIK, "1725958989.22", direction="LOCAL")),
            ("Cdr", no_user),
        ]
    )
    # Events arrive in order: once Lars's call is seen, those were handled.
    await simulator.push_event("Cdr", cdr(LARS, "1725958989.24"))
    lars = call_id(hass, LARS)
    await wait_for(hass, lambda: state_of(hass, lars) != STATE_UNKNOWN)
    assert state_of(hass, call_id(hass, ERIK)) == STATE_UNKNOWN
    assert fired(changes, call_id(hass, ERIK)) == []


async def test_same_cdr_fires_once(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A Cdr sent again (twice in one frame, or in a later frame) fires once."""
    entity_id = call_id(hass, ERIK)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    record = cdr(ERIK, "1725958989.31", disposition="NO ANSWER")
    await simulator.push_events([("Cdr", record), ("Cdr", record)])
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    first = hass.states.get(entity_id)
    assert first is not None

    await simulator.push_event("Cdr", record)
    await simulator.push_event("Cdr", cdr(LARS, "1725958989.32"))
    lars = call_id(hass, LARS)
    await wait_for(hass, lambda: state_of(hass, lars) != STATE_UNKNOWN)

    again = hass.states.get(entity_id)
    assert again is not None
    assert again.state == first.state
    assert again.last_changed == first.last_changed
    assert [a[ATTR_EVENT_TYPE] for a in fired(changes, entity_id)] == ["missed"]

    # Another call of the same user is a new event.
    await simulator.push_event("Cdr", cdr(ERIK, "1725958989.33"))
    await wait_for(hass, lambda: state_of(hass, entity_id) != first.state)
    assert [a[ATTR_EVENT_TYPE] for a in fired(changes, entity_id)] == [
        "missed",
        "answered",
    ]


async def test_ringing(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A line that starts ringing fires ``ringing`` once per start."""
    entity_id = call_id(hass, ERIK)
    statuses = setup_events.runtime_data.data.statuses
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    async def set_status(status: int) -> None:
        await simulator.set_user_status(ERIK, status)
        await wait_for(hass, lambda: statuses[ERIK].status == LineState(status))

    await set_status(8)
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    assert attributes_of(hass, entity_id)[ATTR_EVENT_TYPE] == "ringing"
    await set_status(9)  # still ringing, now also in use: not a new ring
    await set_status(1)
    assert len(fired(changes, entity_id)) == 1
    await set_status(9)  # a second call rings while talking
    await wait_for(hass, lambda: len(fired(changes, entity_id)) == 2)
    await set_status(0)
    await set_status(4)
    assert [a[ATTR_EVENT_TYPE] for a in fired(changes, entity_id)] == [
        "ringing",
        "ringing",
    ]
    # The ringing event carries no call data: nothing is known yet.
    assert set(fired(changes, entity_id)[0]) == {
        ATTR_EVENT_TYPE,
        ATTR_EVENT_TYPES,
        "friendly_name",
    }


@pytest.mark.parametrize(
    ("disposition", "agent", "event_type"),
    [
        ("ANSWERED", ERIK, "answered"),
        ("NOANSWERED", None, "not_answered"),
        ("TRANSFER", ANNA, "transferred"),
    ],
)
@pytest.mark.usefixtures("setup_events")
async def test_queue_call_events(
    hass: HomeAssistant,
    simulator: Simulator,
    disposition: str,
    agent: str | None,
    event_type: str,
) -> None:
    """A QueueCdr fires its outcome on the queue, with caller, wait and agent."""
    entity_id = queue_call_id(hass, SUPPORT)
    await simulator.push_event(
        "QueueCdr", queue_cdr(SUPPORT, "1725958989.41", disposition, agent=agent)
    )
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    attributes = attributes_of(hass, entity_id)
    attributes.pop(ATTR_EVENT_TYPES)
    attributes.pop("friendly_name")
    assert attributes == {
        ATTR_EVENT_TYPE: event_type,
        "call_id": "1725958989.41",
        "caller": REMOTE_E164,
        "caller_name": None,  # an outside number
        "wait_time": 17,
        "agent": {ANNA: "Anna Lindqvist", ERIK: "Erik Johansson", None: None}[agent],
        "agent_name": {ANNA: "Anna Lindqvist", ERIK: "Erik Johansson", None: None}[
            agent
        ],
    }
    assert state_of(hass, queue_call_id(hass, SALES)) == STATE_UNKNOWN
    # A queue call is not a user's call record.
    assert state_of(hass, call_id(hass, ERIK)) == STATE_UNKNOWN


async def test_queue_cdr_steps_fire_once(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A QueueCdr repeated for the same call and outcome fires once."""
    entity_id = queue_call_id(hass, SUPPORT)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    guid = "1725958989.51"
    # Lars does not pick up; Erik answers; the call ends (ANSWERED again).
    await simulator.push_events(
        [
            (
                "QueueCdr",
                queue_cdr(
                    SUPPORT,
                    guid,
                    "NOANSWERED",
                    step=1,
                    agent=LARS,
                    reason="RINGNOANSWER",
                ),
            ),
            ("QueueCdr", queue_cdr(SUPPORT, guid, "ANSWERED", step=2)),
        ]
    )
    await simulator.push_event(
        "QueueCdr",
        queue_cdr(SUPPORT, guid, "ANSWERED", step=3, reason="COMPLETECALLER"),
    )
    await simulator.push_event("QueueCdr", queue_cdr(SUPPORT, guid, "ANSWERED", step=2))
    # Once the other queue's call is seen, the repeats were handled.
    await simulator.push_event(
        "QueueCdr", queue_cdr(SALES, "1725958989.52", "ANSWERED")
    )
    sales = queue_call_id(hass, SALES)
    await wait_for(hass, lambda: state_of(hass, sales) != STATE_UNKNOWN)
    assert [(a[ATTR_EVENT_TYPE], a["agent"]) for a in fired(changes, entity_id)] == [
        ("not_answered", "Lars Öberg"),
        ("answered", "Erik Johansson"),
    ]


async def test_queue_call_on_new_queue(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A queue first seen in a Queue event gets its event entity, which fires."""
    await simulator.push_queue(Queue(id="503", name="Billing"))
    unique_id = f"{ENTRY_UNIQUE_ID}_{queue_key('503')}_queue_call"
    registry = er.async_get(hass)
    await wait_for(
        hass,
        lambda: (
            registry.async_get_entity_id(Platform.EVENT, DOMAIN, unique_id) is not None
        ),
    )
    entity_id = queue_call_id(hass, "503")
    assert state_of(hass, entity_id) == STATE_UNKNOWN
    await simulator.push_event(
        "QueueCdr", queue_cdr("503", "1725958989.61", "TRANSFER", agent=LARS)
    )
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    assert attributes_of(hass, entity_id)[ATTR_EVENT_TYPE] == "transferred"
    assert len(er.async_entries_for_config_entry(registry, setup_events.entry_id)) == 7


@pytest.mark.usefixtures("short_stream_grace")
async def test_unavailable_while_stream_down(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """Without the event stream, no event can come: the entities say so."""
    entity_id = call_id(hass, ANNA)
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: state_of(hass, entity_id) == STATE_UNAVAILABLE)
    simulator.clear_faults()
    await wait_in_sync(hass, setup_events)
    await wait_for(hass, lambda: state_of(hass, entity_id) == STATE_UNKNOWN)
    await simulator.push_event("Cdr", cdr(ANNA, "1725958989.71"))
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    assert attributes_of(hass, entity_id)[ATTR_EVENT_TYPE] == "answered"


@pytest.mark.usefixtures("short_stream_grace")
async def test_calls_arrive_while_the_state_cannot_be_read(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """Connected but out of sync (REST failing): the state is stale, a call is not.

    The line sensors are unavailable; a call still fires its event.
    """
    entity_id = call_id(hass, ANNA)
    simulator.refuse_events = True
    simulator.fail_rest(500)
    await simulator.drop_connections()
    await wait_for(hass, lambda: state_of(hass, entity_id) == STATE_UNAVAILABLE)
    simulator.refuse_events = False
    await wait_for(hass, lambda: setup_events.runtime_data.connected)
    await wait_for(hass, lambda: state_of(hass, entity_id) == STATE_UNKNOWN)
    assert not setup_events.runtime_data.in_sync
    await simulator.push_event("Cdr", cdr(ANNA, "1725958989.81"))
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    assert attributes_of(hass, entity_id)[ATTR_EVENT_TYPE] == "answered"
    assert not setup_events.runtime_data.available


async def test_new_phone_adds_no_event_entity(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A phone found at a resync has no event entity; none is added again."""
    registry = er.async_get(hass)
    before = len(er.async_entries_for_config_entry(registry, setup_events.entry_id))
    simulator.company.add_device(Device("9006", LARS, "Lars mobilapp", "NGUC App"))
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, setup_events)
    assert "9006" in setup_events.runtime_data.data.devices
    after = len(er.async_entries_for_config_entry(registry, setup_events.entry_id))
    assert after == before


async def test_item_gone(hass: HomeAssistant, setup_events: MockConfigEntry) -> None:
    """An event entity whose user or queue is gone is unavailable."""
    coordinator = setup_events.runtime_data
    for description in EVENT_DESCRIPTIONS:
        assert not NgucCallEvent(coordinator, "99999", description).available


async def test_queue_gone_and_back(
    hass: HomeAssistant, setup_events: MockConfigEntry, simulator: Simulator
) -> None:
    """A queue gone at a resync loses its event entity; it returns with the queue."""
    registry = er.async_get(hass)
    unique_id = f"{ENTRY_UNIQUE_ID}_{queue_key(SALES)}_queue_call"

    def sales_entity() -> str | None:
        return registry.async_get_entity_id(Platform.EVENT, DOMAIN, unique_id)

    sales = simulator.company.queues.pop(SALES)
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, setup_events)
    await wait_for(hass, lambda: sales_entity() is None)

    await simulator.push_queue(sales)
    await wait_for(hass, lambda: sales_entity() is not None)
    entity_id = queue_call_id(hass, SALES)
    await wait_for(hass, lambda: hass.states.get(entity_id) is not None)
    await simulator.push_event(
        "QueueCdr", queue_cdr(SALES, "1725958989.81", "ANSWERED", agent=LARS)
    )
    await wait_for(hass, lambda: state_of(hass, entity_id) != STATE_UNKNOWN)
    assert attributes_of(hass, entity_id)["agent"] == "Lars Öberg"
