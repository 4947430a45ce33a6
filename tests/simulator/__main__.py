"""Run the NGUC simulator from the command line: `python -m tests.simulator --port 8765 --demo`.

`--users N --queues Q` serves a generated company of that size instead of the
demo company; `--control` (used by script/bench) takes JSON commands on stdin
and answers each with one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from .demo import run_demo
from .model import Company, demo_company
from .scale import ScaleDriver, scale_company
from .server import Simulator


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    parser.add_argument("--demo", action="store_true", help="generate call traffic")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, metavar="S")
    parser.add_argument("--heartbeat", type=float, default=25.0, metavar="S")
    parser.add_argument(
        "--interval", type=float, default=3.0, metavar="S", help="demo pace"
    )
    parser.add_argument("--seed", type=int, default=None, help="demo random seed")
    parser.add_argument(
        "--users",
        type=int,
        default=0,
        help="a generated company of N users (login bench/bench)",
    )
    parser.add_argument("--queues", type=int, default=0, help="... and Q queues")
    parser.add_argument("--agents", type=int, default=10, help="agents per queue")
    parser.add_argument(
        "--control",
        action="store_true",
        help="read JSON commands on stdin, answer on stdout (script/bench)",
    )
    return parser.parse_args(argv)


def _company(args: argparse.Namespace) -> Company:
    if args.users:
        return scale_company(args.users, args.queues, args.agents)
    return demo_company()


async def _control(sim: Simulator) -> None:
    """Answer `{"command": ..., "args": {...}}` lines until stdin closes.

    The first line out is the driver's info; then one line per command:
    `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`.
    """
    driver = ScaleDriver(sim)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )

    def answer(reply: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

    answer({"ok": True, "result": driver.info()})
    while line := await reader.readline():
        try:
            request = json.loads(line)
            result = await driver.handle(request["command"], request.get("args", {}))
        except Exception as err:  # noqa: BLE001 - reported to the caller
            answer({"ok": False, "error": repr(err)})
        else:
            answer({"ok": True, "result": result})


async def _main(args: argparse.Namespace) -> None:
    company = _company(args)
    sim = Simulator(
        company, token_lifetime=args.token_lifetime, heartbeat_interval=args.heartbeat
    )
    await sim.start(args.host, args.port)
    if args.control:
        try:
            await _control(sim)
        finally:
            await sim.stop()
        return
    print(f"NGUC simulator for company {company.name!r}")
    print(f"  API URL:    {sim.api_url}")
    print(f"  events URL: {sim.events_url}")
    for account in company.accounts.values():
        tfa = f", 2FA code {account.tfa_code}" if account.tfa_code else ", no 2FA"
        print(
            f"  login: company {company.name}  username {account.username}  "
            f"password {account.password}{tfa}"
        )
    print(
        f"  control:    POST {sim.api_url}/_sim/<action>, GET {sim.api_url}/_sim/state"
    )
    print("Ctrl-C to stop." + (" Demo traffic on." if args.demo else ""), flush=True)
    demo = None
    if args.demo:
        demo = asyncio.create_task(
            run_demo(sim, seed=args.seed, interval=args.interval)
        )
    stopped = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()  # Ctrl-C cancels this; SIGTERM sets it
    finally:
        if demo is not None:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.control else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
