"""NGUC's event stream: a SockJS websocket that reconnects forever.

One connection at a time. Each connection waits for ``o``, authenticates with
the current access token, authenticates again on the open connection whenever
the token is renewed, and watches for silence at both the SockJS (``h``) and the
websocket (ping/pong) level.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import random
import time
from typing import TYPE_CHECKING, Any, NoReturn

import aiohttp

from . import contract as c
from .backoff import Backoff
from .exceptions import NgucAuthError, NgucError, NgucRateLimitError
from .ratelimit import RateLimitedLog
from .sockjs import (
    Frame,
    SockJsFrameError,
    decode_element,
    encode_message,
    parse_frame,
    session_url,
)

if TYPE_CHECKING:
    from .auth import NgucAuth, TokenSet

_LOGGER = logging.getLogger(__name__)

type EventCallback = Callable[[str, Any], None]
type DisconnectCallback = Callable[[], None]

# A connection silent at both levels for this many heartbeat intervals is dead.
SILENCE_FACTOR = 2.5
# NGUC does not acknowledge authentication: a connection not closed within
# this many seconds of it (or that delivers an event) was accepted.
AUTH_GRACE = 3.0
# Reconnect delays: full jitter from about 1 s, doubling up to 5 minutes.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
# Retry a failed token renewal on an open connection after this long.
TOKEN_RETRY = 10.0


class _AuthRejectedError(NgucError):
    """The server closed the connection right after we authenticated."""


class _ConnectionLostError(NgucError):
    """The connection ended; we will connect again."""


class NgucEventStream:
    """Delivers NGUC's events to callbacks, reconnecting with backoff forever.

    ``run()`` returns only after ``stop()``; it raises :class:`NgucAuthError`
    when the credentials are no longer accepted, so that the caller can ask a
    person to log in again.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        events_url: str,
        auth: NgucAuth,
        *,
        on_event: EventCallback,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: DisconnectCallback | None = None,
        heartbeat: float = 25.0,
        open_timeout: float = 10.0,
        auth_grace: float | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        healthy_after: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        """Configure; nothing connects until :meth:`run`."""
        self._session = session
        self._events_url = events_url
        self._auth = auth
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._heartbeat = heartbeat
        self._open_timeout = open_timeout
        self._auth_grace = AUTH_GRACE if auth_grace is None else auth_grace
        self._healthy_after = healthy_after
        self._backoff = Backoff(
            BACKOFF_BASE if backoff_base is None else backoff_base,
            BACKOFF_CAP if backoff_cap is None else backoff_cap,
            rng,
        )
        self._rng = rng
        self._bad_frame_log = RateLimitedLog(_LOGGER)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._token_changed = asyncio.Event()
        # Per connection:
        self._connected = False
        self._auth_pending = False
        self._got_event = False
        self._grace_timer: asyncio.TimerHandle | None = None
        self._fatal: BaseException | None = None
        #: Websocket connections opened so far (for diagnostics).
        self.connections = 0
        #: Events delivered so far.
        self.events = 0

    @property
    def connected(self) -> bool:
        """Return True while authenticated on an open connection."""
        return self._connected

    async def run(self) -> None:
        """Connect, deliver events and reconnect until :meth:`stop`."""
        self._task = asyncio.current_task()
        rejected_in_a_row = 0
        renew = False
        try:
            while not self._stopped():
                started = time.monotonic()
                not_before = 0.0  # the server's Retry-After, when it gave one
                try:
                    if renew:
                        # A fresh token for this attempt; raises NgucAuthError
                        # when that is no longer possible. A network or server
                        # error is retried like any failed connection.
                        await self._auth.async_get_access_token(force_refresh=True)
                        renew = False
                    await self._connect_once()
                except _AuthRejectedError:
                    rejected_in_a_row += 1
                    if rejected_in_a_row >= 2:
                        raise NgucAuthError(
                            "the event stream rejected our credentials"
                        ) from None
                    _LOGGER.info("Event stream rejected the token; renewing it")
                    renew = True
                except NgucAuthError:
                    raise
                except NgucRateLimitError as err:
                    _LOGGER.debug("Event stream: %s", err)
                    not_before = err.retry_after or 0.0
                except NgucError as err:
                    # Lost connections, network and server errors, and answers
                    # of the token endpoint that cannot be read: retry.
                    _LOGGER.debug("Event stream: %s", err)
                except (aiohttp.ClientError, TimeoutError) as err:
                    _LOGGER.debug(
                        "Event stream: cannot connect (%s)", type(err).__name__
                    )
                if self._got_event or self._connected:
                    rejected_in_a_row = 0
                self._end_connection()
                if self._stopped():
                    break
                if time.monotonic() - started >= self._healthy_after:
                    self._backoff.reset()
                delay = max(self._backoff.next_delay(), not_before)
                _LOGGER.debug("Event stream: reconnecting in %.1f s", delay)
                await self._sleep(delay)
        finally:
            self._end_connection()
            self._task = None

    def _stopped(self) -> bool:
        # A method, not an attribute read, so that type narrowing does not
        # assume stop() cannot happen during an await.
        return self._stopping

    async def stop(self) -> None:
        """Stop and close; returns when no task or socket is left."""
        self._stopping = True
        self._wake.set()
        task = self._task
        ws = self._ws
        if ws is not None:
            await ws.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _connect_once(self) -> NoReturn:
        """Run one connection; it always ends in an exception."""
        url = session_url(self._events_url, self._rng)
        token = await self._auth.async_get_access_token()
        self.connections += 1
        _LOGGER.debug("Event stream: connecting (connection %d)", self.connections)
        self._fatal = None
        self._got_event = False
        async with asyncio.timeout(self._open_timeout):
            # Pings are ours (see _ping) rather than ws_connect(heartbeat=):
            # aiohttp re-arms its heartbeat timer when the server's close
            # frame arrives after close(), leaving a timer behind.
            ws = await self._session.ws_connect(
                url,
                autoping=False,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            )
        self._ws = ws
        remove_listener = self._auth.add_listener(self._tokens_renewed)
        keeper: asyncio.Task[None] | None = None
        pinger = asyncio.create_task(self._ping(ws), name="nguc-ping")
        try:
            async with asyncio.timeout(self._open_timeout):
                frame = await self._next_frame(ws)
                while frame is None:
                    frame = await self._next_frame(ws)
            if frame.kind != "open":
                raise _ConnectionLostError(f"expected 'o', got {frame.kind!r}")
            await self._authenticate(ws, token)
            keeper = asyncio.create_task(
                self._keep_token(ws, token), name="nguc-token-keeper"
            )
            while True:
                frame = await self._next_frame(ws)
                if frame is not None:
                    self._handle(frame)
        finally:
            remove_listener()
            for task in (pinger, keeper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await ws.close()
            if self._fatal is not None:
                raise self._fatal

    async def _next_frame(self, ws: aiohttp.ClientWebSocketResponse) -> Frame | None:
        """Return the next SockJS frame, or None for a frame not to act on."""
        try:
            msg = await ws.receive(timeout=self._heartbeat * SILENCE_FACTOR)
        except TimeoutError:
            raise _ConnectionLostError("connection silent; presumed dead") from None
        if msg.type is aiohttp.WSMsgType.TEXT:
            try:
                return parse_frame(msg.data)
            except SockJsFrameError as err:
                self._bad_frame_log.warning("Skipping a malformed frame: %s", err)
                return None
        if msg.type is aiohttp.WSMsgType.PING:
            await ws.pong(msg.data)
            return None
        if msg.type is aiohttp.WSMsgType.PONG:
            return None
        if msg.type is aiohttp.WSMsgType.BINARY:
            self._bad_frame_log.warning("Skipping a binary frame")
            return None
        if self._fatal is not None:
            raise self._fatal
        raise _ConnectionLostError(f"connection closed ({msg.type.name})")

    def _handle(self, frame: Frame) -> None:
        if frame.kind == "messages":
            self._got_event = True
            self._auth_pending = False
            self._mark_connected()
            for element in frame.messages:
                try:
                    name, payload = decode_element(element)
                except SockJsFrameError as err:
                    self._bad_frame_log.warning("Skipping a malformed event: %s", err)
                    continue
                self.events += 1
                try:
                    self._on_event(name, payload)
                except Exception:
                    _LOGGER.exception("Error handling NGUC event %s", name)
        elif frame.kind == "close":
            if self._auth_pending:
                raise _AuthRejectedError(
                    f"closed after authenticating: {frame.close_code} {frame.close_reason}"
                )
            raise _ConnectionLostError(
                f"server closed the session: {frame.close_code} {frame.close_reason}"
            )
        elif frame.kind == "open":
            raise _ConnectionLostError("server opened the session again")

    async def _authenticate(
        self, ws: aiohttp.ClientWebSocketResponse, token: str
    ) -> None:
        await ws.send_str(
            encode_message([c.AUTHENTICATE, {c.AUTHORIZATION: f"Bearer {token}"}])
        )
        # NGUC does not acknowledge; a close soon after means "rejected".
        self._auth_pending = True
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        self._grace_timer = asyncio.get_running_loop().call_later(
            self._auth_grace, self._grace_over
        )

    def _grace_over(self) -> None:
        self._grace_timer = None
        self._auth_pending = False
        self._mark_connected()

    def _mark_connected(self) -> None:
        if self._connected:
            return
        self._connected = True
        _LOGGER.debug("Event stream: authenticated")
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception:
                _LOGGER.exception("Error in the connected callback")

    def _end_connection(self) -> None:
        self._ws = None
        self._auth_pending = False
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if not self._connected:
            return
        self._connected = False
        _LOGGER.debug("Event stream: disconnected")
        if self._on_disconnected is not None:
            try:
                self._on_disconnected()
            except Exception:
                _LOGGER.exception("Error in the disconnected callback")

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ping every heartbeat interval; the pongs prove the line is alive."""
        while not ws.closed:
            await asyncio.sleep(self._heartbeat)
            try:
                await ws.ping()
            except aiohttp.ClientError, ConnectionError:
                return  # the reading side sees the connection end

    def _tokens_renewed(self, _tokens: TokenSet) -> None:
        self._token_changed.set()

    async def _keep_token(self, ws: aiohttp.ClientWebSocketResponse, sent: str) -> None:
        """Renew the token before it expires and authenticate again with it."""
        while not ws.closed:
            self._token_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._token_changed.wait(), self._auth.seconds_until_refresh()
                )
            try:
                token = await self._auth.async_get_access_token()
            except NgucAuthError as err:
                self._fatal = err
                await ws.close()
                return
            except NgucError as err:
                _LOGGER.debug("Token renewal failed (%s); retrying", err)
                await asyncio.sleep(TOKEN_RETRY)
                continue
            if token == sent:
                continue
            _LOGGER.debug("Event stream: authenticating with the renewed token")
            try:
                await self._authenticate(ws, token)
            except aiohttp.ClientError, ConnectionError:
                return  # the reading side sees the connection end
            sent = token
