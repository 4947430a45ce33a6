"""The NGUC client: login, the REST seed endpoints and the event stream."""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any

import aiohttp

from . import contract as c
from .auth import NgucAuth, TokenListener, TokenSet
from .events import DisconnectCallback, EventCallback, NgucEventStream
from .exceptions import NgucAuthError, NgucResponseError
from .http import TRANSPORT_ERRORS, read_json, transport_error
from .models import Device, Me, Queue, User, UserStatus

_LOGGER = logging.getLogger(__name__)

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
    ) -> None:
        """Set up; nothing is sent until :meth:`login` or a request."""
        self._session = session
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
        )

    async def login(self, tfa: str = "") -> TokenSet:
        """Log in with the password (and the two-factor code, if any)."""
        return await self.auth.login(tfa)

    async def get_json(self, path: str) -> Any:
        """GET ``path`` as JSON; on a 401, renew the token once and retry once."""
        token = await self.auth.async_get_access_token()
        try:
            return await self._get(path, token)
        except NgucAuthError:
            _LOGGER.debug("%s answered 401; renewing the token", path)
        token = await self.auth.async_get_access_token(
            force_refresh=True, rejected=token
        )
        return await self._get(path, token)

    async def _get(self, path: str, token: str) -> Any:
        what = f"GET {path}"
        try:
            async with self._session.get(
                self.api_url + path,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                return await read_json(response, what)
        except TRANSPORT_ERRORS as err:
            raise transport_error(what, err) from None

    async def _get_list(self, path: str) -> list[Any]:
        data = await self.get_json(path)
        if not isinstance(data, list):
            raise NgucResponseError(f"GET {path}: expected a list")
        return data

    async def get_me(self) -> Me:
        """Return the logged-in user."""
        try:
            return Me.from_api(await self.get_json(c.PATH_ME))
        except ValueError:
            raise NgucResponseError(f"GET {c.PATH_ME}: no user id") from None

    async def get_users(self) -> list[User]:
        """Return the company's users."""
        return _parse_all(await self._get_list(c.PATH_USERS), User.from_api)

    async def get_user_statuses(self) -> list[UserStatus]:
        """Return every user's line status."""
        return _parse_all(
            await self._get_list(c.PATH_USER_STATUSES), UserStatus.from_api
        )

    async def get_queues(self) -> list[Queue]:
        """Return a snapshot of every call queue."""
        return _parse_all(await self._get_list(c.PATH_QUEUES), Queue.from_api)

    async def get_devices(self) -> list[Device]:
        """Return every phone and its registration."""
        return _parse_all(await self._get_list(c.PATH_DEVICES), Device.from_api)

    def event_stream(
        self,
        on_event: EventCallback,
        *,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: DisconnectCallback | None = None,
        heartbeat: float = 25.0,
    ) -> NgucEventStream:
        """Return an event stream that authenticates with this client's tokens."""
        return NgucEventStream(
            self._session,
            self.events_url,
            self.auth,
            on_event=on_event,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            heartbeat=heartbeat,
        )


def _parse_all[T](items: list[Any], parse: Callable[[Any], T]) -> list[T]:
    """Parse every item; one unreadable item is logged and left out."""
    parsed: list[T] = []
    for item in items:
        try:
            parsed.append(parse(item))
        except ValueError:
            _LOGGER.warning("Skipping an item without an id: %.200r", item)
    return parsed
