"""What a call means to a person: call events from call records and ringing lines.

:class:`CallTracker` turns each update, as it arrives, into the call event it
stands for, each happening once: a line that starts ringing, a call record
(``Cdr``) of a user, a step of a queued call (``QueueCdr``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .api import Cdr, LineState, QueueCdr, Update, UserStatus, contract as c
from .data import queue_key, user_key

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
    once: tuple[str, ...]  # identifies the happening, so that it fires once


def user_call_event(cdr: Cdr) -> CallEvent | None:
    """Return the call event a Cdr stands for, or None (e.g. ``INVALID``)."""
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
    call_id = cdr.call_guid or cdr.id or ""
    return CallEvent(
        item=user_key(user),
        event_type=event_type,
        data={
            "call_id": call_id,
            "direction": cdr.direction.lower(),
            "caller": cdr.src,
            "callee": cdr.dst,
            "duration": cdr.billsec,
            "disposition": cdr.disposition,
            "recording": cdr.recording_id is not None,
        },
        once=("cdr", user, call_id, event_type),
    )


def ringing_event(user_id: str) -> CallEvent:
    """Return the event for a line that starts ringing."""
    return CallEvent(
        item=user_key(user_id),
        event_type=CALL_RINGING,
        data={},
        once=(),  # each start of ringing is its own happening
    )


def queue_call_event(qcdr: QueueCdr) -> CallEvent | None:
    """Return the queue call event a QueueCdr step stands for, or None."""
    event_type = _QUEUE_OUTCOMES.get(qcdr.disposition or "")
    if event_type is None or qcdr.queue_id is None:
        return None
    call_id = qcdr.call_guid or qcdr.id or ""
    return CallEvent(
        item=queue_key(qcdr.queue_id),
        event_type=event_type,
        data={
            "call_id": call_id,
            "caller": qcdr.callerid,
            "wait_time": qcdr.wait_time,
            "agent": qcdr.answered_by,
        },
        # QueueCdr repeats at each step of a call: one event per outcome.
        once=("queue", qcdr.queue_id, call_id, event_type),
    )


class SeenOnce:
    """Remembers the last few thousand keys, to fire each happening once."""

    def __init__(self, size: int = 2048) -> None:
        """Keep at most ``size`` keys."""
        self._size = size
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def first_time(self, key: tuple[str, ...]) -> bool:
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
        self._ringing: set[str] = set()  # users whose line we last saw ringing

    def reset(self, statuses: Iterable[UserStatus]) -> None:
        """Take the lines ringing now, after a re-read, as already seen ringing."""
        self._ringing = {
            status.user_id for status in statuses if LineState.RINGING in status.status
        }

    def event_for(self, update: Update) -> CallEvent | None:
        """Return the call event an update stands for, None if none or seen."""
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
            event = user_call_event(update)
        elif isinstance(update, QueueCdr):
            event = queue_call_event(update)
        if event is None or not self._seen.first_time(event.once):
            return None
        return event
