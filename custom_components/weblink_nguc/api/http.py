"""Maps NGUC's HTTP answers and transport failures to the client's exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
import math
import time
from typing import Any

import aiohttp

from .exceptions import (
    NgucAuthError,
    NgucConnectionError,
    NgucNotFoundError,
    NgucRateLimitError,
    NgucResponseError,
)
from .sockjs import loads

# A server's wish is honoured up to an hour: a larger (or infinite) one would
# park renewal and the event stream for good, which a glitch must never do.
RETRY_AFTER_MAX = 3600.0


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Return the Retry-After header in seconds, in either of its forms.

    Seconds or an HTTP date, clamped to 0..RETRY_AFTER_MAX; None when the
    header is missing or unreadable.
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except TypeError, ValueError, IndexError:
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_MAX)


async def read_json(response: aiohttp.ClientResponse, what: str) -> Any:
    """Return the JSON body of a response, or raise the matching error."""
    raise_for_status(response, what)
    try:
        # orjson where it can, as for the events (see sockjs.loads).
        return await response.json(content_type=None, loads=loads)
    except ValueError:
        raise NgucResponseError(f"{what}: answer is not JSON") from None


def raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    """Raise the error that matches an error status; return on any other.

    A 402 means "two-factor code needed" only from the token endpoint, which
    checks for it before calling this; from anywhere else it is an answer this
    client cannot read.
    """
    status = response.status
    if status == HTTPStatus.UNAUTHORIZED:
        raise NgucAuthError(f"{what}: credentials rejected (401)")
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        raise NgucRateLimitError(
            f"{what}: rate limited (429)", retry_after(response.headers)
        )
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        raise NgucConnectionError(f"{what}: server error ({status})")
    if status == HTTPStatus.NOT_FOUND:
        raise NgucNotFoundError(f"{what}: not found (404)", status)
    if status >= HTTPStatus.BAD_REQUEST:
        raise NgucResponseError(f"{what}: unexpected answer ({status})", status)


def transport_error(what: str, err: BaseException) -> NgucConnectionError:
    """Wrap a network failure, naming its kind but never the request."""
    kind = "timed out" if isinstance(err, TimeoutError) else type(err).__name__
    return NgucConnectionError(f"{what}: cannot connect ({kind})")


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)
