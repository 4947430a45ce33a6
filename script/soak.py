"""Soak run (issue 6): prints a table, then one JSON line; exits non-zero on a mismatch.

The integration runs in Home Assistant's test harness against the simulator
(both in this process) for ``--minutes``: the demo company at a high event
rate, with a random fault every few seconds (tests/harness/faults.py, the
fault matrix's faults and issue 14's: an empty list once, a refused list,
the token endpoint down, a token answer after 20 s). After each fault the
traffic pauses and the run waits until Home Assistant shows the simulator's
truth again (the fault matrix's check: every entity, device, websocket and
repair issue), timing the recovery. It ends with the same check.

Some faults are also checked while they last: a device removed while NGUC
holds its item, a refused list that leaves the rest unavailable or stale, a
stream that stays down while the token endpoint is down although the access
token is valid. Faults that rightly ask for the password (the token endpoint
refusing it) are not drawn: a reauthentication is a failure here.

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
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from custom_components.weblink_nguc.const import DOMAIN
from tests.harness.convergence import mismatches, wait_converged
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
from tests.harness.timings import SOAK, SOAK_COMPRESSION, use
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
        }

    @property
    def events_applied(self) -> int:
        """Return the NGUC events Home Assistant received (most not on the bus)."""
        if self.entry is None:
            return 0
        return int(self.entry.runtime_data.stream.events)

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
        company = self.sim.company
        held: dict[str, Collection[str]] = {
            "user": company.users,
            "device": company.devices,
            "queue": company.queues,
        }
        for _domain, identifier in event.data["device"]["identifiers"]:
            kind, _, item = identifier.rpartition("_")
            for name, items in held.items():
                if kind.endswith(name) and item in items:
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

        Only a list of more than two items: an empty answer for one or two is
        as believable as one or two leaving, which is believed at once (issue
        14 §1).
        """
        company = self.sim.company
        sizes = {
            USERS: len(company.users),
            PHONES: len(company.devices),
            QUEUES: len(company.queues),
        }
        lists = [path for path, size in sizes.items() if size > 2]
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


async def soak(
    minutes: float, seed: int, rate: float, only: list[str] | None = None
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
            entry = await run.setup()
            _progress(f"set up; running {minutes:g} min at {rate:g} events/s")
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
            f"{figures['memory_growth_kb']} KiB"
        ),
    ]
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
        help="draw only these faults (comma-separated names of the table)",
    )
    parser.add_argument(
        "--rate", type=float, default=150.0, help="pumped status events a second (150)"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    # Each Home Assistant warns that a custom integration is loaded.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    only = args.faults.split(",") if args.faults else None
    figures, table = asyncio.run(soak(args.minutes, seed, args.rate, only))
    print(table)
    print(json.dumps(figures), flush=True)
    failed = figures["mismatches"] or figures["reauths"] or figures["tracebacks"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
