"""SockJS framing over the raw websocket transport, from the client's side.

A server frame is one letter, then JSON: ``o`` (open), ``h`` (heartbeat),
``a[...]`` (messages) and ``c[code,"reason"]`` (close). A client sends a JSON
array of strings, so application JSON is encoded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import random
import re
import string
from typing import Any, Literal

_SESSION_ALPHABET = string.ascii_lowercase + string.digits
_SESSION_LENGTH = 20
# A JSON escape of a UTF-16 surrogate, or a surrogate itself (when the escape
# sat at the frame's outer level): only then can decoded text hold one.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


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
        body = json.loads(text[1:])
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
    # The reason is logged: clean it like event text.
    reason = clean_text(body[1]) if len(body) > 1 and isinstance(body[1], str) else None
    return Frame("close", close_code=body[0], close_reason=reason)


def decode_element(element: Any) -> tuple[str, Any]:
    """Decode one element of an ``a`` frame into (event name, payload).

    NGUC sends each element as a string of JSON ``["Name", {payload}]``.
    """
    if isinstance(element, str):
        try:
            decoded = json.loads(element)
        except ValueError as err:
            raise SockJsFrameError(f"message is not JSON: {err}") from None
        if _SURROGATE.search(element):
            decoded = clean_text(decoded)
    else:
        decoded = clean_text(element)
    if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
        raise SockJsFrameError('message is not ["EventName", payload]')
    return decoded[0], decoded[1] if len(decoded) > 1 else None


def clean_text(value: Any) -> Any:
    """Replace lone UTF-16 surrogates, which cannot be logged or stored."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [clean_text(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): clean_text(item) for key, item in value.items()}
    return value
