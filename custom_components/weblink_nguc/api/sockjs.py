"""SockJS framing over the raw websocket transport, from the client's side.

A server frame is one letter, then JSON: ``o`` (open), ``h`` (heartbeat),
``a[...]`` (messages) and ``c[code,"reason"]`` (close). A client sends a JSON
array of strings, so application JSON is encoded twice.

JSON is decoded with ``orjson`` when it is installed (Home Assistant ships
it). ``orjson`` refuses lone UTF-16 surrogates, which JSON allows as escapes;
that text, and all text when ``orjson`` is missing (this package does not
require it), goes to the standard library instead, and the surrogates are
replaced, since they can be neither logged nor stored (and integers too
large to store become floats, as ``orjson`` has them).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
import random
import string
from typing import Any, Literal

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with Home Assistant
    orjson = None  # type: ignore[assignment]

_SESSION_ALPHABET = string.ascii_lowercase + string.digits
_SESSION_LENGTH = 20
# The integers orjson keeps as such; it decodes larger ones as floats.
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


class SockJsFrameError(ValueError):
    """A frame that is not valid SockJS."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded server frame."""

    kind: Literal["open", "heartbeat", "messages", "close"]
    messages: tuple[Any, ...] = ()
    close_code: int | None = None
    close_reason: str | None = None


OPEN = Frame("open")
HEARTBEAT = Frame("heartbeat")


def session_url(base: str, rng: random.Random | None = None) -> str:
    """Return a fresh ``<base>/<server_id>/<session_id>/websocket`` URL."""
    rng = rng or random.SystemRandom()
    server_id = f"{rng.randrange(1000):03d}"
    session_id = "".join(rng.choice(_SESSION_ALPHABET) for _ in range(_SESSION_LENGTH))
    return f"{base.rstrip('/')}/{server_id}/{session_id}/websocket"


def encode_message(message: Any) -> str:
    """Encode one application message as a SockJS client frame."""
    return json.dumps([json.dumps(message, separators=(",", ":"))])


def loads(text: str) -> Any:
    """Decode JSON text; lone surrogates in it become U+FFFD.

    Raises ValueError for anything that is not JSON, including JSON nested
    too deep to decode (which no NGUC answer is).
    """
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # lone surrogates, or not JSON: the standard library decides
    try:
        return clean_text(json.loads(text))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def parse_frame(text: str) -> Frame:
    """Decode a server frame; ``a`` frames keep their elements undecoded."""
    if not text:
        raise SockJsFrameError("empty frame")
    kind = text[0]
    if kind == "o" and len(text) == 1:
        return OPEN
    if kind == "h" and len(text) == 1:
        return HEARTBEAT
    if kind not in "ac":
        raise SockJsFrameError(f"unknown frame type {kind!r}")
    try:
        body = loads(text[1:])
    except ValueError as err:
        raise SockJsFrameError(f"frame {kind!r} is not JSON: {err}") from None
    if kind == "a":
        if not isinstance(body, list):
            raise SockJsFrameError("message frame is not an array")
        return Frame("messages", messages=tuple(body))
    if (
        not isinstance(body, list)
        or len(body) < 1
        or not isinstance(body[0], int)
        or isinstance(body[0], bool)
    ):
        raise SockJsFrameError("close frame is not [code, reason]")
    reason = body[1] if len(body) > 1 and isinstance(body[1], str) else None
    return Frame("close", close_code=body[0], close_reason=reason)


def decode_element(element: Any) -> tuple[str, dict[str, Any]]:
    """Decode one element of an ``a`` frame into (event name, payload).

    NGUC sends each element as a string of JSON ``["Name", {payload}]``;
    anything else raises :class:`SockJsFrameError`.
    """
    if not isinstance(element, str):
        raise SockJsFrameError(f"message is not a string but {type(element).__name__}")
    try:
        decoded = loads(element)
    except ValueError as err:
        raise SockJsFrameError(f"message is not JSON: {err}") from None
    if (
        type(decoded) is not list
        or len(decoded) != 2
        or type(decoded[0]) is not str
        or type(decoded[1]) is not dict
    ):
        raise SockJsFrameError('message is not ["EventName", {payload}]')
    return decoded[0], decoded[1]


def clean_text(value: Any) -> Any:
    """Replace lone UTF-16 surrogates, which cannot be logged or stored.

    Integers beyond 64 bits cannot be stored either (the recorder writes
    with ``orjson``): they become floats, as ``orjson`` decodes them.
    """
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if type(value) is int and not _INT64_MIN <= value <= _UINT64_MAX:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, list):
        return [clean_text(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): clean_text(item) for key, item in value.items()}
    return value
