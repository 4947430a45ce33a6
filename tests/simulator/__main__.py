"""Run the NGUC simulator from the command line: `python -m tests.simulator --port 8765 --demo`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .demo import run_demo
from .model import demo_company
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
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    company = demo_company()
    sim = Simulator(
        company, token_lifetime=args.token_lifetime, heartbeat_interval=args.heartbeat
    )
    await sim.start(args.host, args.port)
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(_parse_args(argv)))


if __name__ == "__main__":
    main()
