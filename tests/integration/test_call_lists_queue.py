"""One call, one item: a queue's caller counted once, whatever agents it rang (issue 18).

NGUC sends a ``QueueCdr`` at each step of a queued call: each agent rung who
did not answer, who answered, the caller hanging up. The steps are one call
(by ``call_guid``; without one, by the number and close times), in
``get_calls`` and on the *Calls to return*, in whatever order they arrive.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import permutations
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.api import Cdr, QueueCdr
from custom_components.weblink_nguc.call_log import (
    SAME_CALL,
    CallLog,
    Directory,
    Step,
    step_of,
)
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from tests.simulator import Simulator

from .conftest import wait_for
from .test_calls_to_return import items_of, open_count

ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
SUPPORT = "501"
CALLER = "0701234567"
CALLER_E164 = "+46701234567"
MARKER = "0708888888"


def step(
    simulator: Simulator,
    disposition: str,
    agent: str | None = None,
    *,
    guid: str = "q.1",
    callerid: str = CALLER,
) -> dict[str, Any]:
    """Return one step of a queued call in Support."""
    return simulator.company.queue_cdr(
        SUPPORT,
        call_guid=guid,
        callerid=callerid,
        disposition=disposition,
        agent_id=agent,
        reason="RINGNOANSWER" if agent and disposition == "NOANSWERED" else "",
    )


async def push_and_settle(
    hass: HomeAssistant, simulator: Simulator, steps: list[dict[str, Any]]
) -> None:
    """Push the steps, then wait until a later marker call is taken in."""
    await simulator.push_events([("QueueCdr", payload) for payload in steps])
    marker = simulator.company.cdr(LARS, remote=MARKER, disposition="NO ANSWER")
    await simulator.push_event("Cdr", marker)
    await wait_for(hass, lambda: open_count(hass, user_key(LARS)) == 1)


async def get_calls(hass: HomeAssistant, **data: Any) -> list[dict[str, Any]]:
    answer = await hass.services.async_call(
        DOMAIN, "get_calls", data, blocking=True, return_response=True
    )
    assert answer is not None
    calls = answer["calls"]
    assert isinstance(calls, list)
    return calls


ANSWERED_IN_THE_END = [("NOANSWERED", ERIK), ("NOANSWERED", MAJA), ("ANSWERED", ANNA)]
HUNG_UP = [("NOANSWERED", ERIK), ("NOANSWERED", MAJA), ("NOANSWERED", None)]


@pytest.mark.parametrize("order", list(permutations(range(3))))
async def test_caller_answered_in_the_end_leaves_no_item(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    order: tuple[int, ...],
) -> None:
    """Case 4: rang Erik and Maja, then Anna answered: no item, in any order."""
    steps = [step(simulator, *ANSWERED_IN_THE_END[i]) for i in order]
    await push_and_settle(hass, simulator, steps)
    assert await items_of(hass, queue_key(SUPPORT)) == []
    # Nor on the lists of the agents rung.
    assert open_count(hass, user_key(ERIK)) == 0
    assert open_count(hass, user_key(MAJA)) == 0


@pytest.mark.parametrize("order", list(permutations(range(3))))
async def test_caller_who_hung_up_is_one_missed_call(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    order: tuple[int, ...],
) -> None:
    """Case 4: rang Erik and Maja, then hung up: one missed call, not "3 x"."""
    steps = [step(simulator, *HUNG_UP[i]) for i in order]
    await push_and_settle(hass, simulator, steps)
    [item] = await items_of(hass, queue_key(SUPPORT))
    assert item["summary"] == CALLER_E164
    assert item["status"] == "needs_action"
    assert " x " not in item["description"]  # called once
    assert open_count(hass, user_key(ERIK)) == 0


async def test_agent_rung_alone_is_no_missed_call_yet(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An agent who did not answer: the caller still waits, nothing to return."""
    await push_and_settle(hass, simulator, [step(simulator, "NOANSWERED", ERIK)])
    assert await items_of(hass, queue_key(SUPPORT)) == []


async def test_two_calls_are_two(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Two calls of one caller, each ringing agents: "2 x", one item."""
    steps = [
        step(simulator, disposition, agent, guid=guid)
        for guid in ("q.1", "q.2")
        for disposition, agent in HUNG_UP
    ]
    await push_and_settle(hass, simulator, steps)
    [item] = await items_of(hass, queue_key(SUPPORT))
    assert item["description"].startswith("2 x ")


async def test_get_calls_answers_a_queue_call_once_with_its_steps(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Also seen: each queue step was a call of its own in get_calls."""
    answered = [step(simulator, *s, guid="q.7") for s in ANSWERED_IN_THE_END]
    hung_up = [step(simulator, *s, guid="q.8") for s in HUNG_UP]
    # The answering agent's own leg of the call, with the same call_guid.
    leg = simulator.company.cdr(ANNA, remote=CALLER, billsec=42, call_guid="q.7")
    await simulator.push_events(
        [("QueueCdr", payload) for payload in answered + hung_up] + [("Cdr", leg)]
    )

    async def queue_calls() -> list[dict[str, Any]]:
        return [c for c in await get_calls(hass) if c["call_guid"] in ("q.7", "q.8")]

    for _ in range(500):
        calls = await queue_calls()
        if len(calls) == 2 and len(calls[0]["steps"]) == 4:
            break
        await wait_for(hass, lambda: True)
    else:  # pragma: no cover - reported by the asserts below
        calls = await queue_calls()
    assert [c["call_guid"] for c in calls] == ["q.7", "q.8"]
    answered_call, hung_up_call = calls
    assert answered_call["type"] == "queue_answered"
    assert answered_call["user"] == "Anna Lindqvist"  # who answered
    assert answered_call["queue"] == "Support"
    assert answered_call["number"] == CALLER_E164
    assert answered_call["duration"] == 42
    assert [(s["type"], s["user"]) for s in answered_call["steps"]] == [
        ("queue_not_answered", "Erik Johansson"),
        ("queue_not_answered", "Maja Karlsson"),
        ("queue_answered", "Anna Lindqvist"),
        ("answered", "Anna Lindqvist"),
    ]
    assert hung_up_call["type"] == "queue_not_answered"
    assert "user" not in hung_up_call
    assert [s["user"] for s in hung_up_call["steps"]] == [
        "Erik Johansson",
        "Maja Karlsson",
        None,
    ]
    # The README's "Last missed calls" asks for these types: the caller once.
    missed = await get_calls(hass, type=["missed", "queue_not_answered"])
    assert [c["call_guid"] for c in missed] == ["q.8"]
    # The agents rung find the call on their device's history.
    entry = init_integration
    coordinator = entry.runtime_data
    maja = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, coordinator.identifier(user_key(MAJA))), entry.entry_id
    )
    assert maja is not None
    assert [c["call_guid"] for c in await get_calls(hass, device_id=maja.id)] == [
        "q.7",
        "q.8",
    ]


def queue_cdr(callerid: str, disposition: str, agent: str | None) -> QueueCdr:
    return QueueCdr(
        id=None,
        call_guid=None,
        queue_id=SUPPORT,
        calldate=None,
        callerid=callerid,
        disposition=disposition,
        answered_by=None,
        user_id=agent,
        wait_time=None,
        talk_time=None,
    )


async def test_steps_without_call_guid_by_number_and_close_times(
    hass: HomeAssistant,
) -> None:
    """Without call_guid: the same caller in the same queue, close in time, is one call."""
    log = CallLog(hass, "entry")
    directory = Directory({}, {}, "SE")
    start = dt_util.utcnow()

    def add(
        callerid: str, disposition: str, agent: str | None, later: timedelta
    ) -> str:
        record = queue_cdr(callerid, disposition, agent)
        step = step_of(record, directory, start + later)
        assert step is not None
        call = log.add(record, step)
        assert call is not None
        return call.id

    first = add(CALLER, "NOANSWERED", ERIK, timedelta(0))
    # Another spelling of the number, a minute later: the same call.
    assert add("+46 70 123 45 67", "NOANSWERED", None, timedelta(minutes=1)) == first
    # Another caller meanwhile: another call.
    assert add(MARKER, "NOANSWERED", None, timedelta(minutes=1)) != first
    # The same caller long after: a new call.
    later = SAME_CALL + timedelta(minutes=2)
    assert add(CALLER, "NOANSWERED", None, later) != first
    assert len(log) == 3


@pytest.mark.parametrize(
    ("agent", "reason", "left"),
    [
        (ERIK, None, False),  # an agent rung, no reason given
        (None, None, True),  # no agent: the caller left
        (ERIK, "RINGNOANSWER", False),
        (None, "RINGNOANSWER", False),
        (ERIK, "ABANDON", True),  # the caller hung up while the agent rang
        (None, "EXITWITHTIMEOUT", True),
    ],
)
def test_a_step_that_ends_the_wait(
    agent: str | None, reason: str | None, left: bool
) -> None:
    """NGUC's reason, when a record has one, tells a ring from the caller leaving."""
    step = Step(
        time=dt_util.utcnow(),
        type="queue_not_answered",
        user_id=agent,
        user=None,
        queue_id=SUPPORT,
        queue="Support",
        number=CALLER_E164,
        name=None,
        colleague=False,
        duration=None,
        recorded=False,
        call_guid="q.1",
        reason=reason,
    )
    assert step.left_queue is left


@pytest.mark.parametrize("answered_first", [True, False])
async def test_legs_of_one_call_read_alike_in_any_order(
    hass: HomeAssistant, answered_first: bool
) -> None:
    """Anna missed it and Erik answered (one call_guid): answered, by Erik, once."""
    log = CallLog(hass, "entry")
    directory = Directory({}, {}, "SE")

    def leg(user: str, disposition: str) -> Cdr:
        return Cdr(
            id=f"{user}-leg",
            call_guid="g.1",
            calldate=None,
            direction="IN",
            src=CALLER,
            dst="101",
            src_user_id=None,
            dst_user_id=user,
            billsec=5,
            disposition=disposition,
            recording_id=None,
        )

    legs = [leg(ERIK, "ANSWER"), leg(ANNA, "NO ANSWER")]
    call = None
    for record in legs if answered_first else legs[::-1]:
        step = step_of(record, directory, dt_util.utcnow())
        assert step is not None
        call = log.add(record, step) or call
    assert call is not None
    assert len(log) == 1
    assert (call.type, call.user_id, call.number) == ("answered", ERIK, CALLER_E164)
    assert call.users() == {ANNA, ERIK}
