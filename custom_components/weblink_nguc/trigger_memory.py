"""What the caller_waiting trigger remembers beyond one attachment, on disk across restarts.

Per config entry: the callers each automation was told of (so that turning
it off and on, an edit or a restart does not tell of them again), and the
numbers waiting without a call id (so that a later call from the same
number is a new call). A part that does not read is set aside, logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

# Where what the trigger fired for is kept across restarts, and how soon
# after a change it is saved.
STORAGE_KEY = f"{DOMAIN}.caller_waiting"
STORAGE_VERSION = 1
SAVE_DELAY = 10


@dataclass(slots=True)
class Seen:
    """A number waiting in a queue without a call id: since when, last seen when."""

    start: datetime
    last_seen: datetime


class EntryMemory:
    """What the trigger keeps of one config entry beyond one attachment."""

    def __init__(self, changed: Callable[[], None]) -> None:
        """Start empty; ``changed`` saves, a while later."""
        #: Callers without a call id, by queue and number.
        self.numbers: dict[str, dict[str, Seen]] = {}
        #: By automation: the calls fired for, and when last seen waiting.
        self.fired: dict[Hashable, dict[str, datetime]] = {}
        self.changed = changed


class TriggerMemory:
    """What the trigger keeps of every entry, on disk across restarts.

    Small: the callers fired for in the last hour or so, and the numbers
    waiting without a call id. Saved a while after a change, and when Home
    Assistant stops.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Start empty; :meth:`async_load` reads the disk."""
        self.entries: dict[str, EntryMemory] = {}
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY)
        self.loaded: asyncio.Future[None] = hass.loop.create_future()

    async def async_load(self, hass: HomeAssistant) -> None:
        """Read what was kept; a part that does not read is set aside, logged."""
        try:
            await self._async_read(hass)
        finally:
            # Other attachments wait for this one's read, whatever it met.
            self.loaded.set_result(None)

    async def _async_read(self, hass: HomeAssistant) -> None:
        data: Any
        try:
            data = await self._store.async_load()
        except (HomeAssistantError, ValueError) as err:
            data = err
        if data is not None and not isinstance(data, dict):
            LOGGER.warning(
                "Setting aside the callers caller_waiting told of, which do not"
                " read (%r): it may tell of them again",
                data,
            )
            data = None
        for entry_id, part in (data or {}).items():
            if hass.config_entries.async_get_entry(entry_id) is None:
                continue  # removed while Home Assistant was stopped
            try:
                self.entries[entry_id] = self._entry_from_disk(part)
            except (AttributeError, KeyError, TypeError, ValueError) as err:
                LOGGER.warning(
                    "Setting aside the callers caller_waiting told of for entry"
                    " %s, which do not read (%r): it may tell of them again",
                    entry_id,
                    err,
                )

    def entry(self, entry_id: str) -> EntryMemory:
        """Return the memory of one entry, made empty if there is none."""
        if (memory := self.entries.get(entry_id)) is None:
            memory = self.entries[entry_id] = EntryMemory(self.save)
        return memory

    @callback
    def remove(self, entry_id: str) -> None:
        """Forget an entry that was removed."""
        if self.entries.pop(entry_id, None) is not None:
            self.save()

    @callback
    def save(self) -> None:
        """Save a while later, with what has changed by then."""
        self._store.async_delay_save(self._to_disk, SAVE_DELAY)

    def _entry_from_disk(self, part: dict[str, Any]) -> EntryMemory:
        memory = EntryMemory(self.save)
        for queue_id, numbers in part["numbers"].items():
            memory.numbers[str(queue_id)] = {
                str(number): Seen(_date(start), _date(last_seen))
                for number, (start, last_seen) in numbers.items()
            }
        for owner, fired in part["fired"].items():
            memory.fired[str(owner)] = {
                str(key): _date(last_seen) for key, last_seen in fired.items()
            }
        return memory

    def _to_disk(self) -> dict[str, Any]:
        return {
            entry_id: {
                "numbers": {
                    queue_id: {
                        number: [seen.start.isoformat(), seen.last_seen.isoformat()]
                        for number, seen in numbers.items()
                    }
                    for queue_id, numbers in memory.numbers.items()
                    if numbers
                },
                # An attachment's own memory (not an automation's) ends with it.
                "fired": {
                    owner: {key: seen.isoformat() for key, seen in fired.items()}
                    for owner, fired in memory.fired.items()
                    if isinstance(owner, str) and fired
                },
            }
            for entry_id, memory in self.entries.items()
        }


def _date(value: Any) -> datetime:
    """Return a stored date; ValueError if it is none."""
    if not isinstance(value, str) or (date := dt_util.parse_datetime(value)) is None:
        raise ValueError(f"not a date: {value!r}")
    if date.tzinfo is None:
        raise ValueError(f"a date without a time zone: {value!r}")
    return date


MEMORY: HassKey[TriggerMemory] = HassKey(f"{DOMAIN}_caller_waiting")


async def async_memory(hass: HomeAssistant) -> TriggerMemory:
    """Return the trigger's memory, read from disk the first time."""
    if (memory := hass.data.get(MEMORY)) is None:
        memory = hass.data[MEMORY] = TriggerMemory(hass)
        await memory.async_load(hass)
    else:
        await memory.loaded
    return memory
