"""The simulator in a process of its own, as the benchmark runs it.

``python -m tests.simulator --control`` with a company of a given size,
driven by JSON commands on its stdin (tests/simulator/scale.py). Both
processes read ``time.monotonic()``, one clock for the whole machine, so a
send there compares with a state change here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


class SimulatorProcess:
    """``python -m tests.simulator --control`` serving a company of ``users`` and ``queues``."""

    def __init__(self, users: int, queues: int, agents_per_queue: int) -> None:
        """Configure; :meth:`start` runs it."""
        self.users = users
        self.queues = queues
        self.agents_per_queue = agents_per_queue
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and read what it serves."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.simulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--users",
            str(self.users),
            "--queues",
            str(self.queues),
            "--agents",
            str(self.agents_per_queue),
            "--control",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        self.info = await self._answer(60.0 + self.users / 50)

    async def call(self, command: str, limit: float = 60.0, **args: Any) -> Any:
        """Run one of the driver's commands and return its result."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        line = json.dumps({"command": command, "args": args}) + "\n"
        self._proc.stdin.write(line.encode())
        await self._proc.stdin.drain()
        return await self._answer(limit)

    async def _answer(self, limit: float) -> Any:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async with asyncio.timeout(limit):
            line = await self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process ended")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"simulator: {reply['error']}")
        return reply["result"]

    async def stop(self) -> None:
        """Close its stdin (it stops); kill it if it does not end within 5 s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
