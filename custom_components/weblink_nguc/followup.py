"""Per entry, hands each call record to the call history and the calls to return.

Both hear of calls only through the coordinator's record listener, and keep
what they heard in storage, written on unload so that a reload reads it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api import Cdr, QueueCdr
from .call_log import STORAGE_VERSION, CallLog, Directory, step_of
from .callbacks import CallbackLists
from .const import DOMAIN, LOGGER
from .coordinator import NgucConfigEntry
from .data import KIND_QUEUE, KIND_USER, split_key

DATA_FOLLOWUP: HassKey[dict[str, Followup]] = HassKey(f"{DOMAIN}_followup")
# Items age out (completed after 7 days, open ones of calls after 30);
# looked at this often.
PRUNE_INTERVAL: Final = timedelta(hours=1)
_STORES: Final = ("call_log", "calls_to_return")


class Followup:
    """The call history and the calls-to-return lists of one entry."""

    def __init__(self, hass: HomeAssistant, entry: NgucConfigEntry) -> None:
        """Keep both for ``entry``; numbers are read in Home Assistant's country."""
        self.entry = entry
        self.log = CallLog(hass, entry.entry_id)
        self.lists = CallbackLists(
            hass, entry.entry_id, hass.config.country, self._follows
        )
        self._country = hass.config.country
        self._directory: Directory | None = None

    @callback
    def on_record(self, record: Cdr | QueueCdr) -> None:
        """Take in a new call record of the stream."""
        step = step_of(record, self._names(), dt_util.utcnow())
        if step is not None and (call := self.log.add(record, step)) is not None:
            self.lists.add_call(call, step)

    def _follows(self, key: str) -> bool:
        """Return whether the user or queue ``key`` is followed: only those have lists."""
        kind, item_id = split_key(key)
        following = self.entry.runtime_data.following
        if kind == KIND_USER:
            return following.user(item_id)
        return kind == KIND_QUEUE and following.queue(item_id)

    def _names(self) -> Directory:
        """Return the company's directory, indexed again only when it changed."""
        coordinator = self.entry.runtime_data
        # The whole company: a colleague the entry does not follow is still one.
        data = coordinator.following.everyone or coordinator.data
        directory = self._directory
        if (
            directory is None
            or directory.users is not data.users
            or directory.queues is not data.queues
        ):
            directory = self._directory = Directory(
                data.users, data.queues, self._country
            )
        return directory

    def counts(self) -> dict[str, int]:
        """Return how much is kept, without a number or name (diagnostics)."""
        return {"calls": len(self.log), **self.lists.counts()}


async def async_setup_followup(hass: HomeAssistant, entry: NgucConfigEntry) -> None:
    """Read what was kept and listen to the call records; undone on unload."""
    followup = Followup(hass, entry)
    # Call events write numbers as the lists and the history do.
    entry.runtime_data.calls.country = hass.config.country
    for part, load in (
        ("call history", followup.log.async_load),
        ("calls to return", followup.lists.async_load),
    ):
        try:
            await load()
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            # Each part checks its shape; whatever else is damaged in one
            # never stops the entry, nor the other part.
            LOGGER.warning(
                "The stored %s of %s could not be read (%s); set aside",
                part,
                entry.title,
                type(err).__name__,
            )
    entry.async_on_unload(
        entry.runtime_data.async_add_record_listener(followup.on_record)
    )

    @callback
    def prune(_now: datetime) -> None:
        followup.lists.prune()

    entry.async_on_unload(
        async_track_time_interval(
            hass, prune, PRUNE_INTERVAL, name=f"{DOMAIN} calls to return"
        )
    )
    hass.data.setdefault(DATA_FOLLOWUP, {})[entry.entry_id] = followup

    async def async_unload() -> None:
        hass.data[DATA_FOLLOWUP].pop(entry.entry_id, None)
        await followup.log.async_save()
        await followup.lists.async_save()

    entry.async_on_unload(async_unload)


def followup_of(hass: HomeAssistant, entry: NgucConfigEntry) -> Followup | None:
    """Return the call history and lists of a loaded entry."""
    return hass.data.get(DATA_FOLLOWUP, {}).get(entry.entry_id)


def followup_counts(hass: HomeAssistant, entry: NgucConfigEntry) -> dict[str, Any]:
    """Return the counts of an entry's call history and lists (diagnostics)."""
    followup = followup_of(hass, entry)
    return {} if followup is None else followup.counts()


async def async_remove_followup(hass: HomeAssistant, entry: NgucConfigEntry) -> None:
    """Forget the calls and lists of a removed entry."""
    for name in _STORES:
        await Store[Any](
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.{name}"
        ).async_remove()
