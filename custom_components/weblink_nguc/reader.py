"""Reading NGUC's state over REST, without ever replacing it by less.

A list whose endpoint answers 404 (its path is assumed) keeps the items it
had, in memory or, after a restart, as kept on disk; a repair issue names the
endpoint until it answers. Any other failure fails the whole read, to be
retried: nothing is replaced by a partial answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NamedTuple

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .api import NgucAuthError, NgucClient, NgucNotFoundError, UserStatus, contract as c
from .const import DOMAIN, ISSUE_MISSING_ENDPOINT, LOGGER
from .data import (
    KIND_DEVICE,
    KIND_QUEUE,
    KIND_USER,
    NgucData,
    devices_from_identities,
    identities,
    queues_from_identities,
    users_from_identities,
)

STORE_VERSION = 1
STORE_SAVE_DELAY = 10.0

# The parts of NgucData that a list fills, and the kind of item each lists.
PART_USERS = "users"
PART_STATUSES = "statuses"
PART_DEVICES = "devices"
PART_QUEUES = "queues"
PART_OF_KIND = {
    KIND_USER: PART_USERS,
    KIND_DEVICE: PART_DEVICES,
    KIND_QUEUE: PART_QUEUES,
}
_FROM_DISK: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    PART_USERS: users_from_identities,
    PART_DEVICES: devices_from_identities,
    PART_QUEUES: queues_from_identities,
}


class Read(NamedTuple):
    """What a read found."""

    data: NgucData
    first_answers: frozenset[str]
    """Parts whose list answered for the first time in this run."""


def _store(hass: HomeAssistant, entry: ConfigEntry) -> Store[dict[str, Any]]:
    return Store(hass, STORE_VERSION, f"{DOMAIN}.{entry.entry_id}")


async def async_remove_store(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove what an entry kept on disk."""
    await _store(hass, entry).async_remove()


class NgucReader:
    """Reads one account's state; remembers which lists answer."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, client: NgucClient
    ) -> None:
        """Bind; :meth:`async_load` reads what was kept on disk."""
        self._hass = hass
        self._entry = entry
        self._client = client
        self._store = _store(hass, entry)
        self._stored: dict[str, Any] = {}
        self._save_pending = False
        #: Parts whose list answered at the last read, and at any read.
        self.answered: set[str] = set()
        self.ever_answered: set[str] = set()
        self._missing: dict[str, str] = {}  # part -> the path that answered 404

    async def async_load(self) -> None:
        """Read the items kept on disk at the last run."""
        self._stored = await self._store.async_load() or {}

    async def async_read(self, current: NgucData, *, read_me: bool) -> Read:
        """Read the lists (and ``/user/me`` if asked); return the data and what answered.

        ``current`` gives ``me`` when it is not read, and the items of a list
        that answers 404.
        """
        client = self._client
        parts: tuple[tuple[str, str, Callable[[], Awaitable[Any]]], ...] = (
            (PART_USERS, c.PATH_USERS, client.get_users),
            (PART_STATUSES, c.PATH_USER_STATUSES, client.get_user_statuses),
            (PART_DEVICES, c.PATH_DEVICES, client.get_devices),
            (PART_QUEUES, c.PATH_QUEUES, client.get_queues),
        )
        me, *results = await asyncio.gather(
            client.get_me() if read_me else _value(current.me),
            *(read() for _, _, read in parts),
            return_exceptions=True,
        )
        # Credentials first: they stop everything; then faults to retry.
        for result in (me, *results):
            if isinstance(result, NgucAuthError):
                raise result
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                result, NgucNotFoundError
            ):
                raise result
        if isinstance(me, BaseException):
            raise me
        lists: dict[str, dict[str, Any]] = {}
        answered: set[str] = set()
        for (part, path, _), result in zip(parts, results, strict=True):
            if isinstance(result, BaseException):
                self._missing_endpoint(part, path, result)
                lists[part] = self._kept(current, part)
            else:
                self._endpoint_answers(part)
                answered.add(part)
                lists[part] = {_id_of(item): item for item in result}
        first_answers = frozenset(answered - self.ever_answered)
        self.answered = answered
        self.ever_answered |= answered
        data = NgucData(
            me=me,
            users=lists[PART_USERS],
            statuses=lists[PART_STATUSES],
            devices=lists[PART_DEVICES],
            queues=lists[PART_QUEUES],
        )
        return Read(data, first_answers)

    def _kept(self, current: NgucData, part: str) -> dict[str, Any]:
        """Return the items of a part whose list cannot be read: as they were.

        Before the list ever answered in this run, what was kept on disk (and
        what events added since); at an entry's very first setup, nothing.
        """
        items: dict[str, Any] = getattr(current, part)
        if part in self.ever_answered or part not in _FROM_DISK:
            return dict(items)
        return _FROM_DISK[part](self._stored) | items

    def _missing_endpoint(self, part: str, path: str, err: BaseException) -> None:
        if part in self._missing:
            return
        self._missing[part] = path
        LOGGER.warning(
            "NGUC has no such endpoint; its items are kept as they were: %s", err
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self._issue_id(part),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="missing_endpoint",
            translation_placeholders={"account": self._entry.title, "endpoint": path},
        )

    def _endpoint_answers(self, part: str) -> None:
        if self._missing.pop(part, None) is not None:
            LOGGER.info("NGUC answers %s again", part)
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id(part))

    def _issue_id(self, part: str) -> str:
        return f"{self._entry.entry_id}_{ISSUE_MISSING_ENDPOINT}_{part}"

    @property
    def missing_endpoints(self) -> list[str]:
        """Return the list endpoints that answered 404 at the last read."""
        return sorted(self._missing.values())

    def kind_answers(self, kind: str) -> bool:
        """Return whether the list of items of ``kind`` answered at the last read."""
        return PART_OF_KIND.get(kind) in self.answered

    @staticmethod
    def kinds_of(parts: Collection[str]) -> set[str]:
        """Return the kinds of item that ``parts`` list."""
        return {kind for kind, part in PART_OF_KIND.items() if part in parts}

    @callback
    def async_keep(self, data: Callable[[], NgucData]) -> None:
        """Keep the items of ``data()`` on disk soon, for when a list cannot be read."""
        self._save_pending = True

        def items() -> dict[str, Any]:
            self._save_pending = False
            return identities(data())

        self._store.async_delay_save(items, STORE_SAVE_DELAY)

    async def async_stop(self, data: NgucData) -> None:
        """Write what is still to be kept; withdraw the repair issues."""
        if self._save_pending:
            self._save_pending = False
            await self._store.async_save(identities(data))
        for part in self._missing:
            ir.async_delete_issue(self._hass, DOMAIN, self._issue_id(part))


async def _value[T](value: T) -> T:
    return value


def _id_of(item: Any) -> str:
    """Return the NGUC id of a listed item (users, statuses, phones, queues)."""
    if isinstance(item, UserStatus):
        return item.user_id
    return str(item.id)
