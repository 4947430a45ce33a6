"""Telling others what changed: entities, platforms and features, a slice at a time.

Entities listen by context, Home Assistant's listener protocol
(``async_add_listener(update_callback, context)``), with an item's key as
context; platforms listen for new items, and features for call events and
call records; daily counts for each new local day. Many listeners, or many
new items, are told a slice of the event loop's time at a time, so that a
company of thousands does not hold the loop.

A company of thousands has tens of thousands of listeners, most of them
one of an item's few entities: a key's listeners are one tuple while they
are few (a dict only for the many of one key, such as every call event
entity's ``KEY_STREAM``), and a listener's remover is a small object of its
own, not a ``partial``. Together a few hundred bytes less an entity.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from functools import partial
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_time
from homeassistant.util import dt as dt_util

from .api import Cdr, QueueCdr
from .calls import CallEvent
from .const import DOMAIN, LOGGER

# Listeners told at once; more are told a slice of the loop's time at a time.
NOTIFY_AT_ONCE = 64
NOTIFY_SLICE = 0.004  # seconds
# New items whose devices and entities are made in one go; more are made a
# slice at a time, the slice sized to take about ADD_SLICE: with Home
# Assistant's own work for the slice, still well inside 50 ms, and few
# enough slices that their overhead does not lengthen setup (5 ms slices
# made a 1,000-user setup 0.6 s longer).
ADD_AT_ONCE = 16
ADD_SLICE = 0.015  # seconds
ADD_CHUNK_MAX = 256
# Listeners of one key kept in a tuple; more are kept in a dict. A tuple is
# copied to add or remove one, which is cheap while it is short.
FEW: Final = 8

type RecordListener = Callable[[Cdr | QueueCdr], None]
# The listeners of one key, in the order they came, each once.
type Listeners[L] = tuple[L, ...] | dict[L, None]
# Makes the devices of new items; returns the keys of those that still exist.
type Register = Callable[[list[str]], list[str]]


class NgucListeners:
    """The listeners of one coordinator, by context, and how they are told."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Start with no listener."""
        self._hass = hass
        self._entry = entry
        self._by_context: dict[Any, Listeners[CALLBACK_TYPE]] = {}
        self._calls: dict[str, Listeners[Callable[[CallEvent], None]]] = {}
        self._items: dict[Callable[[Collection[str]], None], None] = {}
        self._records: dict[RecordListener, None] = {}
        # Contexts still to notify, and listeners of a context being notified.
        self._unsent: dict[Any, None] = {}
        self._pending: deque[tuple[Any, CALLBACK_TYPE]] = deque()
        self._notifier: asyncio.Task[None] | None = None
        # New items whose devices and entities are still to be made.
        self._new: deque[str] = deque()
        self._adder: asyncio.Task[None] | None = None
        self._midnight: CALLBACK_TYPE | None = None

    # --- Adding listeners --------------------------------------------------------

    @callback
    def add(self, update_callback: CALLBACK_TYPE, context: Any) -> CALLBACK_TYPE:
        """Call ``update_callback`` when what ``context`` stands for may have changed."""
        return subscribe(self._by_context, context, update_callback)

    @callback
    def add_calls(
        self, key: str, listener: Callable[[CallEvent], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` with each call event of the item ``key``."""
        return subscribe(self._calls, key, listener)

    @callback
    def add_items(self, listener: Callable[[Collection[str]], None]) -> CALLBACK_TYPE:
        """Call ``listener`` with the keys of items that appeared."""
        self._items[listener] = None
        return partial(self._items.pop, listener, None)

    @callback
    def add_records(self, listener: RecordListener) -> CALLBACK_TYPE:
        """Call ``listener`` with each new call record of the stream."""
        self._records[listener] = None
        return partial(self._records.pop, listener, None)

    @property
    def contexts(self) -> tuple[Any, ...]:
        """Return every context listened to."""
        return tuple(self._by_context)

    # --- Telling -------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Return True while changes or new items are still being handed out."""
        return bool(self._unsent or self._pending or self._new)

    def notify(self, contexts: Collection[Any]) -> None:
        """Tell the listeners of ``contexts``: at once if few, else a slice at a time."""
        if not (self._unsent or self._pending):
            count = 0
            for context in contexts:
                count += len(self._by_context.get(context, ()))
            if count <= NOTIFY_AT_ONCE:
                for context in contexts:
                    self.send(context)
                return
        self._unsent.update(dict.fromkeys(contexts))
        if self._notifier is None:
            self._notifier = self._entry.async_create_task(
                self._hass,
                self._async_notify_unsent(),
                f"{DOMAIN} notify",
                eager_start=False,
            )

    async def _async_notify_unsent(self) -> None:
        loop = self._hass.loop
        unsent, pending = self._unsent, self._pending
        try:
            while unsent or pending:
                until = loop.time() + NOTIFY_SLICE
                while loop.time() < until:
                    if pending:
                        context, listener = pending.popleft()
                        # Unless it went meanwhile (its entity was removed).
                        if listener in self._by_context.get(context, ()):
                            _call(listener)
                    elif unsent:
                        context = next(iter(unsent))
                        del unsent[context]
                        pending.extend(
                            (context, listener)
                            for listener in self._by_context.get(context, ())
                        )
                    else:
                        break
                await asyncio.sleep(0)
        finally:
            self._notifier = None

    def send(self, context: Any) -> None:
        """Tell the listeners of ``context`` now."""
        # A copy (a tuple is its own): a listener may come or go meanwhile.
        if (listeners := self._by_context.get(context)) is not None:
            for listener in tuple(listeners):
                _call(listener)

    def send_call(self, call: CallEvent) -> None:
        """Hand a call event to the listeners of its item."""
        if (listeners := self._calls.get(call.item)) is not None:
            for listener in tuple(listeners):
                _call(listener, call)

    def send_record(self, record: Cdr | QueueCdr) -> None:
        """Hand a new call record to every record listener."""
        for listener in tuple(self._records):
            _call(listener, record)

    def announce(self, keys: Iterable[str], register: Register) -> None:
        """Make the devices (``register``) and entities of new items, in slices.

        ``keys`` come in the order their devices are to be made; ``register``
        returns those of them that still exist, whose entities are made.
        """
        self._new.extend(keys)
        if len(self._new) <= ADD_AT_ONCE and self._adder is None:
            self._add(register, len(self._new))
            return
        if self._adder is None:
            self._adder = self._entry.async_create_task(
                self._hass,
                self._async_add_new(register),
                f"{DOMAIN} add items",
                eager_start=False,
            )

    def _add(self, register: Register, count: int) -> None:
        keys = register(
            [self._new.popleft() for _ in range(min(count, len(self._new)))]
        )
        if not keys:
            return
        for listener in tuple(self._items):
            _call(listener, keys)

    async def _async_add_new(self, register: Register) -> None:
        chunk = ADD_AT_ONCE
        try:
            while self._new:
                start = time.perf_counter()
                self._add(register, chunk)
                # Platforms add their entities at once (eagerly): the slice
                # is sized by what the last one took.
                took = max(time.perf_counter() - start, 1e-6)
                # At most twice as many at a time: a slice that happened to
                # be quick must not make the next one long.
                chunk = int(
                    min(max(1, chunk * ADD_SLICE / took), 2 * chunk, ADD_CHUNK_MAX)
                )
                await asyncio.sleep(0)
        finally:
            self._adder = None

    @callback
    def start_day_clock(self, context: Any) -> None:
        """Tell the listeners of ``context`` when each local day starts.

        Not at 00:00:00 by the clock: where summer time starts at midnight,
        that time does not exist on that day, and the day starts at 01:00.
        """
        tomorrow = dt_util.now().date() + timedelta(days=1)

        @callback
        def new_day(_now: datetime) -> None:
            self.start_day_clock(context)
            self.notify((context,))

        self._midnight = async_track_point_in_time(
            self._hass, new_day, dt_util.start_of_local_day(tomorrow)
        )

    @callback
    def stop_day_clock(self) -> None:
        """Stop telling of new days."""
        if self._midnight is not None:
            self._midnight()
            self._midnight = None

    def cancel(self) -> None:
        """Stop telling; what was not told is dropped."""
        for task in (self._notifier, self._adder):
            if task is not None:
                task.cancel()
        self._unsent.clear()
        self._pending.clear()
        self._new.clear()


def subscribe[L: Callable[..., None]](
    registry: dict[Any, Listeners[L]], key: Any, listener: L
) -> CALLBACK_TYPE:
    """Add ``listener`` of ``key`` to ``registry``; return its remover.

    For any registry of listeners by key, each told in the order it came
    (iterate ``tuple(registry.get(key, ()))``: a listener may come or go
    meanwhile).
    """
    listeners = registry.get(key)
    if listeners is None:
        registry[key] = (listener,)
    elif type(listeners) is dict:
        listeners[listener] = None
    elif listener not in listeners:
        if len(listeners) < FEW:
            registry[key] = (*listeners, listener)
        else:
            registry[key] = dict.fromkeys((*listeners, listener))
    return _Remover(registry, key, listener)


class _Remover:
    """Removes one listener of one key: what :func:`subscribe` returns.

    An object of three slots rather than a ``partial`` (its arguments'
    tuple and keywords' dict): there is one for each listening entity.
    """

    __slots__ = ("_key", "_listener", "_registry")

    def __init__(
        self,
        registry: dict[Any, Listeners[Any]],
        key: Any,
        listener: Callable[..., None],
    ) -> None:
        self._registry = registry
        self._key = key
        self._listener = listener

    def __call__(self) -> None:
        registry, key, listener = self._registry, self._key, self._listener
        listeners = registry.get(key)
        if listeners is None:
            return
        if type(listeners) is dict:
            listeners.pop(listener, None)
            if not listeners:
                del registry[key]
        elif listener in listeners:
            if len(listeners) == 1:
                del registry[key]
            else:
                registry[key] = tuple(other for other in listeners if other != listener)


def _call(listener: Callable[..., None], *args: Any) -> None:
    """Call a listener; its error is logged, and the others are still called."""
    try:
        listener(*args)
    except Exception:  # noqa: BLE001 - one entity's bug must not silence the rest
        LOGGER.exception("Error in a listener of %s", DOMAIN)
