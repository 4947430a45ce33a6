"""Typed models of NGUC's payloads, tolerant of missing, extra and absurd fields.

NGUC sends numbers as JSON strings, and ``null`` or ``false`` where a value is
absent; the parsers below turn those into ``int`` or ``None``. A figure out of
the range it can sanely have (a wait of three thousand years, a negative
count) is unknown, with a rate-limited warning: it is never shown, nor
reckoned with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
import logging
import math
from typing import Any

from . import contract as c
from .ratelimit import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

# No count, duration or status of NGUC's is larger: beyond, a number is garbage
# (and one of over 4300 digits cannot even be written out).
_INT_LIMIT = 2**63 - 1
# Stands for a number too large to be written as an int (inf, 1e999).
_HUGE = 2**64

# The sane ranges of NGUC's figures. Generous: a figure beyond is not a
# surprise of a busy day but garbage, and a timestamp worked out from it
# would not even fit a date.
DAY = 86_400  # s: no caller waits longer, no average call lasts longer
WEEK = 7 * DAY  # s: the longest a single call may last
COUNT_MAX = 1_000_000  # callers, agents or calls of one queue (in a day)
TIME_TODAY_MAX = 10**9  # s: a day's talk or hold time of a queue's agents summed
PERCENT = 100
# A line status is a handful of bits (LineState), a phone's a small number:
# beyond 16 bits, either is garbage.
_STATUS_MAX = 0xFFFF

# How a log line names the fields of a queue's members and callers.
_AVG_CALL_LENGTH = f"{c.QUEUE_MEMBERS}[].{c.MEMBER_AVG_CALL_LENGTH}"
_WAIT = f"{c.QUEUE_CALLERS}[].{c.CALLER_WAIT}"
_POSITION = f"{c.QUEUE_CALLERS}[].{c.CALLER_POSITION}"

#: Warns of figures out of range, at most once a minute for all of them.
out_of_range_log = RateLimitedLog(_LOGGER)


def _whole_number(value: Any) -> int | None:
    """Return ``value`` as an int of any size; None when it is no number.

    A number too large for an int ("inf", 1e999, 5000 digits) is ``_HUGE``,
    with its sign.
    """
    if type(value) is int:  # the common case first: this runs for every field
        return value
    if value is None or value is False or isinstance(value, (dict, list)):
        return None
    if value is True:
        return 1
    try:
        return int(value)
    except TypeError, ValueError, OverflowError:
        pass
    try:
        number = float(value)
    except TypeError, ValueError, OverflowError:
        return None
    if math.isnan(number):
        return None
    if math.isinf(number):
        return _HUGE if number > 0 else -_HUGE
    return int(number)


def as_int(value: Any) -> int | None:
    """Return ``value`` as an int: "17" and 17 become 17; null, false, "" become None."""
    number = _whole_number(value)
    if number is None or not -_INT_LIMIT <= number <= _INT_LIMIT:
        return None
    return number


def as_ranged(value: Any, high: int, field: str, where: str) -> int | None:
    """Return ``value`` as an int from 0 to ``high``; None when absent or out of range.

    A number out of range is garbage, neither clamped nor shown: unknown,
    with a warning line (rate limited) naming the ``field`` of ``where``.
    """
    number = _whole_number(value)
    if number is None or 0 <= number <= high:
        return number
    out_of_range_log.warning(
        "NGUC sent %s of %s as %s, out of any sane range (0 to %d): taken as unknown",
        field,
        where,
        _written(number),
        high,
    )
    return None


def _written(number: int) -> str:
    """Return a number as a log line can hold it (huge ones cannot be written out)."""
    if abs(number) < 10**18:
        return str(number)
    return "-huge" if number < 0 else "huge"


def as_str(value: Any) -> str | None:
    """Return ``value`` as a string, or None when absent (null, false, "")."""
    if type(value) is str:  # the common case first: this runs for every field
        return value or None
    if value is None or value is False or value == "":
        return None
    if isinstance(value, (dict, list)):
        return None
    try:
        return str(value)
    except ValueError:  # an int too long to write out
        return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _flag(value: Any) -> bool | None:
    """Return a "0"/"1" flag as a bool; None when absent or unreadable, never a guess."""
    if value is False:
        return False
    number = as_int(value)
    return None if number is None else number != 0


def _id(value: Any) -> str:
    """Ids are kept as strings, whatever type they arrive in."""
    text = as_str(value)
    if text is None:
        raise ValueError("missing id")
    return text


class LineState(IntFlag):
    """The bit field of a UserStatus (Asterisk's extension states)."""

    IDLE = 0
    IN_USE = 1
    BUSY = 2
    UNAVAILABLE = 4
    RINGING = 8
    ON_HOLD = 16


@dataclass(frozen=True, slots=True)
class Me:
    """The logged-in user."""

    id: str
    username: str | None
    name: str | None
    company_id: str | None
    company_name: str | None

    @classmethod
    def from_api(cls, data: Any) -> Me:
        """Parse ``/user/me``."""
        data = _mapping(data)
        return cls(
            id=_id(data.get(c.ME_ID)),
            username=as_str(data.get(c.ME_USERNAME)),
            name=as_str(data.get(c.ME_NAME)),
            company_id=as_str(data.get(c.ME_COMPANY_ID)),
            company_name=as_str(data.get(c.ME_COMPANY_NAME)),
        )


@dataclass(frozen=True, slots=True)
class User:
    """A PBX user of the company."""

    id: str
    name: str | None
    extension: str | None
    email: str | None

    @classmethod
    def from_api(cls, data: Any) -> User:
        """Parse one item of ``/company/user``."""
        data = _mapping(data)
        return cls(
            id=_id(data.get(c.USER_ID)),
            name=as_str(data.get(c.USER_NAME)),
            extension=as_str(data.get(c.USER_EXTENSION)),
            email=as_str(data.get(c.USER_EMAIL)),
        )


@dataclass(frozen=True, slots=True)
class UserStatus:
    """The line state of one user (event ``UserStatus``)."""

    user_id: str
    status: LineState
    status_text: str | None

    @classmethod
    def from_api(cls, data: Any) -> UserStatus:
        """Parse a ``UserStatus`` payload or an item of ``/company/user/status``."""
        data = _mapping(data)
        user_id = _id(data.get(c.STATUS_USER_ID))
        value = as_int(data.get(c.STATUS_VALUE))
        if value is None or not 0 <= value <= _STATUS_MAX:
            # Neither idle nor offline: a status we cannot read says nothing,
            # so the event is unusable (the caller logs and skips it).
            raise ValueError(f"unreadable status of user {user_id}")
        return cls(
            user_id=user_id,
            status=LineState(value),
            status_text=as_str(data.get(c.STATUS_TEXT)),
        )


@dataclass(frozen=True, slots=True)
class Device:
    """A phone (SIP device) and its registration."""

    id: str
    user_id: str | None
    name: str | None
    model: str | None
    registered: bool | None

    @classmethod
    def from_api(cls, data: Any) -> Device:
        """Parse an item of ``/company/device``."""
        data = _mapping(data)
        device_id = _id(data.get(c.DEVICE_ID))
        status = as_ranged(
            data.get(c.DEVICE_STATUS),
            _STATUS_MAX,
            c.DEVICE_STATUS,
            f"phone {device_id}",
        )
        return cls(
            id=device_id,
            user_id=as_str(data.get(c.DEVICE_USER_ID)),
            name=as_str(data.get(c.DEVICE_NAME)),
            model=as_str(data.get(c.DEVICE_MODEL)),
            registered=None if status is None else status != 0,
        )


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A phone's registration changed (event ``DeviceStatus``, ASSUMED)."""

    device_id: str
    user_id: str | None
    registered: bool | None

    @classmethod
    def from_api(cls, data: Any) -> DeviceStatus:
        """Parse a ``DeviceStatus`` payload."""
        data = _mapping(data)
        device_id = _id(data.get(c.DEVICE_EVENT_ID, data.get(c.DEVICE_ID)))
        status = as_int(data.get(c.DEVICE_STATUS))
        if status is None or not 0 <= status <= _STATUS_MAX:
            # An event that only says "something changed" is unusable.
            raise ValueError(f"unreadable status of phone {device_id}")
        return cls(
            device_id=device_id,
            user_id=as_str(data.get(c.DEVICE_USER_ID)),
            registered=status != 0,
        )


@dataclass(frozen=True, slots=True)
class QueueMember:
    """An agent of a queue."""

    user_id: str | None
    name: str | None
    paused: bool | None  # None: NGUC did not say
    avg_call_length: int | None
    call_guid: str | None

    @classmethod
    def from_api(cls, data: Any, where: str = "a queue") -> QueueMember:
        """Parse an item of a queue's ``members`` (of the queue ``where`` names)."""
        data = _mapping(data)
        return cls(
            user_id=as_str(data.get(c.MEMBER_USER_ID)),
            name=as_str(data.get(c.MEMBER_NAME)),
            paused=_flag(data.get(c.MEMBER_PAUSED)),
            avg_call_length=as_ranged(
                data.get(c.MEMBER_AVG_CALL_LENGTH), DAY, _AVG_CALL_LENGTH, where
            ),
            call_guid=as_str(data.get(c.MEMBER_CALL_GUID)),
        )


@dataclass(frozen=True, slots=True)
class QueueCaller:
    """A caller waiting in a queue."""

    call_guid: str | None
    callerid: str | None
    wait: int | None
    position: int | None

    @classmethod
    def from_api(cls, data: Any, where: str = "a queue") -> QueueCaller:
        """Parse an item of a queue's ``callers`` (of the queue ``where`` names)."""
        data = _mapping(data)
        return cls(
            call_guid=as_str(data.get(c.CALLER_CALL_GUID)),
            callerid=as_str(data.get(c.CALLER_ID)),
            wait=as_ranged(data.get(c.CALLER_WAIT), DAY, _WAIT, where),
            position=as_ranged(
                data.get(c.CALLER_POSITION), COUNT_MAX, _POSITION, where
            ),
        )


@dataclass(frozen=True, slots=True)
class Queue:
    """A full snapshot of one call queue (event ``Queue``)."""

    id: str
    name: str | None
    waiting: int | None
    member_available: int | None
    member_total: int | None
    wait_longest: int | None
    wait_avg: int | None
    service_level: int | None
    service_level_time: int | None
    completed: int | None
    abandoned: int | None
    total: int | None
    talktime: int | None
    holdtime: int | None
    members: tuple[QueueMember, ...]
    callers: tuple[QueueCaller, ...]

    @classmethod
    def from_api(cls, data: Any) -> Queue:
        """Parse a ``Queue`` payload or an item of ``/company/queue``."""
        data = _mapping(data)
        queue = _mapping(data.get(c.QUEUE))
        members = data.get(c.QUEUE_MEMBERS)
        callers = data.get(c.QUEUE_CALLERS)
        queue_id = _id(queue.get(c.QUEUE_ID))
        where = f"queue {queue_id}"

        def figure(field: str, high: int) -> int | None:
            return as_ranged(queue.get(field), high, field, where)

        return cls(
            id=queue_id,
            name=as_str(queue.get(c.QUEUE_NAME)),
            waiting=figure(c.QUEUE_WAITING, COUNT_MAX),
            member_available=figure(c.QUEUE_MEMBER_AVAILABLE, COUNT_MAX),
            member_total=figure(c.QUEUE_MEMBER_TOTAL, COUNT_MAX),
            wait_longest=figure(c.QUEUE_WAIT_LONGEST, DAY),
            wait_avg=figure(c.QUEUE_WAIT_AVG, DAY),
            service_level=figure(c.QUEUE_SERVICE_LEVEL, PERCENT),
            service_level_time=figure(c.QUEUE_SERVICE_LEVEL_TIME, DAY),
            completed=figure(c.QUEUE_COMPLETED, COUNT_MAX),
            abandoned=figure(c.QUEUE_ABANDONED, COUNT_MAX),
            total=figure(c.QUEUE_TOTAL, COUNT_MAX),
            talktime=figure(c.QUEUE_TALKTIME, TIME_TODAY_MAX),
            holdtime=figure(c.QUEUE_HOLDTIME, TIME_TODAY_MAX),
            members=tuple(
                QueueMember.from_api(m, where) for m in members if isinstance(m, dict)
            )
            if isinstance(members, list)
            else (),
            callers=tuple(
                QueueCaller.from_api(m, where) for m in callers if isinstance(m, dict)
            )
            if isinstance(callers, list)
            else (),
        )


@dataclass(frozen=True, slots=True)
class Cdr:
    """The record of one finished call of a user (event ``Cdr``)."""

    id: str | None
    call_guid: str | None
    calldate: str | None
    direction: str | None
    src: str | None
    dst: str | None
    src_user_id: str | None
    dst_user_id: str | None
    billsec: int | None
    disposition: str | None
    recording_id: str | None

    @classmethod
    def from_api(cls, data: Any) -> Cdr:
        """Parse a ``Cdr`` payload."""
        data = _mapping(data)
        direction = as_str(data.get(c.CDR_DIRECTION))
        disposition = as_str(data.get(c.CDR_DISPOSITION))
        record_id = as_str(data.get(c.CDR_ID))
        call_guid = as_str(data.get(c.CDR_CALL_GUID))
        return cls(
            id=record_id,
            call_guid=call_guid,
            calldate=as_str(data.get(c.CDR_CALLDATE)),
            direction=direction.upper() if direction else None,
            src=as_str(data.get(c.CDR_SRC)),
            dst=as_str(data.get(c.CDR_DST)),
            src_user_id=as_str(data.get(c.CDR_SRC_USER_ID)),
            dst_user_id=as_str(data.get(c.CDR_DST_USER_ID)),
            billsec=as_ranged(
                data.get(c.CDR_BILLSEC),
                WEEK,
                c.CDR_BILLSEC,
                f"call record {call_guid or record_id or '(no id)'}",
            ),
            disposition=disposition.upper() if disposition else None,
            recording_id=as_str(data.get(c.CDR_RECORDING_ID)),
        )


@dataclass(frozen=True, slots=True)
class QueueCdr:
    """One step of a queued call (event ``QueueCdr``, repeated per step)."""

    id: str | None
    call_guid: str | None
    queue_id: str | None
    calldate: str | None
    callerid: str | None
    disposition: str | None
    answered_by: str | None
    user_id: str | None
    wait_time: int | None
    talk_time: int | None
    reason: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> QueueCdr:
        """Parse a ``QueueCdr`` payload."""
        data = _mapping(data)
        disposition = as_str(data.get(c.QCDR_DISPOSITION))
        record_id = as_str(data.get(c.QCDR_ID))
        call_guid = as_str(data.get(c.QCDR_CALL_GUID))
        where = f"queue call record {call_guid or record_id or '(no id)'}"
        return cls(
            id=record_id,
            call_guid=call_guid,
            queue_id=as_str(data.get(c.QCDR_QUEUE_ID)),
            calldate=as_str(data.get(c.QCDR_CALLDATE)),
            callerid=as_str(data.get(c.QCDR_CALLERID))
            or as_str(data.get(c.QCDR_E164_SRC)),
            disposition=disposition.upper() if disposition else None,
            answered_by=as_str(data.get(c.QCDR_ANSWERED_BY)),
            user_id=as_str(data.get(c.QCDR_USER_ID)),
            wait_time=as_ranged(
                data.get(c.QCDR_WAIT_TIME), DAY, c.QCDR_WAIT_TIME, where
            ),
            talk_time=as_ranged(
                data.get(c.QCDR_TALK_TIME), WEEK, c.QCDR_TALK_TIME, where
            ),
            reason=(
                reason.upper() if (reason := as_str(data.get(c.QCDR_REASON))) else None
            ),
        )


# An item of one of the REST lists.
type ListItem = User | UserStatus | Device | Queue


def item_id(item: ListItem) -> str:
    """Return the NGUC id a listed item is known by (a status: its user's)."""
    return item.user_id if isinstance(item, UserStatus) else item.id


class LastWins:
    """Keeps one item per id of a REST list, the last one named; logs it once a path.

    A list that names an id twice has no right answer: the later item is
    taken as the newer. The first answer of each path that does so is a
    warning line; the answers after it, a debug line.
    """

    def __init__(self) -> None:
        """Start with no list logged."""
        self._logged: set[str] = set()

    def __call__[T: ListItem](self, path: str, items: list[T]) -> list[T]:
        """Return ``items`` with each id once, the last item of an id in its place."""
        by_id: dict[str, T] = {}
        doubled: dict[str, None] = {}  # ordered, unlike a set
        for item in items:
            key = item_id(item)
            if key in by_id:
                doubled[key] = None
            by_id[key] = item
        if not doubled:
            return items
        if path in self._logged:
            log = _LOGGER.debug
        else:
            self._logged.add(path)
            log = _LOGGER.warning
        log(
            "GET %s named %d ids more than once (the first: %s); the last item "
            "of each is used",
            path,
            len(doubled),
            next(iter(doubled)),
        )
        return list(by_id.values())


# What an event is about, parsed once on arrival.
type Update = UserStatus | DeviceStatus | Queue | Cdr | QueueCdr

#: The model of each event this client understands, by event name.
EVENT_MODELS: dict[str, Callable[[Any], Update]] = {
    c.EVENT_USER_STATUS: UserStatus.from_api,
    c.EVENT_DEVICE_STATUS: DeviceStatus.from_api,
    c.EVENT_QUEUE: Queue.from_api,
    c.EVENT_CDR: Cdr.from_api,
    c.EVENT_QUEUE_CDR: QueueCdr.from_api,
}


def parse_event(name: str, payload: Any) -> Update | None:
    """Return the model of a known event; None for an event name we do not know.

    Raises ValueError when a known event lacks the id it is about.
    """
    parse = EVENT_MODELS.get(name)
    return None if parse is None else parse(payload)
