"""Parsing of every documented payload into typed models (strings, nulls, false)."""

from __future__ import annotations

from collections.abc import Generator
import logging
from typing import Any
from unittest.mock import patch

import pytest

from custom_components.weblink_nguc.api import (
    Cdr,
    Device,
    DeviceStatus,
    LineState,
    Me,
    Queue,
    QueueCaller,
    QueueCdr,
    QueueMember,
    User,
    UserStatus,
    models,
)
from custom_components.weblink_nguc.api.models import (
    EVENT_MODELS,
    LastWins,
    as_int,
    as_ranged,
    as_str,
    item_id,
    parse_event,
)
from custom_components.weblink_nguc.api.ratelimit import RateLimitedLog
from tests.simulator import demo_company

MODELS_LOGGER = models.__name__


@pytest.fixture(autouse=True)
def fresh_range_warnings() -> Generator[None]:
    """Figures out of range are warned of afresh in each test (the limit is per process)."""
    fresh = RateLimitedLog(logging.getLogger(MODELS_LOGGER))
    with patch.object(models, "out_of_range_log", fresh, create=True):
        yield


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warning lines of the models' logger."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == MODELS_LOGGER and record.levelno == logging.WARNING
    ]


# --- scalar helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("17", 17),
        (17, 17),
        ("0", 0),
        ("-3", -3),
        ("17.0", 17),
        ("17.9", 17),
        (17.9, 17),
        (" 5 ", 5),
        (True, 1),
        (None, None),
        (False, None),
        ("", None),
        ("abc", None),
        ("nan", None),
        ({"a": 1}, None),
        ([1], None),
        (object(), None),
    ],
)
def test_as_int(value: Any, expected: int | None) -> None:
    assert as_int(value) == expected


@pytest.mark.parametrize("value", [float("inf"), "inf", "1e999", float("-inf")])
def test_as_int_infinity_is_absent(value: Any) -> None:
    # JSON like 1e999 decodes to inf; it must not crash a whole payload.
    assert as_int(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "x"),
        (17, "17"),
        (0, "0"),
        (True, "True"),
        (None, None),
        (False, None),
        ("", None),
        ({"a": 1}, None),
        ([], None),
    ],
)
def test_as_str(value: Any, expected: str | None) -> None:
    assert as_str(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**63 - 1, 2**63 - 1),
        (-(2**63) + 1, -(2**63) + 1),
        (2**63, None),
        (10**30, None),
        ("1e300", None),
        ("9" * 5000, None),  # beyond Python's int-from-text limit
        (10**5000, None),
    ],
    ids=["max", "min", "2**63", "1e30", "1e300 text", "5000 digits", "10**5000"],
)
def test_as_int_huge_numbers_are_absent(value: Any, expected: int | None) -> None:
    assert as_int(value) == expected


def test_as_str_of_an_int_too_long_to_write_is_absent() -> None:
    assert as_str(10**5000) is None
    assert as_str(10**30) == "1" + "0" * 30


def test_queue_with_infinite_number_still_parses() -> None:
    queue = Queue.from_api({"queue": {"id": "1", "waiting": float("inf")}})
    assert queue.id == "1"
    assert queue.waiting is None


# --- UserStatus -----------------------------------------------------------------


def test_user_status_documented_example() -> None:
    status = UserStatus.from_api(
        {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"}
    )
    assert status == UserStatus("86480", LineState.RINGING, "Ringing")
    assert isinstance(status.user_id, str)


@pytest.mark.parametrize(
    ("wire", "text", "flags"),
    [
        ("0", "Idle", LineState.IDLE),
        ("1", "InUse", LineState.IN_USE),
        ("4", "Unavailable", LineState.UNAVAILABLE),
        ("8", "Ringing", LineState.RINGING),
        ("9", "InUse&Ringing", LineState.IN_USE | LineState.RINGING),
        ("2", "Busy", LineState.BUSY),
        ("16", "OnHold", LineState.ON_HOLD),
        ("17", "InUse&OnHold", LineState.IN_USE | LineState.ON_HOLD),
    ],
)
def test_user_status_flags(wire: str, text: str, flags: LineState) -> None:
    status = UserStatus.from_api(
        {"pbx_user_id": "1", "status": wire, "status_text": text}
    )
    assert status.status == flags
    assert status.status_text == text
    assert int(status.status) == int(wire)


def test_user_status_flag_tests() -> None:
    in_use_ringing = UserStatus.from_api({"pbx_user_id": "1", "status": "9"}).status
    assert LineState.IN_USE in in_use_ringing
    assert LineState.RINGING in in_use_ringing
    assert LineState.ON_HOLD not in in_use_ringing
    idle = UserStatus.from_api({"pbx_user_id": "1", "status": "0"}).status
    assert idle == LineState.IDLE
    assert not idle
    assert LineState.RINGING not in idle


def test_user_status_numbers_not_strings() -> None:
    status = UserStatus.from_api({"pbx_user_id": 86480, "status": 1})
    assert status.user_id == "86480"
    assert status.status == LineState.IN_USE
    assert status.status_text is None


def test_user_status_unknown_bits_are_kept() -> None:
    status = UserStatus.from_api({"pbx_user_id": "1", "status": "33"})
    assert int(status.status) == 33
    assert LineState.IN_USE in status.status
    assert int(UserStatus.from_api({"pbx_user_id": "1", "status": 0xFFFF}).status)


@pytest.mark.parametrize(
    "wire", [None, False, "", "abc", "-1", {}, "65536", "99999999999", 10**30]
)
def test_user_status_unreadable_is_unusable(wire: Any) -> None:
    """Neither idle nor offline: an unreadable status is no status at all."""
    with pytest.raises(ValueError, match="unreadable status"):
        UserStatus.from_api({"pbx_user_id": "1", "status": wire})


@pytest.mark.parametrize(
    "wire", [None, False, "", "maybe", [], "-1", "65536", "99999999999"]
)
def test_device_status_unreadable_is_unusable(wire: Any) -> None:
    with pytest.raises(ValueError, match="unreadable status"):
        DeviceStatus.from_api({"pbx_device_id": "9001", "status": wire})


@pytest.mark.parametrize("payload", [{}, {"pbx_user_id": None}, None, "x", []])
def test_user_status_without_user_is_rejected(payload: Any) -> None:
    with pytest.raises(ValueError, match="id"):
        UserStatus.from_api(payload)


# --- Queue ----------------------------------------------------------------------

QUEUE_PAYLOAD: dict[str, Any] = {
    "queue": {
        "id": "501",
        "name": "Support",
        "waiting": "2",
        "member_available": "1",
        "member_total": "3",
        "wait_longest": "95",
        "wait_avg": "32",
        "service_level": "92",
        "service_level_time": "60",
        "completed": "12",
        "abandoned": "1",
        "total": "13",
        "talktime": "2710",
        "holdtime": "420",
    },
    "members": [
        {
            "pbx_user_id": "86480",
            "name": "Anna Lindqvist",
            "paused": "0",
            "avg_call_length": "184",
            "call_guid": "1725958989.42",
        },
        {
            "pbx_user_id": "86482",
            "name": "Maja Karlsson",
            "paused": "1",
            "avg_call_length": "203",
            "call_guid": None,
        },
    ],
    "callers": [
        {
            "call_guid": "1725958990.43",
            "pbx_queue_id": "501",
            "callerid": "0701234567",
            "wait": "12",
            "position": "1",
        },
        {
            "call_guid": "1725958995.44",
            "pbx_queue_id": "501",
            "callerid": None,
            "wait": "3",
            "position": "2",
        },
    ],
}


def test_queue_documented_payload() -> None:
    queue = Queue.from_api(QUEUE_PAYLOAD)
    assert queue.id == "501"
    assert queue.name == "Support"
    assert (queue.waiting, queue.member_available, queue.member_total) == (2, 1, 3)
    assert (queue.wait_longest, queue.wait_avg) == (95, 32)
    assert (queue.service_level, queue.service_level_time) == (92, 60)
    assert (queue.completed, queue.abandoned, queue.total) == (12, 1, 13)
    assert (queue.talktime, queue.holdtime) == (2710, 420)
    assert queue.members == (
        QueueMember("86480", "Anna Lindqvist", False, 184, "1725958989.42"),
        QueueMember("86482", "Maja Karlsson", True, 203, None),
    )
    assert queue.callers == (
        QueueCaller("1725958990.43", "0701234567", 12, 1),
        QueueCaller("1725958995.44", None, 3, 2),
    )


def test_queue_numbers_are_ints() -> None:
    queue = Queue.from_api(QUEUE_PAYLOAD)
    for name in ("waiting", "wait_longest", "service_level", "talktime", "holdtime"):
        assert type(getattr(queue, name)) is int
    assert type(queue.members[0].avg_call_length) is int
    assert type(queue.callers[0].wait) is int


def test_queue_extra_fields_are_ignored() -> None:
    payload = {
        "queue": {**QUEUE_PAYLOAD["queue"], "strategy": "ringall", "nested": {}},
        "members": [{**QUEUE_PAYLOAD["members"][0], "penalty": "0"}],
        "callers": [],
        "extra": [1, 2, 3],
    }
    queue = Queue.from_api(payload)
    assert queue.waiting == 2
    assert queue.members[0].user_id == "86480"


def test_queue_minimal_and_null_fields() -> None:
    queue = Queue.from_api(
        {"queue": {"id": 7, "waiting": None, "wait_avg": False, "total": ""}}
    )
    assert queue.id == "7"
    assert queue.name is None
    assert queue.waiting is None
    assert queue.wait_avg is None
    assert queue.total is None
    assert queue.holdtime is None
    assert queue.members == ()
    assert queue.callers == ()


def test_queue_member_with_only_documented_fields() -> None:
    queue = Queue.from_api(
        {
            "queue": {"id": "1"},
            "members": [{"avg_call_length": "60", "call_guid": None}, "junk", None],
            "callers": [{}, 5],
        }
    )
    # Whether the member is paused is not documented: unknown, not False.
    assert queue.members == (QueueMember(None, None, None, 60, None),)
    assert queue.callers == (QueueCaller(None, None, None, None),)


def test_queue_lists_of_wrong_type() -> None:
    queue = Queue.from_api({"queue": {"id": "1"}, "members": None, "callers": {}})
    assert queue.members == ()
    assert queue.callers == ()


@pytest.mark.parametrize(
    "payload", [{}, {"queue": None}, {"queue": {"name": "x"}}, {"queue": []}, None]
)
def test_queue_without_id_is_rejected(payload: Any) -> None:
    with pytest.raises(ValueError, match="id"):
        Queue.from_api(payload)


@pytest.mark.parametrize(
    ("wire", "paused"),
    [
        ("1", True),
        ("0", False),
        (False, False),
        (True, True),
        (1, True),
        # Absent or unreadable: unknown, not "not paused".
        (None, None),
        ("", None),
        ("yes", None),
    ],
)
def test_member_paused(wire: Any, paused: bool | None) -> None:
    assert QueueMember.from_api({"paused": wire}).paused is paused
    assert QueueMember.from_api({}).paused is None


def test_simulator_queues_parse() -> None:
    company = demo_company()
    for wire in company.rest_queues():
        queue = Queue.from_api(wire)
        model = company.queues[queue.id]
        assert queue.total == model.total
        assert len(queue.members) == len(model.members)


# --- Cdr ------------------------------------------------------------------------

CDR_PAYLOAD: dict[str, Any] = {
    "id": "1201",
    "call_guid": "1725958989.42",
    "calldate": "2024-09-10 09:03:09",
    "direction": "IN",
    "src": "0701234567",
    "dst": "101",
    "src_pbx_user_id": None,
    "dst_pbx_user_id": "86480",
    "remote_pbx_contact_id": None,
    "billsec": "57",
    "disposition": "ANSWER",
    "pbx_recording_id": False,
}


def test_cdr_documented_payload() -> None:
    cdr = Cdr.from_api(CDR_PAYLOAD)
    assert cdr == Cdr(
        id="1201",
        call_guid="1725958989.42",
        calldate="2024-09-10 09:03:09",
        direction="IN",
        src="0701234567",
        dst="101",
        src_user_id=None,
        dst_user_id="86480",
        billsec=57,
        disposition="ANSWER",
        recording_id=None,
    )


def test_cdr_recording_and_case() -> None:
    cdr = Cdr.from_api(
        {
            **CDR_PAYLOAD,
            "pbx_recording_id": "4711",
            "direction": "out",
            "disposition": "no answer",
        }
    )
    assert cdr.recording_id == "4711"
    assert cdr.direction == "OUT"
    assert cdr.disposition == "NO ANSWER"


@pytest.mark.parametrize(
    "disposition", ["INVALID", "ANSWER", "NO ANSWER", "BUSY", "CANCEL"]
)
def test_cdr_dispositions(disposition: str) -> None:
    assert Cdr.from_api({**CDR_PAYLOAD, "disposition": disposition}).disposition == (
        disposition
    )


def test_cdr_empty_payload() -> None:
    cdr = Cdr.from_api({})
    assert cdr.id is None
    assert cdr.direction is None
    assert cdr.disposition is None
    assert cdr.billsec is None
    assert Cdr.from_api(None) == cdr


def test_cdr_from_simulator() -> None:
    company = demo_company()
    cdr = Cdr.from_api(company.cdr("86480", billsec=42))
    assert cdr.billsec == 42
    assert cdr.dst_user_id == "86480"
    assert cdr.recording_id is None


# --- QueueCdr -------------------------------------------------------------------

QUEUE_CDR_PAYLOAD: dict[str, Any] = {
    "id": "88",
    "call_guid": "1725958989.42",
    "ast_queue_id": "501",
    "calldate": "2024-09-10T07:03:09+00:00",
    "callerid": "0701234567",
    "did": "0812345600",
    "e164_src": "+46701234567",
    "e164_did": "+46812345600",
    "disposition": "ANSWERED",
    "answered_by": "Anna Lindqvist",
    "pbx_user_id": "86480",
    "wait_time": "12",
    "talk_time": "57",
    "reason": "",
    "handled": "1",
}


def test_queue_cdr_documented_payload() -> None:
    qcdr = QueueCdr.from_api(QUEUE_CDR_PAYLOAD)
    assert qcdr == QueueCdr(
        id="88",
        call_guid="1725958989.42",
        queue_id="501",
        calldate="2024-09-10T07:03:09+00:00",
        callerid="0701234567",
        disposition="ANSWERED",
        answered_by="Anna Lindqvist",
        user_id="86480",
        wait_time=12,
        talk_time=57,
    )


def test_queue_cdr_unanswered_with_nulls() -> None:
    qcdr = QueueCdr.from_api(
        {
            **QUEUE_CDR_PAYLOAD,
            "callerid": None,
            "disposition": "noanswered",
            "answered_by": None,
            "pbx_user_id": None,
            "talk_time": "0",
        }
    )
    assert qcdr.callerid == "+46701234567"  # falls back to e164_src
    assert qcdr.disposition == "NOANSWERED"
    assert qcdr.answered_by is None
    assert qcdr.user_id is None
    assert qcdr.talk_time == 0


def test_queue_cdr_empty() -> None:
    qcdr = QueueCdr.from_api({})
    assert qcdr.callerid is None
    assert qcdr.disposition is None
    assert qcdr.wait_time is None


# --- DeviceStatus and Device ----------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "registered"),
    [("1", True), ("0", False), (1, True)],
)
def test_device_status(wire: Any, registered: bool | None) -> None:
    status = DeviceStatus.from_api(
        {
            "pbx_device_id": "9001",
            "pbx_user_id": "86480",
            "status": wire,
            "status_text": "Registered",
        }
    )
    assert status.device_id == "9001"
    assert status.user_id == "86480"
    assert status.registered is registered


def test_device_status_falls_back_to_id_and_null_user() -> None:
    status = DeviceStatus.from_api({"id": 9002, "pbx_user_id": None, "status": "1"})
    assert status == DeviceStatus("9002", None, True)


def test_device_status_without_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="id"):
        DeviceStatus.from_api({"status": "1"})


def test_device() -> None:
    device = Device.from_api(
        {
            "id": "9001",
            "pbx_user_id": "86480",
            "name": "Anna bordstelefon",
            "model": "Yealink T54W",
            "status": "0",
            "status_text": "Unregistered",
        }
    )
    assert device == Device(
        "9001", "86480", "Anna bordstelefon", "Yealink T54W", registered=False
    )
    assert Device.from_api({"id": "1"}).registered is None


# --- Me and User ----------------------------------------------------------------


def test_me() -> None:
    me = Me.from_api(
        {
            "id": 86480,
            "username": "demo",
            "name": "Anna",
            "company_id": 4711,
            "company_name": "demo",
            "extra": True,
        }
    )
    assert me == Me("86480", "demo", "Anna", "4711", "demo")


def test_user_with_nulls() -> None:
    user = User.from_api({"id": "1", "name": None, "extension": 101, "email": False})
    assert user == User("1", None, "101", None)
    with pytest.raises(ValueError, match="id"):
        User.from_api({"name": "x"})


# --- any field, any bad value: a model or ValueError, never a crash ---------------

DOCUMENTED: dict[str, dict[str, Any]] = {
    "UserStatus": {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"},
    "DeviceStatus": {
        "pbx_device_id": "9001",
        "pbx_user_id": "86480",
        "status": "1",
        "status_text": "Registered",
    },
    "Queue": {
        "queue": {
            "id": "501",
            "name": "Support",
            "waiting": "1",
            "member_available": "2",
            "member_total": "3",
            "wait_longest": "40",
            "wait_avg": "12",
            "service_level": "90",
            "service_level_time": "20",
            "completed": "7",
            "abandoned": "1",
            "total": "8",
            "talktime": "300",
            "holdtime": "60",
        },
        "members": [
            {
                "pbx_user_id": "86480",
                "name": "Anna",
                "paused": "0",
                "avg_call_length": "61",
                "call_guid": None,
            }
        ],
        "callers": [
            {
                "call_guid": "1.2",
                "pbx_queue_id": "501",
                "callerid": "070",
                "wait": "12",
                "position": "1",
            }
        ],
    },
    "Cdr": {
        "id": "555",
        "call_guid": "1.2",
        "calldate": "2024-09-10 09:03:09",
        "direction": "IN",
        "src": "070",
        "dst": "201",
        "src_pbx_user_id": None,
        "dst_pbx_user_id": "86480",
        "billsec": "42",
        "disposition": "ANSWER",
        "pbx_recording_id": False,
    },
    "QueueCdr": {
        "id": "9",
        "call_guid": "1.2",
        "ast_queue_id": "501",
        "calldate": "2024-09-10T09:03:09Z",
        "callerid": "070",
        "did": "08123",
        "e164_src": "+4670",
        "e164_did": "+468123",
        "disposition": "ANSWERED",
        "answered_by": "Anna",
        "pbx_user_id": "86480",
        "wait_time": "12",
        "talk_time": "30",
        "reason": None,
        "handled": "1",
    },
}
REST_ITEMS: dict[str, tuple[Any, dict[str, Any]]] = {
    "me": (
        Me.from_api,
        {
            "id": "1",
            "username": "u",
            "name": "U",
            "company_id": "7",
            "company_name": "C",
        },
    ),
    "user": (
        User.from_api,
        {"id": "1", "name": "U", "extension": "201", "email": "u@x.se"},
    ),
    "device": (
        Device.from_api,
        {
            "id": "9001",
            "pbx_user_id": "1",
            "name": "Desk",
            "model": "T54W",
            "status": "1",
            "status_text": "Registered",
        },
    ),
}
BAD_VALUES: list[Any] = [
    MISSING := object(),
    None,
    False,
    True,
    "",
    "abc",
    "-1",
    -(10**30),
    10**30,
    "9" * 5000,  # beyond Python's int-from-text limit
    10**5000,
    1e308,
    float("inf"),
    float("nan"),
    "\ud800",  # a lone surrogate, as REST text may hold
    "x\udfffy",
    [],
    [1, "2"],
    {},
    {"nested": {"deeper": None}},
]


def _variants(payload: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every payload with one field, at the top or one level down, gone bad."""
    out: list[tuple[str, Any, dict[str, Any]]] = []
    for key, value in payload.items():
        for bad in BAD_VALUES:
            broken = dict(payload)
            if bad is MISSING:
                del broken[key]
            else:
                broken[key] = bad
            out.append((key, bad, broken))
        if isinstance(value, dict):
            for sub, inner_bad, inner in _variants(value):
                out.append((f"{key}.{sub}", inner_bad, {**payload, key: inner}))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for sub, inner_bad, inner in _variants(value[0]):
                out.append((f"{key}[0].{sub}", inner_bad, {**payload, key: [inner]}))
    return out


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_events_with_any_bad_field_parse_or_say_why(name: str) -> None:
    """A bad field is absent in the model; only a missing id or status raises ValueError."""
    assert isinstance(parse_event(name, DOCUMENTED[name]), EVENT_TYPES[name])
    raised = set()
    for field, bad, payload in _variants(DOCUMENTED[name]):
        try:
            model = parse_event(name, payload)
        except ValueError:
            raised.add(field)
            continue
        assert isinstance(model, EVENT_TYPES[name]), (field, bad)
        repr(model)  # and it can be logged
    # Only the field that names what the event is about is required, and the
    # status of a status event (without it the event says nothing).
    required = {"pbx_user_id", "pbx_device_id", "queue", "queue.id"}
    if name in ("UserStatus", "DeviceStatus"):
        required.add("status")
    assert raised <= required


@pytest.mark.parametrize("name", list(REST_ITEMS))
def test_rest_items_with_any_bad_field_parse_or_say_why(name: str) -> None:
    parse, good = REST_ITEMS[name]
    parse(good)
    for field, bad, payload in _variants(good):
        try:
            model = parse(payload)
        except ValueError:
            assert field == "id", (field, bad)
            continue
        repr(model)


@pytest.mark.parametrize("payload", [None, False, [], "x", 17, {}])
def test_events_with_payloads_that_are_no_object(payload: Any) -> None:
    for name in DOCUMENTED:
        try:
            parse_event(name, payload)
        except ValueError:
            continue  # no id: nothing to apply it to


def test_unknown_event_names_have_no_model() -> None:
    assert parse_event("SomethingNew", {"a": 1}) is None
    assert set(EVENT_MODELS) == set(DOCUMENTED)


EVENT_TYPES: dict[str, type] = {
    "UserStatus": UserStatus,
    "DeviceStatus": DeviceStatus,
    "Queue": Queue,
    "Cdr": Cdr,
    "QueueCdr": QueueCdr,
}


# --- figures out of any sane range (issue 14) --------------------------------------

DAY = 86_400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("86400", DAY),
        (DAY, DAY),
        ("12.7", 12),
        (None, None),
        (False, None),
        ("", None),
        ("abc", None),
        ("nan", None),
    ],
)
def test_as_ranged_in_range_or_absent_says_nothing(
    caplog: pytest.LogCaptureFixture, value: Any, expected: int | None
) -> None:
    assert as_ranged(value, DAY, "wait", "queue 501") == expected
    assert not warnings(caplog)


@pytest.mark.parametrize(
    "value",
    [
        "86401",
        "99999999999",
        99999999999,
        "-1",
        -1,
        "1e999",
        float("inf"),
        float("-inf"),
        "9" * 5000,  # beyond Python's int-from-text limit
        10**5000,  # too long to write out
        2**63,
    ],
    ids=[
        "day+1",
        "99999999999 text",
        "99999999999",
        "-1 text",
        "-1",
        "1e999",
        "inf",
        "-inf",
        "5000 digits",
        "10**5000",
        "2**63",
    ],
)
def test_as_ranged_out_of_range_is_unknown_with_a_warning(
    caplog: pytest.LogCaptureFixture, value: Any
) -> None:
    assert as_ranged(value, DAY, "wait", "queue 501") is None
    [line] = warnings(caplog)
    assert "wait of queue 501" in line
    assert "0 to 86400" in line
    assert len(line) < 200  # a huge number is not written out


def test_as_ranged_warns_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(5):
        assert as_ranged("99999999999", DAY, "wait", "queue 501") is None
        assert as_ranged("-5", 100, "service_level", "queue 502") is None
    assert len(warnings(caplog)) == 1


QUEUE_RANGES: dict[str, int] = {
    "waiting": 1_000_000,
    "member_available": 1_000_000,
    "member_total": 1_000_000,
    "wait_longest": DAY,
    "wait_avg": DAY,
    "service_level": 100,
    "service_level_time": DAY,
    "completed": 1_000_000,
    "abandoned": 1_000_000,
    "total": 1_000_000,
    "talktime": 10**9,
    "holdtime": 10**9,
}


@pytest.mark.parametrize(("field", "high"), list(QUEUE_RANGES.items()))
def test_queue_figures_out_of_range_are_unknown(
    caplog: pytest.LogCaptureFixture, field: str, high: int
) -> None:
    """Each queue figure: 0 and its highest sane value kept; beyond either, unknown."""

    def parsed(value: str) -> int | None:
        queue = Queue.from_api({"queue": {"id": "501", field: value}})
        figure: int | None = getattr(queue, field)
        return figure

    assert parsed("0") == 0
    assert parsed(str(high)) == high
    assert not warnings(caplog)
    assert parsed(str(high + 1)) is None
    assert parsed("-1") is None
    assert parsed("99999999999") is None
    [line] = warnings(caplog)
    assert f"{field} of queue 501" in line


@pytest.mark.parametrize(
    ("item", "field", "high"),
    [
        ("callers", "wait", DAY),
        ("callers", "position", 1_000_000),
        ("members", "avg_call_length", DAY),
    ],
)
def test_queue_caller_and_member_figures_out_of_range_are_unknown(
    caplog: pytest.LogCaptureFixture, item: str, field: str, high: int
) -> None:
    """A caller or agent with a figure out of range is kept, that figure unknown."""
    ok = Queue.from_api({"queue": {"id": "501"}, item: [{field: str(high)}]})
    assert getattr(getattr(ok, item)[0], field) == high
    assert not warnings(caplog)
    bad = Queue.from_api(
        {"queue": {"id": "501"}, item: [{field: "99999999999", "call_guid": "1.2"}]}
    )
    [entry] = getattr(bad, item)
    assert getattr(entry, field) is None
    assert entry.call_guid == "1.2"  # the rest of it is kept
    [line] = warnings(caplog)
    assert f"{item}[].{field} of queue 501" in line


def test_caller_and_member_parsed_alone_say_where_vaguely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert QueueCaller.from_api({"wait": "-1"}).wait is None
    assert QueueMember.from_api({"avg_call_length": "-1"}).avg_call_length is None
    assert "of a queue" in warnings(caplog)[0]


def test_queue_with_every_figure_out_of_range_logs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = Queue.from_api(
        {
            "queue": {"id": "501"} | dict.fromkeys(QUEUE_RANGES, "99999999999"),
            "members": [{"avg_call_length": "-1"}],
            "callers": [{"wait": "99999999999", "position": "-1"}],
        }
    )
    assert all(getattr(queue, field) is None for field in QUEUE_RANGES)
    assert queue.callers[0].wait is None
    assert len(warnings(caplog)) == 1


@pytest.mark.parametrize(
    ("name", "field", "attribute", "high"),
    [
        ("Cdr", "billsec", "billsec", 7 * DAY),
        ("QueueCdr", "wait_time", "wait_time", DAY),
        ("QueueCdr", "talk_time", "talk_time", 7 * DAY),
    ],
)
def test_call_record_durations_out_of_range_are_unknown(
    caplog: pytest.LogCaptureFixture, name: str, field: str, attribute: str, high: int
) -> None:
    """A call record with an absurd duration is still the record of a call."""
    good = parse_event(name, DOCUMENTED[name] | {field: str(high)})
    assert getattr(good, attribute) == high
    assert not warnings(caplog)
    for value in ("99999999999", "-1"):
        record = parse_event(name, DOCUMENTED[name] | {field: value})
        assert isinstance(record, (Cdr, QueueCdr))
        assert getattr(record, attribute) is None
        assert record.call_guid == "1.2"
    [line] = warnings(caplog)
    assert "1.2" in line


def test_call_record_without_ids_says_so(caplog: pytest.LogCaptureFixture) -> None:
    payload = DOCUMENTED["Cdr"] | {"id": None, "call_guid": None, "billsec": "-1"}
    assert Cdr.from_api(payload).billsec is None
    assert "call record (no id)" in warnings(caplog)[0]


# --- duplicate ids in one list (issue 14) --------------------------------------------


def test_last_wins_keeps_the_last_of_each_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=MODELS_LOGGER)
    old = User("1", "Old name", "201", None)
    new = User("1", "Anna", "201", None)
    other = User("2", "Erik", "202", None)
    last_wins = LastWins()
    assert last_wins("/company/user", [old, other, new]) == [new, other]
    [line] = warnings(caplog)
    assert "/company/user" in line
    assert "1" in line

    # The same list again: logged at debug level only; another list: warned.
    assert last_wins("/company/user", [old, new]) == [new]
    assert len(warnings(caplog)) == 1
    statuses = [
        UserStatus("1", LineState.RINGING, None),
        UserStatus("1", LineState.IDLE, None),
    ]
    assert last_wins("/company/user/status", statuses) == [statuses[1]]
    assert len(warnings(caplog)) == 2


def test_last_wins_leaves_a_list_without_duplicates_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    users = [User("1", "Anna", None, None), User("2", "Erik", None, None)]
    assert LastWins()("/company/user", users) is users
    assert not caplog.records


def test_item_id_of_each_kind_of_list() -> None:
    assert item_id(User("1", None, None, None)) == "1"
    assert item_id(UserStatus("86480", LineState.IDLE, None)) == "86480"
    assert item_id(Device("9001", "86480", None, None, True)) == "9001"
    assert item_id(Queue.from_api({"queue": {"id": "501"}})) == "501"


@pytest.mark.parametrize("wire", ["-1", "65536", "99999999999"])
def test_listed_phone_with_status_out_of_range_is_of_unknown_registration(
    caplog: pytest.LogCaptureFixture, wire: str
) -> None:
    device = Device.from_api({"id": "9001", "pbx_user_id": "1", "status": wire})
    assert device.registered is None
    assert device.user_id == "1"
    [line] = warnings(caplog)
    assert "status of phone 9001" in line
