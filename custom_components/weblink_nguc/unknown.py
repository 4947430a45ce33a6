"""Items that events name but NGUC's lists do not: when to ask about them.

NGUC may list a new item a little after its first event: the lists are read
soon after an event names an unknown item, and for an item still unknown,
again later, a few times, less and less often, until the hourly read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import LOGGER
from .data import NgucData, split_key
from .health import StreamHealth
from .reader import NgucReader
from .timings import timings_of

# Reads made for an item that events name but NGUC's lists do not, until the
# hourly read.
UNKNOWN_ITEM_READS = 3


class UnknownItems:
    """The unknown items of one account, and the read asked for them."""

    def __init__(
        self,
        hass: HomeAssistant,
        reader: NgucReader,
        health: StreamHealth,
        *,
        read: Callable[[], None],
        follows: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        """Bind; ``read`` reads every list; ``follows`` tells items worth a read."""
        self._hass = hass
        self._reader = reader
        self._health = health
        self._read = read
        self._follows = follows
        # Reads made for each, and those a read is due for.
        self._asked: dict[str, int] = {}
        self._waiting: set[str] = set()
        self._timer: CALLBACK_TYPE | None = None
        self._at = 0.0  # when it fires, in loop time

    @callback
    def stop(self) -> None:
        """Cancel the read asked for."""
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def forget(self) -> None:
        """Start counting the reads of every item again (the hourly read)."""
        self._asked.clear()

    @callback
    def settle(self, new: NgucData, unknown: set[str]) -> None:
        """Of the unknown items this read was for, add those still unknown."""
        waiting, self._waiting = self._waiting, set()
        if self._timer is not None:
            self._timer()
            self._timer = None
        for key in waiting:
            if new.has(key):
                self._asked.pop(key, None)
            else:
                self._asked[key] = self._asked.get(key, 0) + 1
                unknown.add(key)

    @callback
    def ask_about(self, keys: Iterable[str]) -> None:
        """Read the state again soon: events named items we do not know.

        NGUC may list a new item a little after its first event: an item
        still unknown after a read is asked about again, later, a few times.
        """
        due = {
            key
            for key in keys
            if key not in self._waiting
            and self._asked.get(key, 0) < UNKNOWN_ITEM_READS
            and self._reader.kind_answers(split_key(key)[0])
            # An item the entry does not follow is not worth a read.
            and self._follows(key)
        }
        if not due:
            return
        self._waiting |= due
        # As soon as the newest of them is due: an item NGUC never lists,
        # asked about a few times already, must not hold up a new one.
        reads = min(self._asked.get(key, 0) for key in due)
        delay = timings_of(self._hass).unknown_item_delay * 4**reads
        at = self._hass.loop.time() + delay
        if self._timer is not None:
            if at >= self._at:
                return
            self._timer()
        LOGGER.debug("Events name items we do not know: %s", sorted(due))
        self._at = at
        self._timer = async_call_later(self._hass, delay, self._fired)

    @callback
    def _fired(self, _now: datetime) -> None:
        self._timer = None
        # Without a stream, the next connection reads the state anyway.
        if self._health.connected:
            self._read()
