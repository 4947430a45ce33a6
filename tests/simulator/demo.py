"""Demo loop: a busy office day of consistent calls, queue traffic and phone events on a Simulator.

It shows what a call centre sees: callers queue up and wait, agents take
breaks (paused in their queues) and come back, calls are missed, colleagues
call each other, and a caller picked up over the API (Home Assistant's
``pickup_queue_caller``) is talked to and hung up like any other.

It keeps real time: a caller's wait is the time on the clock since they
joined (so when they started waiting never moves), and a call lasts what it
took. So that the README's ``caller_waiting`` example (a minute in Support)
shows without waiting for a rare slow day, a caller waits past a minute in
Support soon after the start and every two minutes after that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import copy
import logging
import math
import random
from typing import TYPE_CHECKING, Any

from .model import Queue, QueueCaller, QueueMember

if TYPE_CHECKING:
    from .server import Simulator

_LOGGER = logging.getLogger(__name__)

# States of the UserStatus bit field used here.
IDLE, IN_USE, RINGING, IN_USE_RINGING = 0, 1, 8, 9

# The caller who waits long, in seconds of the clock: the README's example
# alerts on a minute in Support, so within two minutes of the start, and
# again every two minutes (an automation turned on later fires soon too).
LONG_WAIT_QUEUE = "Support"
LONG_WAIT_FIRST = 15.0
LONG_WAIT = 75.0
LONG_WAIT_EVERY = 120.0

type Clock = Callable[[], float]
type Sleep = Callable[[float], Awaitable[None]]


class _Demo:
    """Scenarios that keep users, phones and queues consistent with one another."""

    def __init__(
        self,
        sim: Simulator,
        rng: random.Random,
        interval: float,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.sim = sim
        self.company = sim.company
        self.rng = rng
        self.interval = interval
        # The event loop's by default; tests give a clock of their own.
        self.clock: Clock = clock or asyncio.get_running_loop().time
        self.sleep: Sleep = sleep or asyncio.sleep
        self.busy_users: set[str] = set()
        self.busy_devices: set[str] = set()
        self.on_break: set[str] = set()
        # Callers this demo put in a queue: when they joined, and their number.
        self.joined: dict[str, float] = {}
        self.callerids: dict[str, str] = {}
        self.pickups_seen = 0

    async def pause(self, low: float = 0.5, high: float = 1.5) -> None:
        await self.sleep(self.interval * self.rng.uniform(low, high))

    def now(self) -> float:
        return self.clock()

    def seconds_since(self, start: float) -> int:
        """Whole seconds of the clock since ``start``: a call lasts what it took.

        Home Assistant shows a call's length beside the time it ended, and it
        must fit the clock.
        """
        return round(self.now() - start)

    def number(self) -> str:
        return f"07{self.rng.choice('0236')}{self.rng.randint(1_000_000, 9_999_999)}"

    def take_user(self, candidates: list[str] | None = None) -> str | None:
        """Reserve an idle user (not busy in another scenario)."""
        pool = candidates if candidates is not None else list(self.company.users)
        idle = [
            user_id
            for user_id in pool
            if user_id not in self.busy_users
            and self.company.statuses.get(user_id, 0) == IDLE
        ]
        if not idle:
            return None
        user_id = self.rng.choice(idle)
        self.busy_users.add(user_id)
        return user_id

    # --- queues ---------------------------------------------------------------------------

    def wait_of(self, guid: str) -> int:
        """Whole seconds of the clock that a caller of ours has waited.

        Rounded down, as NGUC counts: the snapshot's time less the wait is
        never before the caller joined, so *Waiting since* stays put.
        """
        joined = self.joined.get(guid)
        if joined is None:
            return 0
        return max(0, math.floor(self.now() - joined))

    def still_waiting(self, queue_id: str, guid: str) -> bool:
        """False once the caller left the queue, e.g. picked up over the API."""
        queue = self.company.queues.get(queue_id)
        return queue is not None and any(c.call_guid == guid for c in queue.callers)

    async def change_queue(
        self, queue_id: str, change: Callable[[Queue], None] | None = None
    ) -> None:
        """Push a Queue snapshot after `change`: waits now, derived counts recomputed."""
        queue = copy.deepcopy(self.company.queues[queue_id])
        if change is not None:
            change(queue)
        for caller in queue.callers:
            if caller.call_guid in self.joined:
                caller.wait = self.wait_of(caller.call_guid)
        queue.recount(self.company.statuses)
        await self.sim.push_queue(queue)

    async def join_queue(self, queue_id: str, callerid: str) -> str:
        """A caller joins the end of a queue; return its call guid."""
        guid = self.company.new_call_guid()
        self.joined[guid] = self.now()
        self.callerids[guid] = callerid
        await self.change_queue(
            queue_id,
            lambda queue: queue.callers.append(QueueCaller(guid, queue_id, callerid)),
        )
        return guid

    def forget(self, guid: str) -> None:
        self.joined.pop(guid, None)
        self.callerids.pop(guid, None)

    async def status(self, user_id: str, status: int) -> None:
        """Push UserStatus, then a Queue snapshot of each queue whose availability changed."""
        await self.sim.set_user_status(user_id, status)
        for queue in list(self.company.queues.values()):
            if any(m.pbx_user_id == user_id for m in queue.members):
                updated = copy.deepcopy(queue)
                updated.recount(self.company.statuses)
                if updated.member_available != queue.member_available:
                    await self.change_queue(queue.id)

    # --- scenarios ------------------------------------------------------------------------

    async def incoming_call(self) -> None:
        user_id = self.take_user()
        if user_id is None:
            return
        try:
            guid, remote = self.company.new_call_guid(), self.number()
            await self.status(user_id, RINGING)
            await self.pause()
            if self.rng.random() < 0.7:
                await self.status(user_id, IN_USE)
                answered = self.now()
                await self.pause(1, 3)
                await self.status(user_id, IDLE)
                billsec = self.seconds_since(answered)
                await self.sim.finish_call(
                    user_id, remote=remote, billsec=billsec, call_guid=guid
                )
            else:
                await self.status(user_id, IDLE)
                await self.sim.finish_call(
                    user_id, remote=remote, disposition="NO ANSWER", call_guid=guid
                )
        finally:
            self.busy_users.discard(user_id)

    async def outgoing_call(self) -> None:
        user_id = self.take_user()
        if user_id is None:
            return
        try:
            await self.status(user_id, IN_USE)
            dialled = self.now()
            await self.pause(1, 3)
            await self.status(user_id, IDLE)
            disposition = self.rng.choices(["ANSWER", "NO ANSWER", "BUSY"], [8, 1, 1])[
                0
            ]
            billsec = self.seconds_since(dialled) if disposition == "ANSWER" else 0
            await self.sim.finish_call(
                user_id,
                direction="OUT",
                remote=self.number(),
                billsec=billsec,
                disposition=disposition,
            )
        finally:
            self.busy_users.discard(user_id)

    async def internal_call(self) -> None:
        """One colleague calls another: both ends are PBX users in the Cdr."""
        caller = self.take_user()
        if caller is None:
            return
        callee = self.take_user()
        try:
            if callee is None:
                return
            guid = self.company.new_call_guid()
            await self.status(caller, IN_USE)
            await self.status(callee, RINGING)
            await self.pause()
            answered = self.rng.random() < 0.75
            billsec = 0
            if answered:
                await self.status(callee, IN_USE)
                talking = self.now()
                await self.pause(1, 3)
                billsec = self.seconds_since(talking)
            await self.status(callee, IDLE)
            await self.status(caller, IDLE)
            disposition = "ANSWER" if answered else "NO ANSWER"
            await self.sim.push_events(
                self.internal_cdrs(caller, callee, guid, billsec, disposition)
            )
        finally:
            self.busy_users.discard(caller)
            if callee is not None:
                self.busy_users.discard(callee)

    def internal_cdrs(
        self, caller: str, callee: str, guid: str, billsec: int, disposition: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """The Cdr events of an internal call: the caller's (OUT) and the callee's (IN)."""
        events: list[tuple[str, dict[str, Any]]] = []
        for own, other, direction in ((caller, callee, "OUT"), (callee, caller, "IN")):
            payload = self.company.cdr(
                own,
                direction=direction,
                remote=self.company.users[other].extension,
                billsec=billsec,
                disposition=disposition,
                call_guid=guid,
            )
            payload["src_pbx_user_id"] = caller
            payload["dst_pbx_user_id"] = callee
            events.append(("Cdr", payload))
        return events

    async def call_waiting(self) -> None:
        """A second call rings while the user talks (InUse&Ringing), and is missed."""
        user_id = self.take_user()
        if user_id is None:
            return
        try:
            await self.status(user_id, IN_USE)
            talking = self.now()
            await self.pause()
            await self.status(user_id, IN_USE_RINGING)
            await self.pause()
            await self.status(user_id, IN_USE)
            await self.sim.finish_call(
                user_id, remote=self.number(), disposition="NO ANSWER"
            )
            await self.pause()
            await self.status(user_id, IDLE)
            await self.sim.finish_call(
                user_id,
                direction="OUT",
                remote=self.number(),
                billsec=self.seconds_since(talking),
            )
        finally:
            self.busy_users.discard(user_id)

    async def agent_break(self) -> None:
        """An agent pauses in every queue (a break), then comes back."""
        members = {
            m.pbx_user_id
            for queue in self.company.queues.values()
            for m in queue.members
            if not m.paused
        }
        candidates = sorted(members - self.on_break)
        if not candidates:
            return
        user_id = self.rng.choice(candidates)
        self.on_break.add(user_id)
        try:
            await self.set_paused(user_id, True)
            await self.pause(3, 6)
        finally:
            await self.set_paused(user_id, False)
            self.on_break.discard(user_id)

    async def set_paused(self, user_id: str, paused: bool) -> None:
        def change(queue: Queue) -> None:
            _member(queue, user_id).paused = paused

        for queue in list(self.company.queues.values()):
            if any(m.pbx_user_id == user_id for m in queue.members):
                await self.change_queue(queue.id, change)

    async def queue_rush(self) -> None:
        """Several callers queue up at once; they wait while the agents are busy."""
        queue_id = self.rng.choice(list(self.company.queues))
        async with asyncio.TaskGroup() as group:
            for _ in range(self.rng.randint(2, 4)):
                group.create_task(self.queue_call(queue_id))
                await self.pause(0.2, 0.6)

    async def queue_call(self, queue_id: str | None = None) -> None:
        """A caller queues, agents are rung, then it is answered or abandoned."""
        if queue_id is None:
            queue_id = self.rng.choice(list(self.company.queues))
        callerid = self.number()
        guid = await self.join_queue(queue_id, callerid)
        picked_up = False
        try:
            for _attempt in range(3):
                await self.pause()
                if not self.still_waiting(queue_id, guid):
                    picked_up = True  # over the API: `picked_up` goes on
                    return
                await self.change_queue(queue_id)  # the waits grew
                members = [
                    m.pbx_user_id
                    for m in self.company.queues[queue_id].members
                    if not m.paused and m.call_guid is None
                ]
                agent = self.take_user(members)
                if agent is None:
                    continue
                try:
                    if await self.ring_agent(queue_id, guid, callerid, agent):
                        return
                finally:
                    self.busy_users.discard(agent)
            if self.still_waiting(queue_id, guid):
                await self.abandoned(queue_id, guid, callerid)
        finally:
            if not picked_up:
                self.forget(guid)

    async def long_waits(self) -> None:
        """A caller waits past a minute in Support, soon and every two minutes."""
        await self.sleep(LONG_WAIT_FIRST)
        while True:
            started = self.now()
            await self.run("long_wait", self.long_wait())
            await self.sleep(max(0.0, LONG_WAIT_EVERY - (self.now() - started)))

    async def long_wait(self) -> None:
        """One caller waits LONG_WAIT in Support, then is answered or hangs up.

        The agents take the callers who came after (the caller asked for
        someone busy); the waits grow in each snapshot on the way.
        """
        queue_id = next(
            (q.id for q in self.company.queues.values() if q.name == LONG_WAIT_QUEUE),
            None,
        )
        if queue_id is None:
            return
        callerid = self.number()
        guid = await self.join_queue(queue_id, callerid)
        picked_up = False
        try:
            while self.now() - self.joined[guid] < LONG_WAIT:
                left = LONG_WAIT - (self.now() - self.joined[guid])
                await self.sleep(min(left, max(self.interval * 3, 1.0)))
                if not self.still_waiting(queue_id, guid):
                    picked_up = True  # over the API: `picked_up` goes on
                    return
                await self.change_queue(queue_id)  # the waits grew
            members = [
                m.pbx_user_id
                for m in self.company.queues[queue_id].members
                if not m.paused and m.call_guid is None
            ]
            agent = self.take_user(members)
            if agent is None:
                await self.abandoned(queue_id, guid, callerid)
                return
            try:
                await self.status(agent, RINGING)
                await self.pause()
                if self.still_waiting(queue_id, guid):
                    await self.answered(queue_id, guid, callerid, agent)
                else:
                    await self.status(agent, IDLE)
            finally:
                self.busy_users.discard(agent)
        finally:
            if not picked_up:
                self.forget(guid)

    async def ring_agent(
        self, queue_id: str, guid: str, callerid: str, agent: str
    ) -> bool:
        """Ring an agent for a caller; True when the call ended there."""
        await self.status(agent, RINGING)
        await self.pause()
        if not self.still_waiting(queue_id, guid):
            await self.status(agent, IDLE)
            return True
        if self.rng.random() < 0.3:
            await self.status(agent, IDLE)
            await self.queue_cdr(
                queue_id,
                guid,
                callerid,
                "NOANSWERED",
                agent=agent,
                waited=self.wait_of(guid),
            )
            return False
        await self.answered(queue_id, guid, callerid, agent)
        return True

    async def answered(
        self, queue_id: str, guid: str, callerid: str, agent: str
    ) -> None:
        waited = self.wait_of(guid)

        def answer(queue: Queue) -> None:
            queue.callers = [c for c in queue.callers if c.call_guid != guid]
            _member(queue, agent).call_guid = guid
            queue.completed += 1
            queue.total += 1
            queue.holdtime += waited
            queue.wait_longest = max(queue.wait_longest, waited)
            queue.wait_avg = round(queue.holdtime / max(queue.completed, 1))
            within = 100 if waited <= queue.service_level_time else 0
            queue.service_level = round(
                (queue.service_level * (queue.total - 1) + within) / queue.total
            )

        await self.status(agent, IN_USE)
        talking = self.now()
        await self.change_queue(queue_id, answer)
        await self.queue_cdr(
            queue_id,
            guid,
            callerid,
            "ANSWERED",
            agent=agent,
            waited=waited,
            reason="CONNECT",
        )
        await self.pause(1, 3)
        await self.hang_up(queue_id, guid, callerid, agent, waited, talking=talking)

    async def hang_up(
        self,
        queue_id: str,
        guid: str,
        callerid: str,
        agent: str,
        waited: int,
        *,
        talking: float,
    ) -> None:
        """An agent ends a queue call (talking since ``talking``): idle, in the records."""
        talk = self.seconds_since(talking)

        def end(queue: Queue) -> None:
            for member in queue.members:
                if member.call_guid == guid:
                    member.call_guid = None
                    member.avg_call_length = round(
                        (member.avg_call_length * 9 + talk) / 10
                    )
            queue.talktime += talk

        await self.status(agent, IDLE)
        await self.change_queue(queue_id, end)
        await self.queue_cdr(
            queue_id,
            guid,
            callerid,
            "ANSWERED",
            agent=agent,
            waited=waited,
            talk=talk,
            reason="COMPLETECALLER",
        )
        await self.sim.finish_call(agent, remote=callerid, billsec=talk, call_guid=guid)

    async def picked_up(self, queue_id: str, guid: str, user_id: str) -> None:
        """A caller picked up over the API: the user talks, then hangs up."""
        callerid = self.callerids.get(guid) or self.number()
        waited = self.wait_of(guid)
        talking = self.now()
        self.busy_users.add(user_id)
        try:
            await self.pause(1, 3)
            if queue_id in self.company.queues:
                await self.hang_up(
                    queue_id, guid, callerid, user_id, waited, talking=talking
                )
        finally:
            self.busy_users.discard(user_id)
            self.forget(guid)

    async def abandoned(self, queue_id: str, guid: str, callerid: str) -> None:
        waited = self.wait_of(guid)

        def hang_up(queue: Queue) -> None:
            queue.callers = [c for c in queue.callers if c.call_guid != guid]
            queue.abandoned += 1
            queue.total += 1
            queue.wait_longest = max(queue.wait_longest, waited)

        await self.change_queue(queue_id, hang_up)
        await self.queue_cdr(
            queue_id,
            guid,
            callerid,
            "NOANSWERED",
            agent=None,
            waited=waited,
            reason="ABANDON",
        )

    async def queue_cdr(
        self,
        queue_id: str,
        guid: str,
        callerid: str,
        disposition: str,
        *,
        agent: str | None,
        waited: int,
        talk: int = 0,
        reason: str = "RINGNOANSWER",
    ) -> None:
        payload = self.company.queue_cdr(
            queue_id,
            call_guid=guid,
            callerid=callerid,
            disposition=disposition,
            agent_id=agent,
            wait_time=waited,
            talk_time=talk,
            reason=reason,
        )
        await self.sim.push_event("QueueCdr", payload)

    async def phone_flap(self) -> None:
        """A registered phone drops off the network and comes back."""
        registered = [
            d.id
            for d in self.company.devices.values()
            if d.status == 1 and d.id not in self.busy_devices
        ]
        if not registered:
            return
        device_id = self.rng.choice(registered)
        self.busy_devices.add(device_id)
        try:
            await self.sim.set_device_registered(device_id, False)
            await self.pause(2, 5)
            await self.sim.set_device_registered(device_id, True)
        finally:
            self.busy_devices.discard(device_id)

    async def unknown_event(self) -> None:
        """An undocumented event: clients must pass it on."""
        payload = {
            "id": "31",
            "name": "Kontorstid",
            "state": self.rng.choice(["open", "closed", "lunch"]),
            "changed_by": None,
        }
        await self.sim.push_event("CallFlow", payload)

    async def run(self, name: str, scenario: Awaitable[None]) -> None:
        """Run one scenario; a bug in it is logged, not fatal to the demo."""
        try:
            await scenario
        except Exception:
            _LOGGER.exception("demo scenario %s failed", name)

    def pick(self) -> Callable[[], Awaitable[None]]:
        scenarios: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.incoming_call, 25),
            (self.outgoing_call, 15),
            (self.internal_call, 10),
            (self.queue_call, 25),
            (self.queue_rush, 6),
            (self.agent_break, 6),
            (self.call_waiting, 5),
            (self.phone_flap, 5),
            (self.unknown_event, 3),
        ]
        return self.rng.choices([s for s, _ in scenarios], [w for _, w in scenarios])[0]

    def new_pickups(self) -> list[tuple[str, str, str]]:
        """The callers picked up over the API since the last look."""
        pickups = self.sim.pickups[self.pickups_seen :]
        self.pickups_seen += len(pickups)
        return pickups


def _member(queue: Queue, user_id: str) -> QueueMember:
    return next(m for m in queue.members if m.pbx_user_id == user_id)


async def run_demo(
    sim: Simulator,
    *,
    seed: int | None = None,
    interval: float = 3.0,
    max_parallel: int = 3,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
) -> None:
    """Make something happen every `interval` seconds (about) until cancelled.

    ``clock`` and ``sleep`` are the event loop's unless given (a test's).
    """
    demo = _Demo(sim, random.Random(seed), interval, clock, sleep)
    tasks: set[asyncio.Task[None]] = set()  # everything, to cancel at the end
    scenarios: set[asyncio.Task[None]] = set()  # the random ones, at most max_parallel

    def start(name: str, scenario: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.create_task(demo.run(name, scenario), name="nguc-sim-demo")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    start("long_waits", demo.long_waits())
    try:
        while True:
            if len(scenarios) < max_parallel:
                scenario = demo.pick()
                task = start(scenario.__name__, scenario())
                scenarios.add(task)
                task.add_done_callback(scenarios.discard)
            # Picked up over the API: always followed, outside the limit.
            for queue_id, guid, user_id in demo.new_pickups():
                start("picked_up", demo.picked_up(queue_id, guid, user_id))
            await demo.pause(0.5, 1.5)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
