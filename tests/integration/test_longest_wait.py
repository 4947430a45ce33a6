"""A queue's *Longest wait* now: it grows with the clock while callers wait.

NGUC sends a queue snapshot only when a call or member changes, so a lone
caller's wait in the last snapshot goes stale. The sensor shows the
snapshot's longest wait plus the time since it arrived, written every
``LONGEST_WAIT_TICK`` while callers wait, never while nobody waits or the
entity is unavailable; the ``callers_waiting`` condition and Assist's queue
status give the same figure at the same moment. The clock is fake: the
freezer moves it, ``async_fire_time_changed`` runs the timers due.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
)
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import llm
from homeassistant.helpers.condition import (
    async_from_config,
    async_validate_condition_config,
)
from homeassistant.setup import async_setup_component
from homeassistant.util.async_ import get_scheduled_timer_handles
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.weblink_nguc.api import QueueCaller as Caller
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key
from custom_components.weblink_nguc.data import longest_wait_now
from custom_components.weblink_nguc.sensor import LONGEST_WAIT_TICK
from tests.simulator import QueueCaller, Simulator

from .conftest import StateWrites, entity_id_of, wait_for, wait_in_sync
from .test_data import queue

SUPPORT, SALES = "501", "502"
FIRST, SECOND = "0701111111", "0702222222"
# The wallboard's default colours: amber past 60 s, red past 180 s.
AMBER, RED = 60, 180
ASSISTANT = "conversation"

pytestmark = pytest.mark.freeze_time("2026-12-07 09:00:00+00:00", tick=True)


def longest_wait(hass: HomeAssistant, queue_id: str) -> str:
    """Return the entity id of a queue's Longest wait, found by its unique id."""
    entity_id = entity_id_of(
        hass, Platform.SENSOR, queue_key(queue_id), "current_longest_wait"
    )
    assert entity_id is not None
    return entity_id


def shown(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def ticking(hass: HomeAssistant) -> list[str]:
    """Return the entities with a timer pending: our sensors' next tick.

    Read from the event loop's timers, as ``async_call_later`` leaves them
    (the job's target is the entity's bound method).
    """
    found = []
    for handle in get_scheduled_timer_handles(hass.loop):
        if handle.cancelled():
            continue
        for arg in handle._args or ():
            entity = getattr(getattr(arg, "target", None), "__self__", None)
            if isinstance(entity_id := getattr(entity, "entity_id", None), str):
                found.append(entity_id)
    return found


def received(entry: MockConfigEntry, queue_id: str) -> datetime:
    """Return when the queue's snapshot held arrived."""
    return entry.runtime_data.queue_received[queue_id]


async def move_to(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime
) -> None:
    """Move the clock and run the timers due by then."""
    freezer.move_to(moment)
    async_fire_time_changed(hass, moment)
    await hass.async_block_till_done()


async def new_snapshot_of(
    hass: HomeAssistant, entry: MockConfigEntry, queue_id: str, push: Awaitable[object]
) -> datetime:
    """Push a snapshot (``await push``); return when it arrived."""
    before = entry.runtime_data.data.queues[queue_id]
    await push
    await wait_for(hass, lambda: entry.runtime_data.data.queues[queue_id] is not before)
    return received(entry, queue_id)


async def test_a_lone_callers_wait_grows_until_the_next_snapshot(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No new snapshot: the wait passes the amber and red thresholds on time.

    A new snapshot shows its own figure and times the wait from its arrival.
    """
    sensor = longest_wait(hass, SUPPORT)
    sent = await new_snapshot_of(
        hass,
        init_integration,
        SUPPORT,
        simulator.add_caller(SUPPORT, FIRST, wait=20),
    )
    assert shown(hass, sensor) == "20"

    seen = []
    for step in range(1, 35):
        await move_to(hass, freezer, sent + step * LONGEST_WAIT_TICK)
        seen.append(int(shown(hass, sensor)))
    # Every tick, by the clock: past amber after 45 s, past red after 165 s.
    assert seen == [20 + 5 * step for step in range(1, 35)]
    assert seen[8] == AMBER + 5
    assert seen[32] == RED + 5

    # A new snapshot (another caller came) is shown as it is...
    first = simulator.company.queues[SUPPORT].callers[0].call_guid
    resent = await new_snapshot_of(
        hass,
        init_integration,
        SUPPORT,
        simulator.update_queue(
            SUPPORT,
            waiting=2,
            callers=[
                QueueCaller(first, SUPPORT, FIRST, wait=200, position=1),
                QueueCaller("c-2", SUPPORT, SECOND, wait=3, position=2),
            ],
        ),
    )
    assert shown(hass, sensor) == "200"
    # ...and timed from its arrival, not from the old snapshot's ticks.
    writes = StateWrites(hass)
    await move_to(hass, freezer, resent + LONGEST_WAIT_TICK / 2)
    assert writes.counts[sensor] == 0
    await move_to(hass, freezer, resent + LONGEST_WAIT_TICK)
    assert shown(hass, sensor) == "205"
    assert writes.counts[sensor] == 1
    assert ticking(hass) == [sensor]

    # Unloaded, its timer goes with it.
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert ticking(hass) == []


async def test_no_writes_while_nobody_waits(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An empty queue's Longest wait is 0 and is not written again as time passes."""
    support, sales = longest_wait(hass, SUPPORT), longest_wait(hass, SALES)
    writes = StateWrites(hass)
    start = received(init_integration, SUPPORT)
    for step in range(1, 13):
        await move_to(hass, freezer, start + step * LONGEST_WAIT_TICK)
    assert shown(hass, support) == shown(hass, sales) == "0"
    assert writes.counts[support] == writes.counts[sales] == 0
    # No timer runs for them either.
    assert ticking(hass) == []

    # Nor once the last caller has gone.
    call = await simulator.add_caller(SUPPORT, FIRST, wait=10)
    sent = await new_snapshot_of(
        hass,
        init_integration,
        SUPPORT,
        simulator.remove_caller(SUPPORT, call),
    )
    assert shown(hass, support) == "0"
    writes.clear()
    for step in range(1, 13):
        await move_to(hass, freezer, sent + step * LONGEST_WAIT_TICK)
    assert writes.counts[support] == 0
    assert ticking(hass) == []
    # The other queue's caller does not make Support's sensor tick.
    sent = await new_snapshot_of(
        hass, init_integration, SALES, simulator.add_caller(SALES, SECOND, wait=0)
    )
    writes.clear()
    for step in range(1, 4):
        await move_to(hass, freezer, sent + step * LONGEST_WAIT_TICK)
    assert writes.counts[support] == 0
    assert writes.counts[sales] == 3
    assert shown(hass, sales) == "15"
    # One timer: the queue's with a caller, and for its Longest wait alone.
    assert ticking(hass) == [sales]


@pytest.mark.usefixtures("short_stream_grace")
async def test_unavailable_while_the_stream_is_down(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The stream lost: unavailable, not a wait that keeps counting; back, it counts again."""
    sensor = longest_wait(hass, SUPPORT)
    sent = await new_snapshot_of(
        hass,
        init_integration,
        SUPPORT,
        simulator.add_caller(SUPPORT, FIRST, wait=30),
    )
    await move_to(hass, freezer, sent + LONGEST_WAIT_TICK)
    assert shown(hass, sensor) == "35"

    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: shown(hass, sensor) == STATE_UNAVAILABLE)
    writes = StateWrites(hass)
    down = received(init_integration, SUPPORT)
    for step in range(2, 14):
        await move_to(hass, freezer, down + step * LONGEST_WAIT_TICK)
    assert shown(hass, sensor) == STATE_UNAVAILABLE
    assert writes.counts[sensor] == 0
    assert ticking(hass) == []

    simulator.clear_faults()
    await wait_in_sync(hass, init_integration)
    await wait_for(hass, lambda: shown(hass, sensor) != STATE_UNAVAILABLE)
    # The state read again is as of now, and counts on from there.
    back = received(init_integration, SUPPORT)
    value = int(shown(hass, sensor))
    await move_to(hass, freezer, back + LONGEST_WAIT_TICK)
    assert int(shown(hass, sensor)) == value + 5


def context() -> llm.LLMContext:
    """Return the context of an Assist conversation."""
    return llm.LLMContext(
        platform="test",
        context=Context(),
        language="en",
        assistant=ASSISTANT,
        device_id=None,
    )


async def assist_longest_wait(hass: HomeAssistant, queue: str) -> Any:
    """Return Assist's longest wait now of a queue, as its queue status tool says."""
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, context())
    (tool,) = (t for t in api.tools if t.name == f"{DOMAIN}__queue_status")
    result = await tool.async_call(
        hass,
        llm.ToolInput(tool_name=tool.name, tool_args={"queue": queue}),
        context(),
    )
    assert isinstance(result, llm.ToolResult)
    assert not result.error, result.data
    (status,) = result.data["queues"]
    return status["longest_wait_now_seconds"]


async def condition_holds(hass: HomeAssistant, device_id: str, wait_above: int) -> bool:
    """Check ``callers_waiting`` with ``wait_above`` once, as an automation does."""
    config = {
        "condition": f"{DOMAIN}.callers_waiting",
        "target": {"device_id": [device_id]},
        "options": {"wait_above": wait_above},
    }
    checker = await async_from_config(
        hass, await async_validate_condition_config(hass, config)
    )
    try:
        return bool(checker.async_check())
    finally:
        checker.async_unload()


async def test_condition_and_assist_tell_the_same_wait(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At one moment the sensor, the condition and Assist agree on the longest wait."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "llm", {})
    sensor = longest_wait(hass, SUPPORT)
    waiting = entity_id_of(hass, Platform.SENSOR, queue_key(SUPPORT), "waiting")
    assert waiting is not None
    async_expose_entity(hass, ASSISTANT, waiting, True)
    device_id = init_integration.runtime_data.devices.device_id(queue_key(SUPPORT))
    assert device_id is not None

    sent = await new_snapshot_of(
        hass,
        init_integration,
        SUPPORT,
        simulator.add_caller(SUPPORT, FIRST, wait=20),
    )
    for seconds in (0, 45, 165):
        await move_to(hass, freezer, sent + timedelta(seconds=seconds))
        wait = int(shown(hass, sensor))
        assert wait == 20 + seconds
        assert await assist_longest_wait(hass, "Support") == wait
        assert await condition_holds(hass, device_id, wait - 1)
        assert not await condition_holds(hass, device_id, wait)


def test_the_reckoning() -> None:
    """The snapshot's longest wait plus its age in whole seconds, halves up."""
    at = datetime.fromisoformat("2026-12-07 09:00:00+00:00")

    def waits(*seconds: int | None, waiting: int | None = None) -> Any:
        callers = tuple(Caller(f"c-{n}", None, s, n) for n, s in enumerate(seconds))
        return queue(
            callers=callers, waiting=len(callers) if waiting is None else waiting
        )

    assert longest_wait_now(waits(), at, at + timedelta(minutes=5)) == 0
    assert longest_wait_now(waits(20, 140), at, at) == 140
    assert longest_wait_now(waits(20, 140), None, at) == 140
    assert longest_wait_now(waits(20, 140), at, at + timedelta(seconds=60.5)) == 201
    assert longest_wait_now(waits(20, 140), at, at + timedelta(seconds=60.49)) == 200
    # A clock set back does not shorten the wait below the snapshot's.
    assert longest_wait_now(waits(20), at, at - timedelta(seconds=30)) == 20
    # The longest may be the wait NGUC did not give; callers counted, not listed.
    assert longest_wait_now(waits(20, None), at, at) is None
    assert longest_wait_now(waits(waiting=3), at, at) is None
