"""The longest event-loop block while a `LoopProbe` runs (the benchmark's and the floor's)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time


class LoopProbe:
    """The longest event-loop block while it runs.

    A thread hands the loop a callback every half millisecond and notes how
    late it runs: a callback posted while the loop is busy waits until the
    loop is free, so the worst delay is the longest block, to within about
    half a millisecond (a task that sleeps would see the millisecond rounding
    of the loop's select instead). The thread must get the GIL to post during
    a block: the switch interval is cut to 0.2 ms while probing.

    A flood counts as one block: callbacks ready at once (a thousand tasks
    started together) run in one pass of the loop, and the probe's callback,
    like a websocket frame or a frontend request, waits behind them all. So
    the work of a setup is sliced only when each slice yields to what came
    after it (`await asyncio.sleep(0)` between slices in one task), not when
    it is spread over many tasks that are ready at the same time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Probe ``loop``."""
        self._loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._switch_interval = sys.getswitchinterval()
        self.worst = 0.0

    def _post(self) -> None:
        while not self._stop.is_set():
            self._loop.call_soon_threadsafe(self._arrived, time.perf_counter())
            time.sleep(0.0005)

    def _arrived(self, posted: float) -> None:
        self.worst = max(self.worst, time.perf_counter() - posted)

    def __enter__(self) -> LoopProbe:
        """Start probing."""
        self.worst = 0.0
        self._stop.clear()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0002)
        self._thread = threading.Thread(target=self._post, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop probing (callbacks already posted still count when they run)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        sys.setswitchinterval(self._switch_interval)

    @property
    def worst_ms(self) -> float:
        """Return the longest block seen, in milliseconds."""
        return self.worst * 1000
