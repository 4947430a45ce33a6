"""The simulator's demo shows the call-centre features over the real event pusher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import copy
from datetime import UTC, datetime, timedelta
import heapq
import itertools
from typing import Any

import aiohttp
import pytest

from custom_components.weblink_nguc.api import NgucClient, NgucNotFoundError, Queue
from custom_components.weblink_nguc.sensor import waiting_since
from tests.simulator import Simulator, demo_company, run_demo
from tests.test_simulator import decode_a, events, receive_text, token

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def sim() -> AsyncGenerator[Simulator]:
    simulator = Simulator(demo_company())
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


class Seen:
    """What a subscriber of the event pusher saw of the demo."""

    def __init__(self) -> None:
        self.paused: dict[tuple[str, str], set[str]] = {}
        self.most_callers = 0
        self.missed = 0
        self.internal = 0
        self.picked: tuple[str, str] | None = None
        self.picked_ended = False
        self.started = asyncio.get_running_loop().time()
        # Calls said to have lasted, and callers to have waited, longer than
        # the demo has run.
        self.impossible: list[str] = []

    def add(self, name: str, payload: dict[str, Any]) -> None:
        ran = asyncio.get_running_loop().time() - self.started
        length = payload.get("billsec") if name == "Cdr" else payload.get("talk_time")
        if name in ("Cdr", "QueueCdr") and int(length or 0) > ran + 1:
            self.impossible.append(f"{name} of {length} s after {ran:.1f} s")
        if name == "Queue":
            queue_id = payload["queue"]["id"]
            for member in payload["members"]:
                key = (queue_id, member["pbx_user_id"])
                self.paused.setdefault(key, set()).add(member["paused"])
            callers = payload["callers"]
            self.most_callers = max(self.most_callers, len(callers))
            # A wait runs no faster than the clock.
            self.impossible.extend(
                f"a wait of {c['wait']} s after {ran:.1f} s"
                for c in callers
                if int(c["wait"]) > ran + 1
            )
        elif name == "Cdr":
            if payload["direction"] == "IN" and payload["disposition"] == "NO ANSWER":
                self.missed += 1
            if payload["src_pbx_user_id"] and payload["dst_pbx_user_id"]:
                self.internal += 1
        elif (
            name == "QueueCdr"
            and self.picked == (payload["ast_queue_id"], payload["call_guid"])
            and payload["reason"] == "COMPLETECALLER"
            and payload["pbx_user_id"] == "86480"
        ):
            self.picked_ended = True

    def complete(self) -> bool:
        return (
            any(states == {"0", "1"} for states in self.paused.values())
            and self.most_callers >= 2
            and self.missed > 0
            and self.internal >= 2
            and self.picked_ended
        )


async def test_demo_shows_the_call_centre(sim: Simulator) -> None:
    seen = Seen()
    async with aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company="demo",
            username="demo",
            password="demo",
            api_url=sim.api_url,
        )
        async with events(session, sim, await token(session, sim)) as ws:
            await sim.wait_for_connections(1)
            demo = asyncio.create_task(run_demo(sim, seed=1, interval=0.01))
            try:
                async with asyncio.timeout(30):
                    while not seen.complete():
                        for name, payload in decode_a(await receive_text(ws)):
                            seen.add(name, payload)
                            if seen.picked is None and name == "Queue":
                                await pick_up(client, payload, seen)
            finally:
                demo.cancel()
                await asyncio.gather(demo, return_exceptions=True)
    # Each call lasted no longer than the demo had run when it ended.
    assert seen.impossible == []
    # The one caller picked up over the API, then hung up by the demo.
    assert seen.picked is not None
    assert sim.pickups == [(*seen.picked, "86480")]


async def pick_up(client: NgucClient, payload: dict[str, Any], seen: Seen) -> None:
    """Pick up the first caller of a snapshot, as Home Assistant's action would."""
    if not payload["callers"]:
        return
    queue_id, guid = payload["queue"]["id"], payload["callers"][0]["call_guid"]
    try:
        await client.pickup_queue_caller(queue_id, guid)
    except NgucNotFoundError:
        return  # an agent of the demo answered first
    seen.picked = (queue_id, guid)


# --- Real time, on a clock of the test's own --------------------------------------


class FakeClock:
    """A clock that moves only when every task of the demo is asleep on it.

    ``sleep`` parks a task until the clock reaches its time; ``run_until``
    lets the tasks run, then moves the clock to the next wake-up, and so on.
    A demo of minutes runs in a moment, with no real sleep.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._order), future))
        await future

    async def run_until(self, end: float) -> None:
        while True:
            for _ in range(20):  # every task runs until it sleeps again
                await asyncio.sleep(0)
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled
            if not self._sleepers or self._sleepers[0][0] > end:
                self.now = end
                return
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)


class Recorder(Simulator):
    """The simulator's model, not served: what it pushes is kept, with the time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(demo_company())
        self.clock = clock
        self.started = clock.now
        self.snapshots: list[tuple[float, dict[str, Any]]] = []

    async def push_events(
        self, events: list[tuple[str, Any]], *, apply: bool = True
    ) -> None:
        for name, payload in events:
            if apply:
                self.company.apply_event(name, payload)
            if name == "Queue":
                self.snapshots.append((self.clock.now, copy.deepcopy(payload)))


async def run_fake_demo(seconds: float, seed: int = 1) -> Recorder:
    """Run the demo at its usual pace for ``seconds`` of the fake clock."""
    clock = FakeClock()
    sim = Recorder(clock)
    demo = asyncio.create_task(
        run_demo(sim, seed=seed, clock=clock.time, sleep=clock.sleep)
    )
    try:
        await clock.run_until(clock.now + seconds)
    finally:
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
    return sim


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_demo_waits_keep_real_time(seed: int) -> None:
    """A wait grows with the clock: *Waiting since* never moves for one caller.

    Each snapshot's waits are read as the integration reads them; the
    caller's start time (arrival less wait) stays within a second of when
    the caller joined, and the sensor keeps its first answer throughout.
    """
    sim = await run_fake_demo(600, seed)
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    joined: dict[str, float] = {}
    drift: list[str] = []
    since: dict[str, tuple[str | None, datetime] | None] = {}
    moved: list[str] = []
    for at, payload in sim.snapshots:
        queue = Queue.from_api(payload)
        for caller in queue.callers:
            first = joined.setdefault(caller.call_guid or "", at)
            began = at - (caller.wait or 0)
            if not first <= began < first + 1:
                drift.append(f"{caller.call_guid} began {began - first:+.1f} s")
        now = start + timedelta(seconds=at - sim.snapshots[0][0])
        before = since.get(queue.id)
        after = waiting_since(queue, now, before)
        if before and after and before[0] == after[0] and before != after:
            moved.append(f"{queue.name}: {before[1]} -> {after[1]}")
        since[queue.id] = after
    assert len(joined) >= 10  # the demo's queues were busy
    assert drift == []
    assert moved == []


async def test_demo_a_long_wait_in_support_within_two_minutes() -> None:
    """The README's alert (a minute in Support) has a caller within two minutes."""
    sim = await run_fake_demo(120)
    past_a_minute = [
        at - sim.started
        for at, payload in sim.snapshots
        if payload["queue"]["name"] == "Support"
        and any(int(caller["wait"]) > 60 for caller in payload["callers"])
    ]
    assert past_a_minute, "no caller waited past 60 s in Support"
    assert past_a_minute[0] <= 120


async def test_demo_long_waits_come_again() -> None:
    """After the first, another caller waits past a minute every two minutes."""
    sim = await run_fake_demo(600)
    long_waiters = {
        caller["call_guid"]
        for _, payload in sim.snapshots
        if payload["queue"]["name"] == "Support"
        for caller in payload["callers"]
        if int(caller["wait"]) > 60
    }
    assert len(long_waiters) >= 4
