"""A log line that repeats at most once per interval, counting what it held back."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """Logs the first occurrence, then at most once per ``interval`` seconds."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        """Bind to a logger."""
        self._logger = logger
        self._interval = interval
        self._next = 0.0
        self._suppressed = 0

    def warning(self, msg: str, *args: object) -> None:
        """Log ``msg`` unless one was logged within the interval."""
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        if self._suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, self._suppressed)
        self._logger.warning(msg, *args)
        self._suppressed = 0
        self._next = now + self._interval
