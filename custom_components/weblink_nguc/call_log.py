"""The call history of an entry: each call once, with its steps, kept 14 days.

A call record of the stream (``Cdr`` of a user, ``QueueCdr`` step of a queue)
becomes a :class:`Step` of a :class:`Call`. The records of one call are one
call: those with the same ``call_guid`` (a queue's steps, the legs of the
users it rang); a queue's steps without one, by the caller's number and close
times. A call says what it was for the caller (answered, missed, ...) and
lists its steps: the agents rung, who answered. Stored across restarts for
the ``get_calls`` action and read by the calls-to-return lists.

A step's time is when its record arrived, which is when that step ended: a
``Cdr``'s own ``calldate`` carries no time zone. A call's time is its last
step's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import hashlib
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import Cdr, Queue, QueueCdr, User, contract as c
from .const import DOMAIN, LOGGER
from .numbers import display_number, number_key

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
_INCOMING_TYPES: Final = frozenset({CALL_ANSWERED, CALL_MISSED})
#: Calls that reached the other party: after one, nobody needs to call back.
REACHED_TYPES: Final = frozenset({CALL_ANSWERED, CALL_OUTGOING, CALL_QUEUE_ANSWERED})

KEEP: Final = timedelta(days=14)
MAX_CALLS: Final = 5000
STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 10  # seconds: a burst of calls is one write
#: The reasons of a queue's step that rang an agent, the caller still waiting.
RING_REASONS: Final = c.QREASONS_RING
#: A queue's steps without call_guid, of one number, this close: one call.
SAME_CALL: Final = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Step:
    """One record of a call: a user's leg or a queue's step, as a history shows it."""

    time: datetime
    type: str
    user_id: str | None  # the user of the leg; the agent of a queue's step
    user: str | None  # the user's name
    queue_id: str | None
    queue: str | None  # the queue's name
    number: str | None  # the other party, written as numbers.display_number
    name: str | None  # the other party's name, when a colleague
    colleague: bool  # the other party is a user of the company
    duration: int | None
    recorded: bool
    call_guid: str | None
    reason: str | None = None  # a queue's step: NGUC's reason, when it says

    @property
    def left_queue(self) -> bool:
        """Return True for a queue's step that ends the caller's wait unanswered.

        ``RINGNOANSWER`` is an agent rung without answer: the caller still
        waits; any other reason (``ABANDON``, ``EXITWITHTIMEOUT``...) ends
        the wait. Without a reason, a step naming an agent is that agent
        rung, and one without the caller leaving.
        """
        if self.type != CALL_QUEUE_NOT_ANSWERED:
            return False
        if self.reason:
            return self.reason not in RING_REASONS
        return self.user_id is None

    @property
    def same(self) -> tuple[str | None, ...]:
        """Identify the step within its call: NGUC repeats a queue's record."""
        return (self.type, self.user_id, self.queue_id)

    def as_response(self) -> dict[str, Any]:
        """Return the step as ``get_calls`` lists it under its call."""
        answer: dict[str, Any] = {
            "time": dt_util.as_local(self.time).isoformat(),
            "type": self.type,
            "user": self.user,
        }
        if self.queue is not None:
            answer["queue"] = self.queue
        answer["duration"] = self.duration
        return answer

    def as_dict(self) -> dict[str, Any]:
        """Return the step as stored."""
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
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step | None:
        """Return a stored step; None if it cannot be read."""
        time = stored_time(data.get("time"))
        if time is None or data.get("type") not in CALL_TYPES:
            return None
        duration = data.get("duration")
        return cls(
            time=time,
            type=str(data["type"]),
            user_id=_opt(data.get("user_id")),
            user=_opt(data.get("user")),
            queue_id=_opt(data.get("queue_id")),
            queue=_opt(data.get("queue")),
            number=_opt(data.get("number")),
            name=_opt(data.get("name")),
            colleague=bool(data.get("colleague")),
            duration=duration
            if isinstance(duration, int) and not isinstance(duration, bool)
            else None,
            recorded=bool(data.get("recorded")),
            call_guid=_opt(data.get("call_guid")),
            reason=_opt(data.get("reason")),
        )


def stored_time(value: Any) -> datetime | None:
    """Return a stored time in UTC; None if none, not a text or impossible.

    One without a time zone (edited by hand) is taken as UTC: kept, not lost.
    """
    if not isinstance(value, str):
        return None
    try:
        time = dt_util.parse_datetime(value, raise_on_error=True)
    except ValueError:
        return None
    return (
        dt_util.as_utc(time)
        if time.tzinfo is not None
        else time.replace(tzinfo=dt_util.UTC)
    )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Call:
    """One call, whatever number of records NGUC sent for it: its steps, oldest first."""

    id: str
    steps: tuple[Step, ...]

    @property
    def time(self) -> datetime:
        """Return when the call's last step ended."""
        return self.steps[-1].time

    @property
    def reached(self) -> bool:
        """Return True when the other party was reached at some step."""
        return any(step.type in REACHED_TYPES for step in self.steps)

    @property
    def main(self) -> Step:
        """Return the step that says what the call was for the caller.

        A queue's call is its queue's (answered: by whom); else an answered
        leg, an incoming one before an outgoing one (a colleague's call is
        the callee's), else the first leg: the same whatever order the
        records came in.
        """
        steps = self.steps
        queued = [step for step in steps if step.queue_id is not None]
        if queued:
            for step in reversed(queued):
                if step.type == CALL_QUEUE_ANSWERED:
                    return step
            return queued[-1]
        return min(
            steps,
            key=lambda step: (
                step.type not in REACHED_TYPES,
                step.type not in _INCOMING_TYPES,
            ),
        )

    @property
    def type(self) -> str:
        """Return what the call was for the caller."""
        steps = self.steps
        if not any(step.queue_id is not None for step in steps):
            return self.main.type
        if self.reached:
            return CALL_QUEUE_ANSWERED
        if any(step.type == CALL_QUEUE_TRANSFERRED for step in steps):
            return CALL_QUEUE_TRANSFERRED
        return CALL_QUEUE_NOT_ANSWERED

    @property
    def user_id(self) -> str | None:
        """Return the user of the call: who answered, else whose call it was."""
        if self.type == CALL_QUEUE_ANSWERED:
            return next(
                (
                    step.user_id
                    for step in reversed(self.steps)
                    if step.type in REACHED_TYPES and step.user_id is not None
                ),
                None,
            )
        main = self.main
        return None if main.queue_id is not None else main.user_id

    @property
    def queue_id(self) -> str | None:
        """Return the queue the caller waited in, if any."""
        return next(
            (s.queue_id for s in reversed(self.steps) if s.queue_id is not None),
            None,
        )

    @property
    def number(self) -> str | None:
        """Return the other party's number."""
        return self.main.number

    @property
    def call_guid(self) -> str | None:
        """Return NGUC's id of the call."""
        return self.main.call_guid

    def users(self) -> set[str]:
        """Return every user the call concerns: rung, answering, calling."""
        return {step.user_id for step in self.steps if step.user_id is not None}

    def queues(self) -> set[str]:
        """Return every queue the call waited in."""
        return {step.queue_id for step in self.steps if step.queue_id is not None}

    def with_step(self, step: Step) -> Call | None:
        """Return the call with one more step; None if it holds that step already."""
        if any(kept.same == step.same for kept in self.steps):
            return None
        steps = sorted((*self.steps, step), key=lambda kept: kept.time)
        return Call(self.id, tuple(steps))

    def as_response(self) -> dict[str, Any]:
        """Return the call as the ``get_calls`` action answers it.

        The fields of before, as the caller saw the call, and its ``steps``.
        """
        main = self.main
        user_id = self.user_id
        user = next(
            (s.user for s in self.steps if s.user_id == user_id and s.user), None
        )
        if user_id is None and main.queue_id is None:
            user = main.user
        queue = next((s.queue for s in reversed(self.steps) if s.queue), None)
        answer: dict[str, Any] = {
            "time": dt_util.as_local(self.time).isoformat(),
            "type": self.type,
        }
        if user is not None or queue is None:
            answer["user"] = user
        if queue is not None:
            answer["queue"] = queue
        durations = [s.duration for s in self.steps if s.duration is not None]
        answer |= {
            "number": main.number,
            "name": main.name,
            "duration": max(durations) if durations else None,
            "recorded": any(s.recorded for s in self.steps),
            "call_guid": main.call_guid,
            "steps": [step.as_response() for step in self.steps],
        }
        return answer

    def as_dict(self) -> dict[str, Any]:
        """Return the call as stored."""
        return {"id": self.id, "steps": [step.as_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call | None:
        """Return a stored call; None if it cannot be read.

        A call stored before calls had steps is its one step.
        """
        raw = data.get("steps")
        if raw is None:
            step = Step.from_dict(data)
            if step is None:
                return None
            call_id = step.call_guid or f"stored:{step.time.isoformat()}"
            return cls(call_id, (step,))
        if not isinstance(raw, list) or not isinstance(data.get("id"), str):
            return None
        steps = [
            step
            for item in raw
            if isinstance(item, Mapping) and (step := Step.from_dict(item))
        ]
        if not steps:
            return None
        steps.sort(key=lambda step: step.time)
        return cls(str(data["id"]), tuple(steps))


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
        return self._by_extension.get(
            number_key(number, self.country) or number.strip()
        )

    def user_name(self, user_id: str | None) -> str | None:
        """Return a user's name, None if unknown."""
        user = None if user_id is None else self.users.get(user_id)
        return None if user is None else user.name

    def queue_name(self, queue_id: str) -> str | None:
        """Return a queue's name, None if unknown."""
        queue = self.queues.get(queue_id)
        return None if queue is None else queue.name


def step_of(
    record: Cdr | QueueCdr, directory: Directory, time: datetime
) -> Step | None:
    """Return the step a call record stands for; None for one we cannot place."""
    if isinstance(record, QueueCdr):
        return _queue_step(record, directory, time)
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
    return Step(
        time=time,
        type=answered if record.disposition == c.DISPOSITION_ANSWER else unanswered,
        user_id=user_id,
        user=directory.user_name(user_id),
        queue_id=None,
        queue=None,
        number=display_number(other, directory.country),
        name=directory.user_name(colleague),
        colleague=colleague is not None,
        duration=record.billsec,
        recorded=record.recording_id is not None,
        call_guid=record.call_guid or record.id,
    )


def _queue_step(record: QueueCdr, directory: Directory, time: datetime) -> Step | None:
    call_type = _QUEUE_TYPES.get(record.disposition or "")
    if call_type is None or record.queue_id is None:
        return None
    colleague = directory.colleague(None, record.callerid)
    return Step(
        time=time,
        type=call_type,
        # The agent rung, or who answered.
        user_id=record.user_id,
        user=directory.user_name(record.user_id) or record.answered_by,
        queue_id=record.queue_id,
        queue=directory.queue_name(record.queue_id) or record.queue_id,
        number=display_number(record.callerid, directory.country),
        name=directory.user_name(colleague),
        colleague=colleague is not None,
        duration=record.talk_time,
        recorded=False,  # a queue's record does not say
        call_guid=record.call_guid or record.id,
        # Without it, the agent named tells a ring from the caller leaving.
        reason=_reason(record.reason),
    )


def _reason(value: object) -> str | None:
    return value.strip().upper() or None if isinstance(value, str) else None


def _fingerprint(record: Cdr | QueueCdr) -> str:
    """Return a record without any id by all it says: only its repeat is the same."""
    return hashlib.sha256(repr(record).encode()).hexdigest()[:16]


class CallLog:
    """The calls of one entry, oldest first: at most 14 days and 5,000 calls."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep the calls of the entry ``entry_id``; nothing is read yet."""
        # The data handed to a write is a snapshot never changed after:
        # serialised off the event loop.
        self._store: Store[dict[str, Any]] = Store(
            hass,
            STORAGE_VERSION,
            f"{DOMAIN}.{entry_id}.call_log",
            serialize_in_event_loop=False,
        )
        self._calls: OrderedDict[str, Call] = OrderedDict()
        self._stored: dict[str, dict[str, Any]] = {}  # each call as stored
        # The open queue call without call_guid of each queue and number.
        self._unnamed: dict[tuple[str, str | None], str] = {}
        self._dirty = False

    def __len__(self) -> int:
        """Return how many calls are kept."""
        return len(self._calls)

    async def async_load(self) -> None:
        """Read the calls stored before a restart or reload.

        A part that does not read is set aside with a warning; the calls
        that read are kept.
        """
        stored: Any = await self._store.async_load()
        calls = stored.get("calls", []) if isinstance(stored, Mapping) else stored
        if stored is not None and not isinstance(calls, list):
            LOGGER.warning(
                "The stored call history (%s) is not a list of calls; it is"
                " set aside and the history starts empty",
                self._store.key,
            )
            return
        unread = 0
        for data in calls or ():
            call = Call.from_dict(data) if isinstance(data, Mapping) else None
            if call is None:
                unread += 1
                continue
            if (kept := self._calls.get(call.id)) is not None:
                # Stored before calls had steps: a record each.
                for step in call.steps:
                    kept = kept.with_step(step) or kept
                call = kept
            self._put(call)
        if unread:
            LOGGER.warning(
                "%s stored calls of %s could not be read; they are set aside",
                unread,
                self._store.key,
            )
        self._prune()

    @callback
    def add(self, record: Cdr | QueueCdr, step: Step) -> Call | None:
        """Add a record's step to its call; return the call, None if it held it."""
        call_id = self._call_id(record, step)
        kept = self._calls.get(call_id)
        call = Call(call_id, (step,)) if kept is None else kept.with_step(step)
        if call is None:
            return None
        self._put(call)
        self._prune()
        self._dirty = True
        snapshot = self._snapshot()
        self._store.async_delay_save(lambda: snapshot, SAVE_DELAY)
        return call

    def _call_id(self, record: Cdr | QueueCdr, step: Step) -> str:
        if record.call_guid:
            return record.call_guid
        if isinstance(record, QueueCdr) and step.queue_id is not None:
            # The steps of one caller in one queue, close in time.
            unnamed = (step.queue_id, number_key(step.number))
            open_id = self._unnamed.get(unnamed)
            if (
                open_id is not None
                and (kept := self._calls.get(open_id)) is not None
                and step.time - kept.time <= SAME_CALL
            ):
                return open_id
            call_id = f"queue:{step.queue_id}:{step.number}:{step.time.isoformat()}"
            self._unnamed[unnamed] = call_id
            return call_id
        if record.id:
            return f"record:{record.id}"
        return f"record:{_fingerprint(record)}"

    def _put(self, call: Call) -> None:
        calls = self._calls
        calls.pop(call.id, None)
        calls[call.id] = call
        stored = self._stored
        stored.pop(call.id, None)
        stored[call.id] = call.as_dict()

    def _prune(self) -> None:
        oldest = dt_util.utcnow() - KEEP
        calls = self._calls
        while calls:
            call_id, call = next(iter(calls.items()))
            if len(calls) <= MAX_CALLS and call.time >= oldest:
                break
            del calls[call_id]
            self._stored.pop(call_id, None)
        if len(self._unnamed) > MAX_CALLS:
            self._unnamed = {
                key: call_id
                for key, call_id in self._unnamed.items()
                if call_id in calls
            }

    def get(self, call_id: str) -> Call | None:
        """Return a kept call by its id."""
        return self._calls.get(call_id)

    def calls(
        self,
        *,
        users: Collection[str] | None = None,
        queues: Collection[str] | None = None,
        types: Collection[str] | None = None,
        since: datetime | None = None,
    ) -> Iterator[Call]:
        """Yield the calls that match, newest first.

        ``users`` and ``queues``: calls of any of them (a user rung, who
        answered, whose call it was); both None, every call.
        """
        oldest = dt_util.utcnow() - KEEP
        if since is None or since < oldest:
            since = oldest
        for call in reversed(self._calls.values()):
            if call.time < since:
                continue  # not break: the clock may have been set back
            if types is not None and call.type not in types:
                continue
            if (users is not None or queues is not None) and not (
                (users is not None and not call.users().isdisjoint(users))
                or (queues is not None and not call.queues().isdisjoint(queues))
            ):
                continue
            yield call

    def _snapshot(self) -> dict[str, Any]:
        """Return what to store: built here, in the loop; never changed after."""
        return {"calls": list(self._stored.values())}

    async def async_save(self) -> None:
        """Write what is not written yet (on unload: a reload reads it at once)."""
        if self._dirty:
            self._dirty = False
            await self._store.async_save(self._snapshot())
