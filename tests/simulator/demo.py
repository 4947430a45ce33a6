"""Demo loop: a busy office day of consistent calls, queue traffic and phone events on a Simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import copy
import logging
import random
from typing import TYPE_CHECKING

from .model import Queue, QueueMember

if TYPE_CHECKING:
    from .server import Simulator

_LOGGER = logging.getLogger(__name__)

# States of the UserStatus bit field used here.
IDLE, IN_USE, RINGING, IN_USE_RINGING = 0, 1, 8, 9


class _Demo:
    """Scenarios that keep users, phones and queues consistent with one another."""

    def __init__(self, sim: Simulator, rng: random.Random, interval: float) -> None:
        self.sim = sim
        self.company = sim.company
        self.rng = rng
        self.interval = interval
        self.busy_users: set[str] = set()
        self.busy_devices: set[str] = set()

    async def pause(self, low: float = 0.5, high: float = 1.5) -> None:
        await asyncio.sleep(self.interval * self.rng.uniform(low, high))

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

    async def change_queue(
        self, queue_id: str, change: Callable[[Queue], None]
    ) -> None:
        """Push a Queue snapshot after `change` (derived counts recomputed)."""
        queue = copy.deepcopy(self.company.queues[queue_id])
        change(queue)
        queue.recount(self.company.statuses)
        await self.sim.push_queue(queue)

    async def status(self, user_id: str, status: int) -> None:
        """Push UserStatus, then a Queue snapshot of each queue whose availability changed."""
        await self.sim.set_user_status(user_id, status)
        for queue in list(self.company.queues.values()):
            if any(m.pbx_user_id == user_id for m in queue.members):
                updated = copy.deepcopy(queue)
                updated.recount(self.company.statuses)
                if updated.member_available != queue.member_available:
                    await self.sim.push_queue(updated)

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
                await self.pause(1, 3)
                await self.status(user_id, IDLE)
                billsec = self.rng.randint(15, 420)
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
            await self.pause(1, 3)
            await self.status(user_id, IDLE)
            disposition = self.rng.choices(["ANSWER", "NO ANSWER", "BUSY"], [8, 1, 1])[
                0
            ]
            billsec = self.rng.randint(10, 600) if disposition == "ANSWER" else 0
            await self.sim.finish_call(
                user_id,
                direction="OUT",
                remote=self.number(),
                billsec=billsec,
                disposition=disposition,
            )
        finally:
            self.busy_users.discard(user_id)

    async def call_waiting(self) -> None:
        """A second call rings while the user talks (InUse&Ringing), and is missed."""
        user_id = self.take_user()
        if user_id is None:
            return
        try:
            await self.status(user_id, IN_USE)
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
                billsec=self.rng.randint(60, 400),
            )
        finally:
            self.busy_users.discard(user_id)

    async def queue_call(self) -> None:
        """A caller queues, agents are rung, then it is answered or abandoned."""
        queue_id = self.rng.choice(list(self.company.queues))
        callerid = self.number()
        guid = await self.sim.add_caller(queue_id, callerid)
        waited = 0
        for _attempt in range(2):
            await self.pause()
            waited += self.rng.randint(5, 40)
            members = [
                m.pbx_user_id
                for m in self.company.queues[queue_id].members
                if not m.paused
            ]
            agent = self.take_user(members)
            if agent is None:
                continue
            try:
                await self.status(agent, RINGING)
                await self.pause()
                if self.rng.random() < 0.3:
                    await self.status(agent, IDLE)
                    await self.queue_cdr(
                        queue_id,
                        guid,
                        callerid,
                        "NOANSWERED",
                        agent=agent,
                        waited=waited,
                    )
                    continue
                await self.answered(queue_id, guid, callerid, agent, waited)
                return
            finally:
                self.busy_users.discard(agent)
        await self.abandoned(queue_id, guid, callerid, waited)

    async def answered(
        self, queue_id: str, guid: str, callerid: str, agent: str, waited: int
    ) -> None:
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
        talk = self.rng.randint(30, 480)

        def hang_up(queue: Queue) -> None:
            member = _member(queue, agent)
            member.call_guid = None
            member.avg_call_length = round((member.avg_call_length * 9 + talk) / 10)
            queue.talktime += talk

        await self.status(agent, IDLE)
        await self.change_queue(queue_id, hang_up)
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

    async def abandoned(
        self, queue_id: str, guid: str, callerid: str, waited: int
    ) -> None:
        await self.sim.remove_caller(queue_id, guid, answered=False)
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

    async def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        """Run one scenario; a bug in it is logged, not fatal to the demo."""
        try:
            await scenario()
        except Exception:
            _LOGGER.exception("demo scenario %s failed", scenario.__name__)

    def pick(self) -> Callable[[], Awaitable[None]]:
        scenarios: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.incoming_call, 30),
            (self.outgoing_call, 20),
            (self.queue_call, 30),
            (self.call_waiting, 5),
            (self.phone_flap, 8),
            (self.unknown_event, 7),
        ]
        return self.rng.choices([s for s, _ in scenarios], [w for _, w in scenarios])[0]


def _member(queue: Queue, user_id: str) -> QueueMember:
    return next(m for m in queue.members if m.pbx_user_id == user_id)


async def run_demo(
    sim: Simulator,
    *,
    seed: int | None = None,
    interval: float = 3.0,
    max_parallel: int = 3,
) -> None:
    """Make something happen every `interval` seconds (about) until cancelled."""
    demo = _Demo(sim, random.Random(seed), interval)
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            if len(tasks) < max_parallel:
                task = asyncio.create_task(demo.run(demo.pick()), name="nguc-sim-demo")
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await demo.pause(0.5, 1.5)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
