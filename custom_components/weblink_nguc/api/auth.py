"""OAuth2 tokens for NGUC: password login, refresh before expiry, one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import time
from typing import Any

import aiohttp

from . import contract as c
from .exceptions import NgucAuthError, NgucResponseError
from .http import TRANSPORT_ERRORS, read_json, transport_error

_LOGGER = logging.getLogger(__name__)

# Refresh this long before expiry, at most; short-lived tokens refresh at 3/4
# of their life instead.
REFRESH_MARGIN = 60.0
REQUEST_TIMEOUT = 15.0

type TokenListener = Callable[[TokenSet], None]


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token, its refresh token and when it expires (epoch seconds)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    lifetime: float

    @classmethod
    def from_response(cls, data: Any, now: float | None = None) -> TokenSet:
        """Build from the token endpoint's 200 body."""
        if not isinstance(data, dict) or not isinstance(data.get(c.TOKEN_ACCESS), str):
            raise NgucResponseError("token answer holds no access token")
        try:
            lifetime = float(data.get(c.TOKEN_EXPIRES_IN) or 3600)
        except TypeError, ValueError:
            lifetime = 3600.0
        refresh = data.get(c.TOKEN_REFRESH)
        return cls(
            access_token=data[c.TOKEN_ACCESS],
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=(time.time() if now is None else now) + lifetime,
            lifetime=lifetime,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        """Restore from :meth:`as_dict` (a config entry's storage)."""
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=float(data["expires_at"]),
            lifetime=float(data.get("lifetime", 3600.0)),
        )

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form for storage."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "lifetime": self.lifetime,
        }

    def refresh_at(self) -> float:
        """Return when (epoch seconds) this token should be replaced."""
        margin = min(REFRESH_MARGIN, self.lifetime / 4)
        return self.expires_at - margin


class NgucAuth:
    """Holds and renews the tokens of one NGUC user.

    However many callers ask for a token at once, at most one renewal runs.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        company: str,
        username: str,
        password: str | None = None,
        tokens: TokenSet | None = None,
        on_tokens: TokenListener | None = None,
    ) -> None:
        """Set up; no request is made until a token is needed."""
        self._session = session
        self._token_url = api_url.rstrip("/") + c.TOKEN_PATH
        self._client_id = c.CLIENT_ID_PREFIX + company
        self._username = username
        self._password = password
        self._tokens = tokens
        self._lock = asyncio.Lock()
        self._listeners: list[TokenListener] = []
        if on_tokens is not None:
            self._listeners.append(on_tokens)

    @property
    def tokens(self) -> TokenSet | None:
        """Return the current tokens, if any."""
        return self._tokens

    def add_listener(self, listener: TokenListener) -> Callable[[], None]:
        """Call ``listener`` with every new token set; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def seconds_until_refresh(self) -> float:
        """Return how long the current token may still be used before renewal."""
        if self._tokens is None:
            return 0.0
        return max(0.0, self._tokens.refresh_at() - time.time())

    async def login(self, tfa: str = "") -> TokenSet:
        """Log in with the password grant; ``tfa`` is always sent."""
        if self._password is None:
            raise NgucAuthError("no password to log in with")
        async with self._lock:
            return await self._login(tfa)

    async def async_get_access_token(
        self, *, force_refresh: bool = False, rejected: str | None = None
    ) -> str:
        """Return a valid access token, renewing it first when due.

        ``force_refresh`` renews even an unexpired token, unless ``rejected``
        names a token that another caller has already replaced.
        """
        async with self._lock:
            tokens = self._tokens
            if tokens is not None:
                if force_refresh:
                    if rejected is not None and tokens.access_token != rejected:
                        return tokens.access_token
                elif time.time() < tokens.refresh_at():
                    return tokens.access_token
            return (await self._renew()).access_token

    async def _renew(self) -> TokenSet:
        if self._tokens is not None and self._tokens.refresh_token:
            try:
                return await self._request_tokens(
                    {
                        "grant_type": c.GRANT_REFRESH,
                        "client_id": self._client_id,
                        c.TOKEN_REFRESH: self._tokens.refresh_token,
                    },
                    "token refresh",
                )
            except NgucAuthError:
                _LOGGER.debug("Refresh token rejected")
                if self._password is None:
                    raise
            except NgucResponseError:
                # A 400 (invalid_grant) or an unreadable answer: the refresh
                # token is no good, but the password may still be.
                _LOGGER.debug("Refresh failed")
                if self._password is None:
                    raise NgucAuthError("session expired; log in again") from None
        if self._password is None:
            raise NgucAuthError("session expired; log in again")
        return await self._login("")

    async def _login(self, tfa: str) -> TokenSet:
        return await self._request_tokens(
            {
                "grant_type": c.GRANT_PASSWORD,
                "client_id": self._client_id,
                "username": self._username,
                "password": self._password or "",
                "tfa": tfa,
            },
            "login",
        )

    async def _request_tokens(self, form: dict[str, str], what: str) -> TokenSet:
        try:
            async with self._session.post(
                self._token_url,
                data=form,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                if response.status == 400:
                    raise NgucAuthError(f"{what}: request refused (400)")
                body = await read_json(response, what)
        except TRANSPORT_ERRORS as err:
            raise transport_error(what, err) from None
        tokens = TokenSet.from_response(body)
        self._tokens = tokens
        _LOGGER.debug("New tokens (%s), valid %.0f s", what, tokens.lifetime)
        for listener in list(self._listeners):
            listener(tokens)
        return tokens
