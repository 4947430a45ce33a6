"""What an entry keeps on disk: the items NGUC listed, for when a list cannot be read.

Only the items (ids, names, owners), never their states or e-mail
addresses: after a restart, a list that cannot be read keeps its devices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api import Device, Queue, User
from .const import DOMAIN
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

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Bind; :meth:`async_load` reads what was kept."""
        self._store = _store(hass, entry)
        self._stored: dict[str, Any] = {}
        self._save_pending = False

    async def async_load(self) -> None:
        """Read the items kept on disk at the last run."""
        self._stored = await self._store.async_load() or {}

    def items(self, part: str) -> dict[str, Any]:
        """Return the items of a part of NgucData kept at the last run."""
        from_disk = _FROM_DISK.get(part)
        return {} if from_disk is None else from_disk(self._stored)

    @callback
    def async_keep(self, data: Callable[[], NgucData]) -> None:
        """Keep the items of ``data()`` on disk soon."""
        self._save_pending = True

        def items() -> dict[str, Any]:
            self._save_pending = False
            return identities(data())

        self._store.async_delay_save(items, STORE_SAVE_DELAY)

    async def async_flush(self, data: NgucData) -> None:
        """Write what is still to be kept."""
        if self._save_pending:
            self._save_pending = False
            await self._store.async_save(identities(data))


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


def users_from_identities(stored: Mapping[str, Any]) -> dict[str, User]:
    """Return the users kept by :func:`identities`."""
    return {
        item["id"]: User(
            id=item["id"], name=item["name"], extension=item["extension"], email=None
        )
        for item in stored.get("users", ())
    }


def devices_from_identities(stored: Mapping[str, Any]) -> dict[str, Device]:
    """Return the phones kept by :func:`identities`; their registration unknown."""
    return {
        item["id"]: Device(
            id=item["id"],
            user_id=item["user_id"],
            name=item["name"],
            model=item["model"],
            registered=None,
        )
        for item in stored.get("devices", ())
    }


def queues_from_identities(stored: Mapping[str, Any]) -> dict[str, Queue]:
    """Return the queues kept by :func:`identities`; their figures unknown."""
    return {
        item["id"]: Queue(
            id=item["id"],
            name=item["name"],
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
        for item in stored.get("queues", ())
    }


_FROM_DISK: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "users": users_from_identities,
    "devices": devices_from_identities,
    "queues": queues_from_identities,
}
