"""aiohttp server implementing the NGUC contract (OAuth, REST seed, SockJS event pusher) over a Company model."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
import contextlib
import copy
from dataclasses import dataclass, field
import enum
import json
import random
import re
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

from .model import (
    QUEUE_NUMBER_FIELDS,
    Account,
    Company,
    Device,
    Queue,
    QueueCaller,
    QueueMember,
    User,
    demo_company,
    device_status_text,
    status_text,
    wire_int,
)

_ID1 = re.compile(r"[0-9]{3}")
_ID2 = re.compile(r"[a-z0-9]{10,40}")
AUTH_FAILED: tuple[int, str] = (2010, "Authentication failed")
AUTH_TIMEOUT: tuple[int, str] = (2011, "Authentication timeout")
TOKEN_EXPIRED: tuple[int, str] = (2012, "Token expired")
GO_AWAY: tuple[int, str] = (3000, "Go away!")
_CLOSED_TYPES = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)

type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _same(secret: str, given: str) -> bool:
    """Compare in constant time; as bytes, since passwords may be non-ASCII."""
    return secrets.compare_digest(secret.encode(), given.encode())


def event_frame(events: Iterable[tuple[str, Any]]) -> str:
    """Return the SockJS `a[...]` frame carrying the events."""
    messages = [
        json.dumps([name, payload], ensure_ascii=False) for name, payload in events
    ]
    return "a" + json.dumps(messages, ensure_ascii=False)


def close_frame(code: int, reason: str) -> str:
    """Return the SockJS `c[code,"reason"]` frame."""
    return "c" + json.dumps([code, reason], ensure_ascii=False)


def _json_error(status: int, error: str, description: str = "") -> web.Response:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    return web.json_response(body, status=status)


class ExpiresIn(enum.Enum):
    """What the token endpoint says in `expires_in` when not a value of its own."""

    DERIVED = "derived"  # the token's real lifetime (the default)
    MISSING = "missing"  # no `expires_in` at all


@dataclass
class _PathFault:
    """How the next requests to one REST path go wrong (see `Simulator.fail_path`)."""

    status: int | None = None
    retry_after: int | None = None
    hang: float = 0.0
    stale: float = 0.0
    body: Any = None
    text: str | None = None
    content_type: str = "application/json"
    count: int | None = None
    #: Changes the true answer's items before it is sent (`truncate_path`, `unreadable_path`).
    rewrite: Callable[[list[Any]], list[Any]] | None = None


# The field that names an item, in each list's items (a queue's is in its `queue`).
_ID_FIELDS = ("id", "pbx_user_id")


def unreadable_item(item: Any) -> Any:
    """Return ``item`` with the field that names it renamed (``id`` -> ``ID``), as a changed API would."""
    if not isinstance(item, dict):
        return item
    renamed = {
        (key.upper() if key in _ID_FIELDS else key): value
        for key, value in item.items()
    }
    if isinstance(renamed.get("queue"), dict):
        renamed["queue"] = unreadable_item(renamed["queue"])
    return renamed


@dataclass
class _Token:
    account: Account
    expires_at: float


@dataclass(eq=False)
class _Connection:
    """One open event-pusher websocket."""

    ws: web.WebSocketResponse
    request: web.Request
    authenticated: bool = False
    tokens: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Half-open: nothing is sent or read any more, but the socket stays open.
    silenced: bool = False
    #: An `h` or `a` frame was sent: the client knows its token was accepted.
    proven: bool = False

    async def send(self, frame: str) -> bool:
        """Send one text frame; False when the socket is gone (or silenced)."""
        if self.ws.closed or self.silenced:
            return False
        async with self.lock:
            try:
                await self.ws.send_str(frame)
            except ConnectionError, RuntimeError:
                return False
        if frame[:1] in ("h", "a") and self.authenticated:
            self.proven = True
        return True

    async def pong(self, data: bytes) -> None:
        """Answer a websocket ping (unless silenced)."""
        if self.silenced:
            return
        async with self.lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.pong(data)

    async def close(self, frame: str | None = None) -> None:
        """Optionally send a frame (a `c[...]`), then close the websocket."""
        if self.silenced:
            self.abort()
            return
        if frame is not None:
            await self.send(frame)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close()

    def abort(self) -> None:
        """Cut the TCP connection: no close frame, no close handshake."""
        transport = self.request.transport
        if transport is not None:
            transport.close()

    @property
    def gone(self) -> bool:
        """Return True once the TCP connection is closed."""
        transport = self.request.transport
        return transport is None or transport.is_closing()


class Simulator:
    """An NGUC API server for tests and demos, backed by a live `Company` model."""

    def __init__(
        self,
        company: Company | None = None,
        *,
        token_lifetime: float = 3600.0,
        heartbeat_interval: float = 25.0,
        auth_timeout: float = 10.0,
    ) -> None:
        """Create a stopped simulator (call `start`)."""
        self.company: Company = company if company is not None else demo_company()
        self.token_lifetime = token_lifetime
        self.heartbeat_interval = heartbeat_interval
        self.auth_timeout = auth_timeout
        #: Send an `h` at once when a connection's first authenticate is
        #: accepted. NGUC documents that `h` and `a` follow a successful
        #: authenticate only; whether its first `h` comes at once is our guess.
        #: Off, the client falls back on its grace (as with reference servers).
        self.heartbeat_on_accept = True
        # Fault knobs.
        self.silent = False
        self.reject_auth = False
        self.refuse_events = False
        self.rest_delay = 0.0
        self._fault_status: int | None = None
        self._fault_count: int | None = None
        self._fault_retry_after: int | None = None
        #: Close this many of the next connections right after authentication.
        self.close_after_auth_count = 0
        self.close_after_auth_frame = close_frame(*GO_AWAY)
        #: The token endpoint answers this status to every request (None: no fault).
        self.token_status: int | None = None
        self.token_retry_after: int | None = None
        #: Seconds a token answer takes after the grant is done (old refresh token spent).
        self.token_answer_delay = 0.0
        #: What token answers say in `expires_in` (any JSON value, or an `ExpiresIn`).
        self.expires_in: Any = ExpiresIn.DERIVED
        #: Close a connection whose last token expired without a new `authenticate`.
        self.close_on_token_expiry = False
        #: Seconds the websocket handshake waits before the server answers it.
        self.events_delay = 0.0
        #: Token endpoint down (`token_down`): until this time.monotonic(), or
        #: for good (inf); answering `token_down_status`, or cutting (None).
        self.token_down_until = 0.0
        self.token_down_status: int | None = 503
        #: The answer to a spent or unknown refresh token: 401, or 400 with
        #: `invalid_grant` as RFC 6749 has it (see `refuse_refresh`).
        self.refresh_refused_status = 401
        #: Keep connections alive with websocket pings, never `h` (as the
        #: reference SockJS servers do).
        self.ping_keepalive = False
        #: Close each connection this many seconds after it opened (None:
        #: never), as a load balancer with a connection lifetime does.
        self.connection_lifetime: float | None = None
        self._path_faults: dict[str, _PathFault] = {}
        # Observation.
        #: Events delivered, counted once per authenticated connection sent to.
        self.events_sent = 0
        #: Connections closed by `close_after_auth`, and by `connection_lifetime`.
        self.closed_after_auth = 0
        self.closed_by_lifetime = 0
        #: Websocket handshakes refused (`refuse_events`), and held (`events_delay`) now.
        self.events_refused = 0
        self.events_held = 0
        #: (time.monotonic(), "GET /path") of every API request, as `requests`.
        self.request_log: list[tuple[float, str]] = []
        self.connection_count = 0
        self.authenticated_count = 0
        self.reauth_on_open_count = 0
        self.oauth_grants: list[str] = []
        self.requests: list[str] = []
        self.ws_tokens: list[str] = []
        self.client_messages: list[str] = []
        #: Callers picked up over REST: (queue id, call guid, picking user id).
        self.pickups: list[tuple[str, str, str]] = []
        # State.
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, Account] = {}
        self._connections: list[_Connection] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._pending: list[web.Request] = []
        self._host = "127.0.0.1"
        self._port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (port 0: a free one)."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        runner = web.AppRunner(
            self._make_app(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self._stopping.clear()

    async def stop(self) -> None:
        """Close every websocket, then the server; leaves no task behind."""
        self._stopping.set()
        # A peer that never answers the close handshake is cut after a second.
        await asyncio.gather(
            *(asyncio.wait_for(conn.close(), 1.0) for conn in list(self._connections)),
            return_exceptions=True,
        )
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def go_offline(self) -> None:
        """Become unreachable: cut every connection and stop listening; state is kept.

        Connecting is refused until `come_back`, as when NGUC is down.
        """
        for conn in list(self._connections):
            conn.abort()
        await self.stop()

    async def come_back(self) -> None:
        """Listen again on the same address after `go_offline`."""
        await self.start(self._host, self._port)

    async def restart(self, change: Callable[[Company], Any] | None = None) -> None:
        """Restart as a server does: `change(company)` first, then cut every connection.

        Nothing is pushed about the change: a client learns it only by reading
        the state again after it reconnects. Tokens survive the restart.
        """
        if change is not None:
            change(self.company)
        await self.drop_connections()

    @property
    def port(self) -> int:
        """The port listened on (0 before `start`)."""
        return self._port

    @property
    def api_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{self._host}:{self._port}"

    @property
    def events_url(self) -> str:
        """Base URL of the event pusher (the client appends `/<id1>/<id2>/websocket`)."""
        return f"ws://{self._host}:{self._port}/events"

    # --- observation ------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        """Websockets open now (authenticated or not)."""
        return len(self._connections)

    @property
    def proven_connections(self) -> int:
        """Open websockets that were sent an `h` or `a` frame after `authenticate`."""
        return sum(1 for conn in self._connections if conn.proven)

    @property
    def pending_requests(self) -> int:
        """Held handshakes and hanging requests whose client is still connected."""
        return sum(
            1
            for request in self._pending
            if request.transport is not None and not request.transport.is_closing()
        )

    @property
    def tcp_connections(self) -> int:
        """HTTP connections open now (keep-alive ones included)."""
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        return len(runner.server.connections)

    def request_times(self, path: str) -> list[float]:
        """When (`time.monotonic()`) each API request to `path` arrived."""
        return [
            when
            for when, request in self.request_log
            if request.split(" ", 1)[1] == path
        ]

    @property
    def authenticated_connections(self) -> int:
        """Authenticated websockets open now."""
        return sum(1 for conn in self._connections if conn.authenticated)

    async def wait_for_connections(self, n: int, timeout: float = 10.0) -> None:
        """Wait until exactly `n` authenticated websockets are open."""
        await self._wait_until(
            lambda: self.authenticated_connections == n,
            timeout,
            lambda: (
                f"{self.authenticated_connections} authenticated connections, wanted {n}"
            ),
        )

    async def wait_for_authenticated(self, total: int, timeout: float = 10.0) -> None:
        """Wait until `authenticated_count` reaches `total`."""
        await self._wait_until(
            lambda: self.authenticated_count >= total,
            timeout,
            lambda: f"authenticated_count {self.authenticated_count}, wanted {total}",
        )

    async def wait_for_requests(
        self, path: str, n: int = 1, timeout: float = 10.0
    ) -> None:
        """Wait until `n` API requests (faulted or not) were made to `path`."""
        await self._wait_until(
            lambda: self._count_requests(path) >= n,
            timeout,
            lambda: f"{self._count_requests(path)} requests to {path}, wanted {n}",
        )

    def _count_requests(self, path: str) -> int:
        return sum(1 for request in self.requests if request.split(" ", 1)[1] == path)

    @staticmethod
    async def _wait_until(
        condition: Callable[[], bool], timeout: float, describe: Callable[[], str]
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                raise TimeoutError(describe())
            await asyncio.sleep(0.01)

    def state(self) -> dict[str, Any]:
        """Counters and knobs (also `GET /_sim/state`)."""
        return {
            "connection_count": self.connection_count,
            "authenticated_count": self.authenticated_count,
            "reauth_on_open_count": self.reauth_on_open_count,
            "open_connections": self.open_connections,
            "authenticated_connections": self.authenticated_connections,
            "oauth_grants": list(self.oauth_grants),
            "requests": len(self.requests),
            "silent": self.silent,
            "reject_auth": self.reject_auth,
            "refuse_events": self.refuse_events,
            "rest_delay": self.rest_delay,
            "token_lifetime": self.token_lifetime,
            "heartbeat_interval": self.heartbeat_interval,
            "fail_rest": None
            if self._fault_status is None
            else {
                "status": self._fault_status,
                "count": self._fault_count,
                "retry_after": self._fault_retry_after,
            },
            "events_sent": self.events_sent,
            "token_requests": self.token_requests,
            "close_after_auth": self.close_after_auth_count,
            "closed_after_auth": self.closed_after_auth,
            "token_status": self.token_status,
            "expires_in": self.expires_in.value
            if isinstance(self.expires_in, ExpiresIn)
            else self.expires_in,
            "silenced_connections": sum(1 for c in self._connections if c.silenced),
            "path_faults": sorted(self._path_faults),
        }

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint so far (faulted or not)."""
        return len(self.oauth_grants)

    # --- control: tokens and faults ---------------------------------------------------------

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far (refresh tokens stay valid)."""
        now = time.monotonic()
        for token in self._access.values():
            token.expires_at = min(token.expires_at, now)

    def revoke_tokens(self) -> None:
        """Invalidate every access and refresh token."""
        self._access.clear()
        self._refresh.clear()

    def fail_rest(
        self,
        status: int = 500,
        *,
        count: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` REST and OAuth requests (None: until cleared) with `status`."""
        self._fault_status = status
        self._fault_count = count
        self._fault_retry_after = retry_after

    def fail_token(self, status: int = 401, *, retry_after: int | None = None) -> None:
        """Answer every token request with `status` until cleared (401: bad credentials)."""
        self.token_status = status
        self.token_retry_after = retry_after

    def fail_path(
        self,
        path: str,
        status: int = 500,
        *,
        count: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` requests to one REST path (None: until cleared) with `status`."""
        self._path_faults[path] = _PathFault(
            status=status, retry_after=retry_after, count=count
        )

    def hang_path(
        self, path: str, seconds: float = 60.0, *, count: int | None = None
    ) -> None:
        """Hold the next `count` requests to `path` for `seconds`, then answer them normally."""
        self._path_faults[path] = _PathFault(hang=seconds, count=count)

    def stale_path(
        self, path: str, seconds: float, *, count: int | None = None
    ) -> None:
        """Answer requests to `path` with the state as it was `seconds` before the answer.

        The body is made when the request arrives and sent after `seconds`:
        events pushed meanwhile are newer than the answer.
        """
        self._path_faults[path] = _PathFault(stale=seconds, count=count)

    def override_path(
        self,
        path: str,
        body: Any = None,
        *,
        text: str | None = None,
        status: int = 200,
        content_type: str = "application/json",
        count: int | None = None,
    ) -> None:
        """Answer requests to `path` with `body` as JSON, or exactly `text`, instead of the truth."""
        self._path_faults[path] = _PathFault(
            status=status,
            body=body,
            text="null" if body is None and text is None else text,
            content_type=content_type,
            count=count,
        )

    def truncate_path(self, path: str, n: int, *, count: int | None = None) -> None:
        """Answer the next ``count`` requests to ``path`` (None: until cleared) with its first ``n`` items only.

        The status is 200 and the items are true: a list cut short, as by a
        server that lost part of the company, or a page that never came.
        """
        self._path_faults[path] = _PathFault(
            rewrite=lambda items: items[: max(0, n)], count=count
        )

    def unreadable_path(self, path: str, *, count: int | None = None) -> None:
        """Answer the next ``count`` requests to ``path`` (None: until cleared) with unreadable items.

        Every item is there, with the field that names it renamed (see
        `unreadable_item`): what a client sees when NGUC renames a field.
        """
        self._path_faults[path] = _PathFault(
            rewrite=lambda items: [unreadable_item(item) for item in items],
            count=count,
        )

    def clear_path(self, path: str) -> None:
        """Undo the fault of one REST path."""
        self._path_faults.pop(path, None)

    def close_after_auth(
        self, count: int = 1, code: int = GO_AWAY[0], reason: str = GO_AWAY[1]
    ) -> None:
        """Close each of the next `count` connections with `c[code,"reason"]` right after `authenticate`.

        The token is accepted (the connection counts as authenticated), but
        neither `h` nor `a` comes before the close, as in a rolling restart.
        """
        self.close_after_auth_count = count
        self.close_after_auth_frame = close_frame(code, reason)

    def silence_connections(self) -> None:
        """Make every open connection half-open: no `h`, no pong, no event, nothing read.

        The sockets stay open; new connections work normally.
        """
        for conn in self._connections:
            conn.silenced = True

    def token_down(
        self, seconds: float | None = None, *, status: int | None = 503
    ) -> None:
        """Take the token endpoint down for `seconds` (None: until cleared).

        It answers `status` to every request, or with `status=None` cuts the
        connection without an answer; REST and the event pusher work on.
        """
        self.token_down_until = (
            float("inf") if seconds is None else time.monotonic() + seconds
        )
        self.token_down_status = status

    def slow_token(self, seconds: float) -> None:
        """Answer token requests `seconds` after doing the grant.

        A refresh token is spent (rotated) at once, whether or not the client
        waits for the answer that holds its successor.
        """
        self.token_answer_delay = seconds

    def refuse_refresh(self, status: int = 400) -> None:
        """Make every refresh token issued so far dead; access tokens stay valid.

        A refresh with a dead (or spent) refresh token is answered from now on
        with `status` and `{"error": "invalid_grant"}`: 400 is the standard
        OAuth2 answer, 401 what the simulator says by default.
        """
        self._refresh.clear()
        self.refresh_refused_status = status

    def clear_faults(self) -> None:
        """Undo every fault knob (REST, token endpoint, connections); the model is kept."""
        self._fault_status = self._fault_count = self._fault_retry_after = None
        self.rest_delay = 0.0
        self.silent = False
        self.reject_auth = False
        self.refuse_events = False
        self.close_after_auth_count = 0
        self.token_status = self.token_retry_after = None
        self.token_answer_delay = 0.0
        self.expires_in = ExpiresIn.DERIVED
        self.close_on_token_expiry = False
        self.events_delay = 0.0
        self._path_faults.clear()
        self._clear_connection_faults()

    def _clear_connection_faults(self) -> None:
        self.token_down_until = 0.0
        self.token_down_status = 503
        self.refresh_refused_status = 401
        self.ping_keepalive = False
        self.connection_lifetime = None

    def _take_path_fault(self, path: str) -> _PathFault | None:
        fault = self._path_faults.get(path)
        if fault is None:
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self._path_faults[path]
        return fault

    def _take_fault(self) -> web.Response | None:
        status = self._fault_status
        if status is None:
            return None
        if self._fault_count is not None:
            if self._fault_count <= 0:
                self._fault_status = self._fault_count = self._fault_retry_after = None
                return None
            self._fault_count -= 1
        headers = {}
        if self._fault_retry_after is not None:
            headers["Retry-After"] = str(self._fault_retry_after)
        if self._fault_count == 0:
            self._fault_status = self._fault_count = self._fault_retry_after = None
        return web.json_response(
            {"error": "simulated_failure", "status": status},
            status=status,
            headers=headers,
        )

    # --- control: events and connections ----------------------------------------------------

    async def push_event(self, name: str, payload: Any, *, apply: bool = True) -> None:
        """Apply one event to the model, then send it in one `a[...]` frame."""
        await self.push_events([(name, payload)], apply=apply)

    async def push_events(
        self, events: list[tuple[str, Any]], *, apply: bool = True
    ) -> None:
        """Apply events in order, then send them all in ONE `a[...]` frame.

        Once applied, the frame is sent even if the caller is cancelled
        meanwhile: the model never holds a change that was not sent.
        """
        frame = event_frame(events)
        if apply:
            for name, payload in events:
                self.company.apply_event(name, payload)
        await asyncio.shield(self._send(frame, len(events)))

    async def send_raw(self, frame: str) -> None:
        """Send exactly `frame` to every authenticated connection."""
        await self._send(frame, 0)

    async def _send(self, frame: str, events: int) -> None:
        targets = [conn for conn in self._connections if conn.authenticated]
        sent = await asyncio.gather(*(conn.send(frame) for conn in targets))
        self.events_sent += events * sum(sent)

    async def send_open_again(self) -> None:
        """Send a second `o` on every open connection."""
        await asyncio.gather(*(conn.send("o") for conn in list(self._connections)))

    async def drop_connections(self) -> None:
        """Cut every websocket abruptly (no `c` frame, no close handshake)."""
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        await self._wait_gone(connections)

    async def add_user_by_event(
        self, user: User, status: int = 0, phone: Device | None = None
    ) -> None:
        """A user (and a phone) appear in NGUC, known only by their events.

        REST lists them from now on; the only thing pushed is their
        `UserStatus` (and the phone's `DeviceStatus`), as for a user created
        while the client is connected.
        """
        self.company.add_user(user, status)
        await self.set_user_status(user.id, status)
        if phone is not None:
            self.company.add_device(phone)
            await self.set_device_registered(phone.id, phone.status != 0)

    async def close_connections(
        self, code: int = 3000, reason: str = "Go away!"
    ) -> None:
        """Send `c[code,"reason"]` on every open connection, then close it."""
        connections = list(self._connections)
        frame = close_frame(code, reason)
        await asyncio.gather(*(conn.close(frame) for conn in connections))
        await self._wait_gone(connections)

    async def _wait_gone(
        self, connections: list[_Connection], timeout: float = 5.0
    ) -> None:
        await self._wait_until(
            lambda: not any(conn in self._connections for conn in connections),
            timeout,
            lambda: "connections did not close",
        )

    # --- control: model helpers that push the matching event ------------------------------

    async def set_user_status(self, user_id: str, status: int) -> None:
        """Push `UserStatus` for a user's line."""
        payload = {
            "pbx_user_id": user_id,
            "status": str(status),
            "status_text": status_text(status),
        }
        await self.push_event("UserStatus", payload)

    async def set_device_registered(self, device_id: str, registered: bool) -> None:
        """Push `DeviceStatus` for a known phone."""
        device = self.company.devices[device_id]
        status = 1 if registered else 0
        payload = {
            "pbx_device_id": device.id,
            "pbx_user_id": device.pbx_user_id,
            "status": str(status),
            "status_text": device_status_text(status),
        }
        await self.push_event("DeviceStatus", payload)

    async def push_queue(self, queue: Queue) -> dict[str, Any]:
        """Push a full `Queue` snapshot of `queue` (it replaces the model's)."""
        payload = queue.to_wire()
        await self.push_event("Queue", payload)
        return payload

    async def update_queue(self, queue_id: str, **fields: Any) -> dict[str, Any]:
        """Change queue fields (numbers, name, members, callers) and push the full snapshot."""
        queue = copy.deepcopy(self.company.queues[queue_id])
        for key, value in fields.items():
            if key == "name":
                queue.name = str(value)
            elif key == "members":
                queue.members = [
                    m if isinstance(m, QueueMember) else QueueMember.from_wire(m)
                    for m in value
                ]
            elif key == "callers":
                queue.callers = [
                    c if isinstance(c, QueueCaller) else QueueCaller.from_wire(c)
                    for c in value
                ]
            elif key in QUEUE_NUMBER_FIELDS:
                setattr(queue, key, wire_int(value))
            else:
                raise TypeError(f"unknown queue field: {key}")
        return await self.push_queue(queue)

    async def add_caller(self, queue_id: str, callerid: str, *, wait: int = 0) -> str:
        """Put a caller in a queue (snapshot pushed); return its call_guid."""
        queue = copy.deepcopy(self.company.queues[queue_id])
        call_guid = self.company.new_call_guid()
        queue.callers.append(QueueCaller(call_guid, queue_id, callerid, wait=wait))
        queue.recount(self.company.statuses)
        await self.push_queue(queue)
        return call_guid

    async def remove_caller(
        self, queue_id: str, call_guid: str, *, answered: bool = True
    ) -> None:
        """Take a caller out of a queue, counting it completed or abandoned (snapshot pushed)."""
        queue = copy.deepcopy(self.company.queues[queue_id])
        caller = next(c for c in queue.callers if c.call_guid == call_guid)
        queue.callers.remove(caller)
        queue.total += 1
        if answered:
            queue.completed += 1
        else:
            queue.abandoned += 1
        queue.wait_longest = max(queue.wait_longest, caller.wait)
        queue.recount(self.company.statuses)
        await self.push_queue(queue)

    async def pickup_caller(self, queue_id: str, call_guid: str, user_id: str) -> bool:
        """Give a waiting caller to a user (events pushed); False if not waiting.

        The user's line goes in use, the caller leaves the queue (counted
        completed, the user's membership carries the call) and a `QueueCdr`
        says who answered.
        """
        current = self.company.queues.get(queue_id)
        callers = current.callers if current is not None else []
        caller = next((c for c in callers if c.call_guid == call_guid), None)
        if caller is None:
            return False
        self.pickups.append((queue_id, call_guid, user_id))
        await self.set_user_status(user_id, 1)
        queue = copy.deepcopy(self.company.queues[queue_id])
        queue.callers = [c for c in queue.callers if c.call_guid != call_guid]
        queue.total += 1
        queue.completed += 1
        queue.holdtime += caller.wait
        queue.wait_longest = max(queue.wait_longest, caller.wait)
        for member in queue.members:
            if member.pbx_user_id == user_id:
                member.call_guid = call_guid
        queue.recount(self.company.statuses)
        await self.push_queue(queue)
        payload = self.company.queue_cdr(
            queue_id,
            call_guid=call_guid,
            callerid=caller.callerid,
            disposition="ANSWERED",
            agent_id=user_id,
            wait_time=caller.wait,
            reason="CONNECT",
        )
        await self.push_event("QueueCdr", payload)
        return True

    async def finish_call(
        self,
        user_id: str,
        *,
        direction: str = "IN",
        remote: str = "+46701234567",
        billsec: int = 0,
        disposition: str = "ANSWER",
        call_guid: str | None = None,
    ) -> dict[str, Any]:
        """Push the `Cdr` of a finished call of a user; return its payload."""
        payload = self.company.cdr(
            user_id,
            direction=direction,
            remote=remote,
            billsec=billsec,
            disposition=disposition,
            call_guid=call_guid,
        )
        await self.push_event("Cdr", payload)
        return payload

    # --- application ----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        @web.middleware
        async def api_middleware(
            request: web.Request, handler: _Handler
        ) -> web.StreamResponse:
            path = request.path
            if path.startswith(("/_sim/", "/events/")):
                return await handler(request)
            if self.rest_delay > 0:
                await asyncio.sleep(self.rest_delay)
            self.requests.append(f"{request.method} {path}")
            self.request_log.append((time.monotonic(), self.requests[-1]))
            fault = self._take_fault()
            if fault is not None:
                return fault
            path_fault = self._take_path_fault(path)
            if path_fault is not None:
                return await self._path_fault_response(request, handler, path_fault)
            return await handler(request)

        app = web.Application(middlewares=[api_middleware])
        app.router.add_post("/oauth2/user-credentials", self._oauth)
        app.router.add_get("/user/me", self._rest_me)
        app.router.add_get("/company/user", self._rest_users)
        app.router.add_get("/company/user/status", self._rest_statuses)
        app.router.add_get("/company/queue", self._rest_queues)
        app.router.add_get("/company/device", self._rest_devices)
        app.router.add_post(
            "/queue/{queue_id}/caller/{call_guid}/pickup", self._rest_pickup
        )
        app.router.add_get("/events/{id1}/{id2}/websocket", self._events)
        app.router.add_get("/_sim/state", self._sim_state)
        app.router.add_post("/_sim/{action}", self._sim_action)
        return app

    async def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than until the simulator stops."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _path_fault_response(
        self, request: web.Request, handler: _Handler, fault: _PathFault
    ) -> web.StreamResponse:
        if fault.hang:
            self._pending.append(request)
            try:
                await self._pause(fault.hang)
            finally:
                self._pending.remove(request)
        if fault.body is not None or fault.text is not None:
            self._authorize(request)
            if fault.text is not None:
                return web.Response(
                    status=fault.status or 200,
                    text=fault.text,
                    content_type=fault.content_type,
                )
            return web.json_response(fault.body, status=fault.status or 200)
        if fault.status is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return web.json_response(
                {"error": "simulated_failure", "status": fault.status},
                status=fault.status,
                headers=headers,
            )
        # The body is made now, from the state as it is now; sent later.
        response = await handler(request)
        if fault.rewrite is not None and isinstance(response, web.Response):
            assert response.body is not None
            items = json.loads(bytes(response.body))  # type: ignore[arg-type]
            response = web.json_response(fault.rewrite(items))
        await self._pause(fault.stale)
        return response

    # --- OAuth ----------------------------------------------------------------------------

    async def _oauth(self, request: web.Request) -> web.Response:
        form = await _read_form(request)
        if form is None:
            self.oauth_grants.append("")
            return _json_error(
                400, "invalid_request", "body must be JSON or form-encoded"
            )
        grant = form.get("grant_type", "")
        self.oauth_grants.append(grant)
        if time.monotonic() < self.token_down_until:
            if self.token_down_status is None:
                # No answer at all: the connection is cut, as by a proxy
                # whose upstream is gone; aiohttp ends the handler quietly.
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            return _json_error(self.token_down_status, "temporarily_unavailable")
        if self.token_status is not None:
            headers = {}
            if self.token_retry_after is not None:
                headers["Retry-After"] = str(self.token_retry_after)
            error = "invalid_grant" if self.token_status == 401 else "simulated_failure"
            return web.json_response(
                {"error": error}, status=self.token_status, headers=headers
            )
        if grant == "password":
            response = self._password_grant(form)
        elif grant == "refresh_token":
            response = self._refresh_grant(form)
        else:
            return _json_error(400, "unsupported_grant_type", f"grant_type {grant!r}")
        # The grant is done (a refresh token spent) whether or not the client
        # waits for the answer.
        await self._pause(self.token_answer_delay)
        return response

    def _client_ok(self, client_id: str) -> bool:
        return client_id.casefold() == f"external.{self.company.name}".casefold()

    def _password_grant(self, form: dict[str, str]) -> web.Response:
        missing = [
            key
            for key in ("client_id", "username", "password", "tfa")
            if key not in form
        ]
        if missing:
            return _json_error(400, "invalid_request", "missing " + ", ".join(missing))
        account = self.company.accounts.get(form["username"])
        if (
            not self._client_ok(form["client_id"])
            or account is None
            or not _same(account.password, form["password"])
        ):
            return _json_error(
                401, "invalid_grant", "wrong company, username or password"
            )
        if account.tfa_code and not _same(account.tfa_code, form["tfa"]):
            return _json_error(
                402, "invalid_tfa", "two-factor code missing, wrong or expired"
            )
        return self._issue(account)

    def _refresh_grant(self, form: dict[str, str]) -> web.Response:
        missing = [key for key in ("client_id", "refresh_token") if key not in form]
        if missing:
            return _json_error(400, "invalid_request", "missing " + ", ".join(missing))
        account = self._refresh.get(form["refresh_token"])
        if account is None or not self._client_ok(form["client_id"]):
            return _json_error(
                self.refresh_refused_status,
                "invalid_grant",
                "refresh token unknown or revoked",
            )
        del self._refresh[form["refresh_token"]]
        return self._issue(account)

    def _issue(self, account: Account) -> web.Response:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = _Token(account, time.monotonic() + self.token_lifetime)
        self._refresh[refresh] = account
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": max(1, int(self.token_lifetime)),
            "refresh_token": refresh,
        }
        if self.expires_in is ExpiresIn.MISSING:
            del body["expires_in"]
        elif not isinstance(self.expires_in, ExpiresIn):
            body["expires_in"] = self.expires_in
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def _account_for(self, token: str) -> Account | None:
        entry = self._access.get(token)
        if entry is None or time.monotonic() >= entry.expires_at:
            return None
        return entry.account

    # --- REST -----------------------------------------------------------------------------

    def _authorize(self, request: web.Request) -> Account:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        account = (
            self._account_for(token.strip()) if scheme.lower() == "bearer" else None
        )
        if account is None:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "invalid_token"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return account

    async def _rest_me(self, request: web.Request) -> web.Response:
        account = self._authorize(request)
        return web.json_response(self.company.me(account))

    async def _rest_users(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(self.company.rest_users())

    async def _rest_statuses(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(self.company.rest_statuses())

    async def _rest_queues(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(self.company.rest_queues())

    async def _rest_devices(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return web.json_response(self.company.rest_devices())

    async def _rest_pickup(self, request: web.Request) -> web.Response:
        account = self._authorize(request)
        # As the public client that uses this endpoint sends it.
        if request.content_type != "application/x-www-form-urlencoded":
            return _json_error(415, "unsupported_media_type", "send a form")
        queue_id = request.match_info["queue_id"]
        call_guid = request.match_info["call_guid"]
        if not await self.pickup_caller(queue_id, call_guid, account.pbx_user_id):
            return _json_error(404, "not_found", "no such caller waiting")
        return web.Response(status=204)

    # --- event pusher ---------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        id1, id2 = request.match_info["id1"], request.match_info["id2"]
        if not _ID1.fullmatch(id1) or not _ID2.fullmatch(id2):
            raise web.HTTPNotFound
        if self.refuse_events:
            self.events_refused += 1
            raise web.HTTPServiceUnavailable
        if self.events_delay > 0:
            self.events_held += 1
            self._pending.append(request)
            try:
                await self._pause(self.events_delay)
            finally:
                self.events_held -= 1
                self._pending.remove(request)
        if self._stopping.is_set():
            raise web.HTTPServiceUnavailable
        ws = web.WebSocketResponse(autoping=False, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text='Can "Upgrade" only to "WebSocket".')
        await ws.prepare(request)
        conn = _Connection(ws, request)
        self._connections.append(conn)
        self.connection_count += 1
        helpers = (
            asyncio.create_task(self._heartbeat(conn), name="nguc-sim-heartbeat"),
            asyncio.create_task(self._watch_token(conn), name="nguc-sim-expiry"),
            asyncio.create_task(self._limit_lifetime(conn), name="nguc-sim-lifetime"),
        )
        try:
            await conn.send("o")
            await self._serve(conn)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._connections.remove(conn)
            if not ws.closed:
                await conn.close()
        return ws

    async def _heartbeat(self, conn: _Connection) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(self.heartbeat_interval)
            if self.silent or conn.silenced:
                continue
            if self.ping_keepalive:
                async with conn.lock:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await conn.ws.ping()
            else:
                await conn.send("h")

    async def _limit_lifetime(self, conn: _Connection) -> None:
        """With `connection_lifetime`: close the websocket when it is up, no `c`."""
        lifetime = self.connection_lifetime
        if lifetime is None:
            return
        await asyncio.sleep(lifetime)
        self.closed_by_lifetime += 1
        await conn.close()

    async def _watch_token(self, conn: _Connection) -> None:
        """With `close_on_token_expiry`: close once the last token sent has expired."""
        while not conn.ws.closed:
            await asyncio.sleep(0.05)
            if (
                self.close_on_token_expiry
                and conn.authenticated
                and not conn.silenced
                and self._account_for(conn.tokens[-1]) is None
            ):
                await conn.close(close_frame(*TOKEN_EXPIRED))
                return

    async def _serve(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.auth_timeout
        while True:
            if conn.silenced:
                # Half-open: nothing is read (no pong, no close answered)
                # until the client gives up on the socket.
                while not conn.gone and not self._stopping.is_set():
                    await asyncio.sleep(0.05)
                return
            timeout: float | None = None
            if not conn.authenticated:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    await conn.close(close_frame(*AUTH_TIMEOUT))
                    return
            try:
                msg = await conn.ws.receive(timeout=timeout)
            except TimeoutError:
                await conn.close(close_frame(*AUTH_TIMEOUT))
                return
            if msg.type is WSMsgType.TEXT:
                if not await self._on_text(conn, msg.data):
                    return
            elif msg.type is WSMsgType.PING:
                if not self.silent:
                    await conn.pong(msg.data)
            elif msg.type in _CLOSED_TYPES:
                return

    async def _on_text(self, conn: _Connection, text: str) -> bool:
        """Handle one client frame; False when the connection was closed."""
        messages = _sockjs_messages(text)
        if messages is None:
            if conn.authenticated:
                return True
            await conn.close(close_frame(*AUTH_FAILED))
            return False
        for message in messages:
            self.client_messages.append(message)
            token = _authenticate_token(message)
            if token is None:
                if conn.authenticated:
                    continue
                await conn.close(close_frame(*AUTH_FAILED))
                return False
            if self.reject_auth or not token or self._account_for(token) is None:
                await conn.close(close_frame(*AUTH_FAILED))
                return False
            first = not conn.authenticated
            if not first:
                self.reauth_on_open_count += 1
            conn.authenticated = True
            conn.tokens.append(token)
            self.ws_tokens.append(token)
            self.authenticated_count += 1
            if first and self.close_after_auth_count > 0:
                self.close_after_auth_count -= 1
                self.closed_after_auth += 1
                await conn.close(self.close_after_auth_frame)
                return False
            if (
                first
                and self.heartbeat_on_accept
                and not self.silent
                and not self.ping_keepalive
            ):
                await conn.send("h")
        return True

    # --- HTTP control ---------------------------------------------------------------------

    async def _sim_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _sim_action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _json_error(400, "invalid_json")
        if not isinstance(body, dict):
            return _json_error(400, "invalid_json", "body must be a JSON object")
        try:
            handled = await self._control(action, body)
        except (KeyError, TypeError, ValueError, StopIteration) as err:
            return _json_error(400, "invalid_request", repr(err))
        if not handled:
            return _json_error(404, "unknown_action", action)
        return web.json_response({"ok": True, **self.state()})

    async def _control(self, action: str, body: dict[str, Any]) -> bool:
        match action:
            case "event":
                apply = bool(body.get("apply", True))
                if "events" in body:
                    events = [(str(name), payload) for name, payload in body["events"]]
                    await self.push_events(events, apply=apply)
                else:
                    await self.push_event(
                        str(body["name"]), body.get("payload"), apply=apply
                    )
            case "expire_tokens":
                self.expire_access_tokens()
            case "revoke_tokens":
                self.revoke_tokens()
            case "drop":
                await self.drop_connections()
            case "close":
                code = int(body.get("code", 3000))
                await self.close_connections(code, str(body.get("reason", "Go away!")))
            case "open_again":
                await self.send_open_again()
            case "silent":
                self.silent = bool(body.get("on", True))
            case "reject_auth":
                self.reject_auth = bool(body.get("on", True))
            case "refuse_events":
                self.refuse_events = bool(body.get("on", True))
            case "raw":
                await self.send_raw(str(body["frame"]))
            case "fail_rest":
                count, retry_after = body.get("count"), body.get("retry_after")
                self.fail_rest(
                    int(body.get("status", 500)),
                    count=None if count is None else int(count),
                    retry_after=None if retry_after is None else int(retry_after),
                )
            case "rest_delay":
                self.rest_delay = float(body.get("seconds", 0.0))
            case "clear":
                self.clear_faults()
            case "token_lifetime":
                self.token_lifetime = float(body["seconds"])
            case "heartbeat":
                self.heartbeat_interval = float(body["seconds"])
            case _:
                return await self._control_faults(action, body)
        return True

    async def _control_faults(self, action: str, body: dict[str, Any]) -> bool:
        """The fault-matrix actions of `POST /_sim/<action>`."""
        count = body.get("count")
        match action:
            case "close_after_auth":
                self.close_after_auth(
                    int(body.get("count", 1)),
                    int(body.get("code", GO_AWAY[0])),
                    str(body.get("reason", GO_AWAY[1])),
                )
            case "silence":
                self.silence_connections()
            case "fail_token":
                retry_after = body.get("retry_after")
                self.fail_token(
                    int(body.get("status", 401)),
                    retry_after=None if retry_after is None else int(retry_after),
                )
            case "expires_in":
                if body.get("missing"):
                    self.expires_in = ExpiresIn.MISSING
                else:
                    self.expires_in = body.get("value", ExpiresIn.DERIVED)
            case "fail_path":
                retry_after = body.get("retry_after")
                self.fail_path(
                    str(body["path"]),
                    int(body.get("status", 500)),
                    count=None if count is None else int(count),
                    retry_after=None if retry_after is None else int(retry_after),
                )
            case "hang_path":
                self.hang_path(
                    str(body["path"]),
                    float(body.get("seconds", 60.0)),
                    count=None if count is None else int(count),
                )
            case "truncate_path":
                self.truncate_path(
                    str(body["path"]),
                    int(body.get("n", 0)),
                    count=None if count is None else int(count),
                )
            case "unreadable_path":
                self.unreadable_path(
                    str(body["path"]), count=None if count is None else int(count)
                )
            case "clear_path":
                self.clear_path(str(body["path"]))
            case "events_delay":
                self.events_delay = float(body.get("seconds", 0.0))
            case "close_on_token_expiry":
                self.close_on_token_expiry = bool(body.get("on", True))
            case "scramble":
                await self.restart(
                    lambda company: company.scramble(random.Random(body.get("seed")))
                )
            case _:
                return self._control_connection_faults(action, body)
        return True

    def _control_connection_faults(self, action: str, body: dict[str, Any]) -> bool:
        """The token endpoint's and the connections' faults of `POST /_sim/<action>`."""
        match action:
            case "token_down":
                seconds, status = body.get("seconds"), body.get("status", 503)
                self.token_down(
                    None if seconds is None else float(seconds),
                    status=None if status is None else int(status),
                )
            case "slow_token":
                self.slow_token(float(body.get("seconds", 0.0)))
            case "refuse_refresh":
                self.refuse_refresh(int(body.get("status", 400)))
            case "ping_keepalive":
                self.ping_keepalive = bool(body.get("on", True))
            case "connection_lifetime":
                seconds = body.get("seconds")
                self.connection_lifetime = None if seconds is None else float(seconds)
            case _:
                return False
        return True


async def _read_form(request: web.Request) -> dict[str, str] | None:
    """Read an OAuth body, JSON or form-encoded; None when unreadable."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        items: Iterable[tuple[Any, Any]] = data.items()
    else:
        items = (await request.post()).items()
    return {
        str(key): value if isinstance(value, str) else str(value)
        for key, value in items
        if isinstance(value, str)
        or (isinstance(value, int | float) and not isinstance(value, bool))
    }


def _sockjs_messages(text: str) -> list[str] | None:
    """Decode a SockJS client frame (a JSON array of strings, or one JSON string)."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, str):
        return [data]
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return data
    return None


def _authenticate_token(message: str) -> str | None:
    """Return the bearer token of an `authenticate` message ("" if malformed), None if not one."""
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, list) or not data or data[0] != "authenticate":
        return None
    if len(data) != 2 or not isinstance(data[1], dict):
        return ""
    authorization = data[1].get("authorization")
    if not isinstance(authorization, str):
        return ""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
