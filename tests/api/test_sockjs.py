"""SockJS framing from the client's side: parse_frame, decode_element, encode_message."""

from __future__ import annotations

import json
import random
import re

import pytest

from custom_components.weblink_nguc.api import sockjs
from custom_components.weblink_nguc.api.sockjs import (
    HEARTBEAT,
    OPEN,
    Frame,
    SockJsFrameError,
    clean_text,
    decode_element,
    encode_message,
    parse_frame,
    session_url,
)

URL_SHAPE = re.compile(r"ws://host:1/events/[0-9]{3}/[a-z0-9]{10,40}/websocket")


# --- parse_frame ----------------------------------------------------------------


def test_open_and_heartbeat() -> None:
    assert parse_frame("o") == OPEN
    assert parse_frame("o").kind == "open"
    assert parse_frame("h") == HEARTBEAT
    assert parse_frame("h").kind == "heartbeat"


def test_message_frame_keeps_elements_undecoded() -> None:
    frame = parse_frame('a["[\\"UserStatus\\",{}]","[\\"Queue\\",{}]"]')
    assert frame.kind == "messages"
    assert frame.messages == ('["UserStatus",{}]', '["Queue",{}]')


def test_empty_message_frame() -> None:
    assert parse_frame("a[]") == Frame("messages", messages=())


def test_close_frame() -> None:
    frame = parse_frame('c[3000,"Go away!"]')
    assert frame.kind == "close"
    assert frame.close_code == 3000
    assert frame.close_reason == "Go away!"


def test_close_frame_without_reason_or_with_odd_reason() -> None:
    assert parse_frame("c[1002]").close_reason is None
    frame = parse_frame("c[2010,null]")
    assert frame.close_code == 2010
    assert frame.close_reason is None
    assert parse_frame('c[2010,"x","extra"]').close_code == 2010


def test_close_reason_with_lone_surrogate_is_cleaned() -> None:
    assert parse_frame('c[3000,"Go\\ud800"]').close_reason == "Go\ufffd"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "oo",
        "o[]",
        "hh",
        "a",
        "a{",
        "a{}",
        'a"text"',
        "c",
        "c[]",
        "c{}",
        'c["3000","Go away!"]',
        'c[true,"x"]',
        "c[3000.5]",
        # Nested deeper than any decoder goes: not JSON we can read.
        "a" + "[" * 100_000 + "]" * 100_000,
        'a["\\ud800",' + "[" * 100_000 + "]" * 100_000 + "]",
    ],
    ids=lambda text: f"nested {len(text)} chars" if len(text) > 1000 else None,
)
def test_malformed_frames_raise_frame_error(text: str) -> None:
    with pytest.raises(SockJsFrameError):
        parse_frame(text)


def test_frame_error_is_a_value_error() -> None:
    assert issubclass(SockJsFrameError, ValueError)


# --- decode_element ------------------------------------------------------------


def test_decode_string_element() -> None:
    element = json.dumps(["UserStatus", {"pbx_user_id": "1", "status": "8"}])
    assert decode_element(element) == (
        "UserStatus",
        {"pbx_user_id": "1", "status": "8"},
    )


def test_decode_element_event_name_unknown_is_kept() -> None:
    assert decode_element('["SomethingNew",{"a":[1,null,false]}]') == (
        "SomethingNew",
        {"a": [1, None, False]},
    )


@pytest.mark.parametrize(
    "element",
    [
        # Not a string: NGUC sends each event as a JSON string.
        ["Queue", {"queue": {"id": "5"}}],
        1,
        None,
        [],
        [1, 2],
        {"Name": {}},
        # Not ["Name", {payload}]: every documented event has an object.
        '["OnlyName"]',
        '["X",null]',
        '["X",false]',
        '["X",[1]]',
        '["X",17]',
        '["X","text"]',
        '["X",{},{}]',
        "[null,{}]",
        "[1,{}]",
        # Not JSON, or not an array.
        '["Name"',
        "not json",
        "null",
        '"Name"',
        "[]",
        '{"name":"X"}',
        "",
        '["X",{"a":' + "[" * 100_000 + "]" * 100_000 + "}]",
    ],
    ids=lambda element: (
        "nested deeper than decoders go" if len(repr(element)) > 1000 else None
    ),
)
def test_malformed_elements_raise_frame_error(element: object) -> None:
    with pytest.raises(SockJsFrameError):
        decode_element(element)


def test_huge_numbers_decode() -> None:
    """Numbers beyond 64 bits and beyond a double: decoded, never an error."""
    name, payload = decode_element('["X",{"a":123456789012345678901234567890}]')
    assert name == "X"
    assert payload["a"] == pytest.approx(1.2345678901234568e29)
    assert decode_element('["X",{"a":1e999}]')[1] == {"a": float("inf")}


def test_lone_surrogate_escape_is_cleaned() -> None:
    # The element text holds the six characters \ud800 (a JSON escape).
    element = '["UserStatus",{"status_text":"a\\ud800b","\\udfffkey":["\\ud83d"]}]'
    name, payload = decode_element(element)
    assert name == "UserStatus"
    assert payload == {"status_text": "a\ufffdb", "\ufffdkey": ["\ufffd"]}
    json.dumps(payload, ensure_ascii=False).encode()  # storable as UTF-8


def test_lone_surrogate_in_decoded_text_is_cleaned() -> None:
    # The surrogate escape sat at the outer level of the frame, so the element
    # already holds a raw lone surrogate character.
    frame = parse_frame('a["[\\"UserStatus\\",{\\"status_text\\":\\"\\ud800\\"}]"]')
    name, payload = decode_element(frame.messages[0])
    assert name == "UserStatus"
    assert payload == {"status_text": "\ufffd"}


def test_lone_surrogate_at_the_outer_level_of_an_element_is_cleaned() -> None:
    frame = parse_frame('a["[\\"X\\",{\\"t\\":\\"\\\\ud800\\"}]","\\ud800"]')
    assert decode_element(frame.messages[0]) == ("X", {"t": "\ufffd"})
    assert frame.messages[1] == "\ufffd"


def test_decoding_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package works without orjson: the standard library decodes all."""
    monkeypatch.setattr(sockjs, "orjson", None)
    frame = parse_frame(
        "a" + json.dumps([json.dumps(["X", {"t": "a\ud800", "n": "17"}])])
    )
    assert decode_element(frame.messages[0]) == ("X", {"t": "a\ufffd", "n": "17"})
    with pytest.raises(SockJsFrameError):
        decode_element('["OnlyName"]')


def test_valid_surrogate_pair_is_kept() -> None:
    name, payload = decode_element('["X",{"t":"\\ud83d\\ude00"}]')
    assert payload == {"t": "\U0001f600"}
    assert name == "X"


def test_clean_text_leaves_other_values_alone() -> None:
    assert clean_text(5) == 5
    assert clean_text(None) is None
    assert clean_text(False) is False
    assert clean_text({"a": ["b", 1]}) == {"a": ["b", 1]}
    assert clean_text("\ud800ok") == "\ufffdok"


# --- encode_message ------------------------------------------------------------


def test_encode_authenticate_is_double_encoded() -> None:
    text = encode_message(["authenticate", {"authorization": "Bearer abc.def"}])
    assert text == '["[\\"authenticate\\",{\\"authorization\\":\\"Bearer abc.def\\"}]"]'
    outer = json.loads(text)
    assert isinstance(outer, list)
    assert len(outer) == 1
    assert isinstance(outer[0], str)
    assert json.loads(outer[0]) == [
        "authenticate",
        {"authorization": "Bearer abc.def"},
    ]


def test_encode_message_non_ascii_and_quotes() -> None:
    message = ["x", {"name": 'Lars "Öberg"\n'}]
    text = encode_message(message)
    text.encode("ascii")  # escaped twice, pure ASCII on the wire
    assert json.loads(json.loads(text)[0]) == message


def test_encode_then_decode_round_trip() -> None:
    message = ["UserStatus", {"status": "9"}]
    (element,) = json.loads(encode_message(message))
    assert decode_element(element) == ("UserStatus", {"status": "9"})


# --- session_url ---------------------------------------------------------------


def test_session_url_shape() -> None:
    url = session_url("ws://host:1/events")
    assert URL_SHAPE.fullmatch(url), url


def test_session_url_strips_trailing_slash() -> None:
    assert URL_SHAPE.fullmatch(session_url("ws://host:1/events/"))


def test_session_url_fresh_each_time() -> None:
    urls = {session_url("ws://host:1/events") for _ in range(20)}
    assert len(urls) == 20
    for url in urls:
        assert URL_SHAPE.fullmatch(url)


def test_session_url_seeded_is_reproducible_and_padded() -> None:
    first = session_url("ws://host:1/events", random.Random(7))
    assert first == session_url("ws://host:1/events", random.Random(7))
    server_ids = {
        session_url("ws://h/e", random.Random(seed)).split("/")[-3]
        for seed in range(200)
    }
    assert all(len(server_id) == 3 for server_id in server_ids)
    assert any(server_id.startswith("0") for server_id in server_ids)
