"""What an entry keeps on disk: the items NGUC listed, for when a list cannot be read.

Only the items (ids, names, owners) of the whole company, followed or not,
never their states or e-mail addresses: after a restart, a list that cannot
be read keeps its devices, and the options form lists the company. A part
whose list has not answered since start keeps what is on disk (and what
events added): a restart during an outage loses nothing. Each part is read
on its own: one that does not read (a wrong shape, a missing key) is set
aside with a warning naming it, and the others load.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api import Device, Queue, User
from .const import DOMAIN, LOGGER
from .data import NgucData

STORE_VERSION = 1
STORE_SAVE_DELAY = 10.0


def _store(hass: HomeAssistant, entry: ConfigEntry) -> Store[dict[str, Any]]:
    return Store(hass, STORE_VERSION, f"{DOMAIN}.{entry.entry_id}")


async def async_remove_store(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove what an entry kept on disk."""
    await _store(hass, entry).async_remove()


class NgucStore:
    """The items of one entry on disk."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        answered: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        """Bind; ``answered`` returns the parts whose list answered in this run."""
        self._store = _store(hass, entry)
        self._answered = answered
        self._parts: dict[str, dict[str, Any]] = {}
        #: Parts kept on disk that could not be read at load.
        self.set_aside: set[str] = set()
        self._save_pending = False
        self._data: Callable[[], NgucData] | None = None

    async def async_load(self) -> None:
        """Read the items kept on disk at the last run, each part on its own."""
        stored: Any = await self._store.async_load()
        if stored is not None and not isinstance(stored, dict):
            LOGGER.warning(
                "The NGUC items kept on disk are not readable (%s); set aside",
                type(stored).__name__,
            )
            stored = None
            self.set_aside.update(_FROM_DISK)
        self._parts = {}
        for part, from_disk in _FROM_DISK.items():
            try:
                self._parts[part] = from_disk(stored or {})
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                LOGGER.warning(
                    "The NGUC %s kept on disk are not readable (%s: %s); set aside",
                    part,
                    type(err).__name__,
                    err,
                )
                self._parts[part] = {}
                self.set_aside.add(part)

    def items(self, part: str) -> dict[str, Any]:
        """Return the items of a part of NgucData kept at the last run."""
        return dict(self._parts.get(part, {}))

    @callback
    def async_keep(self, data: Callable[[], NgucData]) -> None:
        """Keep the items of ``data()`` (the whole company) on disk soon."""
        self._save_pending = True
        self._data = data

        def items() -> dict[str, Any]:
            self._save_pending = False
            return self._identities(data())

        self._store.async_delay_save(items, STORE_SAVE_DELAY)

    async def async_flush(self, data: NgucData) -> None:
        """Write what is still to be kept (``data``, if never told what to keep)."""
        if self._save_pending:
            self._save_pending = False
            kept = data if self._data is None else self._data()
            await self._store.async_save(self._identities(kept))

    def _identities(self, data: NgucData) -> dict[str, list[dict[str, Any]]]:
        """Return the items to write: a part not read in this run keeps the disk's."""
        answered = self._answered()
        parts: dict[str, Any] = {
            part: getattr(data, part)
            if part in answered
            else self._parts.get(part, {}) | getattr(data, part)
            for part in _FROM_DISK
        }
        return identities(NgucData(me=data.me, **parts))


def identities(data: NgucData) -> dict[str, list[dict[str, Any]]]:
    """Return the items of ``data`` as JSON, without any state or e-mail."""
    return {
        "users": [
            {"id": u.id, "name": u.name, "extension": u.extension}
            for u in data.users.values()
        ],
        "devices": [
            {"id": d.id, "user_id": d.user_id, "name": d.name, "model": d.model}
            for d in data.devices.values()
        ],
        "queues": [{"id": q.id, "name": q.name} for q in data.queues.values()],
    }


def _items(stored: Mapping[str, Any], part: str) -> list[Mapping[str, Any]]:
    """Return the items kept of a part; raise TypeError when not a list of dicts."""
    items = stored.get(part, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError(f"not a list of items: {type(items).__name__}")
    return items


def _text(item: Mapping[str, Any], key: str) -> str | None:
    """Return a kept item's field as text; raise TypeError when it cannot be one."""
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{key} is {type(value).__name__}")
    return str(value)


def _id(item: Mapping[str, Any]) -> str:
    """Return a kept item's id; raise KeyError or TypeError when it has none."""
    item_id = _text(item, "id")
    if item_id is None:
        raise KeyError("id")
    return item_id


def users_from_identities(stored: Mapping[str, Any]) -> dict[str, User]:
    """Return the users kept by :func:`identities`."""
    return {
        _id(item): User(
            id=_id(item),
            name=_text(item, "name"),
            extension=_text(item, "extension"),
            email=None,
        )
        for item in _items(stored, "users")
    }


def devices_from_identities(stored: Mapping[str, Any]) -> dict[str, Device]:
    """Return the phones kept by :func:`identities`; their registration unknown."""
    return {
        _id(item): Device(
            id=_id(item),
            user_id=_text(item, "user_id"),
            name=_text(item, "name"),
            model=_text(item, "model"),
            registered=None,
        )
        for item in _items(stored, "devices")
    }


def queues_from_identities(stored: Mapping[str, Any]) -> dict[str, Queue]:
    """Return the queues kept by :func:`identities`; their figures unknown."""
    return {
        _id(item): Queue(
            id=_id(item),
            name=_text(item, "name"),
            waiting=None,
            member_available=None,
            member_total=None,
            wait_longest=None,
            wait_avg=None,
            service_level=None,
            service_level_time=None,
            completed=None,
            abandoned=None,
            total=None,
            talktime=None,
            holdtime=None,
            members=(),
            callers=(),
        )
        for item in _items(stored, "queues")
    }


_FROM_DISK: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "users": users_from_identities,
    "devices": devices_from_identities,
    "queues": queues_from_identities,
}
#: The parts of NgucData kept on disk.
STORED_PARTS = tuple(_FROM_DISK)
