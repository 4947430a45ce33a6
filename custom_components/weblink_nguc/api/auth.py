"""OAuth2 tokens for NGUC: password login, refresh before expiry, one at a time.

Only the token endpoint's verdict on the credentials raises
:class:`NgucAuthError`: a 401, a 402 (two-factor code), or a refresh grant
answered ``400 invalid_grant`` when no password is stored. Any other failure
to renew (down, slow, 5xx, 429, unreadable) is retried with backoff, and the
current token is used meanwhile while it has not expired, even when the
renewal was forced. A slow renewal goes on after its callers have gone on
with the current token: its answer holds the rotated refresh token. It even
outlives :meth:`NgucAuth.async_close`, which waits for it briefly only: its
tokens still reach the closed client's ``on_tokens`` listener when it lands,
and the next client of the same account waits for it before renewing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import functools
from http import HTTPStatus
import logging
import math
import time
from typing import Any

import aiohttp

from . import contract as c
from .backoff import Backoff
from .exceptions import (
    NgucAuthError,
    NgucError,
    NgucRateLimitError,
    NgucResponseError,
    NgucTwoFactorError,
)
from .http import TRANSPORT_ERRORS, read_json, transport_error
from .sockjs import loads

_LOGGER = logging.getLogger(__name__)

# Refresh this long before expiry, at most; short-lived tokens refresh at 3/4
# of their life instead.
REFRESH_MARGIN = 60.0
# How long the token endpoint may take to answer a refresh. Generous: the
# answer holds the only copy of the rotated refresh token, and losing it
# costs a two-factor account a person typing a code.
REFRESH_TIMEOUT = 60.0
# And a login: its answer replaces nothing, and a person may be waiting.
LOGIN_TIMEOUT = 20.0
# How long a caller holding an unexpired token waits for a renewal before it
# goes on with that token; the renewal goes on too, and its tokens reach the
# listeners (an open event stream sends them) when it ends.
CALLER_WAIT = 10.0
# Whatever expires_in says (0, negative, "abc", 1e99), a token is taken to
# live this long at least and at most: renewals stay at most one a minute or
# so, and a token is renewed daily. A missing or unreadable expires_in is an hour.
MIN_LIFETIME = 60.0
MAX_LIFETIME = 86400.0
DEFAULT_LIFETIME = 3600.0
# After a failed renewal, wait at least this long, doubling with jitter up to
# the cap, or the server's Retry-After when it is longer.
RENEW_RETRY_MIN = 1.0
RENEW_RETRY_BASE = 5.0
RENEW_RETRY_CAP = 300.0
# How long closing waits for a renewal under way. Short: an unload or reload
# must not wait for a slow token endpoint (the renewal is not lost, see
# _HANDED_ON); long enough for an answer already on its way.
CLOSE_WAIT = 2.0

type TokenListener = Callable[[TokenSet], None]
type _AccountKey = tuple[str, str, str]

# Renewals still under way when their client closed, by account (token URL,
# client id, username). The next client of that account (a reloaded entry)
# waits for one before it renews: the token endpoint has already spent the
# refresh token that client was started with, and only this answer holds the
# new one. An entry leaves when its renewal ends.
_HANDED_ON: dict[_AccountKey, asyncio.Future[TokenSet]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthTimings:
    """The waits of :class:`NgucAuth`, in seconds (tests inject short ones)."""

    refresh_timeout: float = REFRESH_TIMEOUT
    login_timeout: float = LOGIN_TIMEOUT
    caller_wait: float = CALLER_WAIT
    retry_min: float = RENEW_RETRY_MIN
    retry_base: float = RENEW_RETRY_BASE
    retry_cap: float = RENEW_RETRY_CAP
    min_lifetime: float = MIN_LIFETIME
    """The shortest token lifetime believed, whatever ``expires_in`` says."""
    close_wait: float = CLOSE_WAIT

    @classmethod
    def defaults(cls) -> AuthTimings:
        """Return the module's timings as they are now."""
        return cls(
            refresh_timeout=REFRESH_TIMEOUT,
            login_timeout=LOGIN_TIMEOUT,
            caller_wait=CALLER_WAIT,
            retry_min=RENEW_RETRY_MIN,
            retry_base=RENEW_RETRY_BASE,
            retry_cap=RENEW_RETRY_CAP,
            min_lifetime=MIN_LIFETIME,
            close_wait=CLOSE_WAIT,
        )


@dataclass(frozen=True, slots=True)
class TokenSet:
    """An access token, its refresh token and when it expires (epoch seconds)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    lifetime: float

    @classmethod
    def from_response(
        cls, data: Any, now: float | None = None, *, min_lifetime: float = MIN_LIFETIME
    ) -> TokenSet:
        """Build from the token endpoint's 200 body."""
        if not isinstance(data, dict) or not isinstance(data.get(c.TOKEN_ACCESS), str):
            raise NgucResponseError("token answer holds no access token")
        lifetime = clamp_lifetime(data.get(c.TOKEN_EXPIRES_IN), min_lifetime)
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
            lifetime=clamp_lifetime(data.get("lifetime")),
        )

    @property
    def issued_at(self) -> float:
        """Return when (epoch seconds) the token endpoint issued this token."""
        return self.expires_at - self.lifetime

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


def clamp_lifetime(expires_in: Any, minimum: float = MIN_LIFETIME) -> float:
    """Return a token's lifetime in seconds from ``expires_in``, in a sane range."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float, str)):
        return DEFAULT_LIFETIME
    try:
        seconds = float(expires_in)
    except OverflowError:  # an int beyond any float
        return MAX_LIFETIME if int(expires_in) > 0 else minimum
    except ValueError:
        return DEFAULT_LIFETIME
    if math.isnan(seconds):
        return DEFAULT_LIFETIME
    return min(MAX_LIFETIME, max(minimum, seconds))


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
        timings: AuthTimings | None = None,
    ) -> None:
        """Set up; no request is made until a token is needed."""
        self._session = session
        self._token_url = api_url.rstrip("/") + c.TOKEN_PATH
        self._client_id = c.CLIENT_ID_PREFIX + company
        self._username = username
        self._password = password
        self._tokens = tokens
        self._timings = timings or AuthTimings.defaults()
        self._lock = asyncio.Lock()
        self._listeners: list[TokenListener] = []
        self._on_tokens = on_tokens
        if on_tokens is not None:
            self._listeners.append(on_tokens)
        self._closed = False
        self._key: _AccountKey = (
            self._token_url,
            self._client_id.casefold(),
            username.casefold(),
        )
        # A renewal of a closed client of this account, still under way.
        self._handed: asyncio.Future[TokenSet] | None = _HANDED_ON.get(self._key)
        if self._handed is not None:
            self._handed.add_done_callback(self._take_handed)
        # After a failed renewal: no new attempt before this (epoch seconds).
        self._retry = Backoff(self._timings.retry_base, self._timings.retry_cap)
        self._retry_at = 0.0
        self._renewal: asyncio.Future[TokenSet] | None = None
        # Until when (the loop's time) callers with a valid token wait for it.
        self._renewal_wait_until = 0.0

    @property
    def tokens(self) -> TokenSet | None:
        """Return the current tokens, if any."""
        return self._tokens

    @property
    def timings(self) -> AuthTimings:
        """Return the waits in use."""
        return self._timings

    def add_listener(self, listener: TokenListener) -> Callable[[], None]:
        """Call ``listener`` with every new token set; returns a remover."""
        self._listeners.append(listener)

        def remove() -> None:
            # Closing may have dropped it already.
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def async_close(self) -> None:
        """Stop telling listeners; waits at most ``close_wait`` for a renewal under way.

        A renewal that takes longer goes on: the token endpoint may have
        spent the refresh token it replaces, so its answer must not be lost.
        When it lands, its tokens still reach ``on_tokens`` (the entry's
        storage), and a client of the same account made meanwhile (a
        reloaded entry) takes them too (see `_HANDED_ON`).
        """
        self._closed = True
        renewal = self._renewal
        if renewal is not None and not renewal.done():
            await asyncio.wait({renewal}, timeout=self._timings.close_wait)
        if renewal is None or renewal.done():
            self._listeners.clear()
            return
        # Only the storage hears of it: the rest (an event stream) has stopped.
        self._listeners[:] = [] if self._on_tokens is None else [self._on_tokens]
        _HANDED_ON[self._key] = renewal
        renewal.add_done_callback(
            functools.partial(self._landed_after_close, self._key)
        )
        _LOGGER.debug("Closed with a token renewal under way; it goes on")

    def _landed_after_close(
        self, key: _AccountKey, renewal: asyncio.Future[TokenSet]
    ) -> None:
        """Forget the renewal handed on: it has ended, its listeners have its tokens."""
        self._listeners.clear()
        if _HANDED_ON.get(key) is renewal:
            del _HANDED_ON[key]

    def _take_handed(self, renewal: asyncio.Future[TokenSet]) -> None:
        """Take the tokens of a closed client's renewal, if newer than ours."""
        if self._handed is renewal:
            self._handed = None
        if self._closed or renewal.cancelled() or renewal.exception() is not None:
            return
        tokens = renewal.result()
        if self._tokens is not None and tokens.issued_at <= self._tokens.issued_at:
            return
        self._tokens = tokens
        self._retry.reset()
        self._retry_at = 0.0
        _LOGGER.debug("Took the tokens of a renewal started before a restart")
        self._tell(tokens)

    async def _await_handed(self) -> None:
        """Wait for a closed client's renewal: it holds the only good refresh token."""
        handed = self._handed
        if handed is not None and not handed.done():
            _LOGGER.debug("Waiting for a token renewal started before a restart")
            await asyncio.wait({handed})
            self._take_handed(handed)

    def seconds_until_refresh(self) -> float:
        """Return how long until the next renewal is due (or may be retried)."""
        due = self._retry_at
        if self._tokens is not None:
            due = max(due, self._tokens.refresh_at())
        return max(0.0, due - time.time())

    async def login(self, tfa: str = "") -> TokenSet:
        """Log in with the password grant; ``tfa`` is always sent."""
        if self._password is None:
            raise NgucAuthError("no password to log in with")
        async with self._lock:
            renewal = self._renewal
            if renewal is not None and not renewal.done():
                # Its answer would overwrite ours with the tokens it replaces.
                await asyncio.wait({renewal})
            await self._await_handed()
            return await self._login(tfa)

    async def async_get_access_token(
        self, *, force_refresh: bool = False, rejected: str | None = None
    ) -> str:
        """Return a valid access token, renewing it first when due.

        ``force_refresh`` renews even an unexpired token, unless ``rejected``
        names a token that another caller has already replaced.

        Only the token endpoint's verdict on the credentials raises
        :class:`NgucAuthError`. When a renewal fails otherwise, or is still
        under way after ``caller_wait``, the current token is returned while
        it has not expired, forced or not: a token that a server seemed to
        refuse (an early close) is still worth trying when no other can be
        had. No new attempt is made before a backoff delay (or the server's
        Retry-After) has passed; meanwhile a caller without a usable token
        gets :class:`NgucRateLimitError` with the time left.
        """
        loop = asyncio.get_running_loop()
        async with self._lock:
            tokens = self._tokens
            now = time.time()
            # What a caller gets when no new token can be had (yet).
            fallback = (
                tokens if tokens is not None and now < tokens.expires_at else None
            )
            if tokens is not None:
                if force_refresh:
                    if rejected is not None and tokens.access_token != rejected:
                        return tokens.access_token
                elif now < tokens.refresh_at():
                    return tokens.access_token
            renewal = self._renewal
            if renewal is None or renewal.done():
                if now < self._retry_at:
                    # A renewal failed lately: none before its backoff ends.
                    if fallback is not None:
                        return fallback.access_token
                    wait = self._retry_at - now
                    raise NgucRateLimitError(
                        f"token renewal: retrying in {wait:.0f} s", wait
                    )
                # A renewal runs as its own task, and outlives a caller that
                # is cancelled (a dropped connection, an unload) or gives up
                # waiting: the token endpoint may already have spent the old
                # refresh token, and the new one must not be lost with the
                # caller, or the next renewal is refused.
                renewal = self._renewal = asyncio.ensure_future(self._renew_or_wait())
                renewal.add_done_callback(_retrieve_exception)
                # A renewal begun before a restart was waited for then:
                # waiting again would hold up the start (a setup, a reload).
                handed = self._handed is not None and not self._handed.done()
                wait = 0.0 if handed else self._timings.caller_wait
                self._renewal_wait_until = loop.time() + wait
        if fallback is not None:
            wait = self._renewal_wait_until - loop.time()
            done, _pending = await asyncio.wait({renewal}, timeout=max(0.0, wait))
            if not done:
                _LOGGER.debug("Token renewal still under way; using the current token")
                return fallback.access_token
        try:
            return (await asyncio.shield(renewal)).access_token
        except NgucAuthError:
            raise
        except NgucError:
            if fallback is not None and time.time() < fallback.expires_at:
                return fallback.access_token
            raise

    async def _renew_or_wait(self) -> TokenSet:
        """Renew; after a failure, set when the next attempt may be made."""
        tokens = self._tokens
        try:
            return await self._renew()
        except NgucAuthError:
            raise
        except NgucError as err:
            delay = max(self._timings.retry_min, self._retry.next_delay())
            if isinstance(err, NgucRateLimitError) and err.retry_after:
                delay = max(delay, err.retry_after)
            self._retry_at = time.time() + delay
            usable = tokens is not None and time.time() < tokens.expires_at
            _LOGGER.debug(
                "Token renewal failed (%s); %s; next attempt in %.0f s",
                err,
                "the current token is still valid" if usable else "no valid token",
                delay,
            )
            raise

    async def _renew(self) -> TokenSet:
        """Refresh; when the refresh token is refused, log in with the password.

        A refresh that times out keeps the refresh token in hand (the server
        may not have rotated it). If it did, the next refresh is refused, and
        only then is the password used, or a person asked for.
        """
        before = self._tokens
        await self._await_handed()
        if self._tokens is not before and self._tokens is not None:
            return self._tokens
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
                # A 401, or 400 invalid_grant: this refresh token is dead.
                _LOGGER.debug("Refresh token rejected")
                if self._password is None:
                    raise
            except NgucResponseError:
                # Some other 4xx, or an unreadable answer: the refresh token
                # may be no good, but the password may still be.
                _LOGGER.debug("Refresh failed")
                if self._password is None:
                    raise
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
        refresh = form["grant_type"] == c.GRANT_REFRESH
        timings = self._timings
        timeout = timings.refresh_timeout if refresh else timings.login_timeout
        try:
            async with self._session.post(
                self._token_url,
                data=form,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                # Only here does 402 mean "two-factor code needed".
                if response.status == HTTPStatus.PAYMENT_REQUIRED:
                    raise NgucTwoFactorError(
                        f"{what}: two-factor code needed or wrong (402)"
                    )
                if (
                    response.status == HTTPStatus.BAD_REQUEST
                    and refresh
                    and await _oauth_error(response) == c.OAUTH_INVALID_GRANT
                ):
                    # RFC 6749 5.2: the refresh token is invalid, expired or
                    # revoked. Authoritative, as a 401 is.
                    raise NgucAuthError(
                        f"{what}: refresh token refused (invalid_grant)"
                    )
                body = await read_json(response, what)
        except TRANSPORT_ERRORS as err:
            raise transport_error(what, err) from None
        tokens = TokenSet.from_response(body, min_lifetime=self._timings.min_lifetime)
        self._tokens = tokens
        self._retry.reset()
        self._retry_at = 0.0
        _LOGGER.debug("New tokens (%s), valid %.0f s", what, tokens.lifetime)
        self._tell(tokens)
        return tokens

    def _tell(self, tokens: TokenSet) -> None:
        for listener in list(self._listeners):
            # One listener's bug must not cost the others (or this caller)
            # the new tokens: the refresh token they replace is spent.
            try:
                listener(tokens)
            except Exception:
                _LOGGER.exception("Error in a token listener")


async def _oauth_error(response: aiohttp.ClientResponse) -> str | None:
    """Return the ``error`` of an OAuth2 error answer, or None if it names none."""
    try:
        body = await response.json(content_type=None, loads=loads)
    except ValueError:
        return None
    error = body.get(c.OAUTH_ERROR) if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _retrieve_exception(task: asyncio.Future[TokenSet]) -> None:
    """Mark a renewal's failure as seen; its callers, if any, have it too."""
    if not task.cancelled():
        task.exception()
