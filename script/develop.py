"""The integration at work, for a person to look at: ``script/develop``.

Runs the NGUC simulator with its demo company (phones ring, queues fill) in
this process, and beside it a real Home Assistant (``.venv-hass``, see
``script/setup``) with this integration, on http://127.0.0.1:8123 with its
configuration in ``config/``. On the first run it onboards an owner ``dev``
(password ``dev``) and adds the integration for the simulator's demo account
through Home Assistant's config-flow API, so that nothing is left to click.
Later runs start what ``config/`` holds.

Runs until Ctrl-C (SIGINT), SIGTERM or SIGHUP, then stops Home Assistant
(SIGTERM) and the simulator. A restart asked for in Home Assistant (exit code
100) starts it again; any other exit of Home Assistant ends this too.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable
import contextlib
import logging
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.real_hass import HASS_BIN, HassError, RealHass
from tests.simulator import Simulator, demo_company, run_demo

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
HASS_PORT = 8123
HOST = "127.0.0.1"
DOMAIN = "weblink_nguc"
RESTART_EXIT_CODE = 100  # Home Assistant's: "restart me"

# The owner made on the first run: a throwaway account of a Home Assistant
# that listens on loopback only.
OWNER = {"username": "dev", "password": "dev", "name": "Developer"}
# The simulator's demo accounts (tests/simulator/model.py).
COMPANY = "demo"
ACCOUNT = {"username": "demo", "password": "demo"}
ACCOUNT_USER = "Anna Lindqvist"  # the PBX user of the account "demo"
# Home Assistant's onboarding; the first-run setup is done when all are.
ONBOARDING_STEPS = {"user", "core_config", "analytics", "integration"}
RESUME = "The next run of script/develop takes the first-run setup up again."

# Written only when config/configuration.yaml is missing; edits are kept.
# Not default_config: some of what it sets up needs the internet (alerts),
# binaries that a development machine may lack (go2rtc: without it
# default_config fails) or hardware (bluetooth, usb). This is what looking at
# this integration needs; the frontend brings config, search, system_log,
# diagnostics and repairs along. Where Home Assistant listens (127.0.0.1:8123)
# is in its storage (RealHass.prepare), as the UI keeps it, not in an http:
# block, which Home Assistant 2026.11 migrates once and then flags.
CONFIGURATION = """\
homeassistant:
  name: NGUC demo
  country: SE
  time_zone: Europe/Stockholm
  unit_system: metric
  currency: SEK
  latitude: 59.3293
  longitude: 18.0686
  elevation: 28
frontend:
config:
history:
logbook:
logger:
  default: warning
  logs:
    custom_components.weblink_nguc: debug
"""


class DevelopError(Exception):
    """Something that stops script/develop, told to the person in one message."""


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="script/develop",
        description="Run the NGUC simulator's demo beside a real Home Assistant "
        f"with this integration, on http://{HOST}:{HASS_PORT} (log in as dev/dev).",
    )
    parser.add_argument(
        "--sim-port",
        type=int,
        default=os.environ.get("SIM_PORT", "8765"),  # a string default is parsed
        help="port of the simulator on 127.0.0.1 (default: $SIM_PORT or 8765)",
    )
    return parser.parse_args()


def _check_port_free(port: int, what: str) -> None:
    """Raise DevelopError if something listens on HOST:port already."""
    with socket.socket() as sock:
        # As the servers bind: a port in TIME_WAIT is free, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as err:
            raise DevelopError(
                f"{what} cannot listen on {HOST}:{port}: {err.strerror}. "
                "Is script/develop (or another Home Assistant) running already?"
            ) from err


async def _until_stopped[T](work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await ``work`` unless ``stop`` is set first (then cancel it; None)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    # What it was doing when stopped does not matter any more.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def add_integration(hass: RealHass, sim: Simulator) -> str:
    """Add the integration for the demo account as its config flow asks; return the title."""
    flow = await hass.request(
        "POST",
        "/api/config/config_entries/flow",
        json_body={"handler": DOMAIN, "show_advanced_options": False},
    )
    result = await hass.request(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        json_body={
            "company": COMPANY,
            **ACCOUNT,
            "advanced": {"api_url": sim.api_url, "events_url": sim.events_url},
        },
    )
    if result.get("type") != "create_entry":
        raise HassError(f"the config flow did not create an entry: {result}")
    return str(result["title"])


async def look_around(hass: RealHass) -> list[str]:
    """Return lines on the integration's entries and the account user's device page."""
    entries = await hass.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    if not entries:
        return ["Weblink NGUC is not set up: add it (see below)."]
    devices: list[dict[str, Any]] = await hass.ws_command("config/device_registry/list")
    lines, link = [], None
    for entry in entries:
        ours = [d for d in devices if entry["entry_id"] in d["config_entries"]]
        lines.append(
            f"Weblink NGUC {entry['title']}: {entry['state']}, {len(ours)} devices"
        )
        link = link or next(
            (
                f"{hass.url}/config/devices/device/{device['id']}"
                for device in ours
                if ACCOUNT_USER in (device["name_by_user"], device["name"])
            ),
            None,
        )
    if link is not None:
        lines.append(f"{ACCOUNT_USER}: {link}")
    return lines


async def set_up(hass: RealHass, sim: Simulator, done: set[str]) -> list[str]:
    """Bring Home Assistant up, and set it up unless done; return status lines.

    ``done``: the onboarding steps done before this start. The first run
    makes the owner, adds the integration and only then finishes the
    onboarding: a first run cut short is taken up again by the next run,
    which logs in as the owner if it was made already.
    """
    lines = []
    await hass.start()
    if "user" not in done:
        await hass.wait_http(timeout=180)
        await hass.create_owner(**OWNER)
        lines.append("First run: made the owner dev / dev.")
    else:
        await hass.wait_http(timeout=180, path="/auth/providers")
        try:
            await hass.login(OWNER["username"], OWNER["password"])
        except HassError:
            # The password was changed, or the owner renamed: fine, only the
            # status lines are missing then.
            return ["(Could not log in as dev / dev to look at the setup.)"]
    try:
        await hass.wait_running(timeout=180)
        if not ONBOARDING_STEPS.issubset(done):
            entries = await hass.request(
                "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
            )
            if not entries:
                title = await add_integration(hass, sim)
                lines.append(f"First run: added Weblink NGUC {title}.")
            await hass.finish_onboarding()
        # Nothing to confirm where the HTTP settings came from storage; this
        # only settles one left unconfirmed by a change in the UI.
        await hass.confirm_http_config()
        lines += await look_around(hass)
    finally:
        with contextlib.suppress(HassError, aiohttp.ClientError):
            await hass.logout()  # no refresh token left behind per run
    return lines


def banner(status: list[str], sim: Simulator) -> str:
    """Return the block that tells the person what to do."""
    rule = "-" * 72
    return "\n".join(
        [
            rule,
            f"Home Assistant: http://{HOST}:{HASS_PORT}   log in as dev / dev",
            *status,
            f'Look at the device "{ACCOUNT_USER}" (line status, calls) and the',
            "queues Support and Sales: Settings > Devices & services > Weblink NGUC.",
            "Two-factor login: add the integration again with company demo,",
            "username secure, password secure, code 123456, Advanced settings:",
            f"  API URL {sim.api_url}   Events URL {sim.events_url}",
            "Log: config/home-assistant.log. Ctrl-C stops Home Assistant and the simulator.",
            rule,
        ]
    )


async def supervise(hass: RealHass, stop: asyncio.Event) -> int:
    """Run until ``stop``; start Home Assistant again when it asks; return an exit code."""
    while True:
        assert hass.process is not None
        code = await _until_stopped(hass.process.wait(), stop)
        if code is None:
            return 0
        if code != RESTART_EXIT_CODE:
            print(
                f"Home Assistant exited with code {code}; its log: config/home-assistant.log",
                flush=True,
            )
            return code if code >= 0 else 128 - code  # as a shell tells a signal
        print("Home Assistant restarts ...", flush=True)
        await hass.stop()
        await hass.start()
        try:
            await _until_stopped(
                hass.wait_http(timeout=180, path="/auth/providers"), stop
            )
        except HassError as err:
            print(f"Home Assistant did not come back: {err}", flush=True)
            return 1
        if stop.is_set():
            return 0
        print(f"Home Assistant is back on http://{HOST}:{HASS_PORT}", flush=True)


async def main(sim_port: int) -> int:
    """Run the simulator and Home Assistant until stopped; return an exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    if not HASS_BIN.exists():
        raise DevelopError(f"{HASS_BIN} is missing: run script/setup")
    _check_port_free(HASS_PORT, "Home Assistant")
    _check_port_free(sim_port, "The simulator")

    hass = RealHass(
        CONFIG_DIR,
        port=HASS_PORT,
        configuration=CONFIGURATION,
        http_in_storage=True,
    )
    done = hass.onboarding_done()
    first_run = not ONBOARDING_STEPS.issubset(done)
    sim = Simulator(demo_company())
    await sim.start(HOST, sim_port)
    demo = asyncio.create_task(run_demo(sim), name="nguc-demo")
    print(
        f"NGUC simulator on {sim.api_url}; Home Assistant starting"
        + (" for the first time ..." if first_run else " ..."),
        flush=True,
    )
    try:
        try:
            status = await _until_stopped(set_up(hass, sim, done), stop)
        except (HassError, aiohttp.ClientError, TimeoutError) as err:
            what = str(err).splitlines()[0] if str(err) else type(err).__name__
            print(f"--- {hass.log_path} (tail) ---", file=sys.stderr)
            print(hass.log_tail(40), file=sys.stderr)
            print(f"Setting up Home Assistant failed: {what}", file=sys.stderr)
            if first_run:
                print(RESUME, file=sys.stderr)
            return 1
        if status is None:
            if first_run:
                print(RESUME, flush=True)
            return 0
        print(banner(status, sim), flush=True)
        return await supervise(hass, stop)
    finally:
        print("Stopping ...", flush=True)
        code = await hass.stop()
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
        await sim.stop()
        print(f"Stopped (Home Assistant exit code {code}).", flush=True)


def run() -> None:
    """Entry point."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    args = _parse_args()
    try:
        code = asyncio.run(main(args.sim_port))
    except DevelopError as err:
        print(f"script/develop: {err}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:  # before the signal handlers were in place
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run()
