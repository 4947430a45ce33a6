"""NGUC's event stream: a SockJS websocket that reconnects forever.

Each connection is one :class:`_Connection`: it waits for ``o``, sends
``authenticate``, then runs its reader beside its pinger, token keeper and
watch in one task group until it ends. The server proves that it accepted the
token with its first ``h`` or ``a`` frame, or by anything at all (a websocket
ping) once the auth grace has passed; only a close soon after
``authenticate`` and before that proof is a rejection, and the first of a run
of rejections renews the token (with the current one used meanwhile if the
token endpoint cannot). Only the token endpoint decides that the credentials
are bad; every other fault is retried with backoff, forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
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
type RejectedCallback = Callable[[int], None]

# A connection silent at both levels for this many heartbeat intervals is dead.
SILENCE_FACTOR = 2.5
# A connection neither closed nor proven by an h or a frame this long after
# authenticate counts as connected (reference SockJS servers say nothing while
# idle). It proves nothing about the token.
AUTH_GRACE = 1.0
# A close this soon after authenticate, before the server proved that it
# accepted the token, is taken for a rejection; a later one is a fault (a
# load balancer's lifetime, a restart) that says nothing about the token.
REJECT_WITHIN = 5.0
# A connection up this long resets the reconnect backoff.
HEALTHY_AFTER = 60.0
# Reconnect delays: full jitter from about 1 s, doubling up to 5 minutes.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
# A frame larger than this is delivered, but logged: no event should be that
# large. (Above aiohttp's limit, 4 MiB, the connection ends and is renewed.)
LARGE_FRAME = 1 << 20
# A run of rejections renews the token at its start and again after this many.
RENEW_EVERY_REJECTIONS = 5
# The token keeper's shortest wait between two looks at the token.
TOKEN_CHECK_MIN = 0.5

_WS = aiohttp.WSMsgType


class _EndedError(NgucError):
    """The connection ended; the stream connects again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamTimings:
    """The waits of :class:`NgucEventStream`, in seconds (tests inject short ones).

    - ``auth_grace``: after ``authenticate``, report connected this soon
      without a close (reference servers say nothing while idle).
    - ``reject_within``: a close this soon after ``authenticate``, before the
      server proved acceptance, counts as a rejected token.
    - ``healthy_after``: a connection up this long resets the backoff.
    - ``backoff_base``, ``backoff_cap``: reconnect delays.
    - ``open_timeout``: for the websocket and its ``o``.
    """

    auth_grace: float = AUTH_GRACE
    reject_within: float = REJECT_WITHIN
    healthy_after: float = HEALTHY_AFTER
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    open_timeout: float = 10.0

    @classmethod
    def defaults(cls) -> StreamTimings:
        """Return the module's timings as they are now."""
        return cls(
            auth_grace=AUTH_GRACE,
            reject_within=REJECT_WITHIN,
            healthy_after=HEALTHY_AFTER,
            backoff_base=BACKOFF_BASE,
            backoff_cap=BACKOFF_CAP,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    """What every connection of one stream shares: settings, callbacks, logs."""

    session: aiohttp.ClientSession
    events_url: str
    auth: NgucAuth
    rng: random.Random | None
    heartbeat: float
    open_timeout: float
    grace: float
    reject_within: float
    healthy_after: float
    deliver: Callable[[tuple[Any, ...]], None]
    on_connected: Callable[[], None]
    on_disconnected: Callable[[], None]
    on_accepted: Callable[[], None]
    stopping: Callable[[], bool]
    bad_input_log: RateLimitedLog
    close_log: RateLimitedLog


class NgucEventStream:
    """Delivers NGUC's events to callbacks, reconnecting with backoff forever.

    - ``on_event(name, payload)``: each well-formed event, in order; the payload
      is a dict.
    - ``on_connected()``: once per connection, at its first ``h`` or ``a``
      frame, or when the auth grace has passed without a close.
    - ``on_disconnected()``: when a connection reported connected ends.
    - ``on_rejected(n)``: after each connection closed within
      ``reject_within`` of ``authenticate``, before the server accepted it,
      while its token was freshly issued; ``n`` counts such rejections in a
      row, and starts again once a connection is accepted (by an ``h`` or
      ``a`` frame, by anything heard past the auth grace, such as a websocket
      ping, or by lasting ``healthy_after`` seconds).

    The backoff starts again after a connection that lasted ``healthy_after``;
    one that was accepted and outlived ``reject_within`` (a load balancer
    closing connections every few seconds) is followed by the shortest delay
    and does not make the backoff grow.

    ``timings`` sets every wait; the keyword arguments of the same names,
    when given, override it.

    ``run()`` returns only after ``stop()``; it raises :class:`NgucAuthError`
    only when the token endpoint refuses the credentials (401; 402 when a
    two-factor code is needed; ``400 invalid_grant`` to a refresh when no
    password is stored), so that the caller can ask a person.
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
        on_rejected: RejectedCallback | None = None,
        heartbeat: float = 25.0,
        timings: StreamTimings | None = None,
        open_timeout: float | None = None,
        auth_grace: float | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        healthy_after: float | None = None,
        reject_within: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Configure; nothing connects until :meth:`run`."""
        t = timings or StreamTimings.defaults()
        self._session = session
        self._events_url = events_url
        self._auth = auth
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_rejected = on_rejected
        self._heartbeat = heartbeat
        self._open_timeout = t.open_timeout if open_timeout is None else open_timeout
        self._auth_grace = t.auth_grace if auth_grace is None else auth_grace
        self._reject_within = (
            t.reject_within if reject_within is None else reject_within
        )
        self._healthy_after = (
            t.healthy_after if healthy_after is None else healthy_after
        )
        self._rng = rng
        self._backoff = Backoff(
            t.backoff_base if backoff_base is None else backoff_base,
            t.backoff_cap if backoff_cap is None else backoff_cap,
            rng,
        )
        # The last connection was accepted and outlived the reject window:
        # the next delay is the shortest, and the backoff does not grow.
        self._short_but_fine = False
        self._bad_frame_log = RateLimitedLog(_LOGGER)
        self._close_log = RateLimitedLog(_LOGGER)
        self._handshake_log = RateLimitedLog(_LOGGER)
        self._connection: _Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        # The current run of rejected connections.
        self._rejected_in_a_row = 0
        self._rejected_since: float | None = None  # its first, epoch seconds
        self._renew: str | None = None  # a rejected token to replace first
        self._since_renewal = 0  # rejections since the run's last renewal
        self._last_sent: TokenSet | None = None
        #: Websocket connections opened so far (for diagnostics).
        self.connections = 0
        #: Why the last connection (or attempt) ended, with its codes; no secrets.
        self.last_fault: str | None = None
        #: Events delivered so far.
        self.events = 0

    @property
    def connected(self) -> bool:
        """Return True while a connection is reported connected."""
        return self._connection is not None and self._connection.connected

    @property
    def rejected_in_a_row(self) -> int:
        """Return how many fresh-token connections were rejected in a row."""
        return self._rejected_in_a_row

    async def run(self) -> None:
        """Connect, deliver events and reconnect until :meth:`stop`."""
        self._task = asyncio.current_task()
        context = _Context(
            session=self._session,
            events_url=self._events_url,
            auth=self._auth,
            rng=self._rng,
            heartbeat=self._heartbeat,
            open_timeout=self._open_timeout,
            grace=self._auth_grace,
            reject_within=self._reject_within,
            healthy_after=self._healthy_after,
            deliver=self._deliver,
            on_connected=self._connected,
            on_disconnected=self._disconnected,
            on_accepted=self._accepted,
            stopping=self._stopped,
            bad_input_log=self._bad_frame_log,
            close_log=self._close_log,
        )
        try:
            while not self._stopped():
                not_before = await self._attempt(context)
                if self._stopped():
                    break
                if self._short_but_fine:
                    delay = max(self._backoff.first_delay(), not_before)
                else:
                    delay = max(self._backoff.next_delay(), not_before)
                _LOGGER.debug("Event stream: reconnecting in %.1f s", delay)
                await self._sleep(delay)
        finally:
            self._task = None

    async def stop(self) -> None:
        """Stop and close; returns when no task or socket is left."""
        self._stopping = True
        self._wake.set()
        if self._connection is not None:
            await self._connection.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                # The run task's cancellation is expected; the caller's own
                # (an unload that is itself cancelled) must go on up.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    def _stopped(self) -> bool:
        # A method, not an attribute read, so that type narrowing does not
        # assume stop() cannot happen during an await.
        return self._stopping

    async def _sleep(self, delay: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _attempt(self, context: _Context) -> float:
        """Run one connection to its end; return the server's Retry-After, or 0."""
        connection = _Connection(context)
        self._connection = connection
        not_before = 0.0
        try:
            if self._renew is not None:
                # The one renewal of a run of rejections. When the token
                # endpoint cannot give a new token, the rejected one is
                # returned while it has not expired: the close may have been
                # no rejection at all. The renewal is asked for again at the
                # next connection (the token keeper's backoff decides when it
                # is sent), until one succeeds or a connection is accepted.
                token = await self._auth.async_get_access_token(
                    force_refresh=True, rejected=self._renew
                )
                if token != self._renew:
                    self._renew = None
            else:
                token = await self._auth.async_get_access_token()
            self.connections += 1
            _LOGGER.debug("Event stream: connecting (connection %d)", self.connections)
            await connection.run(token, self._auth.tokens)
        except NgucAuthError:
            raise
        except NgucRateLimitError as err:
            _LOGGER.debug("Event stream: %s", err)
            self.last_fault = str(err)
            not_before = err.retry_after or 0.0
        except NgucError as err:
            _LOGGER.debug("Event stream: %s", err)
            self.last_fault = str(err)
        except aiohttp.WSServerHandshakeError as err:
            self._handshake_log.warning(
                "Event stream: the server refused the websocket (HTTP %s)", err.status
            )
            self.last_fault = f"websocket refused (HTTP {err.status})"
        except (aiohttp.ClientError, TimeoutError) as err:
            kind = "timed out" if isinstance(err, TimeoutError) else type(err).__name__
            _LOGGER.debug("Event stream: cannot connect (%s)", kind)
            self.last_fault = f"cannot connect ({kind})"
        except Exception as err:
            _LOGGER.exception("Unexpected error in the event stream; reconnecting")
            self.last_fault = f"unexpected error ({type(err).__name__})"
        finally:
            self._connection = None
        self._settle(connection)
        return not_before

    def _settle(self, connection: _Connection) -> None:
        """Draw the conclusions of a connection that ended."""
        self._short_but_fine = connection.accepted and connection.outlived_rejection
        if connection.healthy:
            self._backoff.reset()
        tokens = connection.tokens
        if tokens is None:
            return  # it never authenticated: nothing learned about the token
        first_use = tokens is not self._last_sent
        self._last_sent = tokens
        if not connection.rejected:
            return
        fresh = first_use or (
            self._rejected_since is not None
            and tokens.issued_at >= self._rejected_since
        )
        if self._rejected_since is None:
            self._rejected_since = time.time()
            self._renew = connection.token
            self._since_renewal = 0
        else:
            # The run's first renewal may have been spent on a fault that was
            # no rejection (a drop before the first frame): a long run renews
            # again every few rejections, so that a token revoked on the
            # server cannot be retried for the rest of its life.
            self._since_renewal += 1
            if self._since_renewal >= RENEW_EVERY_REJECTIONS:
                self._since_renewal = 0
                self._renew = connection.token
        if not fresh:
            _LOGGER.debug("Event stream: a token used before was rejected")
            return
        self._rejected_in_a_row += 1
        _LOGGER.debug(
            "Event stream: connection rejected (%d in a row)", self._rejected_in_a_row
        )
        _call(self._on_rejected, "rejected", self._rejected_in_a_row)

    def _accepted(self) -> None:
        self._rejected_in_a_row = 0
        self._rejected_since = None
        self._since_renewal = 0
        self._renew = None  # the token in use is good

    def _connected(self) -> None:
        _LOGGER.debug("Event stream: connected")
        _call(self._on_connected, "connected")

    def _disconnected(self) -> None:
        _LOGGER.debug("Event stream: disconnected")
        _call(self._on_disconnected, "disconnected")

    def _deliver(self, messages: tuple[Any, ...]) -> None:
        """Decode the elements of one ``a`` frame and hand each event on."""
        for element in messages:
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


def _call(callback: Callable[..., None] | None, name: str, *args: Any) -> None:
    """Call a user's callback; its errors are logged, not raised."""
    if callback is not None:
        try:
            callback(*args)
        except Exception:
            _LOGGER.exception("Error in the %s callback", name)


class _Connection:
    """One websocket session, from connecting to its end (always an exception)."""

    def __init__(self, context: _Context) -> None:
        self._context = context
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._renewed = asyncio.Event()
        self._connected_at = 0.0
        self._heard = 0.0  # the loop's time when the server was last heard
        self._authenticated_at: float | None = None  # the first authenticate
        self._past_grace = False
        #: The token last sent on this connection, and its set.
        self.token: str | None = None
        self.tokens: TokenSet | None = None
        #: Reported connected: an h or a frame came, or the grace passed.
        self.connected = False
        #: The server accepted the token: an h or a frame, or healthy.
        self.accepted = False
        #: Connected for healthy_after seconds.
        self.healthy = False
        #: Closed soon after authenticate before acceptance, or with a code
        #: of REJECT_CLOSE_CODES.
        self.rejected = False
        #: Lasted past reject_within after authenticate.
        self.outlived_rejection = False

    async def close(self) -> None:
        """Close the socket, which ends :meth:`run`."""
        if self._ws is not None:
            await self._ws.close()

    async def run(self, token: str, tokens: TokenSet | None) -> None:
        """Connect, authenticate with ``token`` and serve until the end."""
        context = self._context
        async with asyncio.timeout(context.open_timeout):
            # Pings are ours (see _ping) rather than ws_connect(heartbeat=):
            # aiohttp re-arms its heartbeat timer when the server's close
            # frame arrives after close(), leaving a timer behind.
            self._ws = ws = await context.session.ws_connect(
                session_url(context.events_url, context.rng),
                autoping=False,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            )
        try:
            async with asyncio.timeout(context.open_timeout):
                frame = await self._next_frame(ws)
                while frame is None:
                    frame = await self._next_frame(ws)
            if frame.kind == "close":
                self._closed(ws, frame)
            if frame.kind != "open":
                raise _EndedError(f"expected 'o', got {frame.kind!r}")
            await self._authenticate(ws, token, tokens)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._ping(ws), name="nguc-ping")
                group.create_task(self._listen_for_silence(), name="nguc-silence")
                group.create_task(self._keep_token(ws), name="nguc-token")
                group.create_task(self._watch(), name="nguc-watch")
                await self._read(ws)
        except BaseExceptionGroup as group:
            # The reason that matters most: credentials, else the first.
            auth, _rest = group.split(NgucAuthError)
            reason: BaseException = auth or group
            while isinstance(reason, BaseExceptionGroup):
                reason = reason.exceptions[0]
            raise reason from None
        finally:
            if self._authenticated_at is not None:
                lived = asyncio.get_running_loop().time() - self._authenticated_at
                self.outlived_rejection = lived > context.reject_within
            await ws.close()
            if self.connected:
                context.on_disconnected()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> NoReturn:
        while True:
            frame = await self._next_frame(ws)
            if frame is None:
                continue
            if frame.kind == "messages":
                if not self.accepted:
                    self._accept()
                self._context.deliver(frame.messages)
            elif frame.kind == "heartbeat":
                if not self.accepted:
                    self._accept()
            elif frame.kind == "close":
                self._closed(ws, frame)
            else:
                self._context.bad_input_log.warning(
                    "Event stream: the server opened the session again; reconnecting"
                )
                raise _EndedError("server opened the session again")

    async def _next_frame(self, ws: aiohttp.ClientWebSocketResponse) -> Frame | None:
        """Return the next SockJS frame, or None for a frame not to act on.

        Without a timeout of its own, which would cost a timer per frame:
        :meth:`_listen_for_silence` ends a connection that says nothing.
        """
        context = self._context
        msg = await ws.receive()
        self._heard = asyncio.get_running_loop().time()
        if msg.type is _WS.TEXT:
            text: str = msg.data
            if len(text) > LARGE_FRAME:
                context.bad_input_log.warning(
                    "Event stream: a frame of %d characters", len(text)
                )
            try:
                return parse_frame(text)
            except SockJsFrameError as err:
                context.bad_input_log.warning("Skipping a malformed frame: %s", err)
                return None
        if msg.type is _WS.PING:
            await ws.pong(msg.data)
            self._heard_alive()
            return None
        if msg.type is _WS.PONG:
            self._heard_alive()
            return None
        if msg.type is _WS.BINARY:
            context.bad_input_log.warning("Skipping a binary frame")
            return None
        if msg.type in (_WS.CLOSE, _WS.CLOSED):  # a close frame, or a drop
            self._closed(ws, None)
        if msg.type is _WS.ERROR and not context.stopping():
            context.close_log.warning(
                "Event stream: websocket error (%s), close code %s",
                type(msg.data).__name__,
                ws.close_code,
            )
        raise _EndedError(f"connection ended ({msg.type.name})")

    def _closed(
        self, ws: aiohttp.ClientWebSocketResponse, frame: Frame | None
    ) -> NoReturn:
        """End after the server closed: with ``c[...]`` (``frame``), or the websocket."""
        code = ws.close_code if frame is None else frame.close_code
        if self._context.stopping():
            raise _EndedError("stopped")
        early = (
            self._authenticated_at is not None
            and not self.accepted
            and asyncio.get_running_loop().time() - self._authenticated_at
            <= self._context.reject_within
        )
        self.rejected = early or code in c.REJECT_CLOSE_CODES
        when = " before accepting the token" if early else ""
        if frame is None:
            self._context.close_log.warning(
                "Event stream: the server closed the websocket (close code %s)%s",
                code,
                when,
            )
        else:
            self._context.close_log.warning(
                "Event stream: the server closed the session with c[%s, %r]%s",
                code,
                frame.close_reason,
                when,
            )
        raise _EndedError(f"closed by the server ({code})")

    async def _authenticate(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        token: str,
        tokens: TokenSet | None,
    ) -> None:
        await ws.send_str(
            encode_message([c.AUTHENTICATE, {c.AUTHORIZATION: f"Bearer {token}"}])
        )
        if self._authenticated_at is None:
            self._authenticated_at = asyncio.get_running_loop().time()
        self.token, self.tokens = token, tokens

    def _heard_alive(self) -> None:
        """Past the grace, anything from the server (a ping) proves acceptance.

        A server that refuses a token closes at once; one that keeps the
        connection past the grace and talks (reference SockJS servers send
        websocket pings, never ``h``) has taken it.
        """
        if self._past_grace and not self.accepted:
            self._accept()

    def _accept(self) -> None:
        self.accepted = True
        self._connect()
        self._context.on_accepted()

    def _connect(self) -> None:
        if self.connected:
            return
        self.connected = True
        self._connected_at = asyncio.get_running_loop().time()
        self._context.on_connected()

    async def _watch(self) -> None:
        """Report connected after the grace; accepted and healthy after healthy_after."""
        context = self._context
        loop = asyncio.get_running_loop()
        await asyncio.sleep(context.grace)
        self._past_grace = True
        self._connect()
        await asyncio.sleep(self._connected_at + context.healthy_after - loop.time())
        self.healthy = True
        if not self.accepted:
            self._accept()

    async def _listen_for_silence(self) -> NoReturn:
        """End the connection once the server was silent for too long, at both levels."""
        loop = asyncio.get_running_loop()
        silence = self._context.heartbeat * SILENCE_FACTOR
        self._heard = loop.time()
        while True:
            # A timer per silence, not per frame: frames only note the time.
            wait = self._heard + silence - loop.time()
            if wait <= 0:
                # A fault like a close: worth a (rate-limited) warning.
                self._context.close_log.warning(
                    "Event stream: the server said nothing for %.0f s; reconnecting",
                    silence,
                )
                raise _EndedError(f"silent for {silence:.0f} s; presumed dead")
            await asyncio.sleep(wait)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ping every heartbeat interval; the pongs prove the line is alive."""
        while not ws.closed:
            await asyncio.sleep(self._context.heartbeat)
            try:
                await ws.ping()
            except aiohttp.ClientError, ConnectionError:
                return  # the reader sees the connection end

    async def _keep_token(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Renew the token when due; send whichever token is current.

        Comparing with the current token first catches a renewal that
        happened between reading the token and sending ``authenticate``.
        """
        auth = self._context.auth
        remove_listener = auth.add_listener(lambda _tokens: self._renewed.set())
        try:
            while True:
                self._renewed.clear()
                try:
                    token = await auth.async_get_access_token()
                except NgucAuthError:
                    raise
                except NgucError as err:
                    _LOGGER.debug("Event stream: token renewal failed (%s)", err)
                else:
                    if token != self.token:
                        _LOGGER.debug("Event stream: authenticating with a new token")
                        try:
                            await self._authenticate(ws, token, auth.tokens)
                        except aiohttp.ClientError, ConnectionError:
                            return  # the reader sees the connection end
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                        max(TOKEN_CHECK_MIN, auth.seconds_until_refresh())
                    ):
                        await self._renewed.wait()
        finally:
            remove_listener()
