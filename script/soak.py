"""Soak run (issue 6): prints a table, then one JSON line; exits non-zero on a mismatch.

The integration runs in Home Assistant's test harness against the simulator
(both in this process) for ``--minutes``: the demo company at a high event
rate, with a random fault every few seconds (tests/harness/faults.py, the
fault matrix's faults and issue 14's: an empty list once, a refused list,
the token endpoint down, a token answer after 20 s; issue 18's: a list cut
short once, a list whose items cannot be read, 401 on every list with the
token endpoint down, a restart of the entry during a REST outage or a slow
token answer, options
changed (follow a subset, everyone, an item removed from NGUC), and
connections cut every few seconds). After each fault the
traffic pauses and the run waits until Home Assistant shows the simulator's
truth again (the fault matrix's check: every entity, device, websocket and
repair issue), timing the recovery. It ends with the same check.

Some faults are also checked while they last: a device removed while NGUC
holds its item, a refused list that leaves the rest unavailable or stale, a
stream that stays down while the token endpoint is down although the access
token is valid, a device lost in a restart during a REST outage, an unload
longer than 5 s, options stored other than chosen. Faults that rightly ask
for the password (the token endpoint refusing it) are not drawn: a
reauthentication is a failure here. Whom the entry follows is checked as its
options say (tests/harness/convergence.py).

The summary counts the REST requests per list (path -> count), over the
whole run and while connections were cut every few seconds (``flapping``;
``--flap-every S`` cuts them for the whole run, and ``--faults quiet``
draws no fault at all). While connections flap, the quiet time after a
reconnect (and with ``--flap-every``, the periodic read too) is the shipped
one scaled as the cuts are (a cut every 3 s stands for the proxy's 20 s),
so the counts are the shipped integration's.

The integration's waits are shortened (tests/harness/timings.py: backoff
caps, heartbeat, grace) so that an hour of faults fits in minutes;
``--faults`` draws from the named faults only. The exit code is 1 when a
check failed (``mismatches``), a reauthentication started (``reauths``) or
a traceback was logged.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Collection
import gc
import json
import logging
import os
from pathlib import Path
import platform
import random
import resource
import sys
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant import const as ha_const
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigEntryState
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr

from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.timings import DEFAULT_TIMINGS
from tests.harness.convergence import Followed, mismatches, wait_converged
from tests.harness.faults import (
    LISTS,
    ODD_EXPIRES_IN,
    PHONES,
    QUEUES,
    STATUSES,
    USERS,
    Faults,
    malformed_frames,
)
from tests.harness.home import add_through_flow, home_assistant
from tests.harness.timings import SOAK, SOAK_COMPRESSION, Timings, applied, use
from tests.simulator import Device, Simulator, User, demo_company, run_demo

RECOVERY_TIMEOUT = 60.0
# The token endpoint's two minutes down, at the soak's compression.
TOKEN_DOWN_S = 120.0 / SOAK_COMPRESSION
# ... or until the stream is back on the old access token, if that takes longer.
TOKEN_DOWN_LIMIT_S = 10.0
# A token answer after 20 s: later than a 15 s timeout, within a minute. Not
# compressed: it is the token request's own wait that is tried.
SLOW_TOKEN_S = 20.0
# How long a refused list may take to show everything else as NGUC holds it.
REFUSED_CHECK_S = 15.0
# Unload and reload finish within this, whatever the token endpoint does (issue 18 §6).
UNLOAD_LIMIT_S = 5.0
# Flapping: connections closed this long after they open, for this long. A
# proxy's 20 s at a scale where the soak's periodic read (10 s) stays rarer
# than a cut; uncompressed, it would leave no time to read the state at all.
FLAP_EVERY_S = 3.0
FLAP_FOR_S = 20.0
# The proxy of issue 18 §6 cuts every 20 s. While connections flap, the
# integration's read waits are scaled as the cuts are (see `flap_timings`),
# so the soak's reads per cut are those of the shipped integration's.
PROXY_CUT_S = 20.0
# Not drawn unless named in --faults.
NOT_DRAWN = frozenset({"quiet"})


def _progress(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


class LogWatch(logging.Handler):
    """Counts what the integration and Home Assistant log; keeps a few samples."""

    def __init__(self) -> None:
        """Count from now on."""
        super().__init__(logging.INFO)
        self.tracebacks: list[str] = []
        self.errors: list[str] = []
        self.traceback_count = 0
        self.error_count = 0
        self.warnings: Counter[str] = Counter()
        self.lost = 0
        self.restored = 0
        self.simulator_errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record."""
        name = record.name
        if name.startswith("tests."):
            if record.levelno >= logging.ERROR:
                self.simulator_errors += 1
            return
        ours = name.startswith("custom_components.weblink_nguc")
        if not (ours or name.startswith(("homeassistant", "aiohttp"))):
            return
        message = record.getMessage()
        if record.exc_info is not None or record.exc_text:
            self.traceback_count += 1
            if len(self.tracebacks) < 10:
                self.tracebacks.append(f"{name}: {message}"[:300])
        if record.levelno >= logging.ERROR:
            self.error_count += 1
            if len(self.errors) < 10:
                self.errors.append(f"{name}: {message}"[:300])
        elif ours and record.levelno >= logging.WARNING:
            self.warnings[message[:60]] += 1
        if ours and record.levelno >= logging.INFO:
            lowered = message.lower()
            self.lost += "lost" in lowered.split()
            self.restored += "restored" in lowered.split()


def rss_kb() -> int:
    """Return this process's resident memory now, in KiB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


class Traffic:
    """The demo's office day plus a pump of status changes, both pausable."""

    def __init__(self, sim: Simulator, rng: random.Random, rate: float) -> None:
        """Bind to a simulator; ``rate`` is the pump's events per second."""
        self.sim = sim
        self.rng = rng
        self.rate = rate
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Traffic:
        """Start the traffic."""
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop the traffic."""
        await self.stop()

    def start(self) -> None:
        """Start the demo and the pump."""
        if self._tasks:
            return
        seed = self.rng.randrange(1 << 30)
        self._tasks = [
            asyncio.create_task(
                run_demo(self.sim, seed=seed, interval=0.05, max_parallel=6),
                name="soak-demo",
            ),
            asyncio.create_task(self._pump(), name="soak-pump"),
        ]

    async def stop(self) -> None:
        """Stop both; every event applied to the model was sent (see `push_events`)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(self) -> None:
        """Frames of one to four status events, ``rate`` events a second in all."""
        sim, rng = self.sim, self.rng
        while True:
            company = sim.company
            events: list[tuple[str, Any]] = []
            available = {q.id: q.member_available for q in company.queues.values()}
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.8 and company.users:
                    user_id = rng.choice(list(company.users))
                    company.set_status(user_id, rng.choice((0, 0, 1, 8, 9, 4)))
                    events.append(("UserStatus", company.user_status_payload(user_id)))
                elif company.devices:
                    phone = company.devices[rng.choice(list(company.devices))]
                    phone.status ^= 1
                    events.append(("DeviceStatus", phone.event_payload()))
            # The queues whose available agents changed with the lines.
            events += [
                ("Queue", queue.to_wire())
                for queue in company.queues.values()
                if available.get(queue.id) != queue.member_available
            ]
            # Already applied to the model: sent as they are, in one frame.
            await sim.push_events(events, apply=False)
            await asyncio.sleep(len(events) / self.rate)


class Soak:
    """One integration, one simulator, faults and checks."""

    def __init__(
        self, hass: HomeAssistant, sim: Simulator, seed: int, rate: float
    ) -> None:
        """Bind; :meth:`setup` adds the entry through the config flow."""
        self.hass = hass
        self.sim = sim
        self.faults = Faults(sim)
        self.rng = random.Random(seed)
        self.traffic = Traffic(sim, random.Random(seed + 1), rate)
        self.entry: ConfigEntry[Any] | None = None
        self.drawn: Counter[str] = Counter()
        self.recoveries: defaultdict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.reauth_flows: set[str] = set()
        # Every event stream the entry has had (each restart makes a new one).
        self.streams: list[Any] = []
        self.flap_every: float | None = None
        self.flapping_requests: Counter[str] = Counter()
        self.flapping_cuts = 0
        self.flapping_reconnects = 0
        self.flapping_seconds = 0.0
        self.unload_longest = 0.0
        self.kind = ""
        self.kinds: dict[str, Callable[[], Awaitable[None]]] = {
            "go_away": self.go_away,
            "tcp_drop": self.tcp_drop,
            "half_open": self.half_open,
            "token_expired": self.token_expired,
            "tokens_revoked": self.tokens_revoked,
            "rest_5xx": self.rest_5xx,
            "rest_429": self.rest_429,
            "rest_timeout": self.rest_timeout,
            "rest_404": self.rest_404,
            "events_during_resync": self.events_during_resync,
            "restart_everything_changed": self.restart_everything_changed,
            "user_by_event": self.user_by_event,
            "unreachable": self.unreachable,
            "malformed_frame": self.malformed_frame,
            "open_again": self.open_again,
            "odd_expires_in": self.odd_expires_in,
            "empty_list_once": self.empty_list_once,
            "refused_list": self.refused_list,
            "token_endpoint_down": self.token_endpoint_down,
            "slow_token": self.slow_token,
            "truncated_list": self.truncated_list,
            "unreadable_list": self.unreadable_list,
            "lists_401_token_down": self.lists_401_token_down,
            "restart_during_outage": self.restart_during_outage,
            "restart_during_slow_token": self.restart_during_slow_token,
            "follow_subset": self.follow_subset,
            "follow_everyone": self.follow_everyone,
            "followed_removed": self.followed_removed,
            "left_out_removed": self.left_out_removed,
            "flapping": self.flapping,
            "quiet": self.quiet,
        }

    @property
    def events_applied(self) -> int:
        """Return the NGUC events Home Assistant received (most not on the bus)."""
        self.note_stream()
        return sum(int(stream.events) for stream in self.streams)

    def note_stream(self) -> None:
        """Remember the entry's event stream of now (a restart starts a new one)."""
        entry = self.entry
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return
        stream = entry.runtime_data.stream
        if not any(stream is known for known in self.streams):
            self.streams.append(stream)

    async def setup(self) -> ConfigEntry[Any]:
        """Add the demo account as a user would, and wait until it shows the truth."""
        hass, sim = self.hass, self.sim
        self.entry = await add_through_flow(
            hass,
            api_url=sim.api_url,
            events_url=sim.events_url,
            company="demo",
            username="demo",
            password="demo",
        )
        await wait_converged(hass, self.entry, sim, RECOVERY_TIMEOUT)
        hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._device_removed)
        return self.entry

    @callback
    def _device_removed(self, event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        """Note a device removed while NGUC holds its item: a failure, even if it comes back."""
        if event.data["action"] != "remove":
            return
        # Options changed: what is no longer followed goes, rightly.
        followed = Followed.of(self.entry.options if self.entry else {})
        company = self.sim.company
        held: dict[str, Collection[str]] = {
            "user": company.users,
            "device": company.devices,
            "queue": company.queues,
        }
        for _domain, identifier in event.data["device"]["identifiers"]:
            kind, _, item = identifier.rpartition("_")
            for name, items in held.items():
                if (
                    kind.endswith(name)
                    and item in items
                    and _follows(followed, company, name, item)
                ):
                    self.failures.append(
                        f"during {self.kind}: the device of {name} {item} was "
                        "removed while NGUC holds it"
                    )
                    _progress(f"DEVICE REMOVED during {self.kind}: {name} {item}")

    def watch_reauth(self) -> None:
        """Note every reauthentication flow started."""
        for flow in self.hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            if flow["context"]["source"] == SOURCE_REAUTH:
                self.reauth_flows.add(flow["flow_id"])

    async def converge(self, kind: str, since: float) -> None:
        """Wait until converged; note the recovery time since ``since``, or the failure."""
        assert self.entry is not None
        try:
            await wait_converged(self.hass, self.entry, self.sim, RECOVERY_TIMEOUT)
        except AssertionError as err:
            self.failures.append(f"after {kind}: {err}"[:3000])
            _progress(f"NOT CONVERGED after {kind}")
            return
        self.recoveries[kind].append(time.monotonic() - since)

    async def cycle(self) -> None:
        """Traffic, one fault, traffic during recovery, then the check."""
        self.traffic.start()
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        kind = self.kind = self.rng.choice(sorted(self.kinds))
        self.drawn[kind] += 1
        await self.kinds[kind]()
        self.note_stream()
        ended = time.monotonic()
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        await self.traffic.stop()
        self.watch_reauth()
        await self.converge(kind, ended)
        self.watch_reauth()

    async def reconnected(self, before: int, within: float = 30.0) -> bool:
        """Wait (at most ``within`` s) until a connection after the ``before``-th authenticated."""
        deadline = time.monotonic() + within
        while self.sim.authenticated_count <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.sim.authenticated_count > before

    # --- the faults (tests/harness/faults.py), drawn at random -----------------------------

    async def go_away(self) -> None:
        """Close with c[3000,"Go away!"], and so the next one to three connections."""
        closes = self.rng.randint(1, 3)
        before = self.sim.authenticated_count
        await self.faults.go_away(closes)
        await self.reconnected(before + closes)

    async def tcp_drop(self) -> None:
        """Cut the TCP connection: no close frame."""
        await self.faults.tcp_drop()

    async def half_open(self) -> None:
        """Silence the connection at both levels, socket open."""
        before = self.sim.authenticated_count
        self.faults.half_open()
        await self.reconnected(before)

    async def token_expired(self) -> None:
        """Expire every access token; reconnect with the old one."""
        await self.faults.token_expired()

    async def tokens_revoked(self) -> None:
        """Revoke every token: the account logs in with its password."""
        await self.faults.tokens_revoked()

    async def rest_5xx(self) -> None:
        """Fail a list with a server error a few times during the resync."""
        self.faults.rest_error(
            self.rng.choice(LISTS),
            self.rng.choice((500, 502, 503)),
            count=self.rng.randint(1, 4),
        )
        await self.faults.force_read()

    async def rest_429(self) -> None:
        """Rate-limit a list (Retry-After: 1) during the resync."""
        self.faults.rest_error(self.rng.choice(LISTS), 429, count=1, retry_after=1)
        await self.faults.force_read()

    async def rest_timeout(self) -> None:
        """Hold a list longer than the request timeout during the resync."""
        self.faults.rest_timeout(self.rng.choice(LISTS), 5.0)
        await self.faults.force_read()

    async def rest_404(self) -> None:
        """Answer 404 for the phone or queue list for a while."""
        path = self.rng.choice((PHONES, QUEUES))
        self.faults.rest_error(path, 404)
        await self.faults.force_read()
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        self.faults.list_back(path)

    async def events_during_resync(self) -> None:
        """Send the resync's answers a second after they were made."""
        self.faults.stale_lists(LISTS, 1.0)
        await self.faults.force_read()

    async def restart_everything_changed(self) -> None:
        """Restart with users, phones, queues and statuses changed."""
        await self.traffic.stop()  # the demo's calls refer to users and queues
        await self.sim.restart(lambda company: company.scramble(self.rng))
        self.traffic.start()

    async def user_by_event(self) -> None:
        """Add a user and a phone known by their events only."""
        company = self.sim.company
        user_id = company.new_item_id("user")
        phone_id = company.new_item_id("device")
        await self.faults.user_by_event(
            User(user_id, f"Nyanställd {user_id}", user_id[-3:], ""),
            self.rng.choice((0, 1)),
            Device(phone_id, user_id, f"Telefon {phone_id}", "Yealink T54W"),
        )

    async def unreachable(self) -> None:
        """Be unreachable for a few seconds."""
        await self.faults.unreachable()
        await asyncio.sleep(self.rng.uniform(2.0, 8.0))
        await self.faults.reachable()

    async def malformed_frame(self) -> None:
        """Send a malformed frame or element beside a valid event."""
        company = self.sim.company
        user_id = self.rng.choice(list(company.users))
        company.set_status(user_id, 1)
        good = json.dumps(["UserStatus", company.user_status_payload(user_id)])
        bad = self.rng.choice(malformed_frames(good))
        await self.faults.malformed_frame(bad)
        if good not in bad:  # the change must still reach the client
            await self.sim.push_events(
                [("UserStatus", company.user_status_payload(user_id))], apply=False
            )

    async def open_again(self) -> None:
        """Send a second `o` on the open session."""
        await self.faults.open_again()

    async def odd_expires_in(self) -> None:
        """Tokens come with an `expires_in` of 0, negative, missing or a string."""
        self.faults.odd_expires_in(self.rng.choice(ODD_EXPIRES_IN))
        await self.faults.tokens_revoked()  # the next token comes with that answer

    async def empty_list_once(self) -> None:
        """One list answers 200 [] once, at a resync: nothing is deleted (see `_device_removed`).

        Any list that holds something, however few items: an empty answer is
        always doubted (issue 18 §1; issue 14 believed one for two items or
        fewer).
        """
        company = self.sim.company
        sizes = {
            USERS: len(company.users),
            PHONES: len(company.devices),
            QUEUES: len(company.queues),
        }
        lists = [path for path, size in sizes.items() if size > 0]
        if not lists:
            return
        self.faults.empty_list_once(self.rng.choice(lists))
        await self.faults.force_read()
        await asyncio.sleep(1.0)  # the read is over; its verdict is in the registry

    async def refused_list(self) -> None:
        """Refuse a list (403) for a while: the rest stays current and available meanwhile."""
        assert self.entry is not None
        path = self.rng.choice((STATUSES, PHONES, QUEUES))
        self.faults.refuse_list(path)
        # A change no event tells (the traffic paused, or its events would
        # tell): only the lists that still answer can show it.
        await self.traffic.stop()
        company = self.sim.company
        # A status changes the queues' available agents too: it is shown only
        # while both the statuses and the queues answer.
        if path in {STATUSES, QUEUES}:
            phone = company.devices[self.rng.choice(list(company.devices))]
            phone.status ^= 1
        else:
            user_id = self.rng.choice(list(company.users))
            company.set_status(user_id, 0 if company.statuses.get(user_id) else 1)
        await self.faults.force_read()
        # Still refused: all but the repair issue must be as NGUC holds it.
        try:
            await wait_converged(
                self.hass, self.entry, self.sim, REFUSED_CHECK_S, issues=False
            )
        except AssertionError as err:
            self.failures.append(f"while {path} was refused: {err}"[:3000])
            _progress(f"NOT CONVERGED while {path} was refused")
        self.faults.list_back(path)
        self.traffic.start()

    async def token_endpoint_down(self) -> None:
        """Take the token endpoint down for two minutes (compressed), with an early close.

        The access token is still valid: the stream must come back with it
        while the token endpoint is down. The endpoint stays down until it
        does (at least `TOKEN_DOWN_S`, at most `TOKEN_DOWN_LIMIT_S`).
        """
        self.faults.token_endpoint_down()
        started = time.monotonic()
        before = self.sim.authenticated_count
        # The connection is closed, and the next one right after authenticate:
        # the early close that makes the client renew its token.
        await self.faults.go_away(1)
        # Both the connection closed at authenticate and the one after it.
        if not await self.reconnected(before + 1, within=TOKEN_DOWN_LIMIT_S):
            self.failures.append(
                f"the stream stayed down for the {TOKEN_DOWN_LIMIT_S:.0f} s the "
                "token endpoint was down, with an access token still valid"
            )
            _progress("STREAM DOWN while the token endpoint was down")
        await asyncio.sleep(max(0.0, started + TOKEN_DOWN_S - time.monotonic()))
        self.faults.token_endpoint_back()

    async def slow_token(self) -> None:
        """Answer token requests after 20 s while a renewal is due."""
        self.faults.slow_token(SLOW_TOKEN_S)
        await self.faults.token_expired()
        await asyncio.sleep(SLOW_TOKEN_S + 1.0)
        self.faults.slow_token(0.0)

    # --- issue 18's faults -------------------------------------------------------------------

    def fail(self, what: str) -> None:
        """Note a failure seen while a fault lasts."""
        self.failures.append(f"during {self.kind}: {what}"[:3000])
        _progress(f"FAILED during {self.kind}: {what[:200]}")

    def device_identifiers(self) -> set[str]:
        """Return the identifiers of the entry's devices now."""
        assert self.entry is not None
        return {
            identifier
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.entry.entry_id
            )
            for domain, identifier in device.identifiers
            if domain == DOMAIN
        }

    async def truncated_list(self) -> None:
        """One answer of a list holds only its first items (200): nothing goes."""
        company = self.sim.company
        sizes = {
            USERS: len(company.users),
            STATUSES: len(company.statuses),
            PHONES: len(company.devices),
            QUEUES: len(company.queues),
        }
        lists = [path for path, size in sizes.items() if size > 1]
        if not lists:
            return
        path = self.rng.choice(lists)
        n = self.rng.randint(1, sizes[path] - 1)
        assert self.entry is not None
        followed = Followed.of(self.entry.options).users
        if path == USERS and followed is not None:
            # Following some users: cut the list before the first of them,
            # so the answer names none of them (issue 18 §3).
            order = list(company.users)
            first = min((order.index(u) for u in followed if u in order), default=0)
            n = first or n
        self.faults.truncated_list(path, n)
        await self.faults.force_read()
        await asyncio.sleep(1.0)  # the read is over; its verdict is in the registry

    async def unreadable_list(self) -> None:
        """Rename every item's id field in a list's answers for a while: nothing goes."""
        path = self.rng.choice(LISTS)
        self.faults.unreadable_list(path)
        await self.faults.force_read()
        await asyncio.sleep(self.rng.uniform(2.0, 6.0))
        self.faults.list_back(path)

    async def lists_401_token_down(self) -> None:
        """Every list answers 401 while the token endpoint is down, a few seconds.

        The stream stays up on its valid token; the lists must be read again
        on their own backoff (issue 18 §1), within a minute of the end.
        """
        self.faults.lists_401_token_down()
        await self.faults.force_read()
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        self.faults.lists_401_back()

    async def restart_entry(self) -> None:
        """Unload the entry (within `UNLOAD_LIMIT_S`) and set it up again, as a restart does."""
        hass, entry = self.hass, self.entry
        assert entry is not None
        self.note_stream()
        started = time.monotonic()
        try:
            async with asyncio.timeout(UNLOAD_LIMIT_S * 4):
                await hass.config_entries.async_unload(entry.entry_id)
        except TimeoutError:
            self.fail(f"unload still running after {UNLOAD_LIMIT_S * 4:.0f} s")
        took = time.monotonic() - started
        self.unload_longest = max(self.unload_longest, took)
        if took > UNLOAD_LIMIT_S:
            self.fail(f"unload took {took:.1f} s, over {UNLOAD_LIMIT_S:.0f} s")
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        self.note_stream()

    async def restart_during_outage(self) -> None:
        """Every list fails, a queue event comes, the entry restarts: no device is lost.

        Issue 18 §2: the store must not lose what this run did not read.
        """
        company = self.sim.company
        before = self.device_identifiers()
        status = self.rng.choice((500, 502, 503))
        for path in LISTS:
            self.faults.rest_error(path, status)
        await self.faults.force_read()
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        if company.queues:
            queue = company.queues[self.rng.choice(list(company.queues))]
            await self.sim.push_events([("Queue", queue.to_wire())], apply=False)
        await asyncio.sleep(0.5)
        for _ in range(self.rng.randint(1, 2)):
            await self.restart_entry()
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        if lost := before - self.device_identifiers():
            self.fail(
                f"{len(lost)} of {len(before)} devices gone after a restart "
                f"during a REST outage ({status}): {sorted(lost)[:8]}"
            )
        for path in LISTS:
            self.faults.list_back(path)
        # What the store kept is all this run knows of the items: an empty
        # answer now must be doubted as ever, not taken to empty the company
        # (a device removed is noted by `_device_removed`).
        path = self.rng.choice((USERS, PHONES, QUEUES))
        self.faults.empty_list_once(path)
        await self.faults.force_read()
        await asyncio.sleep(1.0)  # the read is over; its verdict is in the registry

    async def restart_during_slow_token(self) -> None:
        """Restart the entry while a token answer takes 20 s: the unload takes at most 5 s.

        The renewal goes on past the unload; its tokens are kept (the next
        start takes them), so no password is asked for (issue 18 §6).
        """
        self.faults.slow_token(SLOW_TOKEN_S)
        grants = self.sim.token_requests
        await self.faults.token_expired()
        deadline = time.monotonic() + 10.0
        while self.sim.token_requests == grants and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self.restart_entry()
        await asyncio.sleep(SLOW_TOKEN_S + 1.0)
        self.faults.slow_token(0.0)

    async def _options_form(self) -> dict[str, Any] | None:
        """Open the options form; return it, or None (noted) if it did not open."""
        assert self.entry is not None
        form = await self.hass.config_entries.options.async_init(self.entry.entry_id)
        if form["type"] is not FlowResultType.FORM:
            self.fail(f"the options form did not open: {form.get('reason')}")
            return None
        return dict(form)

    async def _submit(
        self, form: dict[str, Any], choice: dict[str, list[str]], chosen: Followed
    ) -> None:
        """Submit ``choice``; the entry reloads; its options must follow ``chosen``."""
        assert self.entry is not None
        self.note_stream()
        try:
            await self.hass.config_entries.options.async_configure(
                form["flow_id"], choice
            )
        except Exception as err:  # noqa: BLE001 - any refusal is the finding
            self.fail(f"the options form refused {choice}: {err!r}")
            return
        await self.hass.async_block_till_done()
        stored = Followed.of(self.entry.options)
        if (stored.users, stored.queues) != (chosen.users, chosen.queues):
            self.fail(f"options stored {stored!r}, but {chosen!r} was chosen")
        self.note_stream()

    async def follow_subset(self) -> None:
        """Follow some users (a third) and some queues, or every queue, by the form."""
        form = await self._options_form()
        if form is None:
            return
        listed = _listed(form)
        users = listed.get("users", [])
        queues = listed.get("queues", [])
        choice: dict[str, list[str]] = {}
        if len(users) > 1:
            choice["users"] = self.rng.sample(users, max(1, len(users) // 3))
        if len(queues) > 1 and self.rng.random() < 0.5:
            choice["queues"] = self.rng.sample(queues, 1)
        await self._submit(
            form, choice, Followed(choice.get("users"), choice.get("queues"))
        )

    async def follow_everyone(self) -> None:
        """Follow everyone again: both fields left empty."""
        form = await self._options_form()
        if form is None:
            return
        await self._submit(form, {}, Followed())

    def _removable_users(self) -> list[str]:
        """Return the users that may leave NGUC (not an account's); add one if few are left."""
        company = self.sim.company
        own = {account.pbx_user_id for account in company.accounts.values()}
        if len(company.users) - len(own) < 3:
            # Someone joins (told by no event): the next read finds them.
            user_id = company.new_item_id("user")
            company.add_user(User(user_id, f"Nyanställd {user_id}", user_id[-3:], ""))
            phone_id = company.new_item_id("device")
            company.add_device(
                Device(phone_id, user_id, f"Telefon {phone_id}", "Yealink T54W")
            )
        return [user for user in company.users if user not in own]

    async def followed_removed(self) -> None:
        """Remove a followed user from NGUC (no event): their devices go, nothing else."""
        assert self.entry is not None
        await self.traffic.stop()  # the demo's calls refer to users
        try:
            candidates = self._removable_users()
            followed = Followed.of(self.entry.options)
            gone = self.rng.choice(
                [user for user in candidates if followed.user(user)] or candidates
            )
            self.faults.remove_user(gone)
            await self.faults.force_read()
        finally:
            self.traffic.start()

    async def left_out_removed(self) -> None:
        """Follow all users but one, remove that one from NGUC, submit the form unchanged.

        The choice must stay a choice (issue 18 §7), not become everyone.
        """
        assert self.entry is not None
        await self.traffic.stop()  # the demo's calls refer to users
        try:
            removable = set(self._removable_users())
            await self.faults.force_read()  # the form offers the company as last read
            await asyncio.sleep(1.0)
            form = await self._options_form()
            if form is None:
                return
            listed = _listed(form).get("users", [])
            users = [user for user in listed if user in removable]
            if len(users) < 2:
                self.hass.config_entries.options.async_abort(form["flow_id"])
                return
            left_out = self.rng.choice(users)
            chosen = [user for user in listed if user != left_out]
            queues = Followed.of(self.entry.options).queues
            choice: dict[str, list[str]] = {"users": chosen}
            if queues is not None:
                choice["queues"] = sorted(queues)
            await self._submit(form, choice, Followed(chosen, queues))
            self.faults.remove_user(left_out)
            await self.faults.force_read()
            # Once the form no longer offers the one left out, submit it as it comes.
            deadline = time.monotonic() + RECOVERY_TIMEOUT
            while True:
                form = await self._options_form()
                if form is None:
                    return
                if left_out not in _listed(form).get("users", []):
                    break
                self.hass.config_entries.options.async_abort(form["flow_id"])
                if time.monotonic() > deadline:
                    self.fail(f"the options form still offers removed user {left_out}")
                    return
                await asyncio.sleep(0.5)
            unchanged = _suggested(form)
            await self._submit(
                form,
                unchanged,
                Followed(unchanged.get("users"), unchanged.get("queues")),
            )
            if "users" not in self.entry.options:
                self.fail(
                    "the form submitted unchanged, after the one user left out "
                    "left NGUC, turned the choice into everyone"
                )
        finally:
            self.traffic.start()

    async def flapping(self) -> None:
        """Close every connection `FLAP_EVERY_S` after it opens, for `FLAP_FOR_S`; count the reads."""
        sim = self.sim
        before = Counter(_rest_paths(sim))
        cuts, reconnects = sim.closed_by_lifetime, sim.authenticated_count
        self.faults.flapping(FLAP_EVERY_S)
        with applied(self.hass, flap_timings(FLAP_EVERY_S)):
            # A lifetime counts from a connection's start: the one open now goes first.
            await self.faults.force_read()
            await asyncio.sleep(FLAP_FOR_S)
        self.faults.flapping(self.flap_every)
        self.flapping_requests += Counter(_rest_paths(sim)) - before
        self.flapping_cuts += sim.closed_by_lifetime - cuts
        self.flapping_reconnects += sim.authenticated_count - reconnects
        self.flapping_seconds += FLAP_FOR_S

    async def quiet(self) -> None:
        """No fault: the traffic only (with ``--flap-every``, the flapping only)."""


def flap_timings(every: float) -> Timings:
    """Return the read waits of the shipped integration, scaled as a cut every ``every`` s is.

    The periodic read and the quiet time after a reconnect keep their ratio
    to a cut every `PROXY_CUT_S`: the counts per list then show how often a
    list is read under a flapping proxy, not the soak's compressed hour.
    The periodic read's interval is taken at setup: the flapping fault,
    which comes later, changes only the quiet time, and its counts include
    the soak's periodic read (every 10 s).
    """
    scale = every / PROXY_CUT_S
    quiet = getattr(DEFAULT_TIMINGS, "reconnect_quiet", None)
    return Timings(
        resync_interval=DEFAULT_TIMINGS.resync_interval * scale,
        **({} if quiet is None else {"reconnect_quiet": quiet * scale}),
    )


def _rest_paths(sim: Simulator) -> list[str]:
    """Return the path of every REST GET so far."""
    return [
        request.split(" ", 1)[1]
        for request in sim.requests
        if request.startswith("GET ")
    ]


def _listed(form: dict[str, Any]) -> dict[str, list[str]]:
    """Return the ids the options form offers, per field."""
    listed: dict[str, list[str]] = {}
    for key, selector in form["data_schema"].schema.items():
        options = getattr(selector, "config", {}).get("options", [])
        listed[str(key)] = [str(option["value"]) for option in options]
    return listed


def _suggested(form: dict[str, Any]) -> dict[str, list[str]]:
    """Return what the options form comes filled in with (what is submitted unchanged)."""
    suggested: dict[str, list[str]] = {}
    for key in form["data_schema"].schema:
        value = (getattr(key, "description", None) or {}).get("suggested_value")
        if value:
            suggested[str(key)] = [str(item) for item in value]
    return suggested


def _follows(followed: Followed, company: Any, name: str, item: str) -> bool:
    """Return whether the entry follows the item ``name`` ``item`` of ``company``."""
    if name == "user":
        return followed.user(item)
    if name == "queue":
        return followed.queue(item)
    phone = company.devices.get(item)
    return phone is None or followed.phone(phone.pbx_user_id)


async def soak(
    minutes: float,
    seed: int,
    rate: float,
    only: list[str] | None = None,
    flap_every: float | None = None,
) -> tuple[dict[str, Any], str]:
    """Run (drawing from the faults ``only``, if given); return the figures and the table."""
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("custom_components.weblink_nguc").setLevel(logging.INFO)
    started = time.monotonic()
    sim = Simulator(demo_company(), heartbeat_interval=SOAK.heartbeat or 25.0)
    await sim.start()
    try:
        async with home_assistant() as hass:
            use(hass, SOAK)
            run = Soak(hass, sim, seed, rate)
            if only:
                unknown = set(only) - set(run.kinds)
                if unknown:
                    raise SystemExit(f"no such fault: {', '.join(sorted(unknown))}")
                run.kinds = {kind: run.kinds[kind] for kind in only}
            else:
                run.kinds = {
                    kind: fault
                    for kind, fault in run.kinds.items()
                    if kind not in NOT_DRAWN
                }
            if flap_every:
                # Before setup: the periodic read's interval is taken then.
                use(hass, flap_timings(flap_every))
            entry = await run.setup()
            run.note_stream()
            if flap_every:
                run.flap_every = flap_every
                run.faults.flapping(flap_every)
                # A lifetime counts from a connection's start: this one goes first.
                await run.faults.force_read()
            _progress(f"set up; running {minutes:g} min at {rate:g} events/s")
            flap_started = time.monotonic()
            flap_cuts, flap_auths = sim.closed_by_lifetime, sim.authenticated_count
            flap_before = Counter(_rest_paths(sim))
            deadline = time.monotonic() + minutes * 60
            warm_at = time.monotonic() + min(minutes * 60 * 0.25, 120)
            warm_rss: int | None = None
            while time.monotonic() < deadline:
                await run.cycle()
                if warm_rss is None and time.monotonic() >= warm_at:
                    gc.collect()
                    warm_rss = rss_kb()
            # The end: every fault undone, the final check.
            await run.traffic.stop()
            if flap_every:
                # Flapping all along: the whole run is the flapping.
                run.flapping_seconds = round(time.monotonic() - flap_started, 1)
                run.flapping_cuts = sim.closed_by_lifetime - flap_cuts
                run.flapping_reconnects = sim.authenticated_count - flap_auths
                run.flapping_requests = Counter(_rest_paths(sim)) - flap_before
            sim.clear_faults()
            final = time.monotonic()
            await run.converge("the end", final)
            run.watch_reauth()
            final_mismatches = mismatches(hass, entry, sim)
            gc.collect()
            end_rss = rss_kb()
            figures = {
                "events_sent": sim.events_sent,
                "events_applied": run.events_applied,
                "faults": dict(sorted(run.drawn.items())),
                "reconnects": max(0, sim.connection_count - 1),
                "reauths": len(run.reauth_flows),
                "longest_recovery_s": round(
                    max(
                        (t for ts in run.recoveries.values() for t in ts),
                        default=0.0,
                    ),
                    2,
                ),
                "mismatches": len(run.failures) + (1 if final_mismatches else 0),
                "peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "memory_growth_kb": end_rss
                - (warm_rss if warm_rss is not None else end_rss),
                "tracebacks": watch.traceback_count,
                "errors": watch.error_count,
                "token_requests": sim.token_requests,
                "lost_logged": watch.lost,
                "restored_logged": watch.restored,
                "rest_requests": dict(sorted(Counter(_rest_paths(sim)).items())),
                "flapping": {
                    "seconds": run.flapping_seconds,
                    "cut_every_s": flap_every or FLAP_EVERY_S,
                    "cuts": run.flapping_cuts,
                    "reconnects": run.flapping_reconnects,
                    "rest_requests": dict(sorted(run.flapping_requests.items())),
                },
                "flap_every_s": flap_every,
                "longest_unload_s": round(run.unload_longest, 2),
                "minutes": minutes,
                "seed": seed,
            }
            table = _table(run, figures, watch, time.monotonic() - started)
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()
        logging.getLogger().removeHandler(watch)
    return figures, table


def _table(run: Soak, figures: dict[str, Any], watch: LogWatch, elapsed: float) -> str:
    lines = [
        (
            f"Weblink NGUC soak: {figures['minutes']:g} min (seed {figures['seed']}), "
            f"Home Assistant {ha_const.__version__} test harness, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs; "
            f"took {elapsed:.0f} s"
        ),
        f"{'fault':<28}{'count':>6}{'mean recovery s':>17}{'max recovery s':>16}",
        "-" * 67,
    ]
    for kind in sorted(run.drawn):
        times = run.recoveries.get(kind, [])
        mean = f"{sum(times) / len(times):.2f}" if times else "-"
        longest = f"{max(times):.2f}" if times else "-"
        lines.append(f"{kind:<28}{run.drawn[kind]:>6}{mean:>17}{longest:>16}")
    lines += [
        "-" * 67,
        (
            f"events sent {figures['events_sent']}, received by Home Assistant "
            f"{figures['events_applied']}; reconnects {figures['reconnects']}; "
            f"token requests {figures['token_requests']}"
        ),
        (
            f"reauths {figures['reauths']}, mismatches {figures['mismatches']}, "
            f"tracebacks {figures['tracebacks']}, errors {figures['errors']}; "
            f"'lost' logged {watch.lost}, 'restored' {watch.restored}"
        ),
        (
            f"peak RSS {figures['peak_rss_mb']} MiB, growth after warm-up "
            f"{figures['memory_growth_kb']} KiB; longest unload "
            f"{figures['longest_unload_s']} s"
        ),
    ]
    flapping = figures["flapping"]
    whole = (
        " (connections cut every {:g} s all along)".format(figures["flap_every_s"])
        if figures["flap_every_s"]
        else ""
    )
    lines += [
        (
            f"REST requests per list{whole}; while flapping "
            f"({flapping['seconds']:g} s, cut every {flapping['cut_every_s']:g} s: "
            f"{flapping['cuts']} cuts, {flapping['reconnects']} reconnects):"
        ),
        f"  {'path':<28}{'whole run':>10}{'flapping':>10}",
    ]
    for path, count in figures["rest_requests"].items():
        during = flapping["rest_requests"].get(path, 0)
        lines.append(f"  {path:<28}{count:>10}{during:>10}")
    if watch.warnings:
        lines.append("warnings (first 60 characters, count):")
        lines += [
            f"  {count:>5}  {text}" for text, count in watch.warnings.most_common(12)
        ]
    for failure in run.failures[:5]:
        lines.append(failure)
    lines += [f"logged: {text}" for text in (watch.tracebacks + watch.errors)[:10]]
    return "\n".join(lines)


def main() -> int:
    """Parse the arguments, run, print; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (10)")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument(
        "--faults",
        default="",
        help="draw only these faults (comma-separated names of the table; "
        "'quiet' draws none)",
    )
    parser.add_argument(
        "--flap-every",
        type=float,
        default=None,
        help="close every connection this many seconds after it opens, all run long",
    )
    parser.add_argument(
        "--rate", type=float, default=150.0, help="pumped status events a second (150)"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    # Each Home Assistant warns that a custom integration is loaded.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    only = args.faults.split(",") if args.faults else None
    figures, table = asyncio.run(
        soak(args.minutes, seed, args.rate, only, args.flap_every)
    )
    print(table)
    print(json.dumps(figures), flush=True)
    failed = figures["mismatches"] or figures["reauths"] or figures["tracebacks"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
