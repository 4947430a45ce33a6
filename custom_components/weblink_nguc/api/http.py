"""Maps NGUC's HTTP answers and transport failures to the client's exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
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


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Return the Retry-After header in seconds, when it is a number."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


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
        raise NgucNotFoundError(f"{what}: not found (404)")
    if status >= HTTPStatus.BAD_REQUEST:
        raise NgucResponseError(f"{what}: unexpected answer ({status})")


def transport_error(what: str, err: BaseException) -> NgucConnectionError:
    """Wrap a network failure, naming its kind but never the request."""
    kind = "timed out" if isinstance(err, TimeoutError) else type(err).__name__
    return NgucConnectionError(f"{what}: cannot connect ({kind})")


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)
