"""What a call means to a person: call events from call records and ringing lines.

:class:`CallTracker` turns each update, as it arrives, into the call event it
stands for, each happening once: a line that starts ringing, a call record
(``Cdr``) of a user, a step of a queued call (``QueueCdr``). Numbers and users
of the company's own PBX users get their names (:class:`Names`), and numbers
are written as everywhere else (numbers.display_number: E.164 where they
can be).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .api import Cdr, LineState, QueueCdr, Update, User, UserStatus, contract as c
from .data import queue_key, user_key
from .numbers import display_number, number_key

CALL_RINGING = "ringing"
CALL_ANSWERED = "answered"
CALL_MISSED = "missed"
CALL_OUTGOING = "outgoing"
CALL_OUTGOING_UNANSWERED = "outgoing_unanswered"
CALL_EVENT_TYPES = [
    CALL_RINGING,
    CALL_ANSWERED,
    CALL_MISSED,
    CALL_OUTGOING,
    CALL_OUTGOING_UNANSWERED,
]

QUEUE_CALL_ANSWERED = "answered"
QUEUE_CALL_NOT_ANSWERED = "not_answered"
QUEUE_CALL_TRANSFERRED = "transferred"
QUEUE_CALL_EVENT_TYPES = [
    QUEUE_CALL_ANSWERED,
    QUEUE_CALL_NOT_ANSWERED,
    QUEUE_CALL_TRANSFERRED,
]

_QUEUE_OUTCOMES = {
    c.QDISPOSITION_ANSWERED: QUEUE_CALL_ANSWERED,
    c.QDISPOSITION_NOANSWERED: QUEUE_CALL_NOT_ANSWERED,
    c.QDISPOSITION_TRANSFER: QUEUE_CALL_TRANSFERRED,
}
_MISSED = {c.DISPOSITION_NO_ANSWER, c.DISPOSITION_BUSY, c.DISPOSITION_CANCEL}


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One thing that happened to a call, addressed to a user or a queue."""

    item: str  # the key of the user or queue it concerns ("user_86480")
    event_type: str
    data: dict[str, Any]
    once: tuple[Hashable, ...]  # identifies the happening, so that it fires once


class Names:
    """The names of the company's PBX users, by user id or by extension.

    Numbers are read and written in ``country`` (Home Assistant's).
    """

    def __init__(self, users: Mapping[str, User], country: str | None = None) -> None:
        """Index ``users`` (the data's directory, which is replaced, never changed)."""
        self.users = users
        self.country = country
        self._by_extension = {
            number_key(user.extension, country) or user.extension.strip(): user.name
            for user in users.values()
            if user.extension and user.name
        }

    def of(self, user_id: str | None, number: str | None = None) -> str | None:
        """Return the name of a PBX user, by id or else by extension; None if none."""
        if user_id is not None and (user := self.users.get(user_id)) is not None:
            return user.name
        if number is None:
            return None
        return self._by_extension.get(
            number_key(number, self.country) or number.strip()
        )

    def number(self, number: str | None) -> str | None:
        """Return a number as the integration writes it (E.164 where it can be)."""
        return display_number(number, self.country)


NO_NAMES = Names({})


def user_call_event(cdr: Cdr, names: Names = NO_NAMES) -> CallEvent | None:
    """Return the call event a Cdr stands for, or None (e.g. ``INVALID``).

    Either end that is a PBX user of the company (an internal call) is named.
    """
    if cdr.direction == c.DIRECTION_IN:
        user = cdr.dst_user_id
        if cdr.disposition == c.DISPOSITION_ANSWER:
            event_type = CALL_ANSWERED
        elif cdr.disposition in _MISSED:
            event_type = CALL_MISSED
        else:
            return None
    elif cdr.direction == c.DIRECTION_OUT:
        user = cdr.src_user_id
        if cdr.disposition == c.DISPOSITION_ANSWER:
            event_type = CALL_OUTGOING
        elif cdr.disposition in _MISSED:
            event_type = CALL_OUTGOING_UNANSWERED
        else:
            return None
    else:
        return None
    if user is None:
        return None
    call_id = cdr.call_guid or cdr.id
    return CallEvent(
        item=user_key(user),
        event_type=event_type,
        data={
            "call_id": call_id or "",
            "direction": cdr.direction.lower(),
            "caller": names.number(cdr.src),
            "caller_name": names.of(cdr.src_user_id, cdr.src),
            "callee": names.number(cdr.dst),
            "callee_name": names.of(cdr.dst_user_id, cdr.dst),
            "duration": cdr.billsec,
            "disposition": cdr.disposition,
            "recording": cdr.recording_id is not None,
        },
        # A record with neither id nor call_guid is known by all it says
        # (time, direction, numbers, disposition...): only its repeat is the
        # same call; records are frozen, so they compare by value.
        once=("cdr", user, call_id or cdr, event_type),
    )


def ringing_event(user_id: str) -> CallEvent:
    """Return the event for a line that starts ringing."""
    return CallEvent(
        item=user_key(user_id),
        event_type=CALL_RINGING,
        data={},
        once=(),  # each start of ringing is its own happening
    )


def queue_call_event(qcdr: QueueCdr, names: Names = NO_NAMES) -> CallEvent | None:
    """Return the queue call event a QueueCdr step stands for, or None.

    A caller who is a PBX user of the company is named; the agent by their
    user when known, else by the name NGUC gives (``answered_by``).
    """
    event_type = _QUEUE_OUTCOMES.get(qcdr.disposition or "")
    if event_type is None or qcdr.queue_id is None:
        return None
    call_id = qcdr.call_guid or qcdr.id
    return CallEvent(
        item=queue_key(qcdr.queue_id),
        event_type=event_type,
        data={
            "call_id": call_id or "",
            "caller": names.number(qcdr.callerid),
            "caller_name": names.of(None, qcdr.callerid),
            "wait_time": qcdr.wait_time,
            "agent": qcdr.answered_by,
            "agent_name": names.of(qcdr.user_id) or qcdr.answered_by,
        },
        # QueueCdr repeats at each step of a call: one event per outcome.
        # Without any id, a step is known by all it says, as a Cdr is.
        once=("queue", qcdr.queue_id, call_id or qcdr, event_type),
    )


class SeenOnce:
    """Remembers the last few thousand keys, to fire each happening once."""

    def __init__(self, size: int = 2048) -> None:
        """Keep at most ``size`` keys."""
        self._size = size
        self._seen: OrderedDict[tuple[Hashable, ...], None] = OrderedDict()

    def first_time(self, key: tuple[Hashable, ...]) -> bool:
        """Return True the first time ``key`` is seen (an empty key: always)."""
        if not key:
            return True
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class CallTracker:
    """Turns updates into call events as they arrive, each happening once."""

    def __init__(self) -> None:
        """Start with no line ringing and nothing seen."""
        self._seen = SeenOnce()
        self._records = SeenOnce()  # call records put on the bus
        self._ringing: set[str] = set()  # users whose line we last saw ringing
        self._names = NO_NAMES
        #: The country numbers are read in (Home Assistant's; set by followup).
        self.country: str | None = None

    def reset(self, statuses: Iterable[UserStatus]) -> None:
        """Take the lines ringing now, after a re-read, as already seen ringing."""
        self._ringing = {
            status.user_id for status in statuses if LineState.RINGING in status.status
        }

    def names(self, users: Mapping[str, User]) -> Names:
        """Return the names of ``users``, indexed once per directory."""
        if self._names.users is not users or self._names.country != self.country:
            self._names = Names(users, self.country)
        return self._names

    def event_for(
        self, update: Update, users: Mapping[str, User] | None = None
    ) -> CallEvent | None:
        """Return the call event an update stands for, None if none or seen.

        ``users`` is the company's directory, to name the ends of a call.
        """
        event: CallEvent | None = None
        if isinstance(update, UserStatus):
            # Compared with what we last saw, not with the data: during a
            # resync the REST answer may already show the line ringing.
            user = update.user_id
            if LineState.RINGING in update.status:
                if user not in self._ringing:
                    self._ringing.add(user)
                    event = ringing_event(user)
            else:
                self._ringing.discard(user)
        elif isinstance(update, Cdr):
            event = user_call_event(update, self._names_of(users))
        elif isinstance(update, QueueCdr):
            event = queue_call_event(update, self._names_of(users))
        if event is None or not self._seen.first_time(event.once):
            return None
        return event

    def _names_of(self, users: Mapping[str, User] | None) -> Names:
        return NO_NAMES if users is None else self.names(users)

    def on_bus(self, name: str, update: Update | None, payload: Any) -> bool:
        """Return whether an event goes on the bus: calls and the undocumented.

        Call records (``Cdr``, ``QueueCdr``) go once each: the same record
        again is the same call. An event we do not know (``update`` None)
        goes every time, as it came. Line statuses, phones and queue
        snapshots do not: entities record them.
        """
        if update is None:
            return True
        if not isinstance(update, (Cdr, QueueCdr)):
            return False
        try:
            record = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # not JSON (keys that are not strings): never seen
            return True
        return self._records.first_time((name, record))
