"""The call history of an entry: each call record as a call, kept 14 days.

A call record of the stream (``Cdr`` of a user, ``QueueCdr`` step of a queue)
becomes a :class:`Call` (what a person asks of a history: when, what kind,
whose, with whom), stored across restarts for the ``get_calls`` action and
read by the calls-to-return lists.

A call's time is when its record arrived, which is when the call ended: a
``Cdr``'s own ``calldate`` carries no time zone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import Cdr, Queue, QueueCdr, User, contract as c
from .const import DOMAIN
from .numbers import to_e164

CALL_ANSWERED: Final = "answered"
CALL_MISSED: Final = "missed"
CALL_OUTGOING: Final = "outgoing"
CALL_OUTGOING_UNANSWERED: Final = "outgoing_unanswered"
CALL_QUEUE_ANSWERED: Final = "queue_answered"
CALL_QUEUE_NOT_ANSWERED: Final = "queue_not_answered"
CALL_QUEUE_TRANSFERRED: Final = "queue_transferred"
CALL_TYPES: Final = (
    CALL_ANSWERED,
    CALL_MISSED,
    CALL_OUTGOING,
    CALL_OUTGOING_UNANSWERED,
    CALL_QUEUE_ANSWERED,
    CALL_QUEUE_NOT_ANSWERED,
    CALL_QUEUE_TRANSFERRED,
)
_QUEUE_TYPES: Final = {
    c.QDISPOSITION_ANSWERED: CALL_QUEUE_ANSWERED,
    c.QDISPOSITION_NOANSWERED: CALL_QUEUE_NOT_ANSWERED,
    c.QDISPOSITION_TRANSFER: CALL_QUEUE_TRANSFERRED,
}
#: Calls that reached the other party: after one, nobody needs to call back.
REACHED_TYPES: Final = frozenset({CALL_ANSWERED, CALL_OUTGOING, CALL_QUEUE_ANSWERED})

KEEP: Final = timedelta(days=14)
MAX_CALLS: Final = 5000
STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 10  # seconds: a burst of calls is one write


@dataclass(frozen=True, slots=True)
class Call:
    """One call as a history shows it."""

    time: datetime
    type: str
    user_id: str | None
    user: str | None  # the user's name
    queue_id: str | None
    queue: str | None  # the queue's name
    number: str | None  # the other party, E.164 where it can be
    name: str | None  # the other party's name, when a colleague
    colleague: bool  # the other party is a user of the company
    duration: int | None
    recorded: bool
    call_guid: str | None

    @property
    def once(self) -> tuple[str | None, ...]:
        """Identify the call: a queue's record repeats at each step of a call."""
        return (self.type, self.user_id, self.queue_id, self.call_guid)

    def as_response(self) -> dict[str, Any]:
        """Return the call as the ``get_calls`` action answers it."""
        answer: dict[str, Any] = {
            "time": dt_util.as_local(self.time).isoformat(),
            "type": self.type,
        }
        if self.user is not None or self.queue is None:
            answer["user"] = self.user
        if self.queue is not None:
            answer["queue"] = self.queue
        answer |= {
            "number": self.number,
            "name": self.name,
            "duration": self.duration,
            "recorded": self.recorded,
            "call_guid": self.call_guid,
        }
        return answer

    def as_dict(self) -> dict[str, Any]:
        """Return the call as stored."""
        return {
            "time": self.time.isoformat(),
            "type": self.type,
            "user_id": self.user_id,
            "user": self.user,
            "queue_id": self.queue_id,
            "queue": self.queue,
            "number": self.number,
            "name": self.name,
            "colleague": self.colleague,
            "duration": self.duration,
            "recorded": self.recorded,
            "call_guid": self.call_guid,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call | None:
        """Return a stored call; None if it cannot be read."""
        time = dt_util.parse_datetime(str(data.get("time")))
        if time is None or data.get("type") not in CALL_TYPES:
            return None
        return cls(
            time=dt_util.as_utc(time),
            type=str(data["type"]),
            user_id=_opt(data.get("user_id")),
            user=_opt(data.get("user")),
            queue_id=_opt(data.get("queue_id")),
            queue=_opt(data.get("queue")),
            number=_opt(data.get("number")),
            name=_opt(data.get("name")),
            colleague=bool(data.get("colleague")),
            duration=data["duration"]
            if isinstance(data.get("duration"), int)
            else None,
            recorded=bool(data.get("recorded")),
            call_guid=_opt(data.get("call_guid")),
        )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


class Directory:
    """The company's users and queues, to name the people and queues of a call."""

    def __init__(
        self,
        users: Mapping[str, User],
        queues: Mapping[str, Queue],
        country: str | None,
    ) -> None:
        """Index ``users`` by extension; numbers are read in ``country``."""
        self.users = users
        self.queues = queues
        self.country = country
        self._by_extension = {
            user.extension.strip(): user_id
            for user_id, user in users.items()
            if user.extension
        }

    def colleague(self, user_id: str | None, number: str | None) -> str | None:
        """Return the user id of a party that is a colleague, by id or extension."""
        if user_id is not None:
            return user_id
        if number is None:
            return None
        return self._by_extension.get(number.strip())

    def user_name(self, user_id: str | None) -> str | None:
        """Return a user's name, None if unknown."""
        user = None if user_id is None else self.users.get(user_id)
        return None if user is None else user.name

    def queue_name(self, queue_id: str) -> str | None:
        """Return a queue's name, None if unknown."""
        queue = self.queues.get(queue_id)
        return None if queue is None else queue.name


def call_of(
    record: Cdr | QueueCdr, directory: Directory, time: datetime
) -> Call | None:
    """Return the call a call record stands for; None for one we cannot place."""
    if isinstance(record, QueueCdr):
        return _queue_call(record, directory, time)
    if record.direction == c.DIRECTION_IN:
        user_id, other, other_id = record.dst_user_id, record.src, record.src_user_id
        answered = CALL_ANSWERED
        # Any incoming call not answered is missed, whatever the reason.
        unanswered = CALL_MISSED
    elif record.direction == c.DIRECTION_OUT:
        user_id, other, other_id = record.src_user_id, record.dst, record.dst_user_id
        answered, unanswered = CALL_OUTGOING, CALL_OUTGOING_UNANSWERED
    else:
        return None
    if user_id is None:
        return None
    colleague = directory.colleague(other_id, other)
    return Call(
        time=time,
        type=answered if record.disposition == c.DISPOSITION_ANSWER else unanswered,
        user_id=user_id,
        user=directory.user_name(user_id),
        queue_id=None,
        queue=None,
        number=to_e164(other, directory.country) or other,
        name=directory.user_name(colleague),
        colleague=colleague is not None,
        duration=record.billsec,
        recorded=record.recording_id is not None,
        call_guid=record.call_guid or record.id,
    )


def _queue_call(record: QueueCdr, directory: Directory, time: datetime) -> Call | None:
    call_type = _QUEUE_TYPES.get(record.disposition or "")
    if call_type is None or record.queue_id is None:
        return None
    colleague = directory.colleague(None, record.callerid)
    return Call(
        time=time,
        type=call_type,
        # The agent who answered, if any.
        user_id=record.user_id,
        user=directory.user_name(record.user_id) or record.answered_by,
        queue_id=record.queue_id,
        queue=directory.queue_name(record.queue_id) or record.queue_id,
        number=to_e164(record.callerid, directory.country) or record.callerid,
        name=directory.user_name(colleague),
        colleague=colleague is not None,
        duration=record.talk_time,
        recorded=False,  # a queue's record does not say
        call_guid=record.call_guid or record.id,
    )


class CallLog:
    """The calls of one entry, oldest first: at most 14 days and 5,000 calls."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the calls of the entry ``entry_id``; nothing is read yet."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.call_log"
        )
        self._calls: deque[Call] = deque()
        self._seen: set[tuple[str | None, ...]] = set()
        self._dirty = False

    def __len__(self) -> int:
        """Return how many calls are kept."""
        return len(self._calls)

    async def async_load(self) -> None:
        """Read the calls stored before a restart or reload."""
        stored = await self._store.async_load()
        calls = [] if stored is None else stored.get("calls", [])
        for data in calls if isinstance(calls, list) else []:
            if isinstance(data, dict) and (call := Call.from_dict(data)) is not None:
                self._append(call)
        self._prune()

    @callback
    def add(self, call: Call) -> bool:
        """Keep a call; False if it is kept already (a record repeated)."""
        if call.once in self._seen:
            return False
        self._append(call)
        self._prune()
        self._dirty = True
        self._store.async_delay_save(self._data, SAVE_DELAY)
        return True

    def _append(self, call: Call) -> None:
        if call.once in self._seen:
            return
        self._seen.add(call.once)
        self._calls.append(call)

    def _prune(self) -> None:
        oldest = dt_util.utcnow() - KEEP
        calls = self._calls
        while calls and (len(calls) > MAX_CALLS or calls[0].time < oldest):
            self._seen.discard(calls.popleft().once)

    def calls(
        self,
        *,
        users: Collection[str] | None = None,
        queues: Collection[str] | None = None,
        types: Collection[str] | None = None,
        since: datetime | None = None,
    ) -> Iterator[Call]:
        """Yield the calls that match, newest first.

        ``users`` and ``queues``: calls of any of them; both None, every call.
        """
        oldest = dt_util.utcnow() - KEEP
        if since is None or since < oldest:
            since = oldest
        for call in reversed(self._calls):
            if call.time < since:
                continue  # not break: the clock may have been set back
            if types is not None and call.type not in types:
                continue
            if (users is not None or queues is not None) and not (
                (users is not None and call.user_id in users)
                or (queues is not None and call.queue_id in queues)
            ):
                continue
            yield call

    def _data(self) -> dict[str, Any]:
        self._dirty = False
        return {"calls": [call.as_dict() for call in self._calls]}

    async def async_save(self) -> None:
        """Write what is not written yet (on unload: a reload reads it at once)."""
        if self._dirty:
            await self._store.async_save(self._data())
