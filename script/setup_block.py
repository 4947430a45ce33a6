"""The longest event-loop block at setup, for large companies (issue 14 §4).

Run by hand: ``.venv/bin/python script/setup_block.py [users ...]`` sets up
the integration in Home Assistant's test harness against the simulator (in a
process of its own) for companies of 1,000 and 5,000 users (100 queues) and
prints, per company, the longest block from the start of setup until in sync
and every device and entity made. Not a test: the figures depend on the
machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import company  # noqa: E402

QUEUES = 100


async def main(sizes: list[int]) -> None:
    """Print the setup figures of each company size."""
    for users in sizes:
        async with company((users, QUEUES)) as bench:
            result = bench.result
            print(  # noqa: T201
                f"{users} users, {QUEUES} queues: longest block"
                f" {result.setup_block_ms:.1f} ms, setup {result.setup_s:.2f} s,"
                f" {result.entities} entities",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main([int(size) for size in sys.argv[1:]] or [1000, 5000]))
