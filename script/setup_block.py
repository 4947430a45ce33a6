"""The longest event-loop block at setup, for large companies (issue 14 §4).

Run by hand: ``.venv/bin/python script/setup_block.py [users ...]`` sets up
the integration in Home Assistant's test harness against the simulator (in a
process of its own) for companies of 1,000 and 5,000 users (100 queues) and
prints, per company, the longest block from the start of setup until in sync
and every device and entity made. Not a test: the figures depend on the
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from pathlib import Path
import sys
import time
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench

QUEUES = 100


async def main(sizes: list[int], *, slow_ms: float | None, no_gc: bool) -> None:
    """Print the setup figures of each company size.

    ``slow_ms``: also log every callback or task step that holds the loop
    longer (asyncio's debug mode, which slows everything a little).
    ``no_gc``: no automatic garbage collection during setup, to see the
    blocks of the code alone.
    """
    if slow_ms is not None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = slow_ms / 1000
        logging.getLogger("asyncio").setLevel(logging.WARNING)
    for users in sizes:
        collections = _Collections()
        with collections:
            result = await _setup(users, no_gc=no_gc)
        print(
            f"{users} users, {QUEUES} queues: longest block"
            f" {result.setup_block_ms:.1f} ms, setup {result.setup_s:.2f} s,"
            f" {result.entities} entities; longest garbage collection"
            f" {collections.worst_ms:.1f} ms (generation {collections.worst_gen})",
            flush=True,
        )


async def _setup(users: int, *, no_gc: bool) -> bench.Result:
    """Set up the integration for a company of ``users`` until in sync; unload it."""
    sim = bench.SimulatorProcess(users, QUEUES, bench.AGENTS_PER_QUEUE)
    await sim.start()
    try:
        async with bench.home_assistant() as hass:
            integration = bench.Integration(hass, sim)
            if no_gc:
                gc.disable()
            try:
                await integration.setup()
            except RuntimeError as err:
                # Home Assistant adds at most 10,000 enabled entities per
                # config entry: past that, some users have none. The
                # figures of the setup are taken before it looks for them.
                print(f"{users} users: {err}", flush=True)
            finally:
                gc.enable()
            await integration.unload()
            return integration.result
    finally:
        await sim.stop()


class _Collections:
    """The longest automatic garbage collection while entered.

    Python's collector runs in the middle of whatever allocates, and holds
    the loop as long as it takes: part of any block, whoever's code it
    interrupts. The benchmark's own ``gc.collect()`` calls are left out.
    """

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.worst_gen = -1
        self._start = 0.0
        self._explicit = False

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        took = (time.perf_counter() - self._start) * 1000
        if not self._explicit and took > self.worst_ms:
            self.worst_ms, self.worst_gen = took, info["generation"]

    def _collect(self, *args: Any) -> int:
        self._explicit = True
        try:
            return gc.collect(*args)
        finally:
            self._explicit = False

    def __enter__(self) -> None:
        gc.callbacks.append(self._note)
        bench.gc = SimpleNamespace(collect=self._collect)  # type: ignore[assignment]

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._note)
        bench.gc = gc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("users", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--slow-ms", type=float, help="log blocks longer than this")
    parser.add_argument(
        "--no-gc", action="store_true", help="no garbage collection during setup"
    )
    args = parser.parse_args()
    asyncio.run(main(args.users, slow_ms=args.slow_ms, no_gc=args.no_gc))
