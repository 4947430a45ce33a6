"""Soak run (issue 6): prints a table, then one JSON line; exits non-zero on a mismatch.

The integration runs in Home Assistant's test harness against the simulator
(both in this process) for ``--minutes``: the demo company at a high event
rate, with a random fault of the fault matrix every few seconds. After each
fault the traffic pauses and the run waits until Home Assistant shows the
simulator's truth again (the fault matrix's check: every entity, device,
websocket and repair issue), timing the recovery. It ends with the same check.

Faults that rightly ask for the password (the token endpoint refusing it) are
not drawn: a reauthentication is a failure here. The integration's waits are
shortened (backoff caps, heartbeat, grace) so that an hour of faults fits in
minutes. The exit code is 1 when a check failed (``mismatches``), a
reauthentication started (``reauths``) or a traceback was logged.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
from datetime import timedelta
import gc
import importlib
import json
import logging
import os
from pathlib import Path
import platform
import random
import resource
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.resolver import AsyncResolver
from homeassistant import const as ha_const, core as ha, loader
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    async_test_home_assistant,
    mock_storage,
)

from custom_components.weblink_nguc.api.events import NgucEventStream
from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    DOMAIN,
)
from tests.integration.convergence import mismatches, wait_converged
from tests.simulator import Device, Simulator, User, demo_company, run_demo
from tests.simulator.server import ExpiresIn

USERS = "/company/user"
STATUSES = "/company/user/status"
PHONES = "/company/device"
QUEUES = "/company/queue"
LISTS = (USERS, STATUSES, PHONES, QUEUES)

HEARTBEAT = 2.0
RECOVERY_TIMEOUT = 60.0
# The integration's waits, shortened (seconds): an hour of faults in minutes.
DELAYS: dict[str, float] = {
    "custom_components.weblink_nguc.api.events.AUTH_GRACE": 0.3,
    "custom_components.weblink_nguc.api.events.BACKOFF_BASE": 0.1,
    "custom_components.weblink_nguc.api.events.BACKOFF_CAP": 2.0,
    "custom_components.weblink_nguc.api.auth.RENEW_RETRY_MIN": 0.1,
    "custom_components.weblink_nguc.api.auth.RENEW_RETRY_BASE": 0.2,
    "custom_components.weblink_nguc.api.auth.RENEW_RETRY_CAP": 2.0,
    "custom_components.weblink_nguc.api.client.REQUEST_TIMEOUT": 2.0,
    "custom_components.weblink_nguc.sync.RESYNC_RETRY_BASE": 0.1,
    "custom_components.weblink_nguc.sync.RESYNC_RETRY_CAP": 2.0,
    "custom_components.weblink_nguc.health.STREAM_GRACE": 3.0,
    "custom_components.weblink_nguc.unknown.UNKNOWN_ITEM_RESYNC_DELAY": 0.5,
    "custom_components.weblink_nguc.sync.RESYNC_INTERVAL": 10.0,
}


def _progress(message: str) -> None:
    print(f"soak: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def shortened_delays() -> Iterator[list[str]]:
    """Patch the delays that exist; yield the names of those that do not."""
    missing: list[str] = []
    with contextlib.ExitStack() as stack:
        for target, seconds in DELAYS.items():
            module_name, name = target.rsplit(".", 1)
            module = importlib.import_module(module_name)
            if not hasattr(module, name):
                missing.append(target)
                continue
            current = getattr(module, name)
            value: Any = (
                timedelta(seconds=seconds)
                if isinstance(current, timedelta)
                else seconds
            )
            stack.enter_context(patch.object(module, name, value))
        original = NgucEventStream.__init__

        def init(self: NgucEventStream, *args: Any, **kwargs: Any) -> None:
            kwargs["heartbeat"] = HEARTBEAT
            original(self, *args, **kwargs)

        stack.enter_context(patch.object(NgucEventStream, "__init__", init))
        yield missing


@contextlib.asynccontextmanager
async def home_assistant(config_dir: str) -> AsyncIterator[HomeAssistant]:
    """Yield a Home Assistant of the test harness that loads this repository's integration."""
    resolver = AsyncResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    with (
        mock_storage(),
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=resolver,
        ),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            await async_setup_component(hass, "network", {})
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)
                frame.async_setup(None)  # type: ignore[arg-type]
                ha._hass.__dict__.clear()  # noqa: SLF001 - as the harness resets it


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
        self.rng = random.Random(seed)
        self.traffic = Traffic(sim, random.Random(seed + 1), rate)
        self.entry: ConfigEntry[Any] | None = None
        self.faults: Counter[str] = Counter()
        self.recoveries: defaultdict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.reauth_flows: set[str] = set()
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
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_COMPANY: "demo",
                CONF_USERNAME: "demo",
                CONF_PASSWORD: "demo",
                "advanced": {
                    CONF_API_URL: sim.api_url,
                    CONF_EVENTS_URL: sim.events_url,
                },
            },
        )
        if "result" not in result:
            raise RuntimeError(f"the config flow did not create an entry: {result}")
        self.entry = result["result"]
        await hass.async_block_till_done()
        await wait_converged(hass, self.entry, sim, RECOVERY_TIMEOUT)
        return self.entry

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
        kind = self.rng.choice(sorted(self.kinds))
        self.faults[kind] += 1
        await self.kinds[kind]()
        ended = time.monotonic()
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        await self.traffic.stop()
        self.watch_reauth()
        await self.converge(kind, ended)
        self.watch_reauth()

    async def reconnected(self, before: int, within: float = 30.0) -> None:
        """Wait (at most ``within`` s) until a connection after the ``before``-th authenticated."""
        deadline = time.monotonic() + within
        while self.sim.authenticated_count <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # --- the faults -------------------------------------------------------------------

    async def go_away(self) -> None:
        """Close with c[3000,"Go away!"], and so the next one to three connections."""
        closes = self.rng.randint(1, 3)
        before = self.sim.authenticated_count
        self.sim.close_after_auth(closes)
        await self.sim.close_connections(3000, "Go away!")
        await self.reconnected(before + closes)

    async def tcp_drop(self) -> None:
        """Cut the TCP connection: no close frame."""
        await self.sim.drop_connections()

    async def half_open(self) -> None:
        """Silence the connection at both levels, socket open."""
        before = self.sim.authenticated_count
        self.sim.silence_connections()
        await self.reconnected(before)

    async def token_expired(self) -> None:
        """Expire every access token; reconnect with the old one."""
        self.sim.expire_access_tokens()
        await self.sim.drop_connections()

    async def tokens_revoked(self) -> None:
        """Revoke every token: the account logs in with its password."""
        self.sim.revoke_tokens()
        await self.sim.drop_connections()

    async def rest_5xx(self) -> None:
        """Fail a list with a server error a few times during the resync."""
        self.sim.fail_path(
            self.rng.choice(LISTS),
            self.rng.choice((500, 502, 503)),
            count=self.rng.randint(1, 4),
        )
        await self.sim.drop_connections()

    async def rest_429(self) -> None:
        """Rate-limit a list (Retry-After: 1) during the resync."""
        self.sim.fail_path(self.rng.choice(LISTS), 429, count=1, retry_after=1)
        await self.sim.drop_connections()

    async def rest_timeout(self) -> None:
        """Hold a list longer than the request timeout during the resync."""
        self.sim.hang_path(self.rng.choice(LISTS), 5.0, count=1)
        await self.sim.drop_connections()

    async def rest_404(self) -> None:
        """Answer 404 for the phone or queue list for a while."""
        self.sim.fail_path(self.rng.choice((PHONES, QUEUES)), 404)
        await self.sim.drop_connections()
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        self.sim.clear_faults()

    async def events_during_resync(self) -> None:
        """Send the resync's answers a second after they were made."""
        for path in LISTS:
            self.sim.stale_path(path, 1.0, count=1)
        await self.sim.drop_connections()

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
        await self.sim.add_user_by_event(
            User(user_id, f"Nyanställd {user_id}", user_id[-3:], ""),
            status=self.rng.choice((0, 1)),
            phone=Device(phone_id, user_id, f"Telefon {phone_id}", "Yealink T54W"),
        )

    async def unreachable(self) -> None:
        """Be unreachable for a few seconds."""
        await self.sim.go_offline()
        await asyncio.sleep(self.rng.uniform(2.0, 8.0))
        await self.sim.come_back()

    async def malformed_frame(self) -> None:
        """Send a malformed frame or element beside a valid event."""
        company = self.sim.company
        user_id = self.rng.choice(list(company.users))
        company.set_status(user_id, 1)
        good = json.dumps(["UserStatus", company.user_status_payload(user_id)])
        bad = self.rng.choice(
            [
                "a[not json",
                "x[1]",
                "a" + json.dumps([json.dumps(["OnlyName"]), good]),
                "a" + json.dumps([{"x": 1}, good]),
                "a" + json.dumps([json.dumps(["UserStatus", {"status": "1"}]), good]),
            ]
        )
        await self.sim.send_raw(bad)
        if good not in bad:  # the change must still reach the client
            await self.sim.push_events(
                [("UserStatus", company.user_status_payload(user_id))], apply=False
            )

    async def open_again(self) -> None:
        """Send a second `o` on the open session."""
        await self.sim.send_open_again()

    async def odd_expires_in(self) -> None:
        """Tokens come with an `expires_in` of 0, negative, missing or a string."""
        self.sim.expires_in = self.rng.choice([0, -5, ExpiresIn.MISSING, "0", "soon"])
        self.sim.revoke_tokens()  # the next token comes with that answer
        await self.sim.drop_connections()


async def soak(minutes: float, seed: int, rate: float) -> tuple[dict[str, Any], str]:
    """Run; return the figures and the table."""
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("custom_components.weblink_nguc").setLevel(logging.INFO)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="nguc-soak-") as config_dir,
        shortened_delays() as missing,
    ):
        for target in missing:
            _progress(f"{target} does not exist; its wait is not shortened")
        sim = Simulator(demo_company(), heartbeat_interval=HEARTBEAT)
        await sim.start()
        try:
            async with home_assistant(config_dir) as hass:
                run = Soak(hass, sim, seed, rate)
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
                    "faults": dict(sorted(run.faults.items())),
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
    for kind in sorted(run.faults):
        times = run.recoveries.get(kind, [])
        mean = f"{sum(times) / len(times):.2f}" if times else "-"
        longest = f"{max(times):.2f}" if times else "-"
        lines.append(f"{kind:<28}{run.faults[kind]:>6}{mean:>17}{longest:>16}")
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
        "--rate", type=float, default=150.0, help="pumped status events a second (150)"
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    # Each Home Assistant warns that a custom integration is loaded.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    figures, table = asyncio.run(soak(args.minutes, seed, args.rate))
    print(table)
    print(json.dumps(figures), flush=True)
    failed = figures["mismatches"] or figures["reauths"] or figures["tracebacks"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
