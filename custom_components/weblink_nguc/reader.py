"""Reading NGUC's lists over REST, each answer on its own; what was kept on disk.

Each list's answer, or its failure, is handed back apart: what to believe
of it is the sync's to judge. A list whose endpoint answers 404 (its path is
assumed) raises a repair issue at once; any other failure that persists
(several reads, or ten minutes) raises one naming the list and the latest
answer, and says so anew when the answer changes (a 500 turned 403, items
that cannot be read). Both go when the list answers again. What a list cannot give after a
restart comes from what was kept on disk (:mod:`.store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from http import HTTPStatus
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .api import (
    Me,
    NgucAuthError,
    NgucClient,
    NgucError,
    NgucNotFoundError,
    NgucResponseError,
    NgucUnreadableListError,
    UserStatus,
    contract as c,
)
from .compat import async_create_issue
from .const import (
    DOMAIN,
    ISSUE_DATA_ENTRY_ID,
    ISSUE_LIST_FAILING,
    ISSUE_LIST_FORBIDDEN,
    ISSUE_LIST_UNREADABLE,
    ISSUE_MISSING_ENDPOINT,
    LOGGER,
)
from .data import KIND_DEVICE, KIND_QUEUE, KIND_USER, NgucData
from .store import NgucStore
from .timings import timings_of

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
# A list that fails this many reads in a row, or this long, raises an issue.
FAILING_ISSUE_READS = 3


@dataclass(slots=True)
class Answers:
    """What one read got: each list's items or its failure, and ``/user/me``."""

    me: Me | NgucError | None
    """None when it was not asked for."""
    lists: dict[str, list[Any] | NgucError] = field(default_factory=dict)
    first_answers: frozenset[str] = frozenset()
    """Parts whose list answered for the first time in this run."""
    answered_at: dict[str, float] = field(default_factory=dict)
    """When each list's answer came (loop time): two answers are as far apart
    as NGUC said them, however long the slowest list of a read took."""
    stale_check: frozenset[str] = frozenset()
    """Parts whose answer tells which devices went while Home Assistant was stopped.

    Their first answer in this run, which is judged with what was kept on
    disk; the second when what was kept of the part was set aside: nothing
    then vouches for the items a single answer lacks.
    """


@dataclass(slots=True)
class _Failing:
    reads: int
    since: float
    # The translation key and placeholders of the repair issue raised.
    issue: tuple[str, tuple[tuple[str, str], ...]] | None = None


PATHS = {
    PART_USERS: c.PATH_USERS,
    PART_STATUSES: c.PATH_USER_STATUSES,
    PART_DEVICES: c.PATH_DEVICES,
    PART_QUEUES: c.PATH_QUEUES,
}
ALL_PARTS = frozenset(PATHS)


class NgucReader:
    """Reads one account's lists; remembers which answer and which fail."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, client: NgucClient
    ) -> None:
        """Bind; its store reads what was kept on disk."""
        self._hass = hass
        self._entry = entry
        self._client = client
        #: Parts whose list answered at its last read, and at any read.
        self.answered: set[str] = set()
        self.ever_answered: set[str] = set()
        self.store = NgucStore(hass, entry, lambda: self.ever_answered)
        self._missing: dict[str, str] = {}  # part -> the path that answered 404
        self._failing: dict[str, _Failing] = {}
        self._answers: dict[str, int] = {}  # part -> answers in this run

    async def async_read(self, parts: Collection[str], *, read_me: bool) -> Answers:
        """Read the lists of ``parts`` (and ``/user/me`` if asked), each on its own.

        Raises :class:`NgucAuthError` only when the token endpoint refused
        the credentials: a list that refuses a fresh token is a failure of
        that list.
        """
        client = self._client
        reads: dict[str, Callable[[], Awaitable[list[Any]]]] = {
            PART_USERS: client.get_users,
            PART_STATUSES: client.get_user_statuses,
            PART_DEVICES: client.get_devices,
            PART_QUEUES: client.get_queues,
        }
        wanted = [part for part in PATHS if part in parts]
        loop = self._hass.loop
        answered_at: dict[str, float] = {}

        async def timed(part: str) -> list[Any]:
            items = await reads[part]()
            answered_at[part] = loop.time()
            return items

        me, *results = await asyncio.gather(
            client.get_me() if read_me else _value(None),
            *(timed(part) for part in wanted),
            return_exceptions=True,
        )
        for result in (me, *results):
            if isinstance(result, NgucAuthError):
                raise result
            if isinstance(result, BaseException) and not isinstance(result, NgucError):
                raise result  # a bug of ours, not NGUC's answer
        answers = Answers(me=me, answered_at=answered_at)
        answered: set[str] = set()
        for part, result in zip(wanted, results, strict=True):
            answers.lists[part] = result
            if isinstance(result, NgucError):
                self._failed(part, result)
            else:
                self._endpoint_answers(part)
                answered.add(part)
        answers.first_answers = frozenset(answered - self.ever_answered)
        for part in answered:
            self._answers[part] = self._answers.get(part, 0) + 1
        answers.stale_check = frozenset(
            part
            for part in answered
            if self._answers[part] == (2 if part in self.store.set_aside else 1)
        )
        self.answered = (self.answered - set(wanted)) | answered
        self.ever_answered |= answered
        return answers

    def kept(self, current: NgucData, part: str) -> dict[str, Any]:
        """Return the items of a part whose list cannot be read: as they were.

        Before the list ever answered in this run, what was kept on disk (and
        what events added since); at an entry's very first setup, nothing.
        """
        items: dict[str, Any] = getattr(current, part)
        if part in self.ever_answered:
            return dict(items)
        return self.store.items(part) | items

    def _failed(self, part: str, err: NgucError) -> None:
        if isinstance(err, NgucNotFoundError):
            self._missing_endpoint(part, err)
            return
        now = time.monotonic()
        failing = self._failing.setdefault(part, _Failing(0, now))
        failing.reads += 1
        (LOGGER.debug if failing.reads > 1 else LOGGER.warning)(
            "Cannot read the NGUC list %s (%s); its items are kept as they were",
            PATHS[part],
            err,
        )
        if failing.issue is None and (
            failing.reads < FAILING_ISSUE_READS
            and now - failing.since < timings_of(self._hass).failing_issue_after
        ):
            return
        placeholders = {
            "account": self._entry.title,
            "endpoint": PATHS[part],
            "answer": str(err),
        }
        issue = (_issue_key(err), tuple(sorted(placeholders.items())))
        if issue == failing.issue:
            return
        # Raised again with the same id: the issue says the latest reason.
        failing.issue = issue
        # A refused list has a fix flow that explains and is acknowledged.
        forbidden = issue[0] == ISSUE_LIST_FORBIDDEN
        async_create_issue(
            self._hass,
            self._entry,
            self._issue_id(ISSUE_LIST_FAILING, part),
            data={ISSUE_DATA_ENTRY_ID: self._entry.entry_id} if forbidden else None,
            is_fixable=forbidden,
            translation_key=issue[0],
            translation_placeholders=placeholders,
        )

    def _missing_endpoint(self, part: str, err: NgucError) -> None:
        if part in self._missing:
            return
        self._missing[part] = PATHS[part]
        LOGGER.warning(
            "NGUC has no such endpoint; its items are kept as they were: %s", err
        )
        async_create_issue(
            self._hass,
            self._entry,
            self._issue_id(ISSUE_MISSING_ENDPOINT, part),
            is_fixable=False,
            translation_key=ISSUE_MISSING_ENDPOINT,
            translation_placeholders={
                "account": self._entry.title,
                "endpoint": PATHS[part],
            },
        )

    def _endpoint_answers(self, part: str) -> None:
        if self._missing.pop(part, None) is not None:
            LOGGER.info("NGUC answers %s again", PATHS[part])
            ir.async_delete_issue(
                self._hass, DOMAIN, self._issue_id(ISSUE_MISSING_ENDPOINT, part)
            )
        if (failing := self._failing.pop(part, None)) is not None:
            LOGGER.info("NGUC answers %s again", PATHS[part])
            if failing.issue:
                ir.async_delete_issue(
                    self._hass, DOMAIN, self._issue_id(ISSUE_LIST_FAILING, part)
                )

    def _issue_id(self, issue: str, part: str) -> str:
        return f"{self._entry.entry_id}_{issue}_{part}"

    @property
    def missing_endpoints(self) -> list[str]:
        """Return the list endpoints that answered 404 at the last read."""
        return sorted(self._missing.values())

    @property
    def failing_lists(self) -> dict[str, int]:
        """Return the lists that fail to answer, with how many reads in a row."""
        return {PATHS[part]: failing.reads for part, failing in self._failing.items()}

    def kind_answers(self, kind: str) -> bool:
        """Return whether the list of items of ``kind`` answered at the last read."""
        return PART_OF_KIND.get(kind) in self.answered

    @staticmethod
    def kinds_of(parts: Collection[str]) -> set[str]:
        """Return the kinds of item that ``parts`` list."""
        return {kind for kind, part in PART_OF_KIND.items() if part in parts}

    async def async_stop(self, data: NgucData) -> None:
        """Write what is still to be kept; withdraw the repair issues."""
        await self.store.async_flush(data)
        for part in self._missing:
            ir.async_delete_issue(
                self._hass, DOMAIN, self._issue_id(ISSUE_MISSING_ENDPOINT, part)
            )
        for part, failing in self._failing.items():
            if failing.issue:
                ir.async_delete_issue(
                    self._hass, DOMAIN, self._issue_id(ISSUE_LIST_FAILING, part)
                )


def _issue_key(err: NgucError) -> str:
    """Return the translation key of the repair issue of a list failing with ``err``."""
    if isinstance(err, NgucUnreadableListError):
        return ISSUE_LIST_UNREADABLE
    if isinstance(err, NgucResponseError) and err.status == HTTPStatus.FORBIDDEN:
        return ISSUE_LIST_FORBIDDEN
    return ISSUE_LIST_FAILING


async def _value[T](value: T) -> T:
    return value


def id_of(item: Any) -> str:
    """Return the NGUC id of a listed item (users, statuses, phones, queues)."""
    if isinstance(item, UserStatus):
        return item.user_id
    return str(item.id)
