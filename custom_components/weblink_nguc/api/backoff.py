"""Capped exponential backoff with full jitter."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``uniform(0, min(cap, base * 2**attempt))`` seconds."""

    def __init__(
        self, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None
    ) -> None:
        """Start at attempt 0."""
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def ceiling(self) -> float:
        """Return the longest delay the next attempt may wait."""
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 32))

    def next_delay(self) -> float:
        """Return the next delay and count the attempt."""
        delay = self._rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def first_delay(self) -> float:
        """Return a delay of the first attempt's range, without counting one."""
        return self._rng.uniform(0, min(self.cap, self.base))

    def reset(self) -> None:
        """Start again from the shortest delays."""
        self.attempt = 0
