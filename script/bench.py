"""Benchmark at company scale (issue 7): prints a table, then one JSON line.

The integration runs inside Home Assistant's test harness against the
simulator in a process of its own (``python -m tests.simulator --control``),
for companies of 10, 100 and 1,000 users (one phone each) and 10 and 100
queues (10 agents each), with a ``state_changed`` listener installed as every
Home Assistant has one (the recorder's). Both processes read
``time.monotonic()``, one clock for the whole machine, so a send in the
simulator compares with a state change here.

A company of 5,000 users and 100 queues, everyone followed with the
defaults, is set up three times more, for its setup time and longest
event-loop block (the medians), and once under tracemalloc for its memory.
It does not fit in Home Assistant's 10,000 enabled entities of one config
entry even with the defaults: the entry makes what fits (queues first, then
users by name) and raises a repair issue for the rest, and the benchmark
says how many were left out and whether Home Assistant had to refuse any
entity (its "Reached the maximum" warning). Home Assistant's own floor
(script/floor.py) is measured in the same run with as many entities,
enabled and disabled, on as many devices as each company has, and the
targets that depend on the machine are relative to it. Neither is traced
while a registry is written (see :func:`stores_held`).

Nothing here passes or fails: the exit code is non-zero only when the
benchmark itself breaks. Each target (issues 7 and 14, the README) is
printed with "met" or "NOT MET", and the JSON line names those missed
(``targets_missed``). ``script/bench`` runs everything (several minutes);
``script/bench --quick`` runs companies of at most 100 users in about a
minute, and its keys name the size measured (``setup_s_100``, not
``setup_s_1000``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from dataclasses import dataclass, field, replace
import gc
import json
import logging
import os
from pathlib import Path
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from floor import Floor, GcTime, measure_floor
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    __version__ as ha_version,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.storage import Store

from custom_components.weblink_nguc.const import (
    CONF_USER_ID,
    DOMAIN,
    ISSUE_ENTITY_LIMIT,
)
from custom_components.weblink_nguc.sensor import LINE_IDLE, LINE_IN_USE
from tests.harness.home import account_entry, home_assistant
from tests.harness.probe import LoopProbe
from tests.harness.process import SimulatorProcess

AGENTS_PER_QUEUE = 10
# Home Assistant adds at most this many enabled entities of one config entry,
# and logs a warning for the rest.
PLATFORM_ENTITY_LIMIT = 10_000
# Above the floor with as many entities, for the large and the huge company
# alike: the setup time, and the traced memory.
SETUP_MARGIN_S = 0.5
MEMORY_MARGIN_MB = 10


@dataclass(frozen=True)
class Plan:
    """What one run measures, and how much."""

    mode: str
    small: tuple[int, int]  # users, queues
    medium: tuple[int, int] | None
    large: tuple[int, int]
    huge: tuple[int, int] | None  # set up only: time, loop block, memory
    huge_setups: int  # setups of the huge company (and of its floor): the median
    burst: int  # events per burst (throughput, CPU per event)
    steady: int  # events at `rate` for the latency
    rate: float
    pairs: int  # paired small/large runs for scale_ratio
    new_items: int  # queues added one by one, per company
    resyncs: int  # reconnects after changes unseen
    repeats: int  # repetitions of each unchanged event
    trace_events: int  # events under tracemalloc
    timeout: float  # the whole benchmark

    def at_large(self, name: str) -> str:
        """Name a figure of the large company by its size: ``setup_s_1000``.

        The quick run's large company has 100 users; its figures say so
        (``setup_s_100``) rather than pass for the full run's.
        """
        return f"{name}_{self.large[0]}"

    def at_huge(self, name: str) -> str | None:
        """Name a figure of the huge company by its size (None: not measured)."""
        return None if self.huge is None else f"{name}_{self.huge[0]}"


FULL = Plan(
    mode="full",
    small=(10, 10),
    medium=(100, 10),
    large=(1000, 100),
    huge=(5000, 100),
    huge_setups=3,
    burst=30_000,
    steady=2_000,
    rate=200.0,
    pairs=5,
    new_items=5,
    resyncs=3,
    repeats=10,
    trace_events=5_000,
    timeout=1500.0,
)
QUICK = Plan(
    mode="quick",
    small=(10, 10),
    medium=None,
    large=(100, 10),
    huge=None,
    huge_setups=0,
    burst=3_000,
    steady=400,
    rate=200.0,
    pairs=1,
    new_items=3,
    resyncs=1,
    repeats=5,
    trace_events=1_000,
    timeout=170.0,
)


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def _wait_until(
    condition: Callable[[], bool], limit: float, what: str, interval: float = 0.001
) -> float:
    """Poll ``condition`` for up to ``limit`` seconds; return the time it first held."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic()


# --- Instruments in the Home Assistant process ------------------------------------------


class Writes:
    """The ``state_changed`` listener every Home Assistant has; it counts state writes.

    A write either changes a state (``state_changed``) or only reports it
    unchanged (``state_reported``); both cost about the same. Reports are
    counted only while :meth:`counting` is on, so that the throughput runs
    have no listener a real Home Assistant would not have.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Listen to state changes of ``hass``."""
        self.hass = hass
        self.changed = 0
        self.reported = 0
        self.per_entity: Counter[str] = Counter()
        #: entity_id -> user id of every line status sensor
        self.lines: dict[str, str] = {}
        self.line_changes = 0
        self.last_line_change = 0.0
        self.per_user: dict[str, list[float]] | None = None
        self._wanted = 0
        self._reached = asyncio.Event()
        self._unreport: Callable[[], None] | None = None
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_changed)

    @callback
    def _on_changed(self, event: Event[Any]) -> None:
        self.changed += 1
        entity_id = event.data["entity_id"]
        if self._unreport is not None:
            self.per_entity[entity_id] += 1
        user = self.lines.get(entity_id)
        if user is None:
            return
        now = time.monotonic()
        self.line_changes += 1
        self.last_line_change = now
        if self.per_user is not None:
            self.per_user[user].append(now)
        if self.line_changes >= self._wanted:
            self._reached.set()

    @callback
    def _on_reported(self, data: Any) -> bool:
        self.reported += 1
        self.per_entity[data["entity_id"]] += 1
        return False  # counted here; nothing to run

    @callback
    def _never(self, _event: Event[Any]) -> None:
        """Never called: the filter takes every report."""

    @property
    def total(self) -> int:
        """Return the writes counted since :meth:`counting` began."""
        return self.changed + self.reported

    @contextlib.contextmanager
    def counting(self) -> Any:
        """Count every write, changed or reported, from zero."""
        self.changed = self.reported = 0
        self.per_entity = Counter()
        self._unreport = self.hass.bus.async_listen(
            EVENT_STATE_REPORTED, self._never, event_filter=self._on_reported
        )
        try:
            yield self
        finally:
            self._unreport()
            self._unreport = None

    async def line_changes_to(self, count: int, limit: float) -> None:
        """Wait up to ``limit`` seconds until ``count`` line status changes were seen in all."""
        self._wanted = count
        self._reached.clear()
        if self.line_changes < count:
            async with asyncio.timeout(limit):
                await self._reached.wait()


class LimitWarnings(logging.Handler):
    """Counts Home Assistant's warnings that it refused an entity of the entry.

    Past ``MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`` enabled entities, Home
    Assistant adds no more and logs "Reached the maximum of ..."; the
    integration must never get there.
    """

    def __init__(self) -> None:
        """Count from zero."""
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count a warning of Home Assistant's entity limit."""
        if str(record.msg).startswith("Reached the maximum"):
            self.count += 1

    def __enter__(self) -> LimitWarnings:
        """Listen to every logger."""
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop listening."""
        logging.getLogger().removeHandler(self)


# --- One company in one Home Assistant -------------------------------------------------


@dataclass
class Result:
    """What was measured for one company."""

    users: int
    queues: int
    entities: int = 0  # enabled: those Home Assistant adds
    disabled: int = 0  # registered disabled (by default, or left so)
    devices: int = 0
    #: The repair issues of this integration after setup, by translation key:
    #: their placeholders.
    issues: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Home Assistant's "Reached the maximum" warnings: entities it refused.
    limit_warnings: int = 0
    setup_s: float = 0.0
    connected_s: float = 0.0
    setup_block_ms: float = 0.0
    rest_gets: int = 0
    rest_reads: int = 0
    setup_writes: int = 0
    events_per_s: float = 0.0
    cpu_us_per_event: float = 0.0
    gc_us_per_event: float = 0.0
    new_item_block_ms: list[float] = field(default_factory=list)
    new_item_s: list[float] = field(default_factory=list)
    new_item_writes: list[int] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    unchanged: dict[str, float] = field(default_factory=dict)
    resyncs: list[dict[str, Any]] = field(default_factory=list)
    needless_examples: list[str] = field(default_factory=list)
    tracemalloc_peak_mb: float | None = None

    @property
    def label(self) -> str:
        """Return the company's size, e.g. ``1000 u / 100 q``."""
        return f"{self.users} u / {self.queues} q"

    @property
    def resync(self) -> dict[str, Any]:
        """Return the median of each resync figure (the most lines wrong)."""
        runs = self.resyncs
        summary = {
            key: statistics.median(run[key] for run in runs)
            for key in runs[0]
            if key != "wrong_lines"
        }
        summary["wrong_lines"] = max(run["wrong_lines"] for run in runs)
        return summary

    @property
    def writes_per_entity(self) -> float:
        """Return the state writes per entity during setup."""
        return self.setup_writes / self.entities if self.entities else 0.0


class Integration:
    """The integration set up in ``hass`` against one simulator process."""

    def __init__(self, hass: HomeAssistant, sim: SimulatorProcess) -> None:
        """Bind; :meth:`setup` adds the config entry."""
        self.hass = hass
        self.sim = sim
        self.info = sim.info
        self.writes = Writes(hass)
        self.result = Result(sim.users, sim.queues)
        self.entry = account_entry(
            api_url=self.info["api_url"],
            events_url=self.info["events_url"],
            company=self.info["company"],
            username=self.info["username"],
            password=self.info["password"],
            unique_id=self.info["company_id"],
            title=f"{self.info['company']} (bench)",
            **{CONF_USER_ID: self.info["account_user_id"]},
        )

    @property
    def _nguc_events(self) -> int:
        """Return the NGUC events received (most of them do not go on the bus)."""
        return int(self.coordinator.stream.events)

    @property
    def coordinator(self) -> Any:
        """Return the entry's coordinator."""
        return self.entry.runtime_data

    def _in_sync(self) -> bool:
        # In sync once the entities were told: changes handed out in slices
        # of the event loop's time are not in sync before the last slice.
        coordinator = self.coordinator
        return bool(
            coordinator.in_sync
            and coordinator.stream.connected
            and not coordinator.notifying
        )

    def _our_entities(self, *, enabled: bool = True) -> list[er.RegistryEntry]:
        return [
            entry
            for entry in er.async_entries_for_config_entry(
                er.async_get(self.hass), self.entry.entry_id
            )
            if (entry.disabled_by is None) is enabled
        ]

    def _states(self) -> dict[str, tuple[str, dict[str, Any]]]:
        states = {}
        for entry in self._our_entities():
            if (state := self.hass.states.get(entry.entity_id)) is not None:
                states[entry.entity_id] = (state.state, dict(state.attributes))
        return states

    async def _settle(self) -> None:
        await self.hass.async_block_till_done()
        await asyncio.sleep(0.1)  # anything deferred by a timer
        await self.hass.async_block_till_done()

    async def setup(self, *, lines: bool = True) -> None:
        """Config entry setup until in sync: time, REST reads, writes, loop block."""
        hass, result = self.hass, self.result
        self.entry.add_to_hass(hass)
        before = (await self.sim.call("requests"))["count"]
        gc.collect()
        with (
            self.writes.counting(),
            LoopProbe(hass.loop) as probe,
            LimitWarnings() as warnings,
        ):
            start = time.monotonic()
            if not await hass.config_entries.async_setup(self.entry.entry_id):
                raise RuntimeError("config entry setup failed")
            connected = await _wait_until(
                lambda: self.coordinator.stream.connected, 120, "the event stream"
            )
            synced = await _wait_until(self._in_sync, 120, "in sync after setup")
            await self._settle()
        result.setup_s = synced - start
        result.connected_s = connected - start
        result.setup_block_ms = probe.worst_ms
        result.setup_writes = self.writes.total
        result.entities = len(self._our_entities())
        result.disabled = len(self._our_entities(enabled=False))
        result.devices = len(
            dr.async_entries_for_config_entry(dr.async_get(hass), self.entry.entry_id)
        )
        result.issues = {
            issue.translation_key or issue_id: dict(
                issue.translation_placeholders or {}
            )
            for (domain, issue_id), issue in ir.async_get(hass).issues.items()
            if domain == DOMAIN
        }
        result.limit_warnings = warnings.count
        requests = (await self.sim.call("requests", since=before))["requests"]
        gets = Counter(r.split(" ", 1)[1] for r in requests if r.startswith("GET "))
        result.rest_gets = sum(gets.values())
        result.rest_reads = max(gets.values(), default=0)
        if not lines:
            return
        # Each user's line status sensor, found by its unique id.
        registry = er.async_get(hass)
        for user in self.info["users"]:
            unique_id = f"{self.entry.unique_id}_user_{user}_line_status"
            entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
            if entity_id is None:
                raise RuntimeError(f"no line status sensor with unique id {unique_id}")
            self.writes.lines[entity_id] = user

    async def burst(self, n: int) -> None:
        """UserStatus events one a frame as fast as they go: events/s and CPU per event.

        Each event flips a line between idle and in use, so each ends in one
        state change; the rate is from the first send to the last change.
        The CPU is this process's (Home Assistant's), all threads.
        """
        writes = self.writes
        wanted = writes.line_changes + n
        gc.collect()  # every run starts with the same garbage: none
        with GcTime() as collections:
            cpu = time.process_time()
            sent = await self.sim.call("burst", limit=60 + n / 100, n=n)
            await writes.line_changes_to(wanted, limit=60 + n / 100)
            cpu = time.process_time() - cpu
        self.result.events_per_s = n / (writes.last_line_change - sent["first"])
        self.result.cpu_us_per_event = cpu / n * 1e6
        self.result.gc_us_per_event = collections.seconds / n * 1e6

    async def latency(self, n: int, rate: float) -> None:
        """From the simulator's send to the line's state change, at a steady rate."""
        writes = self.writes
        writes.per_user = defaultdict(list)
        wanted = writes.line_changes + n
        # As before a burst: a full collection of Home Assistant's memory
        # (0.3-0.4 s at 1,000 users, about every 30,000 state changes) due
        # anyway would land at random in a window of 2,000 events, and be all
        # its p99; over a long run it delays far fewer than 1 % of events.
        gc.collect()
        try:
            log = await self.sim.call("steady", limit=60 + n / rate, n=n, rate=rate)
            await writes.line_changes_to(wanted, limit=60)
            changes = writes.per_user
        finally:
            writes.per_user = None
        sends: dict[str, list[float]] = defaultdict(list)
        for user, sent in log:
            sends[user].append(sent)
        latencies: list[float] = []
        unmatched = 0
        for user, times in sends.items():
            seen = changes.get(user, [])
            unmatched += abs(len(times) - len(seen))
            latencies.extend(c - s for s, c in zip(times, seen, strict=False))
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        self.result.latency_ms = {
            "p50": cuts[49] * 1000,
            "p99": cuts[98] * 1000,
            "max": max(latencies) * 1000,
            "samples": len(latencies),
            "unmatched": unmatched,
            "rate": rate,
        }

    async def _nguc_events_to(self, count: int) -> None:
        await _wait_until(
            lambda: self._nguc_events >= count, 30, f"{count} NGUC events received"
        )
        await self._settle()

    async def unchanged(self, repeats: int) -> None:
        """State writes caused by repeating the last UserStatus, DeviceStatus and Queue event."""
        info = self.info
        items = {
            "UserStatus": ("user", info["users"][len(info["users"]) // 2]),
            "DeviceStatus": ("device", next(iter(info["devices"]))),
            "Queue": ("queue", info["queues"][0]),
        }
        for name, (kind, item) in items.items():
            seen = self._nguc_events
            await self.sim.call("change", kind=kind, item=item)
            await self._nguc_events_to(seen + 1)
            with self.writes.counting():
                await self.sim.call("repeat", kind=kind, item=item, n=repeats)
                await self._nguc_events_to(seen + 1 + repeats)
                self.result.unchanged[name] = self.writes.total / repeats

    async def resync(self, users: int, queues: int) -> None:
        """Drop the stream after ``users`` statuses and ``queues`` queues changed unseen; resync.

        Measures the writes, the longest loop block, and the time from the
        new websocket to in sync (the reconnect backoff before it is not
        counted); checks that every line ends right.
        """
        hass, result = self.hass, self.result
        before = self._states()
        changed = await self.sim.call("change_silently", users=users, queues=queues)
        gc.collect()  # a collection due anyway would land at random in the window
        with self.writes.counting(), LoopProbe(hass.loop) as probe:
            dropped = await self.sim.call("drop")
            # Asked of the simulator: a quick reconnect could hide the drop
            # from a poll here. A new websocket means the drop was handled.
            deadline = time.monotonic() + 60
            while "opened" not in await self.sim.call("watched"):
                if time.monotonic() > deadline:
                    raise TimeoutError("no reconnect within 60 s")
                await asyncio.sleep(0.01)
            connected = await _wait_until(
                lambda: self.coordinator.stream.connected, 60, "the reconnect"
            )
            synced = await _wait_until(self._in_sync, 60, "in sync after reconnect")
            await self._settle()
        watched = await self.sim.call("watched")
        after = self._states()
        statuses = await self.sim.call("statuses")
        changed_ids = {
            entity_id
            for entity_id, state in after.items()
            if before.get(entity_id) != state
        }
        # The event stream's connectivity sensor shows the drop and the
        # reconnect, truthfully: counted apart from the items' writes.
        stream_id = er.async_get(hass).async_get_entity_id(
            "binary_sensor", DOMAIN, f"{self.entry.unique_id}_account_event_stream"
        )
        stream_writes = self.writes.per_entity.pop(stream_id, 0) if stream_id else 0
        needless = Counter(
            {
                entity_id: count
                for entity_id, count in self.writes.per_entity.items()
                if entity_id not in changed_ids
            }
        )
        result.needless_examples = [
            entity_id for entity_id, _ in needless.most_common(3)
        ]
        wrong = 0
        for entity_id, user in self.writes.lines.items():
            want = LINE_IN_USE if statuses[user] else LINE_IDLE
            wrong += after.get(entity_id, ("", {}))[0] != want
        result.resyncs.append(
            {
                "statuses_changed": len(changed["users"]),
                "queues_changed": len(changed["queues"]),
                "writes": self.writes.total - stream_writes,
                "stream_writes": stream_writes,
                "changed_entities": len(changed_ids - {stream_id}),
                # Writes to entities that ended as they were.
                "needless_writes": sum(needless.values()),
                "block_ms": probe.worst_ms,
                "backoff_s": watched["opened"] - dropped,
                "resync_s": synced - watched["opened"],
                "accept_s": connected - watched["opened"],
                "wrong_lines": wrong,
            }
        )

    async def new_items(self, n: int) -> None:
        """Add queues one at a time (a snapshot with a new id): loop block and writes each."""
        hass, result = self.hass, self.result
        for _ in range(n):
            count = len(hass.states.async_entity_ids())
            gc.collect()
            with self.writes.counting(), LoopProbe(hass.loop) as probe:
                sent = (await self.sim.call("new_queue", agents=AGENTS_PER_QUEUE))[
                    "sent"
                ]
                shown = await _wait_until(
                    lambda count=count: len(hass.states.async_entity_ids()) > count,
                    30,
                    "the new queue's entities",
                )
                await self._settle()
            result.new_item_block_ms.append(probe.worst_ms)
            result.new_item_s.append(shown - sent)
            result.new_item_writes.append(self.writes.total)

    async def unload(self) -> None:
        """Unload the config entry."""
        await self.hass.config_entries.async_unload(self.entry.entry_id)
        await self.hass.async_block_till_done()


@contextlib.asynccontextmanager
async def company(
    size: tuple[int, int], *, lines: bool = True
) -> AsyncIterator[Integration]:
    """Yield the integration set up, in sync, for a company of ``size`` (users, queues)."""
    users, queues = size
    sim = SimulatorProcess(users, queues, AGENTS_PER_QUEUE)
    await sim.start()
    try:
        async with home_assistant() as hass:
            bench = Integration(hass, sim)
            await bench.setup(lines=lines)
            try:
                yield bench
            finally:
                await bench.unload()
    finally:
        await sim.stop()
        gc.collect()


# --- The plan --------------------------------------------------------------------------


async def measure_company(
    plan: Plan, size: tuple[int, int], *, detail: bool, everything: bool = False
) -> Result:
    """Set up one company and measure it; ``detail`` adds new items, ``everything`` the rest."""
    _progress(f"{size[0]} users, {size[1]} queues: setup")
    async with company(size) as bench:
        _progress(f"{size[0]} users: {plan.burst} events")
        await bench.burst(plan.burst)
        if everything:
            _progress(f"{size[0]} users: {plan.steady} events at {plan.rate:.0f}/s")
            await bench.latency(plan.steady, plan.rate)
            _progress(f"{size[0]} users: unchanged events")
            await bench.unchanged(plan.repeats)
            for _ in range(plan.resyncs):
                _progress(f"{size[0]} users: resync")
                await bench.resync(max(1, size[0] // 10), max(1, size[1] // 10))
        if detail:
            _progress(f"{size[0]} users: {plan.new_items} new queues")
            await bench.new_items(plan.new_items)
        return bench.result


async def measure_setup(size: tuple[int, int]) -> Result:
    """Set up one company until in sync, and nothing more: time and longest loop block.

    Home Assistant adds at most 10,000 enabled entities of one config entry:
    a company this large has those that fit, and no line sensor is looked
    up (a user left out has none).
    """
    _progress(f"{size[0]} users, {size[1]} queues: setup only")
    async with company(size, lines=False) as bench:
        return bench.result


@contextlib.contextmanager
def stores_held() -> Iterator[None]:
    """Hold Home Assistant's delayed store writes (its registries') an hour longer.

    A registry is written 10 s after its last change, into one buffer that
    orjson sizes to a power of two: whether a traced run includes it depends
    on how long the run took, and a few entries more can double it. The
    company and its floor both hold them: neither peak includes them.
    """
    delay_save = Store.async_delay_save

    def later(self: Store[Any], data_func: Callable[[], Any], delay: float = 0) -> None:
        delay_save(self, data_func, delay + 3600)

    with patch.object(Store, "async_delay_save", later):
        yield


async def measure_memory(
    plan: Plan, size: tuple[int, int], *, setup_only: bool = False
) -> float:
    """Peak traced memory (MiB) of setup, events and a new queue for a company.

    Traced from after Home Assistant started, so the figure is what the
    integration's company costs; a run of its own since tracing slows
    everything. ``setup_only``: the setup alone, for a company that does
    not fit (a user left out has no line to change, and a new queue no
    room).
    """
    users, queues = size
    _progress(f"{users} users: tracemalloc")
    sim = SimulatorProcess(users, queues, AGENTS_PER_QUEUE)
    await sim.start()
    try:
        async with home_assistant() as hass:
            bench = Integration(hass, sim)
            with stores_held():
                tracemalloc.start()
                try:
                    await bench.setup(lines=not setup_only)
                    if not setup_only:
                        await bench.burst(plan.trace_events)
                        await bench.new_items(1)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
            await bench.unload()
    finally:
        await sim.stop()
        gc.collect()
    return peak / 2**20


async def run(plan: Plan) -> dict[str, Any]:
    """Measure everything; print the table; return the figures."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    medium = None
    if plan.medium is not None:
        medium = await measure_company(plan, plan.medium, detail=True)
    smalls: list[Result] = []
    larges: list[Result] = []
    for pair in range(plan.pairs):
        first = pair == 0
        smalls.append(await measure_company(plan, plan.small, detail=first))
        larges.append(
            await measure_company(plan, plan.large, detail=first, everything=first)
        )
    ratios = [
        large.cpu_us_per_event / small.cpu_us_per_event
        for small, large in zip(smalls, larges, strict=True)
    ]
    # The same without the garbage collector's time (see GcTime).
    ratios_without_gc = [
        (large.cpu_us_per_event - large.gc_us_per_event)
        / (small.cpu_us_per_event - small.gc_us_per_event)
        for small, large in zip(smalls, larges, strict=True)
    ]
    # The first run of each measured everything; its bursts and its setup
    # count as the median of all runs.
    small, large = smalls[0], larges[0]
    setups = [r.setup_s for r in larges]
    for result, runs in ((small, smalls), (large, larges)):
        result.setup_s = statistics.median(r.setup_s for r in runs)
        result.events_per_s = statistics.median(r.events_per_s for r in runs)
        result.cpu_us_per_event = statistics.median(r.cpu_us_per_event for r in runs)
        result.gc_us_per_event = statistics.median(r.gc_us_per_event for r in runs)
    huge = None
    if plan.huge is not None:
        huges = [await measure_setup(plan.huge) for _ in range(plan.huge_setups)]
        # The first, with the median of the times, as for the large company.
        huge = huges[0]
        huge.setup_s = statistics.median(r.setup_s for r in huges)
        huge.setup_block_ms = statistics.median(r.setup_block_ms for r in huges)
    large.tracemalloc_peak_mb = await measure_memory(plan, plan.large)
    if huge is not None and plan.huge is not None:
        huge.tracemalloc_peak_mb = await measure_memory(
            plan, plan.huge, setup_only=True
        )
    floors = await measure_floors(plan, small, large, huge)
    figures = _figures(plan, small, large, ratios)
    # The longest loop block during setup: the median of the large company's
    # setups, and of the huge company's.
    figures[plan.at_large("setup_block_ms")] = round(
        statistics.median(r.setup_block_ms for r in larges), 1
    )
    if huge is not None:
        figures.update(_huge_figures(huge))
    figures.update(_floor_figures(plan, floors))
    figures["scale_ratio_without_gc"] = round(statistics.median(ratios_without_gc), 3)
    figures["gc_us_per_event"] = [
        round(small.gc_us_per_event, 1),
        round(large.gc_us_per_event, 1),
    ]
    # Other work on the machine shows in every time; say how busy it was.
    figures["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    results = [small] + ([medium] if medium is not None else []) + [large]
    _print_table(plan, results, large, ratios, time.monotonic() - started)
    print(
        f"{plan.at_large('setup_s')}, median of {len(setups)} setups of the large company: "
        + ", ".join(f"{setup:.2f}" for setup in setups)
        + " s; longest loop block in each: "
        + ", ".join(f"{r.setup_block_ms:.1f}" for r in larges)
        + " ms"
    )
    _print_floors(plan, floors, figures)
    if huge is not None:
        _print_huge(plan, huge, floors.huge_setup, floors.huge_traced)
    judged = targets(plan, figures)
    _print_targets(plan, judged, figures)
    figures["targets_missed"] = [t.figure for t in judged if t.met is False]
    print(
        "garbage collection per event during the bursts: "
        f"{small.gc_us_per_event:.1f} µs at {plan.small[0]} users, "
        f"{large.gc_us_per_event:.1f} µs at {plan.large[0]} users; scale_ratio "
        "without it, per pair: " + ", ".join(f"{r:.3f}" for r in ratios_without_gc)
    )
    print(
        f"load average (1 min) before {figures['load_avg'][0]:.2f}, "
        f"after {figures['load_avg'][1]:.2f}, on {os.cpu_count()} CPUs"
    )
    return figures


@dataclass
class Floors:
    """Home Assistant's own cost at the sizes of the small, the large and the huge company."""

    small: list[Floor]
    large: list[Floor]
    traced: Floor
    huge: list[Floor] = field(default_factory=list)
    huge_traced: Floor | None = None

    @property
    def huge_setup(self) -> Floor | None:
        """Return the huge company's floor: the median of its setups' figures."""
        if not self.huge:
            return None
        return replace(
            self.huge[0],
            setup_s=statistics.median(f.setup_s for f in self.huge),
            setup_block_ms=statistics.median(f.setup_block_ms for f in self.huge),
        )

    @property
    def ratios(self) -> list[float]:
        """Return the CPU per write, large over small, of each pair."""
        return [
            large.cpu_us_per_write / small.cpu_us_per_write
            for small, large in zip(self.small, self.large, strict=True)
        ]


def _devices(result: Result) -> int:
    """Return a company's devices: those registered, else one for the account and each item.

    A company that does not fit has no device for the users (and their
    phones) left out.
    """
    return result.devices or 1 + 2 * result.users + result.queues


async def measure_floors(
    plan: Plan, small: Result, large: Result, huge: Result | None
) -> Floors:
    """Measure the floor (script/floor.py) at each size, in pairs as the companies."""
    floors = Floors([], [], Floor(0, 0))
    for result, runs in ((small, floors.small), (large, floors.large)):
        _progress(f"floor: {result.entities} plain entities, {plan.pairs} runs")
        for _ in range(plan.pairs):
            async with home_assistant() as hass:
                runs.append(
                    await measure_floor(
                        hass,
                        result.entities,
                        _devices(result),
                        written=result.users,
                        writes=plan.burst,
                        disabled=result.disabled,
                    )
                )
    _progress(f"floor: {large.entities} plain entities, tracemalloc")
    async with home_assistant() as hass:
        with stores_held():
            floors.traced = await measure_floor(
                hass,
                large.entities,
                _devices(large),
                written=large.users,
                writes=plan.trace_events,
                trace=True,
                disabled=large.disabled,
            )
    gc.collect()
    if huge is not None:
        # As many as the company has: Home Assistant adds at most 10,000
        # enabled entities of one entry.
        entities = min(huge.entities, PLATFORM_ENTITY_LIMIT)
        _progress(f"floor: {entities} plain entities, {plan.huge_setups} setups")
        for _ in range(plan.huge_setups):
            async with home_assistant() as hass:
                floors.huge.append(
                    await measure_floor(
                        hass,
                        entities,
                        _devices(huge),
                        written=min(huge.users, entities),
                        writes=plan.trace_events,
                        disabled=huge.disabled,
                    )
                )
            gc.collect()
        _progress(f"floor: {entities} plain entities, tracemalloc")
        async with home_assistant() as hass:
            # Its setup only, as the company's: one write, the least the
            # floor makes.
            with stores_held():
                floors.huge_traced = await measure_floor(
                    hass,
                    entities,
                    _devices(huge),
                    written=1,
                    writes=1,
                    trace=True,
                    disabled=huge.disabled,
                )
        gc.collect()
    return floors


def _floor_figures(plan: Plan, floors: Floors) -> dict[str, Any]:
    """Return the floor's figures, named by the size of the company they go with."""
    figures = {
        "floor_scale_ratio": round(statistics.median(floors.ratios), 3),
        "floor_cpu_us_per_write": [
            round(statistics.median(f.cpu_us_per_write for f in runs), 1)
            for runs in (floors.small, floors.large)
        ],
        plan.at_large("floor_setup_s"): round(
            statistics.median(f.setup_s for f in floors.large), 3
        ),
        plan.at_large("floor_setup_block_ms"): round(
            statistics.median(f.setup_block_ms for f in floors.large), 1
        ),
        plan.at_large("floor_tracemalloc_peak_mb"): round(
            floors.traced.tracemalloc_peak_mb or 0.0, 1
        ),
    }
    block, setup = plan.at_huge("floor_setup_block_ms"), plan.at_huge("floor_setup_s")
    huge = floors.huge_setup
    if huge is not None and block is not None and setup is not None:
        figures[block] = round(huge.setup_block_ms, 1)
        figures[setup] = round(huge.setup_s, 3)
    traced = plan.at_huge("floor_tracemalloc_peak_mb")
    if floors.huge_traced is not None and traced is not None:
        figures[traced] = round(floors.huge_traced.tracemalloc_peak_mb or 0.0, 1)
    return figures


def _huge_figures(huge: Result) -> dict[str, Any]:
    """Return the figures of the company set up only, named by its size."""
    n = huge.users
    issue = huge.issues.get(ISSUE_ENTITY_LIMIT, {})
    return {
        f"setup_s_{n}": round(huge.setup_s, 3),
        f"setup_block_ms_{n}": round(huge.setup_block_ms, 1),
        f"tracemalloc_peak_mb_{n}": round(huge.tracemalloc_peak_mb or 0.0, 1),
        f"entities_{n}": huge.entities,
        f"disabled_entities_{n}": huge.disabled,
        f"devices_{n}": huge.devices,
        f"users_left_out_{n}": int(issue.get("users_left_out", 0)),
        f"queues_left_out_{n}": int(issue.get("queues_left_out", 0)),
        f"entity_limit_issue_{n}": ISSUE_ENTITY_LIMIT in huge.issues,
        f"entity_limit_warnings_{n}": huge.limit_warnings,
    }


def _print_huge(
    plan: Plan, huge: Result, floor: Floor | None, traced: Floor | None
) -> None:
    """Print the company set up only beside Home Assistant's floor with as many entities."""
    n = huge.users
    issue = huge.issues.get(ISSUE_ENTITY_LIMIT)
    fits = (
        "everyone fits"
        if issue is None
        else (
            f"{issue.get('users_left_out', '?')} users and "
            f"{issue.get('queues_left_out', '?')} queues left out, with the "
            f"repair issue {ISSUE_ENTITY_LIMIT!r}"
        )
    )
    print(
        f"{huge.label}, everyone followed with the defaults: {huge.entities} "
        f"entities enabled and {huge.disabled} disabled on {huge.devices} devices "
        f"({fits}; Home Assistant's 'Reached the maximum' warning "
        f"{huge.limit_warnings} times); set up in {huge.setup_s:.2f} s, longest "
        f"loop block {huge.setup_block_ms:.1f} ms (medians of {plan.huge_setups} "
        "setups), tracemalloc peak of the setup "
        f"{huge.tracemalloc_peak_mb or 0.0:.1f} MiB"
    )
    if floor is not None and traced is not None:
        print(
            f"Home Assistant's floor for {n} users: {floor.entities} plain entities "
            f"enabled and {floor.disabled} disabled on {floor.devices} devices, set "
            f"up in {floor.setup_s:.2f} s, longest loop block "
            f"{floor.setup_block_ms:.1f} ms, tracemalloc peak of the setup "
            f"{traced.tracemalloc_peak_mb or 0.0:.1f} MiB"
        )


def _print_floors(plan: Plan, floors: Floors, figures: dict[str, Any]) -> None:
    small, large = floors.small[0], floors.large[0]
    n = plan.large[0]
    print(
        "Home Assistant's own floor (script/floor.py), plain entities attached to "
        "as many devices: "
        f"{large.entities} entities (and {large.disabled} disabled) set up in "
        f"{figures[f'floor_setup_s_{n}']:.2f} s "
        f"(longest loop block {figures[f'floor_setup_block_ms_{n}']:.1f} ms) "
        f"and trace {figures[f'floor_tracemalloc_peak_mb_{n}']:.1f} MiB; a state "
        f"write round-robin over {plan.small[0]} of {small.entities} entities costs "
        f"{figures['floor_cpu_us_per_write'][0]:.1f} µs, over {plan.large[0]} of "
        f"{large.entities} {figures['floor_cpu_us_per_write'][1]:.1f} µs: "
        f"floor_scale_ratio {figures['floor_scale_ratio']:.3f} (per pair: "
        + ", ".join(f"{ratio:.3f}" for ratio in floors.ratios)
        + "; garbage collection "
        + ", ".join(
            f"{statistics.median(f.gc_us_per_write for f in runs):.1f}"
            for runs in (floors.small, floors.large)
        )
        + " µs per write)"
    )


@dataclass(frozen=True)
class Target:
    """One target of the JSON line: what it says, and whether this run met it."""

    figure: str
    wanted: str
    met: bool | None  # None: not measured in this run


def targets(plan: Plan, figures: dict[str, Any]) -> list[Target]:
    """Judge the run's figures; floor-relative targets against the floor of the same run."""
    n = plan.large[0]
    f = figures

    def judge(figure: str, wanted: str, test: Any, *needs: str) -> Target:
        if any(key not in f for key in (figure, *needs)):
            return Target(figure, wanted, None)
        return Target(figure, wanted, bool(test()))

    return [
        judge("events_per_s", ">= 12,000", lambda: f["events_per_s"] >= 12_000),
        judge("p99_ms", "< 12", lambda: f["p99_ms"] < 12),
        judge(
            "scale_ratio",
            f"<= 1.10 x floor_scale_ratio ({1.1 * f['floor_scale_ratio']:.3f})",
            lambda: f["scale_ratio"] <= 1.10 * f["floor_scale_ratio"],
        ),
        judge(
            "writes_per_unchanged_event",
            "0",
            lambda: f["writes_per_unchanged_event"] == 0,
        ),
        judge(
            "resync_writes",
            "<= changed entities + 1 %",
            lambda: f["resync_writes"] <= f["changed_entities_at_resync"] * 1.01,
        ),
        judge("resync_block_ms", "< 10", lambda: f["resync_block_ms"] < 10),
        judge("resync_s", "< 0.3", lambda: f["resync_s"] < 0.3),
        judge(
            "new_item_block_ms_ratio",
            "<= 1.5",
            lambda: f["new_item_block_ms_ratio"] <= 1.5,
        ),
        judge(
            f"setup_s_{n}",
            f"<= floor_setup_s_{n} + {SETUP_MARGIN_S} s",
            lambda: f[f"setup_s_{n}"] <= f[f"floor_setup_s_{n}"] + SETUP_MARGIN_S,
            f"floor_setup_s_{n}",
        ),
        judge("rest_reads_at_setup", "1", lambda: f["rest_reads_at_setup"] == 1),
        judge(
            "writes_per_entity_at_setup",
            "1 (one write an entity, and the event stream sensor's turning on)",
            lambda: (
                f["writes_per_entity_at_setup"] * f["entities"] <= f["entities"] + 1
            ),
            "entities",
        ),
        judge(
            f"tracemalloc_peak_mb_{n}",
            f"<= floor_tracemalloc_peak_mb_{n} + {MEMORY_MARGIN_MB} MiB",
            lambda: (
                f[f"tracemalloc_peak_mb_{n}"]
                <= f[f"floor_tracemalloc_peak_mb_{n}"] + MEMORY_MARGIN_MB
            ),
            f"floor_tracemalloc_peak_mb_{n}",
        ),
        judge(
            "setup_block_ms_1000",
            "<= 50",
            lambda: f["setup_block_ms_1000"] <= 50,
        ),
        judge(
            "setup_block_ms_5000",
            "<= 100",
            lambda: f["setup_block_ms_5000"] <= 100,
        ),
        judge(
            "setup_s_5000",
            f"<= floor_setup_s_5000 + {SETUP_MARGIN_S} s",
            lambda: f["setup_s_5000"] <= f["floor_setup_s_5000"] + SETUP_MARGIN_S,
            "floor_setup_s_5000",
        ),
        judge(
            "tracemalloc_peak_mb_5000",
            f"<= floor_tracemalloc_peak_mb_5000 + {MEMORY_MARGIN_MB} MiB",
            lambda: (
                f["tracemalloc_peak_mb_5000"]
                <= f["floor_tracemalloc_peak_mb_5000"] + MEMORY_MARGIN_MB
            ),
            "floor_tracemalloc_peak_mb_5000",
        ),
        judge(
            "entity_limit_warnings_5000",
            "0 (what does not fit is left out with a repair issue)",
            lambda: (
                f["entity_limit_warnings_5000"] == 0
                and (
                    f["entity_limit_issue_5000"]
                    or f["users_left_out_5000"] + f["queues_left_out_5000"] == 0
                )
            ),
        ),
    ]


def _print_targets(plan: Plan, judged: list[Target], figures: dict[str, Any]) -> None:
    print(
        f"targets ({plan.large[0]} users, {plan.large[1]} queues; floor-relative "
        "ones against this run's floor):"
    )
    for target in judged:
        if target.met is None:
            verdict, value = "not measured in this run", ""
        else:
            verdict = "met" if target.met else "NOT MET"
            value = f" = {figures[target.figure]}"
        print(f"  {target.figure}{value}, target {target.wanted}: {verdict}")


def _figures(
    plan: Plan, small: Result, large: Result, ratios: list[float]
) -> dict[str, Any]:
    resync = large.resync
    return {
        "events_per_s": round(large.events_per_s),
        "p50_ms": round(large.latency_ms["p50"], 2),
        "p99_ms": round(large.latency_ms["p99"], 2),
        "scale_ratio": round(statistics.median(ratios), 3),
        "writes_per_unchanged_event": round(
            statistics.mean(large.unchanged.values()), 3
        ),
        "resync_writes": round(resync["writes"]),
        "resync_stream_sensor_writes": round(resync["stream_writes"]),
        "changed_entities_at_resync": round(resync["changed_entities"]),
        "resync_block_ms": round(resync["block_ms"], 1),
        "resync_s": round(resync["resync_s"], 3),
        "new_item_block_ms_ratio": round(
            statistics.median(large.new_item_block_ms)
            / statistics.median(small.new_item_block_ms),
            2,
        ),
        plan.at_large("setup_s"): round(large.setup_s, 3),
        "rest_reads_at_setup": large.rest_reads,
        "writes_per_entity_at_setup": round(large.writes_per_entity, 3),
        plan.at_large("tracemalloc_peak_mb"): round(
            large.tracemalloc_peak_mb or 0.0, 1
        ),
        "mode": plan.mode,
        "entities": large.entities,
        "disabled_entities": large.disabled,
        "users": large.users,
        "queues": large.queues,
    }


def _print_table(
    plan: Plan,
    results: list[Result],
    large: Result,
    ratios: list[float],
    elapsed: float,
) -> None:
    print(
        f"Weblink NGUC benchmark ({plan.mode}): Home Assistant {ha_version} test harness, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{AGENTS_PER_QUEUE} agents a queue, one phone a user"
    )
    header = (
        f"{'company':<16}{'entities':>9}{'setup s':>9}{'stream s':>9}{'REST GETs':>10}"
        f"{'reads':>6}{'writes/ent':>11}{'setup blk ms':>13}{'events/s':>10}"
        f"{'CPU µs/ev':>10}{'new q blk ms':>13}{'new q s':>8}{'new q writes':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        blocks = (
            f"{statistics.median(r.new_item_block_ms):.1f}"
            if r.new_item_block_ms
            else "-"
        )
        shown = f"{statistics.median(r.new_item_s):.3f}" if r.new_item_s else "-"
        new_writes = (
            f"{statistics.median(r.new_item_writes):.0f}" if r.new_item_writes else "-"
        )
        print(
            f"{r.label:<16}{r.entities:>9}{r.setup_s:>9.2f}{r.connected_s:>9.2f}"
            f"{r.rest_gets:>10}{r.rest_reads:>6}{r.writes_per_entity:>11.2f}"
            f"{r.setup_block_ms:>13.1f}{r.events_per_s:>10.0f}{r.cpu_us_per_event:>10.1f}"
            f"{blocks:>13}{shown:>8}{new_writes:>13}"
        )
    print(
        "(stream s: setup until the event stream counted as connected; reads: full "
        f"REST reads; events/s and CPU: median of {plan.pairs} runs for "
        f"{plan.small[0]} and {plan.large[0]} users, bursts of {plan.burst}; "
        "new q: a queue added, median of "
        f"{plan.new_items})"
    )
    lat = large.latency_ms
    print(
        f"{large.label}: latency send -> state at {lat['rate']:.0f} events/s: "
        f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms "
        f"({lat['samples']} events, {lat['unmatched']} unmatched)"
    )
    print(
        f"{large.label}: writes per repeated unchanged event: "
        + ", ".join(f"{name} {value:.2f}" for name, value in large.unchanged.items())
    )
    rs = large.resync
    print(
        f"{large.label}: resync after {rs['statuses_changed']} statuses and "
        f"{rs['queues_changed']} queues changed unseen: {rs['writes']} writes for "
        f"{rs['changed_entities']} changed entities ({rs['needless_writes']} to "
        f"entities that ended unchanged, e.g. {', '.join(large.needless_examples) or '-'}; "
        f"and {rs['stream_writes']} of the event stream's sensor, off and on again), "
        "longest loop block "
        f"{rs['block_ms']:.1f} ms, new websocket -> in sync {rs['resync_s']:.3f} s "
        f"(of which until connected {rs['accept_s']:.3f} s; backoff before it "
        f"{rs['backoff_s']:.2f} s), lines wrong after: {rs['wrong_lines']}; "
        f"median of {len(large.resyncs)}: blocks "
        + ", ".join(f"{run['block_ms']:.1f}" for run in large.resyncs)
        + " ms, in sync after "
        + ", ".join(f"{run['resync_s']:.3f}" for run in large.resyncs)
        + " s"
    )
    print(
        "scale_ratio, CPU per event at "
        f"{plan.large[0]} over {plan.small[0]} users, per pair: "
        + ", ".join(f"{ratio:.3f}" for ratio in ratios)
    )
    print(f"{large.label}: tracemalloc peak {large.tracemalloc_peak_mb:.1f} MiB")
    print(f"benchmark took {elapsed:.0f} s")


async def main(plan: Plan) -> None:
    """Run the plan within its time limit; the JSON line is printed last."""
    async with asyncio.timeout(plan.timeout):
        figures = await run(plan)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="at most 100 users, under a minute"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Each Home Assistant warns that a custom integration is loaded.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    asyncio.run(main(QUICK if args.quick else FULL))
