"""Command line: ``python -m custom_components.weblink_nguc.api listen|snapshot``.

``listen`` prints one JSON object per event on stdout; ``snapshot`` prints the
REST state as one JSON document. The log goes to stderr. Exit codes: 0 done,
2 credentials rejected, 3 two-factor code needed or wrong, 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any, NoReturn

import aiohttp

from . import contract as c
from .client import NgucClient
from .exceptions import NgucAuthError, NgucError, NgucTwoFactorError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CREDENTIALS = 2
EXIT_TWO_FACTOR = 3

_LOGGER = logging.getLogger("nguc")


class _Parser(argparse.ArgumentParser):
    """Exits 1 on bad usage: exit code 2 means "credentials rejected" here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_FAILURE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser."""
    common = _Parser(add_help=False)
    common.add_argument("--api-url", default=c.DEFAULT_API_URL)
    common.add_argument("--events-url", default=c.DEFAULT_EVENTS_URL)
    common.add_argument("--company", required=True)
    common.add_argument("--username", required=True)
    common.add_argument(
        "--password", help="or set the environment variable NGUC_PASSWORD"
    )
    common.add_argument("--tfa", default="", help="the current two-factor code")

    parser = _Parser(
        prog="python -m custom_components.weblink_nguc.api",
        description="Talk to Weblink's NGUC phone platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listen = commands.add_parser(
        "listen", parents=[common], help="print events as JSON lines"
    )
    listen.add_argument("--max-events", type=int, help="stop after N events")
    listen.add_argument("--seconds", type=float, help="stop after S seconds")
    commands.add_parser(
        "snapshot", parents=[common], help="print the current state as JSON"
    )
    for sub in commands.choices.values():
        sub.error = parser.error  # type: ignore[method-assign]
    return parser


async def _listen(
    client: NgucClient, max_events: int | None, seconds: float | None
) -> None:
    done = asyncio.Event()
    count = 0

    def on_event(name: str, payload: Any) -> None:
        nonlocal count
        if done.is_set():
            return
        line = json.dumps({"event": name, "data": payload}, ensure_ascii=False)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        count += 1
        if max_events is not None and count >= max_events:
            done.set()

    def on_disconnected() -> None:
        if not done.is_set():  # else the disconnect is our own stop
            _LOGGER.info("Event stream lost; reconnecting")

    def on_rejected(count: int) -> None:
        # The stream logs each close with its codes; this says what it means.
        _LOGGER.info(
            "The event stream closed %d connection(s) in a row before accepting a "
            "fresh token; retrying (may this account receive events?)",
            count,
        )

    stream = client.event_stream(
        on_event,
        on_connected=lambda: _LOGGER.info("Connected to the event stream"),
        on_disconnected=on_disconnected,
        on_rejected=on_rejected,
    )
    runner = asyncio.create_task(stream.run())
    waiter = asyncio.create_task(done.wait())
    try:
        await asyncio.wait(
            {runner, waiter}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
        if runner.done():
            runner.result()  # raises the credentials error that ended it
        done.set()  # from here on, a disconnect is ours
        await stream.stop()


async def _snapshot(client: NgucClient) -> None:
    paths = {
        "me": c.PATH_ME,
        "users": c.PATH_USERS,
        "statuses": c.PATH_USER_STATUSES,
        "queues": c.PATH_QUEUES,
        "devices": c.PATH_DEVICES,
    }
    result = {key: await client.get_json(path) for key, path in paths.items()}
    sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")


async def _main(args: argparse.Namespace, password: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company=args.company,
            username=args.username,
            password=password,
            api_url=args.api_url,
            events_url=args.events_url,
        )
        await client.login(args.tfa)
        _LOGGER.info("Logged in as %s at %s", args.username, args.company)
        if args.command == "listen":
            await _listen(client, args.max_events, args.seconds)
        else:
            await _snapshot(client)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    password = args.password or os.environ.get("NGUC_PASSWORD")
    if not password:
        print("error: give --password or set NGUC_PASSWORD", file=sys.stderr)
        return EXIT_FAILURE
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    try:
        asyncio.run(_main(args, password))
    except NgucTwoFactorError as err:
        print(f"error: two-factor code needed or wrong: {err}", file=sys.stderr)
        return EXIT_TWO_FACTOR
    except NgucAuthError as err:
        print(f"error: credentials rejected: {err}", file=sys.stderr)
        return EXIT_CREDENTIALS
    except NgucError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - one line, no traceback, by design
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
