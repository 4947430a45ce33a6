"""Companies of any size for the benchmark: users with one phone each, queues of agents."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .model import Account, Company, Device, Queue, QueueMember, User
from .server import Simulator, event_frame

SCALE_USERNAME = "bench"
SCALE_PASSWORD = "bench"
SCALE_COMPANY_ID = "4800"
_FIRST_USER = 100_000
_FIRST_PHONE = 200_000
_FIRST_QUEUE = 600


def scale_company(users: int, queues: int, agents_per_queue: int = 10) -> Company:
    """Return a company of ``users`` idle users (one registered phone each) and ``queues`` queues.

    Each queue has ``agents_per_queue`` agents (at most every user), taken
    round-robin so that agents spread evenly over the users. The account
    ``bench``/``bench`` (no 2FA) is the first user.
    """
    if users < 1:
        raise ValueError("a company needs at least one user")
    company = Company(id=SCALE_COMPANY_ID, name=f"scale{users}")
    user_ids: list[str] = []
    for n in range(users):
        user_id = str(_FIRST_USER + n)
        user_ids.append(user_id)
        company.add_user(
            User(user_id, f"User {n + 1}", str(1000 + n), f"user{n + 1}@scale.example")
        )
        company.add_device(
            Device(str(_FIRST_PHONE + n), user_id, f"Phone {n + 1}", "Yealink T54W")
        )
    agents = min(agents_per_queue, users)
    for q in range(queues):
        members = [
            QueueMember(
                user_ids[(q * agents + k) % users],
                f"User {(q * agents + k) % users + 1}",
            )
            for k in range(agents)
        ]
        company.add_queue(
            Queue(
                id=str(_FIRST_QUEUE + q),
                name=f"Queue {q + 1}",
                wait_longest=60 + q,
                wait_avg=20,
                service_level=95,
                completed=10 + q,
                abandoned=1,
                total=11 + q,
                talktime=1800,
                holdtime=300,
                members=members,
            )
        )
    company.add_account(Account(SCALE_USERNAME, SCALE_PASSWORD, user_ids[0]))
    return company


# About one queue of ten agents for every sixty users: a company of 3,000
# has 50, as a large call centre might. With the default entities (three a
# user, fourteen a queue, one for the account) that is 9,701 enabled
# entities: within Home Assistant's 10,000 an entry, with room to spare.
USERS_PER_QUEUE = 60


def realistic_queues(users: int) -> int:
    """Return how many queues a company of ``users`` users has: one per 60, at least one."""
    return max(1, users // USERS_PER_QUEUE)


def new_queue_id(company: Company) -> str:
    """Return an id no queue of the company has."""
    return str(
        max((int(q) for q in company.queues if q.isdigit()), default=_FIRST_QUEUE - 1)
        + 1
    )


class ScaleDriver:
    """Commands the benchmark sends to a simulator in its own process (``--control``).

    Every time is ``time.monotonic()``: one clock for every process on the
    machine, so the benchmark can compare a send here with a state change there.
    """

    def __init__(self, sim: Simulator) -> None:
        """Drive ``sim`` (started)."""
        self.sim = sim
        self.company = sim.company
        self.user_ids = list(self.company.users)
        self._watch: asyncio.Task[None] | None = None
        self._watched: dict[str, float] = {}

    def info(self) -> dict[str, Any]:
        """Return what a client needs: URLs, login, and the ids of every item."""
        account = next(iter(self.company.accounts.values()))
        return {
            "api_url": self.sim.api_url,
            "events_url": self.sim.events_url,
            "company": self.company.name,
            "company_id": self.company.id,
            "username": account.username,
            "password": account.password,
            "account_user_id": account.pbx_user_id,
            "users": self.user_ids,
            "devices": {d.id: d.pbx_user_id for d in self.company.devices.values()},
            "queues": list(self.company.queues),
        }

    async def handle(self, command: str, args: dict[str, Any]) -> Any:
        """Run one command; KeyError for an unknown one."""
        method = getattr(self, f"cmd_{command}", None)
        if method is None:
            raise KeyError(f"unknown command {command!r}")
        return await method(**args)

    async def cmd_info(self) -> dict[str, Any]:
        """Return :meth:`info`."""
        return self.info()

    def _toggle_status(self, user_id: str) -> tuple[str, Any]:
        status = 0 if self.company.statuses[user_id] else 1
        self.company.statuses[user_id] = status
        return "UserStatus", self.company.user_status_payload(user_id)

    async def cmd_burst(self, n: int) -> dict[str, float]:
        """Send ``n`` UserStatus events, one a frame, as fast as the socket takes them.

        Users in turn; each event flips its user between idle and in use, so
        each changes one line's state.
        """
        users = self.user_ids
        # Encoded beforehand, so that the simulator sends as fast as it can.
        frames = [
            event_frame([self._toggle_status(users[i % len(users)])]) for i in range(n)
        ]
        first = time.monotonic()
        await self._send_each(frames)
        return {"first": first, "last": time.monotonic()}

    async def _send_each(self, frames: list[str]) -> None:
        """Send the frames one by one, as fast as the socket takes them.

        Straight to the websocket of the one authenticated connection when
        there is one: `send_raw` costs a task per frame, which caps a burst
        near 15,000 frames a second, too close to what Home Assistant takes.
        """
        connections = [
            conn
            for conn in getattr(self.sim, "_connections", ())
            if getattr(conn, "authenticated", False)
        ]
        conn = connections[0] if len(connections) == 1 else None
        ws, lock = getattr(conn, "ws", None), getattr(conn, "lock", None)
        if not frames:
            return
        if ws is None or lock is None or getattr(conn, "silenced", False):
            for frame in frames:
                await self.sim.send_raw(frame)
            return
        # The first the usual way, so that the connection's bookkeeping sees one.
        await self.sim.send_raw(frames[0])
        async with lock:  # the heartbeat waits
            for frame in frames[1:]:
                await ws.send_str(frame)

    async def cmd_steady(self, n: int, rate: float) -> list[tuple[str, float]]:
        """Send ``n`` flipping UserStatus events at ``rate`` a second; return (user, sent) each."""
        users = self.user_ids
        log: list[tuple[str, float]] = []
        start = time.monotonic() + 0.01
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            user = users[i % len(users)]
            frame = event_frame([self._toggle_status(user)])
            sent = time.monotonic()
            await self.sim.send_raw(frame)
            log.append((user, sent))
        return log

    async def cmd_change(self, kind: str, item: str) -> None:
        """Push an event that changes one item: a user, a phone or a queue."""
        if kind == "user":
            await self.sim.push_event(*self._toggle_status(item), apply=False)
        elif kind == "device":
            device = self.company.devices[item]
            await self.sim.set_device_registered(item, not device.status)
        else:
            queue = self.company.queues[item]
            await self.sim.update_queue(
                item, completed=queue.completed + 1, total=queue.total + 1
            )

    async def cmd_repeat(self, kind: str, item: str, n: int = 1) -> None:
        """Push the item's last event again ``n`` times, one a frame: nothing changes."""
        for _ in range(n):
            if kind == "user":
                payload = self.company.user_status_payload(item)
                await self.sim.push_event("UserStatus", payload)
            elif kind == "device":
                payload = self.company.devices[item].event_payload()
                await self.sim.push_event("DeviceStatus", payload)
            else:
                await self.sim.push_queue(self.company.queues[item])

    async def cmd_change_silently(self, users: int, queues: int) -> dict[str, Any]:
        """Change statuses of ``users`` users and figures of ``queues`` queues, sending nothing.

        As if they changed while the client was away: only a REST read sees them.
        """
        user_ids = self.user_ids
        changed_users = [user_ids[i * len(user_ids) // users] for i in range(users)]
        for user_id in changed_users:
            self._toggle_status(user_id)
        queue_ids = list(self.company.queues)
        changed_queues = [
            queue_ids[i * len(queue_ids) // queues] for i in range(queues)
        ]
        for queue_id in changed_queues:
            queue = self.company.queues[queue_id]
            queue.completed += 1
            queue.total += 1
            queue.talktime += 90
        return {"users": changed_users, "queues": changed_queues}

    async def cmd_drop(self) -> float:
        """Cut every websocket abruptly; watch for the next connection. Return when cut."""
        self._watched = {}
        count, authenticated = self.sim.connection_count, self.sim.authenticated_count
        if self._watch is not None:
            self._watch.cancel()
        self._watch = asyncio.create_task(self._watch_connections(count, authenticated))
        dropped = time.monotonic()
        await self.sim.drop_connections()
        return dropped

    async def _watch_connections(self, count: int, authenticated: int) -> None:
        while "authenticated" not in self._watched:
            await asyncio.sleep(0.0005)
            now = time.monotonic()
            if self.sim.connection_count > count:
                self._watched.setdefault("opened", now)
            if self.sim.authenticated_count > authenticated:
                self._watched["authenticated"] = now

    async def cmd_watched(self) -> dict[str, float]:
        """Return when the websocket after the last drop opened and authenticated."""
        return dict(self._watched)

    async def cmd_new_queue(self, agents: int = 10) -> dict[str, Any]:
        """Push a Queue snapshot with an id never seen; return its id and when it was sent."""
        queue_id = new_queue_id(self.company)
        users = self.user_ids
        start = int(queue_id) * agents
        queue = Queue(
            id=queue_id,
            name=f"New queue {queue_id}",
            members=[
                QueueMember(users[(start + k) % len(users)], f"Agent {k}")
                for k in range(min(agents, len(users)))
            ],
        )
        queue.recount(self.company.statuses)
        sent = time.monotonic()
        await self.sim.push_queue(queue)
        return {"id": queue_id, "sent": sent}

    async def cmd_requests(self, since: int = 0) -> dict[str, Any]:
        """Return the API requests made (``METHOD /path``) from index ``since`` on."""
        return {"count": len(self.sim.requests), "requests": self.sim.requests[since:]}

    async def cmd_statuses(self) -> dict[str, int]:
        """Return every user's line status."""
        return dict(self.company.statuses)
