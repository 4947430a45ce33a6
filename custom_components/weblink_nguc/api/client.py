"""The NGUC client: login, the REST seed endpoints, actions and the event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from . import contract as c
from .auth import AuthTimings, NgucAuth, TokenListener, TokenSet
from .events import (
    DisconnectCallback,
    EventCallback,
    NgucEventStream,
    RejectedCallback,
    StreamTimings,
)
from .exceptions import (
    NgucAuthError,
    NgucConnectionError,
    NgucResponseError,
    NgucUnreadableListError,
)
from .http import TRANSPORT_ERRORS, raise_for_status, read_json, transport_error
from .models import Device, LastWins, ListItem, Me, Queue, User, UserStatus

_LOGGER = logging.getLogger(__name__)

# The time a list is parsed for between two turns of the event loop.
PARSE_SLICE = 0.002  # seconds

REQUEST_TIMEOUT = 20.0


class NgucClient:
    """One NGUC user's view of their company, over an injected aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        company: str,
        username: str,
        password: str | None = None,
        tokens: TokenSet | None = None,
        api_url: str = c.DEFAULT_API_URL,
        events_url: str = c.DEFAULT_EVENTS_URL,
        on_tokens: TokenListener | None = None,
        auth_timings: AuthTimings | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        """Set up; nothing is sent until :meth:`login` or a request."""
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.api_url = api_url.rstrip("/")
        self.events_url = events_url.rstrip("/")
        self.auth = NgucAuth(
            session,
            api_url=self.api_url,
            company=company,
            username=username,
            password=password,
            tokens=tokens,
            on_tokens=on_tokens,
            timings=auth_timings,
        )
        self._last_wins = LastWins()

    async def login(self, tfa: str = "") -> TokenSet:
        """Log in with the password (and the two-factor code, if any)."""
        return await self.auth.login(tfa)

    async def get_json(self, path: str) -> Any:
        """GET ``path`` as JSON; on a 401, renew the token once and retry once."""
        return await self._with_token(path, lambda token: self._get(path, token))

    async def _with_token[T](
        self, path: str, request: Callable[[str], Awaitable[T]]
    ) -> T:
        """Send ``request`` with the access token; on a 401, renew it and retry once."""
        token = await self.auth.async_get_access_token()
        try:
            return await request(token)
        except NgucAuthError:
            _LOGGER.debug("%s answered 401; renewing the token", path)
        renewed = await self.auth.async_get_access_token(
            force_refresh=True, rejected=token
        )
        if renewed == token:
            # The renewal failed (or is still under way) and the token in
            # hand is all there is: a fault to retry later on the caller's
            # own backoff, not a verdict, and not a wait until the token's
            # next renewal is due (an hour away, when the token is fresh).
            raise NgucConnectionError(
                f"{path}: answered 401; the token could not be renewed yet"
            )
        token = renewed
        try:
            return await request(token)
        except NgucAuthError:
            # Only the token endpoint decides that credentials are bad: an
            # endpoint refusing a token just issued is a fault to retry.
            raise NgucResponseError(f"{path}: refused a fresh token (401)") from None

    async def _get(self, path: str, token: str) -> Any:
        what = f"GET {path}"
        try:
            async with self._session.get(
                self.api_url + path,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            ) as response:
                return await read_json(response, what)
        except TRANSPORT_ERRORS as err:
            raise transport_error(what, err) from None

    async def _post_form(self, path: str, token: str) -> None:
        """POST an empty form; any 2xx answer is success, whatever its body."""
        what = f"POST {path}"
        try:
            async with self._session.post(
                self.api_url + path,
                data={},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            ) as response:
                raise_for_status(response, what)
                if not HTTPStatus.OK <= response.status < HTTPStatus.MULTIPLE_CHOICES:
                    raise NgucResponseError(
                        f"{what}: unexpected answer ({response.status})"
                    )
        except TRANSPORT_ERRORS as err:
            raise transport_error(what, err) from None

    async def _get_list(self, path: str) -> list[Any]:
        data = await self.get_json(path)
        if not isinstance(data, list):
            raise NgucResponseError(f"GET {path}: expected a list")
        return data

    async def _get_items[T: ListItem](
        self, path: str, parse: Callable[[Any], T]
    ) -> list[T]:
        items = await _parse_all(path, await self._get_list(path), parse)
        return self._last_wins(path, items)

    async def get_me(self) -> Me:
        """Return the logged-in user."""
        try:
            return Me.from_api(await self.get_json(c.PATH_ME))
        except ValueError:
            raise NgucResponseError(f"GET {c.PATH_ME}: no user id") from None

    async def get_users(self) -> list[User]:
        """Return the company's users."""
        return await self._get_items(c.PATH_USERS, User.from_api)

    async def get_user_statuses(self) -> list[UserStatus]:
        """Return every user's line status."""
        return await self._get_items(c.PATH_USER_STATUSES, UserStatus.from_api)

    async def get_queues(self) -> list[Queue]:
        """Return a snapshot of every call queue."""
        return await self._get_items(c.PATH_QUEUES, Queue.from_api)

    async def get_devices(self) -> list[Device]:
        """Return every phone and its registration."""
        return await self._get_items(c.PATH_DEVICES, Device.from_api)

    async def pickup_queue_caller(self, queue_id: str, call_guid: str) -> None:
        """Answer a caller waiting in a queue, on the logged-in user's phone.

        Raises :class:`NgucNotFoundError` when the caller (or the queue) is
        gone, :class:`NgucResponseError` when NGUC refuses otherwise.
        """
        path = c.PATH_QUEUE_CALLER_PICKUP.format(
            queue_id=quote(queue_id, safe=""), call_guid=quote(call_guid, safe="")
        )
        await self._with_token(path, lambda token: self._post_form(path, token))

    def event_stream(
        self,
        on_event: EventCallback,
        *,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: DisconnectCallback | None = None,
        on_rejected: RejectedCallback | None = None,
        heartbeat: float = 25.0,
        timings: StreamTimings | None = None,
    ) -> NgucEventStream:
        """Return an event stream that authenticates with this client's tokens.

        The callbacks and ``timings`` are those of :class:`NgucEventStream`.
        """
        return NgucEventStream(
            self._session,
            self.events_url,
            self.auth,
            on_event=on_event,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_rejected=on_rejected,
            heartbeat=heartbeat,
            timings=timings,
        )


async def _parse_all[T](
    path: str, items: list[Any], parse: Callable[[Any], T]
) -> list[T]:
    """Parse every item; unreadable items are left out, in one log line a list.

    A list of items none of which can be read raises
    :class:`NgucUnreadableListError`: it is not an empty list.

    A slice of time at a time: the lists of a large company, answered
    together, would otherwise hold the event loop for tens of milliseconds.
    """
    parsed: list[T] = []
    skipped: list[Any] = []
    now = asyncio.get_running_loop().time
    until = now() + PARSE_SLICE
    for item in items:
        try:
            parsed.append(parse(item))
        except ValueError:
            skipped.append(item)
        if now() >= until:
            await asyncio.sleep(0)
            until = now() + PARSE_SLICE
    if skipped and not parsed:
        raise NgucUnreadableListError(
            f"GET {path}: none of the {len(skipped)} items can be read,"
            f" the first: {skipped[0]!r:.200}"
        )
    if skipped:
        _LOGGER.warning(
            "GET %s: skipped %d unreadable items, the first: %.200r",
            path,
            len(skipped),
            skipped[0],
        )
    return parsed
