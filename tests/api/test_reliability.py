"""Issue 6 for the client: only the token endpoint decides that credentials are bad.

Against the PyPI-``sockjs`` NGUC server (``nguc_sockjs_server``), the
simulator, and bare websocket servers, over loopback: rejections renew the
token once per run and are retried with growing backoff, never an
authentication error; rejections are counted for a repair issue; closes and
refused handshakes are logged with their codes, never with a secret; token
lifetimes are bounded; a renewal during the handshake is sent at once; bad
frames cost one log line and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.weblink_nguc.api import (
    NgucClient,
    NgucEventStream,
    NgucTwoFactorError,
    contract,
)
from tests.api.nguc_sockjs_server import (
    COMPANY,
    OMITTED,
    TFA_CODE,
    TFA_USERNAME,
    USERNAME,
    Connection,
    NgucSockJsServer,
    Script,
)
from tests.api.test_events import RawServer, RecordingRandom
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

EVENTS_LOGGER = "custom_components.weblink_nguc.api.events"
SECRET = "Very-Secret-Pässword-42"
EVENT = ("UserStatus", {"pbx_user_id": "1001", "status": "8", "status_text": "Ringing"})


@dataclass
class Recorder:
    """What a user of the stream sees through its callbacks."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)

    def on_event(self, name: str, payload: Any) -> None:
        self.events.append((name, payload))

    def on_connected(self) -> None:
        self.log.append("connected")

    def on_disconnected(self) -> None:
        self.log.append("disconnected")

    def on_rejected(self, count: int) -> None:
        self.rejected.append(count)
        self.log.append(f"rejected {count}")


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def make_stream(
    client: NgucClient, rec: Recorder, events_url: str | None = None, **kwargs: Any
) -> NgucEventStream:
    kwargs.setdefault("auth_grace", 0.3)
    kwargs.setdefault("backoff_base", 0.02)
    kwargs.setdefault("backoff_cap", 0.1)
    return NgucEventStream(
        client._session,
        events_url or client.events_url,
        client.auth,
        on_event=rec.on_event,
        on_connected=rec.on_connected,
        on_disconnected=rec.on_disconnected,
        on_rejected=rec.on_rejected,
        **kwargs,
    )


@contextlib.asynccontextmanager
async def running(stream: NgucEventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        await stream.stop()
        assert task.done()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@contextlib.asynccontextmanager
async def nguc_server(
    script: Script | None = None, *, username: str = USERNAME, **kwargs: Any
) -> AsyncIterator[tuple[NgucSockJsServer, NgucClient]]:
    """The PyPI-sockjs server, and a client logged in to it."""
    server = NgucSockJsServer(script=script, **kwargs)
    server.password = SECRET
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = NgucClient(
                session,
                company=COMPANY,
                username=username,
                password=SECRET,
                api_url=server.api_url,
                events_url=server.events_url,
            )
            yield server, client
    finally:
        await server.stop()
    assert server.errors == []


def per_connection(scripts: dict[int, Script], default: Script | None = None) -> Script:
    async def script(conn: Connection) -> None:
        chosen = scripts.get(conn.number, default)
        if chosen is not None:
            await chosen(conn)

    return script


async def go_away(conn: Connection) -> None:
    conn.close(3000, "Go away!")


async def one_event(conn: Connection) -> None:
    conn.send_event(*EVENT)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == EVENTS_LOGGER and r.levelno == logging.WARNING
    ]


# --- rejections: one renewal per run, backoff, counted, never NgucAuthError -----------


async def test_two_go_aways_in_a_row_then_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 6's first case, in process: counted, renewed once, no auth error."""
    caplog.set_level(logging.DEBUG)
    script = per_connection({1: go_away, 2: go_away}, default=one_event)
    async with nguc_server(script, expires_in="0") as (server, client):
        await client.login()
        rec = Recorder()
        stream = make_stream(client, rec)
        async with running(stream) as task:
            await wait_until(lambda: rec.events == [EVENT])
            assert not task.done()
            assert stream.connected
            assert stream.rejected_in_a_row == 0
    assert rec.log == ["rejected 1", "rejected 2", "connected", "disconnected"]
    assert server.grants == ["password", "refresh_token"]
    tokens = [conn.tokens[0] for conn in server.connections]
    assert tokens[0] != tokens[1] == tokens[2]  # renewed once, for the run
    assert warnings(caplog)[0] == (
        "Event stream: the server closed the session with c[3000, 'Go away!'] "
        "before accepting the token"
    )
    # No secret in any log line of any logger, at any level.
    text = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert SECRET not in text
    for secret in server.issued:
        assert secret not in text


async def test_close_after_the_grace_before_any_event() -> None:
    """The grace proves nothing: one renewal for the run, then backoff grows.

    Each connection counts as connected after the grace (so a coordinator
    re-reads its state), but the server never proves it accepted the token:
    the reconnects slow down instead of looping with the same token.
    """

    async def late_go_away(conn: Connection) -> None:
        await asyncio.sleep(0.3)
        conn.close(3000, "Go away!")

    rng = RecordingRandom()
    async with nguc_server(late_go_away) as (server, client):
        await client.login()
        rec = Recorder()
        stream = make_stream(
            client, rec, auth_grace=0.1, backoff_base=0.05, backoff_cap=0.4, rng=rng
        )
        async with running(stream) as task:
            await wait_until(lambda: len(rec.rejected) >= 5, timeout=10)
            assert not task.done()
    assert server.grants == ["password", "refresh_token"]
    tokens = [conn.tokens[0] for conn in server.connections[:5]]
    assert len(set(tokens)) == 2
    assert tokens[1:] == [tokens[1]] * 4
    assert rng.ceilings[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert rec.rejected[:5] == [1, 2, 3, 4, 5]
    assert rec.log[:6] == [
        "connected",
        "disconnected",
        "rejected 1",
        "connected",
        "disconnected",
        "rejected 2",
    ]


def authenticated(server: NgucSockJsServer) -> list[Connection]:
    """The connections that sent a token (a slow one may not have yet)."""
    return [conn for conn in server.connections if conn.tokens]


async def test_a_long_run_of_rejections_renews_again_now_and_then() -> None:
    """A token revoked on the server after the run's first renewal is not kept.

    The run renews at its first rejection and again every
    ``RENEW_EVERY_REJECTIONS``, so a dead token is not retried for its whole
    life (a day at most); the token requests stay few.
    """
    rec = Recorder()
    async with nguc_server(go_away) as (server, client):
        await client.login()
        stream = make_stream(client, rec)
        async with running(stream) as task:
            await wait_until(lambda: len(authenticated(server)) >= 11, timeout=20)
            assert not task.done()
        renewals = server.grants.count("refresh_token")
        tokens = [conn.tokens[0] for conn in authenticated(server)[:11]]
    assert server.grants[0] == "password"
    # Renewed before connections 2, 7 and 12 (at rejections 1, 6 and 11).
    assert len(set(tokens)) == 3
    assert tokens[1:6] == [tokens[1]] * 5
    assert tokens[6:11] == [tokens[6]] * 5
    assert renewals in (2, 3)


async def test_rejected_with_a_token_used_before_is_not_counted() -> None:
    """Only rejections of freshly issued tokens count towards a repair issue."""

    async def event_then_close(conn: Connection) -> None:
        conn.send_event(*EVENT)
        await asyncio.sleep(0.05)
        conn.close(1000, "Bye")

    script = per_connection({1: event_then_close, 2: go_away, 3: go_away}, one_event)
    async with nguc_server(script) as (server, client):
        await client.login()
        rec = Recorder()
        async with running(make_stream(client, rec)):
            await wait_until(lambda: len(rec.events) == 2)
    # 2: the token of connection 1, used before: renewed, not counted.
    # 3: the renewed token, rejected: counted. 4: accepted.
    assert rec.rejected == [1]
    assert server.grants == ["password", "refresh_token"]
    tokens = [conn.tokens[0] for conn in server.connections]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]


async def test_reject_code_after_acceptance_counts_as_rejection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A close code listed in contract.REJECT_CLOSE_CODES renews the token."""
    monkeypatch.setattr(contract, "REJECT_CLOSE_CODES", frozenset({4401}))

    async def event_then_reject(conn: Connection) -> None:
        conn.send_event(*EVENT)
        await asyncio.sleep(0.05)
        conn.close(4401, "Token revoked")

    script = per_connection({1: event_then_reject}, one_event)
    async with nguc_server(script) as (server, client):
        await client.login()
        rec = Recorder()
        async with running(make_stream(client, rec)):
            await wait_until(lambda: len(rec.events) == 2)
    assert server.refreshes == 1
    first, second = (conn.tokens[0] for conn in server.connections)
    assert first != second
    assert rec.log == [
        "connected",
        "disconnected",
        "rejected 1",
        "connected",
        "disconnected",
    ]


async def test_renewal_after_a_rejection_answered_402_needs_a_person() -> None:
    """Only the token endpoint's verdict ends run(): here, a two-factor code."""
    async with nguc_server(username=TFA_USERNAME) as (server, client):
        await client.login(TFA_CODE)
        server.revoke_tokens()  # the server restarted and forgot every token
        rec = Recorder()
        stream = make_stream(client, rec)
        with pytest.raises(NgucTwoFactorError):
            async with asyncio.timeout(5):
                await stream.run()
    assert server.grants == ["password", "refresh_token", "password"]
    assert server.rejections == 1
    assert rec.rejected == [1]


# --- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("expires_in", [0, "0", -60, OMITTED, None, "abc", "1e-9"])
async def test_token_requests_stay_bounded(expires_in: Any) -> None:
    """Whatever expires_in says, a stream and REST calls need one token for a while."""

    async def chatty(conn: Connection) -> None:
        for n in range(20):
            conn.send_event("Tick", {"n": n})
            await asyncio.sleep(0.05)

    async with nguc_server(chatty, expires_in=expires_in) as (server, client):
        rec = Recorder()
        async with running(make_stream(client, rec)):
            for _ in range(10):
                await client.get_json("/company/user")
            await wait_until(lambda: len(rec.events) == 20)
    assert server.token_requests == 1
    assert len(server.connections) == 1


async def test_renewal_during_the_handshake_is_sent_at_once(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Token read, then renewed before ``authenticate``: the new one follows."""
    client = NgucClient(
        session,
        company="demo",
        username="demo",
        password="demo",
        api_url=simulator.api_url,
    )
    first = (await client.login()).access_token
    received: list[str] = []

    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        # The client has read its token and is connecting: renew it now.
        await client.auth.async_get_access_token(force_refresh=True)
        await ws.send_str("o")
        for _ in range(2):
            msg = await ws.receive(timeout=1.0)
            received.append(json.loads(json.loads(msg.data)[0])[1]["authorization"])
        await ws.send_str("a" + json.dumps([json.dumps(list(EVENT))]))
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        async with running(make_stream(client, rec, events_url=server.url)):
            await wait_until(lambda: rec.events == [EVENT])
    assert client.auth.tokens is not None
    second = client.auth.tokens.access_token
    assert received == [f"Bearer {first}", f"Bearer {second}"]
    assert server.connections == 1
    assert simulator.oauth_grants == ["password", "refresh_token"]


# --- closes and handshakes are logged with their codes -------------------------------


async def test_refused_handshake_logged_with_its_status_once(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = NgucClient(
        session,
        company="demo",
        username="demo",
        password="demo",
        api_url=simulator.api_url,
        events_url=simulator.events_url,
    )
    simulator.refuse_events = True
    rng = RecordingRandom()
    rec = Recorder()
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(make_stream(client, rec, rng=rng)):
            await wait_until(lambda: len(rng.ceilings) >= 3)
            simulator.refuse_events = False
            await wait_until(lambda: simulator.authenticated_connections == 1)
    assert warnings(caplog) == [
        "Event stream: the server refused the websocket (HTTP 503)"
    ]
    assert rec.rejected == []  # a handshake says nothing about the token


async def test_websocket_close_codes_logged_and_early_close_is_a_rejection(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A websocket close (no ``c[...]``) before acceptance: rejection, code logged."""
    client = NgucClient(
        session,
        company="demo",
        username="demo",
        password="demo",
        api_url=simulator.api_url,
    )
    await client.login()

    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        await ws.send_str("o")
        await ws.receive()  # authenticate
        if server.connections == 1:
            await ws.close(code=4000, message=b"policy")
            return
        await ws.send_str("a" + json.dumps([json.dumps(list(EVENT))]))
        await asyncio.sleep(0.05)
        await ws.close(code=4001, message=b"later")

    async with RawServer.running(script) as server:
        rec = Recorder()
        stream = make_stream(client, rec, events_url=server.url)
        stream._close_log._interval = 0  # every close, for this test
        with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
            async with running(stream):
                await wait_until(lambda: server.connections >= 3)
    logged = warnings(caplog)
    assert logged[:2] == [
        (
            "Event stream: the server closed the websocket (close code 4000) "
            "before accepting the token"
        ),
        "Event stream: the server closed the websocket (close code 4001)",
    ]
    assert rec.rejected == [1]
    assert simulator.oauth_grants == ["password", "refresh_token"]


# --- bad input: one log line, nothing else lost ----------------------------------------


async def test_frames_over_one_mib_delivered_over_four_mib_reconnect(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1.5 MiB frame is delivered (and logged); one over aiohttp's 4 MiB limit
    ends only its connection: the stream reconnects and delivers what follows.
    """
    client = NgucClient(
        session,
        company="demo",
        username="demo",
        password="demo",
        api_url=simulator.api_url,
        events_url=simulator.events_url,
    )
    big = "x" * (3 << 19)  # 1.5 MiB
    huge = "y" * (5 << 20)  # 5 MiB
    rec = Recorder()
    stream = make_stream(client, rec)
    stream._bad_frame_log._interval = 0
    stream._close_log._interval = 0
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(stream) as task:
            await simulator.wait_for_connections(1)
            await simulator.push_events(
                [("Big", {"text": big}), ("Small", {})], apply=False
            )
            await wait_until(lambda: len(rec.events) == 2)
            await simulator.push_events([("Huge", {"text": huge})], apply=False)
            await wait_until(lambda: simulator.connection_count == 2)
            await simulator.wait_for_connections(1)
            await simulator.push_event("After", {}, apply=False)
            await wait_until(lambda: len(rec.events) == 3)
            assert not task.done()
    assert [name for name, _ in rec.events] == ["Big", "Small", "After"]
    assert rec.events[0][1]["text"] == big
    logged = warnings(caplog)
    assert logged[0].startswith("Event stream: a frame of 1572")
    assert "close code 1009" in logged[1]
    assert len(logged) == 2


async def test_unknown_frame_type_and_second_open(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = NgucClient(
        session,
        company="demo",
        username="demo",
        password="demo",
        api_url=simulator.api_url,
        events_url=simulator.events_url,
    )
    rec = Recorder()
    stream = make_stream(client, rec)
    stream._bad_frame_log._interval = 0
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(stream):
            await simulator.wait_for_connections(1)
            await simulator.send_raw('x["what"]')
            await simulator.push_event("Kept", {}, apply=False)
            await wait_until(lambda: len(rec.events) == 1)
            await simulator.send_open_again()
            await wait_until(lambda: simulator.connection_count == 2)
            await simulator.wait_for_connections(1)
            await simulator.push_event("Again", {}, apply=False)
            await wait_until(lambda: len(rec.events) == 2)
    assert rec.events == [("Kept", {}), ("Again", {})]
    assert warnings(caplog) == [
        "Skipping a malformed frame: unknown frame type 'x'",
        "Event stream: the server opened the session again; reconnecting",
    ]
    assert rec.rejected == []
