"""One example's world: an event loop with a fake clock, the simulator, Home Assistant and the entry.

Hypothesis runs its rules synchronously; Home Assistant lives in an event
loop. Each example owns a fresh loop, and each rule runs its step in it with
:meth:`Bench.run`. The fake clock moves the loop's own time: every timer of
the integration, of Home Assistant and of the simulator (heartbeats, hung
requests) sees the same jump, while sockets carry on in real time between
the clock's ticks. Wall-clock dates (``utcnow``) do not move.

What the integration did is recorded as the checks need it: each REST
request with its fake time and its answer (`Reads`), each device removed
(`removed`), each event pushed (`named`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
from dataclasses import dataclass, field
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import DOMAIN
from tests.harness.faults import PHONES, QUEUES, STATUSES, USERS
from tests.harness.home import account_entry, home_assistant
from tests.harness.timings import Timings, use
from tests.simulator import Device, Simulator, User, demo_company
from tests.simulator.model import Company

# The kind of item each list names, and the field that is its id.
KIND_OF_PATH = {USERS: "user", PHONES: "device", QUEUES: "queue", STATUSES: "user"}
ID_FIELD = {USERS: "id", PHONES: "id", QUEUES: "id", STATUSES: "pbx_user_id"}
LIST_PATHS = (USERS, STATUSES, PHONES, QUEUES)
TOKEN_PATH = "/oauth2/user-credentials"
# One tick of the fake clock: timers due within it fire together, then
# sockets get a moment of real time. Long waits take longer ticks, still
# well under the heartbeat (25 s), so that a tick never looks like silence.
TICK = 1.0
LONG_TICK = 8.0
REAL_PAUSE = 0.003


#: The integration's waits as shipped, on the fake clock; only the stream's
#: first reconnect and its grace for an authentication are as in every test.
MACHINE = Timings(auth_grace=0.05, backoff_base=0.05)


class FakeClock:
    """The loop's time, moved forward by hand."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take over ``loop``'s clock."""
        self.offset = 0.0
        real = loop.time
        self._real = real
        loop.time = self.now  # type: ignore[method-assign]

    def now(self) -> float:
        """Return the loop's time: real monotonic time plus what was advanced."""
        return self._real() + self.offset


@dataclass
class Read:
    """One REST request as NGUC got it."""

    at: float  # fake time of arrival
    path: str
    status: int | None = None  # None: no answer yet, or never (hung, cut)
    ids: list[str] | None = None  # the ids of a readable 200 list answer

    @property
    def good(self) -> bool:
        """Return True when the answer was a list the integration can read."""
        return self.status == 200 and self.ids is not None


@dataclass
class Reads:
    """Every REST request of the example, in order."""

    log: list[Read] = field(default_factory=list)

    def of(self, path: str) -> list[Read]:
        """Return the requests to ``path``."""
        return [read for read in self.log if read.path == path]


def company() -> Company:
    """A small company: the demo's 4 users, 5 phones and 2 queues, and a fifth user with a phone."""
    made = demo_company()
    made.add_user(User("86484", "Sara Nilsson", "105", "sara@demo.example"), 0)
    made.add_device(Device("9006", "86484", "Sara bordstelefon", "Snom D785"))
    return made


def readable_ids(path: str, body: Any) -> list[str] | None:
    """Return the ids of a list answer, None when not a list of items with ids."""
    if not isinstance(body, list):
        return None
    key = ID_FIELD[path]
    ids: list[str] = []
    for entry in body:
        item = (
            entry.get("queue") if path == QUEUES and isinstance(entry, dict) else entry
        )
        if not isinstance(item, dict) or item.get(key) in (None, ""):
            return None
        ids.append(str(item[key]))
    return ids


class RecordingSimulator(Simulator):
    """The simulator, recording every REST request and its answer on the fake clock."""

    def __init__(self, made: Company, clock: FakeClock, reads: Reads) -> None:
        """Serve ``made``; record into ``reads``."""
        self._clock = clock
        self._reads = reads
        #: Fake times at which a websocket was authenticated.
        self.authenticated_at: list[float] = []
        self._authenticated = 0
        super().__init__(made)

    @property  # type: ignore[override]
    def authenticated_count(self) -> int:
        """Websockets authenticated so far; each one's fake time is noted."""
        return self._authenticated

    @authenticated_count.setter
    def authenticated_count(self, count: int) -> None:
        if count > self._authenticated:
            self.authenticated_at.append(self._clock.now())
        self._authenticated = count

    def _make_app(self) -> web.Application:
        app = super()._make_app()

        @web.middleware
        async def record(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            path = request.path
            if path.startswith(("/_sim/", "/events/")):
                return await handler(request)
            read = Read(self._clock.now(), path)
            self._reads.log.append(read)
            response = await handler(request)
            if request.transport is None or request.transport.is_closing():
                return response  # the client gave up waiting: never answered
            read.status = response.status
            if path in KIND_OF_PATH and isinstance(response, web.Response):
                with contextlib.suppress(ValueError, TypeError):
                    if response.status == 200:
                        body = json.loads(response.text or "null")
                        read.ids = readable_ids(path, body)
            return response

        # First of all: it sees the simulator's faults too.
        app.middlewares.insert(0, record)
        return app


class Bench:
    """An example's loop, clock, simulator, Home Assistant and entry."""

    def __init__(self) -> None:
        """Start everything and wait until the entry is in sync."""
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock(self.loop)
        self.reads = Reads()
        self.sim = RecordingSimulator(company(), self.clock, self.reads)
        #: (fake time, kind, id) of every device removed.
        self.removed: list[tuple[float, str, str]] = []
        #: (fake time, kind, id) of every event pushed that names an item.
        self.named: list[tuple[float, str, str]] = []
        #: Fake times at which the entry was set up.
        self.setups: list[float] = []
        self._identifiers: dict[str, set[str]] = {}
        self._stack = contextlib.AsyncExitStack()
        self.hass: HomeAssistant
        self.entry: MockConfigEntry
        self.run(self._start())

    # --- running steps --------------------------------------------------------------

    def run[T](self, step: Coroutine[Any, Any, T]) -> T:
        """Run one step in the example's loop."""
        return self.loop.run_until_complete(step)

    def close(self) -> None:
        """Stop Home Assistant and the simulator; close the loop."""
        try:
            self.run(self._stack.aclose())
            self.run(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    async def _start(self) -> None:
        await self.sim.start()
        self._stack.push_async_callback(self.sim.stop)
        self.hass = await self._stack.enter_async_context(home_assistant())
        use(self.hass, MACHINE)
        logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
        self.hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._on_device)
        self.entry = account_entry(
            api_url=self.sim.api_url,
            events_url=self.sim.events_url,
            company="demo",
            username="demo",
            password="demo",
            unique_id="4711",
            title="demo (Anna Lindqvist)",
            user_id="86480",
        )
        self.entry.add_to_hass(self.hass)
        await self.setup()
        self._stack.push_async_callback(self.unload)

    # --- the entry --------------------------------------------------------------------

    async def setup(self) -> None:
        """Set the entry up (again); it reads what it kept on disk."""
        self.setups.append(self.clock.now())
        # False when NGUC cannot be reached: Home Assistant tries again later.
        await self.hass.config_entries.async_setup(self.entry.entry_id)
        await self.hass.async_block_till_done()

    async def unload(self) -> None:
        """Unload the entry, as Home Assistant does when it stops."""
        if self.entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            assert await self.hass.config_entries.async_unload(self.entry.entry_id)
            await self.hass.async_block_till_done()

    @property
    def loaded(self) -> bool:
        """Return True while the entry is set up."""
        return self.entry.state is ConfigEntryState.LOADED

    # --- the clock ----------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the fake clock, a tick at a time."""
        tick = TICK if seconds <= 120 else LONG_TICK
        ticks = max(1, round(seconds / tick))
        step = seconds / ticks
        for _ in range(ticks):
            self.clock.offset += step
            await self.pause()

    async def pause(self) -> None:
        """Let due timers run and sockets carry what they started."""
        for _ in range(3):
            await asyncio.sleep(0)
        await asyncio.sleep(REAL_PAUSE)

    @property
    def fresh_starts(self) -> list[float]:
        """Fake times at which the entry was set up or its stream authenticated."""
        return sorted([*self.setups, *self.sim.authenticated_at])

    async def until(self, condition: Callable[[], bool], fake_seconds: float) -> bool:
        """Advance until ``condition()``, at most ``fake_seconds``; return whether it held."""
        waited = 0.0
        while True:
            # Events travel in real time: a few pauses before time moves on.
            for _ in range(3):
                if condition():
                    return True
                await self.pause()
            if waited >= fake_seconds:
                return condition()
            tick = TICK if waited < 120 else LONG_TICK
            self.clock.offset += tick
            waited += tick

    # --- what Home Assistant shows -------------------------------------------------

    @property
    def coordinator(self) -> Any:
        """Return the entry's coordinator (while loaded)."""
        return self.entry.runtime_data

    @property
    def connected(self) -> bool:
        """Return True when the entry's stream is up and its state read after."""
        if not self.loaded:
            return False
        coordinator = self.coordinator
        return bool(
            coordinator.connected
            and coordinator.in_sync
            and self.sim.authenticated_connections == 1
        )

    def devices(self) -> set[tuple[str, str]]:
        """Return the (kind, id) of every item device of the entry."""
        found: set[tuple[str, str]] = set()
        registry = dr.async_get(self.hass)
        for device in dr.async_entries_for_config_entry(registry, self.entry.entry_id):
            self._identifiers[device.id] = {
                i for d, i in device.identifiers if d == DOMAIN
            }
            found.update(_items(self._identifiers[device.id]))
        return found

    @callback
    def _on_device(self, event: Event[Any]) -> None:
        device_id = event.data["device_id"]
        if event.data["action"] != "remove":
            device = dr.async_get(self.hass).async_get(device_id)
            if device is not None:
                self._identifiers[device_id] = {
                    i for d, i in device.identifiers if d == DOMAIN
                }
            return
        identifiers = self._identifiers.pop(device_id, set())
        removed = event.data.get("device") or {}
        identifiers |= {i for d, i in removed.get("identifiers", ()) if d == DOMAIN}
        for kind, item_id in _items(identifiers):
            self.removed.append((self.clock.now(), kind, item_id))

    def entity_id(self, platform: Platform, key: str, suffix: str) -> str | None:
        """Return the entity id of an item's entity by the end of its unique id."""
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            if entity.domain == platform and entity.unique_id.endswith(
                f"_{key}_{suffix}"
            ):
                return entity.entity_id
        return None

    def stored(self) -> dict[str, set[str]] | None:
        """Return the ids per part in the entry's store file, None when there is none."""
        path = Path(
            self.hass.config.path(".storage", f"{DOMAIN}.{self.entry.entry_id}")
        )
        if not path.exists():
            return None
        data = json.loads(path.read_text()).get("data") or {}
        return {
            part: _stored_ids(data.get(part)) for part in ("users", "devices", "queues")
        }


def _items(identifiers: set[str]) -> list[tuple[str, str]]:
    found = []
    for identifier in identifiers:
        parts = identifier.rsplit("_", 2)
        if len(parts) == 3 and parts[1] in ("user", "device", "queue"):
            found.append((parts[1], parts[2]))
    return found


def _stored_ids(part: Any) -> set[str]:
    """Ids of a stored part, as a list of items or a mapping by id (or inside "items")."""
    if isinstance(part, dict) and "items" in part:
        part = part["items"]
    if isinstance(part, dict):
        return {str(key) for key in part}
    if isinstance(part, list):
        return {str(item["id"]) for item in part if isinstance(item, dict)}
    return set()
