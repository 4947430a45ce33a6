"""What a call centre sees: queue agents, waiting callers, missed calls, names.

Each feature is driven by events of the simulator (over its real websocket)
and read from the entities' states, as a dashboard or automation would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, history
from homeassistant.components.recorder.util import get_instance
from homeassistant.components.sensor import ATTR_LAST_RESET, ATTR_STATE_CLASS
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.weblink_nguc.coordinator import queue_key, user_key
from tests.simulator import QueueCaller, QueueMember, Simulator

from .conftest import StateWrites, entity_id_of, wait_for, wait_in_sync

ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
NAMES = {
    ANNA: "Anna Lindqvist",
    ERIK: "Erik Johansson",
    MAJA: "Maja Karlsson",
    LARS: "Lars Öberg",
}
EXTENSIONS = {ANNA: "101", ERIK: "102", MAJA: "103", LARS: "104"}
SUPPORT, SALES = "501", "502"
OUTSIDE = "0701234567"


def entity(hass: HomeAssistant, item_key: str, key: str, platform: Platform) -> str:
    """Return the entity id of one of our entities, which must exist."""
    entity_id = entity_id_of(hass, platform, item_key, key)
    assert entity_id is not None, f"no {platform} {key} of {item_key}"
    return entity_id


def queue_sensor(hass: HomeAssistant, queue: str, key: str) -> str:
    """Return the entity id of a queue's sensor."""
    return entity(hass, queue_key(queue), key, Platform.SENSOR)


def user_sensor(hass: HomeAssistant, user: str, key: str) -> str:
    """Return the entity id of a user's sensor."""
    return entity(hass, user_key(user), key, Platform.SENSOR)


def paused_id(hass: HomeAssistant, user: str) -> str:
    """Return the entity id of a user's paused binary sensor."""
    return entity(hass, user_key(user), "paused", Platform.BINARY_SENSOR)


def call_id(hass: HomeAssistant, user: str) -> str:
    """Return the entity id of a user's call event entity."""
    return entity(hass, user_key(user), "call", Platform.EVENT)


def state(hass: HomeAssistant, entity_id: str) -> State:
    """Return the state of an entity that must have one."""
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current


def is_(hass: HomeAssistant, entity_id: str, value: str) -> Callable[[], bool]:
    """Return a check that an entity's state is ``value``."""
    return lambda: state(hass, entity_id).state == value


def members(**on_call_or_paused: str) -> dict[str, Any]:
    """Return Support's members (Anna, Erik, Maja), some on a call or paused.

    ``erik="call"`` puts Erik on a call, ``maja="paused"`` pauses Maja; the
    others are free.
    """
    return {
        "members": [
            QueueMember(
                user,
                NAMES[user],
                paused=on_call_or_paused.get(name) == "paused",
                call_guid=f"g-{user}"
                if on_call_or_paused.get(name) == "call"
                else None,
            )
            for name, user in (("anna", ANNA), ("erik", ERIK), ("maja", MAJA))
        ]
    }


def cdr(
    *,
    direction: str,
    src: str,
    dst: str,
    src_user: str | None,
    dst_user: str | None,
    disposition: str = "ANSWER",
    call_guid: str = "1725958989.1",
) -> dict[str, Any]:
    """Return a Cdr payload as NGUC sends it."""
    return {
        "id": f"7{call_guid.replace('.', '')}",
        "call_guid": call_guid,
        "calldate": "2026-11-20 09:03:09",
        "direction": direction,
        "src": src,
        "dst": dst,
        "src_pbx_user_id": src_user,
        "dst_pbx_user_id": dst_user,
        "remote_pbx_contact_id": None,
        "billsec": "12",
        "disposition": disposition,
        "pbx_recording_id": False,
    }


def missed(user: str, caller: str = OUTSIDE, call_guid: str = "g-m1") -> dict[str, Any]:
    """Return the Cdr of a call to ``user`` from ``caller`` that nobody answered."""
    return cdr(
        direction="IN",
        src=caller,
        dst=EXTENSIONS[user],
        src_user=None,
        dst_user=user,
        disposition="NO ANSWER",
        call_guid=call_guid,
    )


# --- Queue agents -------------------------------------------------------------------


async def test_queue_agents(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Per queue the agents on a call and paused; per user the queues and paused."""
    on_call = queue_sensor(hass, SUPPORT, "agents_on_call")
    support_paused = queue_sensor(hass, SUPPORT, "agents_paused")
    sales_paused = queue_sensor(hass, SALES, "agents_paused")
    erik_queues = user_sensor(hass, ERIK, "queues")
    assert on_call == "sensor.support_agents_on_call"
    assert support_paused == "sensor.support_paused_agents"
    assert erik_queues == "sensor.erik_johansson_queues"
    # The seed: Maja is paused in Support; Erik is in Support and Sales.
    assert state(hass, on_call).state == "0"
    assert state(hass, support_paused).state == "1"
    assert state(hass, sales_paused).state == "0"
    assert state(hass, paused_id(hass, MAJA)).state == STATE_ON
    assert state(hass, paused_id(hass, ERIK)).state == STATE_OFF
    assert state(hass, erik_queues).state == "2"
    assert state(hass, erik_queues).attributes["queues"] == [
        {"name": "Support", "paused": False},
        {"name": "Sales", "paused": False},
    ]
    assert state(hass, erik_queues).attributes[ATTR_STATE_CLASS] == "measurement"
    assert state(hass, user_sensor(hass, LARS, "queues")).state == "1"

    # Erik takes a Support call and pauses in Sales.
    await simulator.update_queue(SUPPORT, **members(erik="call", maja="paused"))
    await simulator.update_queue(
        SALES,
        members=[
            QueueMember(ERIK, NAMES[ERIK], paused=True),
            QueueMember(LARS, NAMES[LARS]),
        ],
    )
    await wait_for(hass, is_(hass, paused_id(hass, ERIK), STATE_ON))
    assert state(hass, on_call).state == "1"
    assert state(hass, sales_paused).state == "1"
    assert state(hass, erik_queues).attributes["queues"] == [
        {"name": "Support", "paused": False},
        {"name": "Sales", "paused": True},
    ]

    # Erik leaves Support: it leaves his attributes too; Maja comes back.
    await simulator.update_queue(
        SUPPORT,
        members=[QueueMember(ANNA, NAMES[ANNA]), QueueMember(MAJA, NAMES[MAJA])],
    )
    await wait_for(hass, is_(hass, erik_queues, "1"))
    assert state(hass, erik_queues).attributes["queues"] == [
        {"name": "Sales", "paused": True}
    ]
    assert state(hass, on_call).state == "0"
    assert state(hass, support_paused).state == "0"
    assert state(hass, paused_id(hass, MAJA)).state == STATE_OFF

    # A renamed queue is renamed in its members' attributes.
    await simulator.update_queue(SALES, name="Försäljning")
    await wait_for(
        hass,
        lambda: (
            state(hass, erik_queues).attributes["queues"]
            == [{"name": "Försäljning", "paused": True}]
        ),
    )


async def test_queue_agents_unknown_without_the_data(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Members NGUC sends without their user or pause: unknown, never a guess."""
    on_call = queue_sensor(hass, SUPPORT, "agents_on_call")
    support_paused = queue_sensor(hass, SUPPORT, "agents_paused")
    anna_queues = user_sensor(hass, ANNA, "queues")
    # Only the documented member fields: who is on a call is known, not who.
    await simulator.push_event(
        "Queue",
        {
            "queue": {"id": SUPPORT, "name": "Support", "waiting": "0"},
            "members": [
                {"avg_call_length": "60", "call_guid": "g-1"},
                {"avg_call_length": "75", "call_guid": None},
            ],
            "callers": [],
        },
    )
    await wait_for(hass, is_(hass, anna_queues, STATE_UNKNOWN))
    assert state(hass, on_call).state == "1"
    assert state(hass, support_paused).state == STATE_UNKNOWN
    assert state(hass, paused_id(hass, ANNA)).state == STATE_UNKNOWN
    # Sales is not Support: its own figures stand.
    assert state(hass, queue_sensor(hass, SALES, "agents_paused")).state == "0"

    # Agents, but no member list: neither figure can be told.
    await simulator.push_event(
        "Queue",
        {"queue": {"id": SUPPORT, "name": "Support", "member_total": "3"}},
    )
    await wait_for(hass, is_(hass, on_call, STATE_UNKNOWN))
    assert state(hass, support_paused).state == STATE_UNKNOWN

    # Users known again: figures come back.
    await simulator.update_queue(SUPPORT, **members(maja="paused"))
    await wait_for(hass, is_(hass, anna_queues, "1"))
    assert state(hass, support_paused).state == "1"
    assert state(hass, paused_id(hass, ANNA)).state == STATE_OFF


# --- Waiting callers ---------------------------------------------------------------


async def test_waiting_callers(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The callers in line, and the wait of the one waiting longest now."""
    waiting = queue_sensor(hass, SUPPORT, "waiting")
    current = queue_sensor(hass, SUPPORT, "current_longest_wait")
    today = queue_sensor(hass, SUPPORT, "longest_wait")
    assert current == "sensor.support_longest_wait"
    assert state(hass, waiting).attributes["callers"] == []
    assert state(hass, current).state == "0"
    assert state(hass, current).attributes[ATTR_DEVICE_CLASS] == "duration"
    assert state(hass, current).attributes[ATTR_UNIT_OF_MEASUREMENT] == "s"

    first = await simulator.add_caller(SUPPORT, "0701111111", wait=140)
    await simulator.add_caller(SUPPORT, "0702222222", wait=5)
    await wait_for(hass, is_(hass, waiting, "2"))
    assert state(hass, waiting).attributes["callers"] == [
        {"position": 1, "number": "0701111111", "wait": 140},
        {"position": 2, "number": "0702222222", "wait": 5},
    ]
    assert state(hass, current).state == "140"
    # Today's longest wait is another figure: NGUC's, of callers gone too.
    assert state(hass, today).state == "95"

    await simulator.remove_caller(SUPPORT, first)
    await wait_for(hass, is_(hass, current, "5"))
    assert state(hass, waiting).attributes["callers"] == [
        {"position": 1, "number": "0702222222", "wait": 5}
    ]

    # Waiting callers NGUC counts but does not list: their waits are unknown.
    await simulator.update_queue(SUPPORT, waiting=4, callers=[])
    await wait_for(hass, is_(hass, current, STATE_UNKNOWN))
    assert state(hass, waiting).attributes["callers"] is None


async def test_longest_waiting_since_stays_true_between_snapshots(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """When the longest-waiting caller started waiting: a time, not a stale wait.

    A later snapshot that only ages the waits writes nothing; the caller
    leaving moves it to the next in line, nobody waiting makes it unknown.
    """
    since = queue_sensor(hass, SUPPORT, "longest_waiting_since")
    assert since == "sensor.support_waiting_since"
    assert state(hass, since).state == STATE_UNKNOWN
    assert state(hass, since).attributes[ATTR_DEVICE_CLASS] == "timestamp"
    writes = StateWrites(hass)

    before = dt_util.utcnow()
    first = await simulator.add_caller(SUPPORT, "0701111111", wait=140)
    await wait_for(hass, lambda: state(hass, since).state != STATE_UNKNOWN)
    started = datetime.fromisoformat(state(hass, since).state)
    assert (
        before - timedelta(seconds=141)
        <= started
        <= dt_util.utcnow() - timedelta(seconds=139)
    )
    second = await simulator.add_caller(SUPPORT, "0702222222", wait=5)
    # Two seconds on, NGUC reports both waits two seconds longer.
    await asyncio.sleep(2)
    await simulator.update_queue(
        SUPPORT,
        callers=[
            QueueCaller(first, SUPPORT, "0701111111", wait=142, position=1),
            QueueCaller(second, SUPPORT, "0702222222", wait=7, position=2),
        ],
    )
    await wait_for(
        hass,
        lambda: (
            state(hass, queue_sensor(hass, SUPPORT, "current_longest_wait")).state
            == "142"
        ),
    )
    assert state(hass, since).state == started.isoformat()
    assert writes.counts[since] == 1

    await simulator.remove_caller(SUPPORT, first)
    await wait_for(hass, lambda: state(hass, since).state != started.isoformat())
    second_started = datetime.fromisoformat(state(hass, since).state)
    assert second_started - started > timedelta(seconds=130)
    await simulator.remove_caller(SUPPORT, second)
    await wait_for(hass, is_(hass, since, STATE_UNKNOWN))


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Prepare the recorder's database before Home Assistant starts, as it must be."""


async def test_callers_not_recorded(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """The waiting callers (numbers, changing all day) stay out of the database."""
    waiting = queue_sensor(hass, SUPPORT, "waiting")
    start = dt_util.utcnow()
    await simulator.add_caller(SUPPORT, "0701111111", wait=30)
    await wait_for(hass, is_(hass, waiting, "1"))
    assert state(hass, waiting).attributes["callers"]
    await async_wait_recording_done(hass)
    recorded = await get_instance(hass).async_add_executor_job(
        history.state_changes_during_period, hass, start, None, waiting
    )
    assert [s.state for s in recorded[waiting]] == ["0", "1"]
    for recorded_state in recorded[waiting]:
        assert "callers" not in recorded_state.attributes
        assert recorded_state.attributes["friendly_name"] == "Support Waiting"


# --- Missed calls ------------------------------------------------------------------


async def test_missed_calls(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Each missed call counts once; the last one's time and caller are shown."""
    count = user_sensor(hass, ERIK, "missed_calls_today")
    last = user_sensor(hass, ERIK, "last_missed_call")
    assert count == "sensor.erik_johansson_missed_today"
    assert last == "sensor.erik_johansson_last_missed"
    assert state(hass, count).state == "0"
    assert state(hass, count).attributes[ATTR_STATE_CLASS] == "total"
    assert state(hass, count).attributes[ATTR_LAST_RESET] == (
        dt_util.start_of_local_day().isoformat()
    )
    assert state(hass, last).state == STATE_UNKNOWN
    assert state(hass, last).attributes[ATTR_DEVICE_CLASS] == "timestamp"

    before = dt_util.utcnow().replace(microsecond=0)  # shown to the second
    record = missed(ERIK, "0709998877")
    await simulator.push_event("Cdr", record)
    await wait_for(hass, is_(hass, count, "1"))
    shown = state(hass, last)
    assert before <= datetime.fromisoformat(shown.state) <= dt_util.utcnow()
    # Written as everywhere: E.164 where it can be.
    assert shown.attributes["caller"] == "+46709998877"
    assert shown.attributes["caller_name"] is None  # an outside number

    # Answered, outgoing or the same record again: not missed (again).
    await simulator.finish_call(ERIK, billsec=30)
    await simulator.finish_call(ERIK, direction="OUT", disposition="NO ANSWER")
    await simulator.push_event("Cdr", record)
    # A busy line is a missed call too; from a colleague it has a name.
    await simulator.push_event(
        "Cdr",
        cdr(
            direction="IN",
            src="101",
            dst="102",
            src_user=ANNA,
            dst_user=ERIK,
            disposition="BUSY",
            call_guid="g-m2",
        ),
    )
    await wait_for(hass, is_(hass, count, "2"))
    assert state(hass, last).attributes == {
        **shown.attributes,
        "caller": "101",
        "caller_name": "Anna Lindqvist",
    }
    # Only Erik missed them.
    assert state(hass, user_sensor(hass, ANNA, "missed_calls_today")).state == "0"
    assert state(hass, user_sensor(hass, ANNA, "last_missed_call")).state == (
        STATE_UNKNOWN
    )


async def test_missed_calls_restored(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """After a restart, today's count goes on; yesterday's is not today's."""
    today = dt_util.start_of_local_day()
    yesterday = today - timedelta(days=1)
    last_call = today + timedelta(hours=1)
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("sensor.erik_johansson_missed_today", "3"),
                {"native_value": 3, "native_unit_of_measurement": None},
            ),
            (
                State("sensor.lars_oberg_missed_today", "5"),
                {"native_value": 5, "native_unit_of_measurement": None},
            ),
            (
                State(
                    "sensor.erik_johansson_last_missed",
                    last_call.isoformat(),
                    {"caller": "0709998877", "caller_name": None},
                ),
                {
                    "native_value": {
                        "__type": "<class 'datetime.datetime'>",
                        "isoformat": last_call.isoformat(),
                    },
                    "native_unit_of_measurement": None,
                },
            ),
        ],
    )
    # The restored states' last reset: today for Erik, yesterday for Lars.
    cache = hass.data["restore_state"].last_states
    for entity_id, reset in (
        ("sensor.erik_johansson_missed_today", today),
        ("sensor.lars_oberg_missed_today", yesterday),
    ):
        stored = cache[entity_id]
        stored.state = State(
            entity_id, stored.state.state, {ATTR_LAST_RESET: reset.isoformat()}
        )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, mock_config_entry)

    erik = user_sensor(hass, ERIK, "missed_calls_today")
    assert state(hass, erik).state == "3"
    assert state(hass, erik).attributes[ATTR_LAST_RESET] == today.isoformat()
    lars = user_sensor(hass, LARS, "missed_calls_today")
    assert state(hass, lars).state == "0"
    assert state(hass, lars).attributes[ATTR_LAST_RESET] == today.isoformat()
    last = state(hass, user_sensor(hass, ERIK, "last_missed_call"))
    assert datetime.fromisoformat(last.state) == last_call
    assert last.attributes["caller"] == "0709998877"

    # And counting goes on from there.
    await simulator.push_event("Cdr", missed(ERIK))
    await wait_for(hass, is_(hass, erik, "4"))


@pytest.mark.usefixtures("short_stream_grace")
async def test_missed_calls_restored_when_last_shown_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Reloaded while the stream is down: today's count and the caller go on."""
    count = user_sensor(hass, ERIK, "missed_calls_today")
    last = user_sensor(hass, ERIK, "last_missed_call")
    await simulator.push_event("Cdr", missed(ERIK))
    await wait_for(hass, is_(hass, count, "1"))
    missed_at = state(hass, last).state
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, is_(hass, count, STATE_UNAVAILABLE))
    # Unloading stores what each entity shows (unavailable, no attributes)
    # with its extra data, as stopping Home Assistant does.
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    simulator.refuse_events = False
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await wait_in_sync(hass, init_integration)

    assert state(hass, count).state == "1"
    assert state(hass, count).attributes[ATTR_LAST_RESET] == (
        dt_util.start_of_local_day().isoformat()
    )
    assert state(hass, last).state == missed_at
    assert state(hass, last).attributes["caller"] == "+46701234567"  # OUTSIDE
    await simulator.push_event("Cdr", missed(ERIK, call_guid="g-m2"))
    await wait_for(hass, is_(hass, count, "2"))


# 10 s before local midnight (the tests' time zone is US/Pacific).
@pytest.mark.freeze_time("2026-11-20 23:59:40-08:00", tick=True)
async def test_missed_calls_reset_at_midnight(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At local midnight the count starts again at 0; the last missed call stays."""
    count = user_sensor(hass, ERIK, "missed_calls_today")
    last = user_sensor(hass, ERIK, "last_missed_call")
    await simulator.push_event("Cdr", missed(ERIK))
    await wait_for(hass, is_(hass, count, "1"))
    missed_at = state(hass, last).state
    assert state(hass, count).attributes[ATTR_LAST_RESET] == (
        "2026-11-20T00:00:00-08:00"
    )

    freezer.move_to("2026-11-20 23:59:59.8-08:00")
    await wait_for(hass, is_(hass, count, "0"))
    assert state(hass, count).attributes[ATTR_LAST_RESET] == (
        "2026-11-21T00:00:00-08:00"
    )
    assert state(hass, last).state == missed_at

    # The new day counts from 0.
    await simulator.push_event("Cdr", missed(ERIK, call_guid="g-m3"))
    await wait_for(hass, is_(hass, count, "1"))


# Chile's summer time starts at midnight: 6 September 2026 has no 00:00, its
# first instant is 01:00 (-03:00), right after 23:59:59 (-04:00).
@pytest.mark.freeze_time("2026-09-05 23:59:40-04:00", tick=True)
async def test_missed_calls_reset_when_the_day_has_no_midnight(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The count starts again when the day starts, even if 00:00 is skipped."""
    await hass.config.async_set_time_zone("America/Santiago")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)
    count = user_sensor(hass, ERIK, "missed_calls_today")
    await simulator.push_event("Cdr", missed(ERIK))
    await wait_for(hass, is_(hass, count, "1"))

    freezer.move_to("2026-09-05 23:59:59.8-04:00")
    await wait_for(hass, is_(hass, count, "0"))
    reset = datetime.fromisoformat(state(hass, count).attributes[ATTR_LAST_RESET])
    assert reset == datetime.fromisoformat("2026-09-06T01:00:00-03:00")


# --- Names on internal calls -------------------------------------------------------


async def test_names_on_internal_calls(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Either end of a call that is a PBX user of the company is named."""
    # Anna calls Erik: NGUC sends a record for each of them.
    await simulator.push_events(
        [
            (
                "Cdr",
                cdr(
                    direction="OUT",
                    src="101",
                    dst="102",
                    src_user=ANNA,
                    dst_user=ERIK,
                    call_guid="g-i1",
                ),
            ),
            (
                "Cdr",
                cdr(
                    direction="IN",
                    src="101",
                    dst="102",
                    src_user=ANNA,
                    dst_user=ERIK,
                    call_guid="g-i1",
                ),
            ),
            # Only the extension says who calls Lars.
            (
                "Cdr",
                cdr(
                    direction="IN",
                    src="103",
                    dst="104",
                    src_user=None,
                    dst_user=LARS,
                    call_guid="g-i2",
                ),
            ),
        ]
    )
    await wait_for(hass, lambda: state(hass, call_id(hass, LARS)).state != "unknown")
    anna = state(hass, call_id(hass, ANNA)).attributes
    assert (anna["event_type"], anna["caller_name"], anna["callee_name"]) == (
        "outgoing",
        "Anna Lindqvist",
        "Erik Johansson",
    )
    erik = state(hass, call_id(hass, ERIK)).attributes
    assert (erik["event_type"], erik["caller_name"], erik["callee_name"]) == (
        "answered",
        "Anna Lindqvist",
        "Erik Johansson",
    )
    lars = state(hass, call_id(hass, LARS)).attributes
    assert (lars["caller"], lars["caller_name"], lars["callee_name"]) == (
        "103",
        "Maja Karlsson",
        "Lars Öberg",
    )

    # A queue call from a colleague's extension, taken by Lars: both named,
    # the agent from the directory though NGUC left answered_by out.
    queue_call = entity(hass, queue_key(SUPPORT), "queue_call", Platform.EVENT)
    payload = simulator.company.queue_cdr(
        SUPPORT,
        call_guid="g-q1",
        callerid="102",
        disposition="ANSWERED",
        agent_id=LARS,
    )
    payload["answered_by"] = None
    await simulator.push_event("QueueCdr", payload)
    await wait_for(hass, lambda: state(hass, queue_call).state != "unknown")
    attributes = state(hass, queue_call).attributes
    assert (attributes["caller_name"], attributes["agent_name"]) == (
        "Erik Johansson",
        "Lars Öberg",
    )
    # A caller from outside has no name.
    payload = simulator.company.queue_cdr(
        SUPPORT, call_guid="g-q2", callerid=OUTSIDE, disposition="NOANSWERED"
    )
    await simulator.push_event("QueueCdr", payload)
    await wait_for(
        hass, lambda: state(hass, queue_call).attributes["call_id"] == "g-q2"
    )
    assert state(hass, queue_call).attributes["caller_name"] is None
    assert state(hass, queue_call).attributes["agent_name"] is None


# --- Writes --------------------------------------------------------------------------


async def test_repeated_queue_snapshot_writes_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """A snapshot with members and callers again writes nothing; a change, itself."""
    stream = init_integration.runtime_data.stream
    await simulator.add_caller(SUPPORT, "0701111111", wait=20)
    await simulator.update_queue(SUPPORT, **members(erik="call", maja="paused"))
    await wait_for(hass, is_(hass, queue_sensor(hass, SUPPORT, "agents_on_call"), "1"))
    state_writes.clear()

    received = stream.events
    await simulator.push_queue(simulator.company.queues[SUPPORT])
    await wait_for(hass, lambda: stream.events == received + 1)
    assert state_writes.total == 0, state_writes.counts

    # Erik's call ends: the agents on a call change, nothing of Erik's shows it.
    await simulator.update_queue(SUPPORT, **members(maja="paused"))
    await wait_for(hass, lambda: stream.events == received + 2)
    assert dict(state_writes.counts) == {"sensor.support_agents_on_call": 1}
