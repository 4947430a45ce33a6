"""An NGUC-compatible server built on the PyPI ``sockjs`` package, for interop tests.

Unlike ``tests.simulator``, the event pusher here is a real third-party SockJS
server: it sends websocket pings instead of ``h`` frames and packs several
sends in a row into one ``a[...]`` frame. OAuth and the REST seed endpoints
follow /work/shared/nguc-api.md with small fixed data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
import contextlib
import copy
from dataclasses import dataclass, field
from http import HTTPStatus
import json
import secrets
import time
from typing import Any

from aiohttp import web
import sockjs  # type: ignore[import-untyped]

COMPANY = "acme"
USERNAME = "u"
PASSWORD = "p"
TFA_USERNAME = "t"
TFA_CODE = "654321"
AUTH_FAILED = (2010, "Authentication failed")

ME = {
    "id": "1001",
    "username": USERNAME,
    "name": "Ulla Åkesson",
    "company_id": "77",
    "company_name": COMPANY,
}
USERS = [
    {"id": "1001", "name": "Ulla Åkesson", "extension": "201", "email": "u@acme.test"},
    {"id": "1002", "name": "Örjan Ek", "extension": "202", "email": "o@acme.test"},
]
STATUSES = [
    {"pbx_user_id": "1001", "status": "0", "status_text": "Idle"},
    {"pbx_user_id": "1002", "status": "1", "status_text": "InUse"},
]
QUEUES = [
    {
        "queue": {"id": "7", "name": "Kundtjänst", "waiting": "0", "total": "3"},
        "members": [
            {"pbx_user_id": "1001", "avg_call_length": "60", "call_guid": None}
        ],
        "callers": [],
    }
]
DEVICES = [
    {
        "id": "9101",
        "pbx_user_id": "1001",
        "name": "Bordstelefon",
        "model": "Yealink T54W",
        "status": "1",
        "status_text": "Registered",
    }
]

type Script = Callable[[Connection], Coroutine[Any, Any, None]]

#: ``expires_in`` values meaning "say the token's real lifetime" and "leave it out".
FROM_LIFETIME: Any = object()
OMITTED: Any = object()


@dataclass(eq=False)
class Connection:
    """One SockJS websocket session as the server sees it."""

    number: int
    session: sockjs.Session
    server: NgucSockJsServer
    tokens: list[str] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        """Return True once either side began closing the session."""
        return self.session.state is not sockjs.SessionState.OPEN

    @property
    def authenticated(self) -> bool:
        """Return True once a valid ``authenticate`` arrived."""
        return bool(self.tokens)

    def send_event(self, name: str, payload: Any, *, ensure_ascii: bool = True) -> bool:
        """Queue one event; sends in a row share one ``a[...]`` frame.

        With ``enforce_token_expiry``, a connection whose last token expired is
        closed instead, as a server would that insists on re-authentication.
        """
        if self.server.enforce_token_expiry and not self.server.token_valid(
            self.tokens[-1] if self.tokens else ""
        ):
            self.close(2011, "Token expired")
            return False
        text = json.dumps([name, payload], ensure_ascii=ensure_ascii)
        if not self.session.send(text):
            return False  # the session is closing or closed
        self.server.sent.append((name, payload))
        return True

    def close(self, code: int = 3000, reason: str = "Go away!") -> None:
        """Send ``c[code,"reason"]`` and close the websocket."""
        self.session.close(code, reason)


class NgucSockJsServer:
    """OAuth, the five REST seed endpoints, pickup and a PyPI-sockjs event pusher.

    ``script`` runs (as a task) once per connection, when it first
    authenticates; it may send events and close the connection.
    """

    def __init__(
        self,
        *,
        token_lifetime: float = 3600.0,
        heartbeat: float = 25.0,
        script: Script | None = None,
        reject_ws_auth: bool = False,
        enforce_token_expiry: bool = False,
        expires_in: Any = FROM_LIFETIME,
        connection_lifetime: float | None = None,
    ) -> None:
        """Configure a stopped server (call :meth:`start`).

        ``expires_in`` is what token answers say, whatever the real lifetime.
        ``connection_lifetime`` closes each session that many seconds after it
        opened (``c[1001,"Connection lifetime"]``), as a server or proxy with
        a connection lifetime does. (Cutting the TCP connection instead makes
        PyPI sockjs raise on its next ping, in a task nobody awaits.)
        """
        self.token_lifetime = token_lifetime
        self.expires_in = expires_in
        #: The password of both accounts.
        self.password = PASSWORD
        self.heartbeat = heartbeat
        self.script = script
        self.reject_ws_auth = reject_ws_auth
        self.enforce_token_expiry = enforce_token_expiry
        self.connection_lifetime = connection_lifetime
        #: Sessions closed by ``connection_lifetime``.
        self.cut = 0
        #: Answer this many of the next token requests with 503.
        self.oauth_failures = 0
        #: Close this many of the next connections with ``c[3000,"Go away!"]``
        #: right after they authenticate (see :meth:`maintenance`).
        self.go_away_after_auth = 0
        #: REST paths that answer 404 for now, as an endpoint that is missing.
        self.not_found: set[str] = set()
        #: REST paths that answer this status for now (e.g. 403: refused).
        self.rest_status: dict[str, int] = {}
        #: REST paths whose next answer (one each) is an empty list ``[]``.
        self.empty_once: set[str] = set()
        #: REST paths whose next answer (one each) holds only the first
        #: so many items, as a truncated page would.
        self.truncate_once: dict[str, int] = {}
        #: While True, the token endpoint answers every request with 503.
        self.token_down = False
        # Observations.
        self.grants: list[str] = []
        self.connections: list[Connection] = []
        self.authentications = 0
        self.reauthentications = 0
        self.rejections = 0
        self.client_messages: list[str] = []
        self.sent: list[tuple[str, Any]] = []
        #: Every access and refresh token issued, in order.
        self.issued: list[str] = []
        #: The path of every REST read that carried a valid token, in order.
        self.rest_reads: list[str] = []
        #: Every pickup request that carried a valid token: (queue id, call id,
        #: content type), in order.
        self.pickups: list[tuple[str, str, str]] = []
        #: The REST truth, by path: copies of the module's data, which a test
        #: may change (e.g. while the client is disconnected).
        self.rest: dict[str, Any] = copy.deepcopy(
            {
                "/user/me": ME,
                "/company/user": USERS,
                "/company/user/status": STATUSES,
                "/company/queue": QUEUES,
                "/company/device": DEVICES,
            }
        )
        self.errors: list[BaseException] = []
        # State.
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._by_session: dict[str, Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def api_url(self) -> str:
        """Base URL of the REST API and the token endpoint."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def events_url(self) -> str:
        """Base URL of the event pusher (the client appends the session path)."""
        return f"ws://127.0.0.1:{self._port}/events"

    @property
    def token_requests(self) -> int:
        """Return how many requests the token endpoint answered."""
        return len(self.grants)

    @property
    def refreshes(self) -> int:
        """Return how many refresh-token grants were asked for."""
        return self.grants.count("refresh_token")

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._tasks_before = asyncio.all_tasks()
        app = web.Application()
        app.router.add_post("/oauth2/user-credentials", self._oauth)
        for path in self.rest:
            app.router.add_get(path, self._rest(path))
        app.router.add_post("/queue/{queue_id}/caller/{call_guid}/pickup", self._pickup)
        sockjs.add_endpoint(
            app,
            self._handler,
            name="nguc",
            prefix="/events",
            heartbeat_delay=self.heartbeat,
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every session, stop the server; leave no task behind."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in self.connections:
            if not conn.closed:
                conn.close(1001, "Server shutting down")
        runner, self._runner = self._runner, None
        if runner is None:
            return
        manager = sockjs.get_manager("nguc", runner.app)
        gc_task = manager._gc_task
        await runner.cleanup()
        if gc_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await gc_task
        # sockjs cancels its per-session tasks without waiting for them.
        current = asyncio.current_task()
        pending = asyncio.all_tasks() - self._tasks_before - {current}
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    @property
    def live_connections(self) -> list[Connection]:
        """Return the connections that authenticated and are still open."""
        return [c for c in self.connections if c.authenticated and not c.closed]

    def broadcast(self, name: str, payload: Any) -> int:
        """Send one event on every live connection; return how many took it."""
        return sum(conn.send_event(name, payload) for conn in self.live_connections)

    async def wait_until(
        self, condition: Callable[[], bool], timeout: float = 5.0
    ) -> None:
        """Wait until ``condition()`` holds; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    def maintenance(self, connections: int = 2) -> int:
        """Close as a rolling restart does; return how many live connections closed.

        Every live connection, then each of the next ``connections`` right
        after it authenticates, is closed with ``c[3000,"Go away!"]``; the
        tokens stay valid all along.
        """
        self.go_away_after_auth += connections
        live = self.live_connections
        for conn in live:
            conn.close(3000, "Go away!")
        return len(live)

    def revoke_tokens(self) -> None:
        """Forget every access and refresh token issued so far."""
        self._access.clear()
        self._refresh.clear()

    def token_valid(self, token: str) -> bool:
        """Return True for an access token issued here and not yet expired."""
        return time.monotonic() < self._access.get(token, 0.0)

    async def _cut_after(self, conn: Connection, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not conn.closed:
            self.cut += 1
            conn.close(1001, "Connection lifetime")

    # --- OAuth and REST ---------------------------------------------------------

    async def _oauth(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await request.json()
            form = (
                {str(k): str(v) for k, v in body.items()}
                if isinstance(body, dict)
                else {}
            )
        else:
            form = {k: str(v) for k, v in (await request.post()).items()}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if self.token_down:
            return _error(503, "temporarily_unavailable")
        if self.oauth_failures > 0:
            self.oauth_failures -= 1
            return _error(503, "temporarily_unavailable")
        if form.get("client_id") != f"external.{COMPANY}":
            return _error(401, "invalid_client")
        if grant == "password":
            if "tfa" not in form:
                return _error(400, "invalid_request")
            if (
                form.get("username") == USERNAME
                and form.get("password") == self.password
            ):
                return self._issue()
            if (
                form.get("username") == TFA_USERNAME
                and form.get("password") == self.password
            ):
                if form["tfa"] != TFA_CODE:
                    return _error(402, "invalid_tfa")
                return self._issue()
            return _error(401, "invalid_grant")
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self._refresh:
                return _error(401, "invalid_grant")
            self._refresh.discard(refresh)
            return self._issue()
        return _error(400, "unsupported_grant_type")

    def _issue(self) -> web.Response:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self._access[access] = time.monotonic() + self.token_lifetime
        self._refresh.add(refresh)
        self.issued += [access, refresh]
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "refresh_token": refresh,
        }
        if self.expires_in is FROM_LIFETIME:
            body["expires_in"] = max(1, round(self.token_lifetime))
        elif self.expires_in is not OMITTED:
            body["expires_in"] = self.expires_in
        return web.json_response(body)

    def _rest(self, path: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not self.token_valid(token):
                return _error(401, "invalid_token")
            self.rest_reads.append(path)
            if path in self.not_found:
                return _error(404, "not_found")
            if (status := self.rest_status.get(path)) is not None:
                return _error(status, HTTPStatus(status).phrase.lower())
            if path in self.empty_once:
                self.empty_once.discard(path)
                return web.json_response([])
            if (keep := self.truncate_once.pop(path, None)) is not None:
                return web.json_response(self.rest[path][:keep])
            return web.json_response(self.rest[path])

        return handle

    async def _pickup(self, request: web.Request) -> web.Response:
        """Answer a waiting caller: 204 if the REST queue lists them, else 404.

        Only records the request; what follows (events) is the test's to send.
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not self.token_valid(token):
            return _error(401, "invalid_token")
        queue_id = request.match_info["queue_id"]
        call_guid = request.match_info["call_guid"]
        self.pickups.append((queue_id, call_guid, request.content_type))
        waiting = {
            (str(queue["queue"].get("id")), str(caller.get("call_guid")))
            for queue in self.rest["/company/queue"]
            for caller in queue.get("callers") or []
        }
        if (queue_id, call_guid) not in waiting:
            return _error(404, "not_found")
        return web.Response(status=204)

    # --- SockJS -----------------------------------------------------------------

    async def _handler(
        self,
        manager: sockjs.SessionManager,
        session: sockjs.Session,
        msg: sockjs.SockjsMessage,
    ) -> None:
        """The PyPI-sockjs handler: open, message, close and closed."""
        if msg.type is sockjs.MsgType.OPEN:
            conn = Connection(len(self.connections) + 1, session, self)
            self.connections.append(conn)
            self._by_session[session.id] = conn
            if self.connection_lifetime is not None:
                task = asyncio.create_task(
                    self._cut_after(conn, self.connection_lifetime)
                )
                self._tasks.add(task)
                task.add_done_callback(self._script_done)
            return
        conn = self._by_session[session.id]
        if msg.type is not sockjs.MsgType.MESSAGE:
            return  # CLOSE or CLOSED: ``conn.closed`` reads the session state
        text = str(msg.data)
        self.client_messages.append(text)
        token = _bearer_token(text)
        if token is None:
            return  # not an authenticate message: ignored
        if self.reject_ws_auth or not self.token_valid(token):
            self.rejections += 1
            conn.close(*AUTH_FAILED)
            return
        self.authentications += 1
        first = not conn.authenticated
        if not first:
            self.reauthentications += 1
        conn.tokens.append(token)
        if first and self.go_away_after_auth > 0:
            self.go_away_after_auth -= 1
            conn.close(3000, "Go away!")
            return
        if first and self.script is not None:
            task = asyncio.create_task(self.script(conn))
            self._tasks.add(task)
            task.add_done_callback(self._script_done)

    def _script_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.errors.append(error)


def _bearer_token(message: str) -> str | None:
    """Return the token of ``["authenticate",{...}]`` ("" if malformed), else None."""
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, list) or not data or data[0] != "authenticate":
        return None
    details = data[1] if len(data) == 2 and isinstance(data[1], dict) else {}
    scheme, _, token = str(details.get("authorization", "")).partition(" ")
    return token if scheme == "Bearer" else ""


def _error(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)
