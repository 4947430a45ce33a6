"""The integration at work, for a person to look at: ``script/develop``.

Runs the NGUC simulator with its demo company (phones ring, queues fill) in
this process, and beside it a real Home Assistant (``.venv-hass``, see
``script/setup``) with this integration, on http://127.0.0.1:8123 with its
configuration in ``config/``. On the first run it onboards an owner ``dev``
(password ``dev``) and adds the integration for the simulator's demo account
through Home Assistant's config-flow API, so that nothing is left to click.
Each run links the repository's blueprints into
``config/blueprints/automation/weblink_nguc/``, as it links the integration.
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
import time
from typing import Any

import aiohttp
import yaml  # type: ignore[import-untyped]

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
# The dashboard of the demo company, added on the first run.
DASHBOARD = REPO_ROOT / "docs" / "dashboard.yaml"
DASHBOARD_PATH = "phone-system"
DASHBOARD_TITLE = "Phone system"
# The repository's blueprints, offered in the demo as if imported.
BLUEPRINTS = REPO_ROOT / "blueprints" / "automation" / DOMAIN
# How long to wait for the devices of the demo account after the start.
DEVICES_PATIENCE = 30.0

# Written only when config/configuration.yaml is missing; edits are kept.
# Home Assistant's own default configuration without default_config, some of
# which needs the internet (cloud, alerts), binaries that a development
# machine may lack (go2rtc, ffmpeg for stream) or hardware (bluetooth, usb):
# of it, what works offline. The includes are those of Home Assistant's
# default configuration: without them, automations, scripts and scenes saved
# in the UI are written to their files and never loaded. The frontend brings
# config, search, system_log, diagnostics and repairs along. Where Home
# Assistant listens (127.0.0.1:8123) is in its storage (RealHass.prepare), as
# the UI keeps it, not in an http: block, which Home Assistant 2026.11
# migrates once and then flags.
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
my:
sun:
logger:
  default: warning
  logs:
    custom_components.weblink_nguc: debug

automation: !include automations.yaml
script: !include scripts.yaml
scene: !include scenes.yaml
"""
# The files the includes name, written when missing, as Home Assistant's
# first start writes them.
INCLUDED_FILES = {"automations.yaml": "[]\n", "scripts.yaml": "", "scenes.yaml": ""}
# What an older config/configuration.yaml may lack, with its consequence.
INCLUDES = {
    "automation: !include automations.yaml": "automations",
    "script: !include scripts.yaml": "scripts",
    "scene: !include scenes.yaml": "scenes",
}


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


# The words of Home Assistant's integration page for an entry's state.
ENTRY_STATES = {
    "loaded": "Loaded",
    "setup_error": "Failed to set up",
    "setup_retry": "Failed setup, will retry",
    "setup_in_progress": "Initializing",
    "not_loaded": "Not loaded",
    "migration_error": "Migration error",
}


def missing_includes(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Return a line for each include of INCLUDES that configuration.yaml lacks.

    An older ``script/develop`` wrote a configuration without them.
    """
    try:
        text = (config_dir / "configuration.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = {" ".join(line.split()) for line in text.splitlines()}
    return [
        f"config/configuration.yaml lacks '{include}': {what} saved in the UI"
        " are not loaded; add the line (or remove config/ to start afresh)."
        for include, what in INCLUDES.items()
        if include not in lines
    ]


def link_blueprints(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Link each blueprint of the repository into the configuration's blueprints.

    One link per file, not one for the folder: Home Assistant finds
    blueprints with a ``**`` glob, which does not enter a linked folder. A
    file of the same name that is not such a link (a blueprint imported in
    the UI) is left as it is; links to blueprints gone from the repository
    are removed. Returns the names linked now.
    """
    folder = config_dir / "blueprints" / "automation" / DOMAIN
    folder.mkdir(parents=True, exist_ok=True)
    for link in folder.iterdir():
        if link.is_symlink() and not link.exists():
            link.unlink()
    linked = []
    for source in sorted(BLUEPRINTS.glob("*.yaml")):
        link = folder / source.name
        if link.is_symlink() and link.resolve() != source.resolve():
            link.unlink()  # e.g. to a clone that has moved
        if not link.exists():
            link.symlink_to(source)
            linked.append(source.name)
    return linked


def entry_status(entry: dict[str, Any], flows: list[dict[str, Any]]) -> str:
    """Return an entry's state in the words of the UI's integration page."""
    reauth = any(
        flow.get("handler") == DOMAIN
        and flow.get("context", {}).get("source") == "reauth"
        and flow.get("context", {}).get("entry_id") == entry["entry_id"]
        for flow in flows
    )
    if reauth:
        # The entry shows "Attention required" with a Reconfigure button.
        return "Attention required: sign in again (Reconfigure)"
    state = str(entry["state"])
    return ENTRY_STATES.get(state, state)


async def add_dashboard(hass: RealHass) -> None:
    """Add docs/dashboard.yaml as a dashboard, as its raw editor would save it."""
    await hass.ws_command(
        "lovelace/dashboards/create",
        url_path=DASHBOARD_PATH,
        title=DASHBOARD_TITLE,
        icon="mdi:phone-classic",
        show_in_sidebar=True,
        require_admin=False,
    )
    config = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    await hass.ws_command(
        "lovelace/config/save", url_path=DASHBOARD_PATH, config=config
    )


async def look_around(hass: RealHass, patience: float = 0.0) -> list[str]:
    """Return lines on the integration's entries and the account user's device page.

    The devices come when the integration has read NGUC's state, which may
    be a moment after its entry is loaded: wait up to ``patience`` seconds
    for the account user's device.
    """
    deadline = time.monotonic() + patience
    while True:
        lines, found = await _look_once(hass)
        if found or time.monotonic() >= deadline:
            return lines
        await asyncio.sleep(0.5)


async def _look_once(hass: RealHass) -> tuple[list[str], bool]:
    """Return the lines of :func:`look_around`, and whether the user's device is there."""
    entries = await hass.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    if not entries:
        return ["Weblink NGUC is not set up: add it (see below)."], True
    devices: list[dict[str, Any]] = await hass.ws_command("config/device_registry/list")
    # Flows not started by a user: a reauthentication is one.
    flows: list[dict[str, Any]] = await hass.ws_command("config_entries/flow/progress")
    lines, link = [], None
    for entry in entries:
        ours = [d for d in devices if entry["entry_id"] in d["config_entries"]]
        lines.append(
            f"Weblink NGUC {entry['title']}: {entry_status(entry, flows)},"
            f" {len(ours)} device{'' if len(ours) == 1 else 's'}"
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
    return lines, link is not None


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
                await add_dashboard(hass)
                lines.append(
                    f"First run: added the dashboard {DASHBOARD_TITLE}"
                    f" ({DASHBOARD.relative_to(REPO_ROOT)})."
                )
            await hass.finish_onboarding()
        # Nothing to confirm where the HTTP settings came from storage; this
        # only settles one left unconfirmed by a change in the UI.
        await hass.confirm_http_config()
        # Devices are kept in the registry: only a first run waits for them.
        first_run = not ONBOARDING_STEPS.issubset(done)
        lines += await look_around(hass, DEVICES_PATIENCE if first_run else 0.0)
        lines += missing_includes(hass.config_dir)
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
            "The demo keeps real time; a caller waits past a minute in Support within",
            "two minutes of the start and every two minutes after (the README's alert).",
            f"The dashboard: http://{HOST}:{HASS_PORT}/{DASHBOARD_PATH}/0 (in the sidebar).",
            "Two-factor login (one entry per company: delete the entry first):",
            "Add integration > Weblink NGUC, Company demo, Username secure,",
            "Password secure, Code 123456; under Advanced settings:",
            f"  API URL {sim.api_url}   Event stream URL {sim.events_url}",
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
        files=INCLUDED_FILES,
        http_in_storage=True,
    )
    done = hass.onboarding_done()
    first_run = not ONBOARDING_STEPS.issubset(done)
    link_blueprints()
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
