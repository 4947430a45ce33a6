"""The SockJS event stream against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
import contextlib
import json
import logging
import random
import re
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
import pytest

from custom_components.weblink_nguc.api import (
    AuthTimings,
    NgucAuthError,
    NgucClient,
    NgucEventStream,
    TokenSet,
)
from custom_components.weblink_nguc.api.backoff import Backoff
from tests.simulator import Simulator, demo_company

pytestmark = pytest.mark.usefixtures("socket_enabled")

EVENTS_LOGGER = "custom_components.weblink_nguc.api.events"
# Tests of rejection: a close this soon after authenticate is a rejection,
# however slow the machine running the tests.
REJECT_GRACE = 1.0
WS_PATH = re.compile(r"/events/[0-9]{3}/[a-z0-9]{10,40}/websocket")


# --- helpers --------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll ``condition`` (simulator counters have no events to wait on)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class Recorder:
    """Collects what a user of the stream sees through its callbacks."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.log: list[str] = []

    def on_event(self, name: str, payload: Any) -> None:
        self.events.append((name, payload))

    def on_connected(self) -> None:
        self.log.append("connected")

    def on_disconnected(self) -> None:
        self.log.append("disconnected")

    async def wait_events(self, n: int, timeout: float = 3.0) -> None:
        await wait_until(lambda: len(self.events) >= n, timeout)

    async def wait_log(self, *expected: str, timeout: float = 3.0) -> None:
        await wait_until(lambda: self.log == list(expected), timeout)


class RecordingRandom(random.Random):
    """A seeded Random that remembers the upper bound of every jitter draw."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__(seed)
        self.ceilings: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.ceilings.append(b)
        return super().uniform(a, b)


class OpenWatch:
    """Samples the simulator's open websockets to find the most at any time."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.most = 0

    async def _sample(self) -> None:
        while True:
            self.most = max(self.most, self.sim.open_connections)
            await asyncio.sleep(0.001)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[OpenWatch]:
        task = asyncio.create_task(self._sample())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def ws_urls() -> list[str]:
    return []


@pytest.fixture
async def session(ws_urls: list[str]) -> AsyncGenerator[aiohttp.ClientSession]:
    """A session that records every URL it opens, and keeps no idle connection."""

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        ws_urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), trace_configs=[trace]
    ) as client_session:
        yield client_session


def make_client(
    session: aiohttp.ClientSession, sim: Simulator, **kwargs: Any
) -> NgucClient:
    kwargs.setdefault("password", "demo")
    return NgucClient(
        session,
        company="demo",
        username="demo",
        api_url=sim.api_url,
        events_url=sim.events_url,
        **kwargs,
    )


@pytest.fixture
async def client(simulator: Simulator, session: aiohttp.ClientSession) -> NgucClient:
    client = make_client(session, simulator)
    await client.login()
    return client


def make_stream(
    client: NgucClient,
    rec: Recorder,
    *,
    events_url: str | None = None,
    **kwargs: Any,
) -> NgucEventStream:
    kwargs.setdefault("heartbeat", 5.0)
    kwargs.setdefault("auth_grace", 0.1)
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("backoff_cap", 0.05)
    kwargs.setdefault("on_connected", rec.on_connected)
    kwargs.setdefault("on_disconnected", rec.on_disconnected)
    return NgucEventStream(
        client._session,
        events_url or client.events_url,
        client.auth,
        on_event=rec.on_event,
        **kwargs,
    )


@contextlib.asynccontextmanager
async def running(stream: NgucEventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run(), name="test-stream")
    try:
        yield task
    finally:
        await stream.stop()
        assert task.done()


def events_paths(urls: list[str]) -> list[str]:
    return [re.sub(r"^ws://[^/]+", "", url) for url in urls if "/events/" in url]


def event_element(name: str, payload: Any) -> str:
    return json.dumps([name, payload])


def frame(*elements: Any) -> str:
    return "a" + json.dumps(list(elements))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == EVENTS_LOGGER and r.levelno == logging.WARNING
    ]


# --- connecting and authenticating ---------------------------------------------------


async def test_events_through_the_client(
    simulator: Simulator, client: NgucClient, ws_urls: list[str]
) -> None:
    """The client's factory: connect, authenticate, deliver events in order."""
    rec = Recorder()
    stream = client.event_stream(
        rec.on_event, on_connected=rec.on_connected, on_disconnected=rec.on_disconnected
    )
    async with running(stream):
        await simulator.wait_for_connections(1)
        assert client.auth.tokens is not None
        token = client.auth.tokens.access_token
        assert simulator.client_messages == [
            '["authenticate",{"authorization":"Bearer ' + token + '"}]'
        ]
        await simulator.set_user_status("86480", 8)
        await rec.wait_events(1)
        assert rec.events == [
            (
                "UserStatus",
                {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"},
            )
        ]
        assert rec.log == ["connected"]  # an event proves the login
        assert stream.connected
        assert stream.events == 1
        assert stream.connections == 1
    (path,) = events_paths(ws_urls)
    assert WS_PATH.fullmatch(path), path
    assert rec.log == ["connected", "disconnected"]
    assert not stream.connected


async def test_authenticate_exact_frame(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """The frame on the wire is a JSON array holding one JSON string."""
    received: list[str] = []

    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        await ws.send_str("o")
        msg = await ws.receive()
        received.append(msg.data)
        await ws.send_str(frame(event_element("Hello", {})))
        await ws.receive()

    async with RawServer.running(script) as server:
        client = raw_client(session, server, token="T0k.en")
        rec = Recorder()
        async with running(make_stream(client, rec, events_url=server.url)):
            await rec.wait_events(1)
    assert received == [
        '["[\\"authenticate\\",{\\"authorization\\":\\"Bearer T0k.en\\"}]"]'
    ]
    assert json.loads(json.loads(received[0])[0]) == [
        "authenticate",
        {"authorization": "Bearer T0k.en"},
    ]


async def test_connected_after_grace_without_events(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    stream = make_stream(client, rec)
    assert not stream.connected
    async with running(stream):
        await rec.wait_log("connected")
        assert stream.connected
        assert simulator.authenticated_connections == 1
    assert rec.log == ["connected", "disconnected"]


async def test_first_connection_logs_in(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A stream on a client that never logged in gets its token by itself."""
    client = make_client(session, simulator)
    rec = Recorder()
    async with running(make_stream(client, rec)):
        await simulator.wait_for_connections(1)
    assert simulator.oauth_grants == ["password"]


async def test_fresh_url_for_every_connection(
    simulator: Simulator, client: NgucClient, ws_urls: list[str]
) -> None:
    rec = Recorder()
    stream = make_stream(client, rec)
    async with running(stream):
        for n in (1, 2, 3):
            await wait_until(lambda n=n: simulator.connection_count == n)
            await simulator.wait_for_connections(1)
            await wait_until(lambda: stream.connected)  # past the auth grace
            await simulator.close_connections()
        await simulator.wait_for_connections(1)
    paths = events_paths(ws_urls)
    assert len(paths) == 4
    assert len(set(paths)) == 4
    for path in paths:
        assert WS_PATH.fullmatch(path), path
    assert stream.connections == 4


async def test_events_in_order_several_per_frame_unknown_names(
    simulator: Simulator, client: NgucClient
) -> None:
    company = simulator.company
    queue = company.queues["501"].to_wire()
    batch: list[tuple[str, Any]] = [
        ("UserStatus", company.user_status_payload("86481")),
        ("Queue", queue),
        ("CallStarted", {"call_guid": "1.2", "from": None, "flag": False}),
        ("Cdr", company.cdr("86480", billsec=12)),
        (
            "QueueCdr",
            company.queue_cdr(
                "501",
                call_guid="1.2",
                callerid="070",
                disposition="ANSWERED",
                agent_id="86480",
            ),
        ),
        ("DeviceStatus", company.devices["9001"].event_payload()),
        ("Unknown", {}),
        ("Listy", {"list": [1, "2", None], "flag": False}),
    ]
    rec = Recorder()
    stream = make_stream(client, rec)
    async with running(stream):
        await simulator.wait_for_connections(1)
        await simulator.push_event("First", {"n": "1"}, apply=False)
        await simulator.push_events(batch, apply=False)
        await simulator.push_events(
            [("Last", {"n": "2"}), ("Last", {"n": "3"})], apply=False
        )
        await rec.wait_events(len(batch) + 3)
    assert rec.events == [
        ("First", {"n": "1"}),
        *batch,
        ("Last", {"n": "2"}),
        ("Last", {"n": "3"}),
    ]
    assert stream.events == len(batch) + 3


async def test_malformed_elements_skipped_valid_ones_of_the_frame_delivered(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a string, not ["Name", {payload}]: skipped, logged once, nothing else lost."""
    rec = Recorder()
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(make_stream(client, rec)):
            await simulator.wait_for_connections(1)
            await simulator.send_raw(
                frame(
                    event_element("First", {}),
                    '["OnlyName"]',
                    ["AlreadyDecoded", {"x": 1}],  # not a string
                    '["Null",null]',
                    '["False",false]',
                    '["List",[1]]',
                    '["Three",{},{}]',
                    17,
                    None,
                    {},
                    event_element("Last", {"n": "2"}),
                )
            )
            await rec.wait_events(2)
            await simulator.push_event("After", {}, apply=False)
            await rec.wait_events(3)
            assert simulator.connection_count == 1
    assert rec.events == [("First", {}), ("Last", {"n": "2"}), ("After", {})]
    assert len(warnings(caplog)) == 1, warnings(caplog)
    assert "Skipping a malformed event" in warnings(caplog)[0]


# --- tokens on the open connection ------------------------------------------------------


@pytest.mark.usefixtures("short_tokens")
async def test_reauthenticates_on_same_connection_after_refresh(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    sim = Simulator(demo_company(), token_lifetime=1)
    await sim.start()
    try:
        issued: list[TokenSet] = []
        client = make_client(session, sim, on_tokens=issued.append)
        await client.login()
        rec = Recorder()
        async with running(make_stream(client, rec)):
            await sim.wait_for_connections(1)
            # The token (1 s) is renewed at 3/4 of its life and sent again.
            await wait_until(lambda: sim.reauth_on_open_count >= 1)
            assert sim.connection_count == 1
            assert sim.oauth_grants[:2] == ["password", "refresh_token"]
            first, second = issued[0].access_token, issued[1].access_token
            assert sim.ws_tokens[:2] == [first, second]
            assert sim.client_messages[1] == (
                '["authenticate",{"authorization":"Bearer ' + second + '"}]'
            )
            await sim.set_user_status("86480", 1)
            await rec.wait_events(1)
            assert sim.connection_count == 1
        assert rec.log == ["connected", "disconnected"]
    finally:
        await sim.stop()


async def test_reauthenticates_when_another_caller_renews(
    simulator: Simulator, client: NgucClient
) -> None:
    """A REST call that renews the token also re-authenticates the stream."""
    rec = Recorder()
    async with running(make_stream(client, rec)):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
        simulator.expire_access_tokens()
        await client.get_users()  # 401, refresh, retry
        await wait_until(lambda: simulator.reauth_on_open_count == 1)
        assert client.auth.tokens is not None
        assert simulator.ws_tokens[-1] == client.auth.tokens.access_token
        assert simulator.connection_count == 1
        assert rec.log == ["connected"]


@pytest.mark.usefixtures("short_tokens")
async def test_renewal_rejected_on_open_connection_raises(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Refresh token revoked and no password: run() hands back NgucAuthError."""
    sim = Simulator(demo_company(), token_lifetime=1)
    await sim.start()
    try:
        tokens = await make_client(session, sim).login()
        client = make_client(session, sim, password=None, tokens=tokens)
        rec = Recorder()
        stream = make_stream(client, rec)
        task = asyncio.create_task(stream.run())
        await sim.wait_for_connections(1)
        sim.revoke_tokens()
        with pytest.raises(NgucAuthError):
            async with asyncio.timeout(3):
                await task
        assert sim.connection_count == 1
        await wait_until(lambda: sim.open_connections == 0)
        assert rec.log == ["connected", "disconnected"]
        await stream.stop()
    finally:
        await sim.stop()


@pytest.mark.usefixtures("short_tokens", "fast_token_retry")
async def test_renewal_network_error_is_retried(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    sim = Simulator(demo_company(), token_lifetime=1)
    await sim.start()
    try:
        client = make_client(session, sim)
        await client.login()
        rec = Recorder()
        async with running(make_stream(client, rec)):
            await sim.wait_for_connections(1)
            sim.fail_rest(503, count=2)  # the first two renewals fail
            await wait_until(lambda: sim.reauth_on_open_count == 1)
            assert sim.oauth_grants == ["password", "refresh_token"]
            assert sim.requests.count("POST /oauth2/user-credentials") == 4
            assert sim.connection_count == 1
            assert rec.log == ["connected"]
    finally:
        await sim.stop()


async def test_reauth_rejected_on_open_connection_reconnects(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    async with running(make_stream(client, rec, auth_grace=0.3)):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
        simulator.reject_auth = True
        renewals: list[TokenSet] = []

        def allow_again(tokens: TokenSet) -> None:
            renewals.append(tokens)
            if len(renewals) == 2:  # the stream's own renewal after rejection
                simulator.reject_auth = False

        client.auth.add_listener(allow_again)
        await client.auth.async_get_access_token(force_refresh=True)
        await rec.wait_log("connected", "disconnected", "connected")
        # The first connection was proven (the simulator sends `h` on
        # accepting), so its close is an ordinary reconnect; the second,
        # refused before any `h`, is the rejection that renews the token.
        assert simulator.authenticated_connections == 1
        assert simulator.connection_count == 3


# --- the server closing or rejecting -------------------------------------------------


async def test_go_away_reconnects_and_rest_can_be_read_again(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    statuses_on_connect: list[int] = []
    reread: list[asyncio.Task[Any]] = []

    def on_connected() -> None:
        rec.on_connected()
        reread.append(
            asyncio.get_running_loop().create_task(client.get_user_statuses())
        )

    stream = make_stream(client, rec, on_connected=on_connected)
    async with OpenWatch(simulator).watching() as watch, running(stream):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
        await asyncio.wait(reread)  # the first connection's read is done
        await simulator.set_user_status("86480", 8)
        await rec.wait_events(1)
        await simulator.close_connections(3000, "Go away!")
        simulator.company.statuses["86480"] = 1  # changed while disconnected
        await rec.wait_log("connected", "disconnected", "connected")
        await simulator.wait_for_connections(1)
        await simulator.set_user_status("86481", 8)
        await rec.wait_events(2)
        for task in reread:
            statuses = await task
            statuses_on_connect.append(int(statuses[0].status))
    assert statuses_on_connect == [0, 1]
    assert simulator.connection_count == 2
    assert watch.most == 1
    assert [e[1]["pbx_user_id"] for e in rec.events] == ["86480", "86481"]


async def test_rejected_token_is_renewed_then_reconnects(
    simulator: Simulator, client: NgucClient
) -> None:
    """The server closes right after authenticate: renew, then connect again."""
    simulator.reject_auth = True

    def allow(_tokens: TokenSet) -> None:
        simulator.reject_auth = False

    client.auth.add_listener(allow)
    rec = Recorder()
    async with (
        OpenWatch(simulator).watching() as watch,
        running(make_stream(client, rec, auth_grace=REJECT_GRACE)),
    ):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
    assert simulator.oauth_grants == ["password", "refresh_token"]
    assert simulator.connection_count == 2
    assert client.auth.tokens is not None
    assert simulator.ws_tokens == [client.auth.tokens.access_token]
    assert watch.most == 1


async def test_token_expired_on_server_is_renewed(
    simulator: Simulator, client: NgucClient
) -> None:
    simulator.expire_access_tokens()
    rec = Recorder()
    async with running(make_stream(client, rec, auth_grace=REJECT_GRACE)):
        await simulator.wait_for_connections(1)
    assert simulator.oauth_grants == ["password", "refresh_token"]
    assert simulator.connection_count == 2


async def test_rejected_again_and_again_is_no_auth_error(
    simulator: Simulator, client: NgucClient
) -> None:
    """The token endpoint accepts us: a websocket that keeps closing is retried.

    One renewal for the whole run of rejections, backoff growing, each
    rejection with a fresh token reported; never NgucAuthError.
    """
    simulator.reject_auth = True
    simulator.heartbeat_on_accept = False  # so that only an event proves it
    rng = RecordingRandom()
    rec = Recorder()
    counts: list[int] = []
    stream = make_stream(
        client,
        rec,
        auth_grace=REJECT_GRACE,
        rng=rng,
        backoff_base=0.01,
        backoff_cap=0.08,
        on_rejected=counts.append,
    )
    async with running(stream) as task:
        await wait_until(lambda: simulator.connection_count >= 6, timeout=5)
        assert not task.done()
        assert counts[:5] == [1, 2, 3, 4, 5]
        assert stream.rejected_in_a_row == len(counts)
        simulator.reject_auth = False
        await rec.wait_log("connected", timeout=5)
        assert stream.rejected_in_a_row == len(counts)  # the grace proves nothing
        await simulator.push_event("Proof", {}, apply=False)
        await rec.wait_events(1)
        assert stream.rejected_in_a_row == 0
    # Renewed at the run's start and again every RENEW_EVERY_REJECTIONS.
    grants = simulator.oauth_grants
    assert grants[:2] == ["password", "refresh_token"]
    assert set(grants[1:]) == {"refresh_token"}
    assert len(grants) - 1 <= 1 + len(counts) // 5
    assert rng.ceilings[:5] == [0.01, 0.02, 0.04, 0.08, 0.08]
    assert rec.events == [("Proof", {})]


async def test_rejected_and_renewal_impossible_raises_auth_error(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_client(session, simulator).login()
    client = make_client(session, simulator, password=None, tokens=tokens)
    simulator.revoke_tokens()  # the stream's token and refresh token are dead
    stream = make_stream(client, Recorder(), auth_grace=REJECT_GRACE)
    with pytest.raises(NgucAuthError):
        async with asyncio.timeout(3):
            await stream.run()
    assert simulator.connection_count == 1


async def test_rejected_then_token_endpoint_down_keeps_trying(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A server error while renewing after a rejection is not the end of run().

    The token in hand has not expired, so the stream tries it again meanwhile
    (the close may have been no rejection); the renewal follows its backoff.
    """
    fast_retry = AuthTimings(retry_min=0.01, retry_base=0.02, retry_cap=0.05)
    client = make_client(session, simulator, auth_timings=fast_retry)
    await client.login()
    simulator.reject_auth = True
    simulator.fail_rest(500, count=1)

    def allow(_tokens: TokenSet) -> None:
        simulator.reject_auth = False

    client.auth.add_listener(allow)
    rec = Recorder()
    async with running(make_stream(client, rec, auth_grace=REJECT_GRACE)) as task:
        await wait_until(
            lambda: simulator.authenticated_connections == 1 or task.done()
        )
        assert not task.done(), task.exception()
        await rec.wait_log("connected")
    # Login, the refresh that met the 500, the refresh retried after a backoff.
    assert simulator.requests.count("POST /oauth2/user-credentials") == 3
    assert simulator.oauth_grants == ["password", "refresh_token"]
    # Rejected; the same token again while the renewal backs off (refused,
    # not counted; more than once on a loaded machine); the new token.
    assert simulator.connection_count >= 3
    assert simulator.authenticated_connections == 1


async def test_second_open_reconnects(simulator: Simulator, client: NgucClient) -> None:
    rec = Recorder()
    async with (
        OpenWatch(simulator).watching() as watch,
        running(make_stream(client, rec)),
    ):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
        await simulator.send_open_again()
        await rec.wait_log("connected", "disconnected", "connected")
        await simulator.wait_for_connections(1)
    assert simulator.connection_count == 2
    assert watch.most == 1


async def test_dropped_connection_reconnects(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    async with (
        OpenWatch(simulator).watching() as watch,
        running(make_stream(client, rec)),
    ):
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")
        await simulator.drop_connections()
        await rec.wait_log("connected", "disconnected", "connected")
        await simulator.wait_for_connections(1)
        await simulator.set_user_status("86482", 0)
        await rec.wait_events(1)
    assert simulator.connection_count == 2
    assert watch.most == 1


async def test_events_refused_then_back(
    simulator: Simulator, client: NgucClient
) -> None:
    simulator.refuse_events = True
    rng = RecordingRandom()
    rec = Recorder()
    async with running(make_stream(client, rec, rng=rng)):
        await wait_until(lambda: len(rng.ceilings) >= 3)
        assert simulator.connection_count == 0
        simulator.refuse_events = False
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected")


async def test_events_url_unreachable_keeps_trying(
    simulator: Simulator, client: NgucClient
) -> None:
    rng = RecordingRandom()
    url = simulator.events_url
    await simulator.stop()
    async with running(
        make_stream(client, Recorder(), rng=rng, events_url=url)
    ) as task:
        await wait_until(lambda: len(rng.ceilings) >= 3)
        assert not task.done()


@pytest.mark.usefixtures("fast_token_retry")
@pytest.mark.parametrize("status", [503, 429, 404])
async def test_token_endpoint_failing_before_connecting_keeps_trying(
    simulator: Simulator, session: aiohttp.ClientSession, status: int
) -> None:
    client = make_client(session, simulator)  # no token yet
    simulator.fail_rest(status, count=2)
    rec = Recorder()
    async with running(make_stream(client, rec)) as task:
        await wait_until(
            lambda: simulator.authenticated_connections == 1 or task.done()
        )
        assert not task.done(), task.exception()
    assert simulator.oauth_grants == ["password"]
    assert simulator.requests.count("POST /oauth2/user-credentials") == 3


# --- malformed input ------------------------------------------------------------------


async def test_malformed_frames_skipped_and_logged_once(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    good1 = event_element("UserStatus", {"pbx_user_id": "1", "status": "0"})
    good2 = event_element("UserStatus", {"pbx_user_id": "2", "status": "8"})
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(make_stream(client, rec)):
            await simulator.wait_for_connections(1)
            await simulator.send_raw("x")
            await simulator.send_raw("a{")
            await simulator.send_raw('a[1,"[\\"Name\\""]')
            await simulator.send_raw(frame(good1, '["Bad"', good2))
            await simulator.send_raw(frame(good1, 7, "[]", good2))
            # Nested too deep for any JSON decoder, in a frame and an element.
            await simulator.send_raw("a" + "[" * 100_000 + "]" * 100_000)
            await simulator.send_raw(frame('["X",' + "[" * 100_000 + "]" * 100_000))
            await simulator.send_raw(frame(good1, good2))
            await rec.wait_events(6)
            assert simulator.connection_count == 1
            assert simulator.open_connections == 1
    assert (
        rec.events
        == [
            ("UserStatus", {"pbx_user_id": "1", "status": "0"}),
            ("UserStatus", {"pbx_user_id": "2", "status": "8"}),
        ]
        * 3
    )
    assert len(warnings(caplog)) == 1, warnings(caplog)


async def test_two_bad_frames_in_a_row_one_warning(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(make_stream(client, rec)):
            await simulator.wait_for_connections(1)
            await simulator.send_raw("x")
            await simulator.send_raw("x")
            await simulator.push_event("After", {}, apply=False)
            await rec.wait_events(1)
    assert rec.events == [("After", {})]
    assert len(warnings(caplog)) == 1


async def test_bad_frames_after_the_interval_say_how_many_were_held_back(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    stream = make_stream(client, rec)
    stream._bad_frame_log._interval = 0.2
    with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
        async with running(stream):
            await simulator.wait_for_connections(1)
            for _ in range(3):
                await simulator.send_raw("x")
            await simulator.push_event("Mark", {}, apply=False)
            await rec.wait_events(1)
            await asyncio.sleep(0.25)
            await simulator.send_raw("a{")
            await simulator.push_event("Mark", {}, apply=False)
            await rec.wait_events(2)
    logged = warnings(caplog)
    assert len(logged) == 2
    assert "2 similar messages suppressed" in logged[1]


async def test_lone_surrogate_arrives_cleaned(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    inner_escape = "a" + json.dumps(['["UserStatus",{"status_text":"x\\ud800y"}]'])
    outer_escape = 'a["[\\"UserStatus\\",{\\"status_text\\":\\"\\ud800\\"}]"]'
    async with running(make_stream(client, rec)):
        await simulator.wait_for_connections(1)
        await simulator.send_raw(inner_escape)
        await simulator.send_raw(outer_escape)
        await rec.wait_events(2)
    assert rec.events == [
        ("UserStatus", {"status_text": "x\ufffdy"}),
        ("UserStatus", {"status_text": "\ufffd"}),
    ]
    json.dumps(rec.events, ensure_ascii=False).encode()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_callback_errors_do_not_stop_the_stream(
    simulator: Simulator, client: NgucClient, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def on_event(name: str, payload: Any) -> None:
        seen.append(name)
        if name == "Boom":
            raise RuntimeError("handler bug")

    def broken() -> None:
        raise RuntimeError("callback bug")

    stream = NgucEventStream(
        client._session,
        client.events_url,
        client.auth,
        on_event=on_event,
        on_connected=broken,
        on_disconnected=broken,
        auth_grace=0.1,
        backoff_base=0.01,
    )
    async with running(stream):
        await simulator.wait_for_connections(1)
        await simulator.push_events([("Boom", {}), ("Fine", {})], apply=False)
        await wait_until(lambda: len(seen) == 2)
    assert seen == ["Boom", "Fine"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "Error handling NGUC event Boom" in messages
    assert "Error in the connected callback" in messages
    assert "Error in the disconnected callback" in messages


async def test_stream_without_callbacks(
    simulator: Simulator, client: NgucClient
) -> None:
    names: list[str] = []
    stream = NgucEventStream(
        client._session,
        client.events_url,
        client.auth,
        on_event=lambda name, _payload: names.append(name),
        auth_grace=0.05,
        backoff_base=0.01,
    )
    async with running(stream):
        await simulator.wait_for_connections(1)
        await wait_until(lambda: stream.connected)
        await simulator.close_connections()
        await wait_until(lambda: simulator.connection_count == 2)
        await simulator.wait_for_connections(1)
        await simulator.push_event("X", {}, apply=False)
        await wait_until(lambda: names == ["X"])


# --- heartbeats and silence -------------------------------------------------------------


async def test_silent_connection_is_dead_and_reconnected(
    session: aiohttp.ClientSession,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    heartbeat = 0.5
    sim = Simulator(demo_company(), heartbeat_interval=0.2)
    await sim.start()
    try:
        client = make_client(session, sim)
        await client.login()
        rec = Recorder()
        stream = make_stream(client, rec, heartbeat=heartbeat)
        async with running(stream):
            await sim.wait_for_connections(1)
            await rec.wait_log("connected")
            # With h frames every 0.2 s, it stays up well past 2.5 intervals.
            await asyncio.sleep(heartbeat * 3)
            assert sim.connection_count == 1
            assert rec.log == ["connected"]
            sim.silent = True
            with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
                await rec.wait_log("connected", "disconnected", timeout=heartbeat * 5)
            # A silence is a fault like a close: a warning that says so.
            assert warnings(caplog) == [
                "Event stream: the server said nothing for 1 s; reconnecting"
            ]
            sim.silent = False
            await rec.wait_log("connected", "disconnected", "connected")
            await sim.wait_for_connections(1)
            assert stream.last_fault == "silent for 1 s; presumed dead"
        assert sim.connection_count == 2
    finally:
        await sim.stop()


async def test_idle_connection_answering_pings_stays_up(
    simulator: Simulator, client: NgucClient
) -> None:
    """Like the reference servers: no h frames, but pongs to our pings."""
    rec = Recorder()
    async with running(make_stream(client, rec, heartbeat=0.1)):
        await simulator.wait_for_connections(1)
        await asyncio.sleep(0.1 * 6)  # well past 2.5 silent intervals
        assert simulator.connection_count == 1
        assert rec.log == ["connected"]


# --- a bare websocket server for what the simulator does not do ------------------------


class RawServer:
    """A websocket server on loopback whose behaviour each test scripts."""

    def __init__(
        self, script: Callable[[web.WebSocketResponse, RawServer], Awaitable[None]]
    ) -> None:
        self.script = script
        self.connections = 0
        self.pongs: list[bytes] = []
        self.url = ""

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.connections += 1
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.script(ws, self)
        await ws.close()
        return ws

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, script: Callable[[web.WebSocketResponse, RawServer], Awaitable[None]]
    ) -> AsyncIterator[RawServer]:
        server = cls(script)
        app = web.Application()
        app.router.add_get("/events/{id1}/{id2}/websocket", server.handler)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/events"
        try:
            yield server
        finally:
            await runner.cleanup()


def raw_client(
    session: aiohttp.ClientSession, server: RawServer, token: str | None = None
) -> NgucClient:
    return NgucClient(
        session,
        company="x",
        username="u",
        tokens=TokenSet(token or "tok", None, 9e12, 3600),
        events_url=server.url,
    )


async def test_server_pings_are_answered(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        await ws.send_str("o")
        await ws.receive()  # authenticate
        await ws.ping(b"are you there")
        msg = await ws.receive()
        if msg.type is WSMsgType.PONG:
            server.pongs.append(msg.data)
        await ws.send_str("h")
        await ws.send_str(frame(event_element("AfterPing", {})))
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        async with running(
            make_stream(raw_client(session, server), rec, events_url=server.url)
        ):
            await rec.wait_events(1)
    assert server.pongs == [b"are you there"]
    assert rec.events == [("AfterPing", {})]


async def test_binary_frame_skipped(
    session: aiohttp.ClientSession,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        await ws.send_str("o")
        await ws.receive()
        await ws.send_bytes(b"\x00\x01")
        await ws.send_str(frame(event_element("AfterBinary", {})))
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        with caplog.at_level(logging.WARNING, logger=EVENTS_LOGGER):
            async with running(
                make_stream(raw_client(session, server), rec, events_url=server.url)
            ):
                await rec.wait_events(1)
    assert rec.events == [("AfterBinary", {})]
    assert warnings(caplog) == ["Skipping a binary frame"]


async def test_first_frame_not_open_reconnects(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        if server.connections == 1:
            await ws.send_str("x")  # malformed: skipped, still waiting for o
            await ws.send_str("h")  # not o: this is no SockJS session
            await ws.receive()
            return
        await ws.send_str("o")
        await ws.receive()
        await ws.send_str(frame(event_element("Second", {})))
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        async with running(
            make_stream(raw_client(session, server), rec, events_url=server.url)
        ):
            await rec.wait_events(1)
    assert server.connections == 2
    assert rec.events == [("Second", {})]


async def test_no_open_frame_times_out_and_reconnects(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        if server.connections > 1:
            await ws.send_str("o")
            await ws.receive()
            await ws.send_str(frame(event_element("Finally", {})))
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        stream = make_stream(
            raw_client(session, server), rec, events_url=server.url, open_timeout=0.2
        )
        async with running(stream):
            await rec.wait_events(1)
    assert server.connections == 2
    assert rec.log == ["connected", "disconnected"]


async def test_close_without_sockjs_frame_reconnects(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    async def script(ws: web.WebSocketResponse, server: RawServer) -> None:
        await ws.send_str("o")
        await ws.receive()
        await ws.send_str(frame(event_element("N", {"n": server.connections})))
        if server.connections == 1:
            return  # websocket close, no c[...]
        await ws.receive()

    async with RawServer.running(script) as server:
        rec = Recorder()
        async with running(
            make_stream(raw_client(session, server), rec, events_url=server.url)
        ):
            await rec.wait_events(2)
    assert rec.events == [("N", {"n": 1}), ("N", {"n": 2})]
    assert rec.log == ["connected", "disconnected", "connected", "disconnected"]


# --- backoff --------------------------------------------------------------------------


def test_backoff_full_jitter_bounds() -> None:
    backoff = Backoff(base=1.0, cap=300.0, rng=random.Random(42))
    expected_rng = random.Random(42)
    for attempt in range(20):
        ceiling = min(300.0, 2.0**attempt)
        assert backoff.ceiling() == ceiling
        delay = backoff.next_delay()
        assert 0 <= delay <= ceiling
        assert delay == expected_rng.uniform(0, ceiling)
    assert backoff.attempt == 20
    assert backoff.ceiling() == 300.0


def test_backoff_default_cap_and_huge_attempts() -> None:
    backoff = Backoff()
    assert backoff.cap == 300.0
    backoff.attempt = 10_000  # no overflow however long the outage
    assert backoff.ceiling() == 300.0
    assert 0 <= backoff.next_delay() <= 300.0


def test_backoff_reset() -> None:
    backoff = Backoff(base=0.5, cap=10.0, rng=random.Random(3))
    for _ in range(6):
        backoff.next_delay()
    assert backoff.ceiling() == 10.0
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.ceiling() == 0.5


def test_backoff_delays_spread_over_the_range() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(0))
    backoff.attempt = 3
    delays = []
    for _ in range(200):
        backoff.attempt = 3
        delays.append(backoff.next_delay())
    assert min(delays) < 1.0
    assert max(delays) > 7.0
    assert all(0 <= d <= 8.0 for d in delays)


async def test_stream_backoff_grows_then_resets_after_healthy_period(
    simulator: Simulator, client: NgucClient
) -> None:
    rng = RecordingRandom()
    rec = Recorder()
    stream = make_stream(
        client, rec, rng=rng, backoff_base=0.01, backoff_cap=0.04, healthy_after=0.3
    )
    simulator.refuse_events = True
    async with running(stream):
        await wait_until(lambda: len(rng.ceilings) >= 5)
        assert rng.ceilings[:5] == [0.01, 0.02, 0.04, 0.04, 0.04]
        simulator.refuse_events = False
        await rec.wait_log("connected")
        # A short-lived connection does not reset the backoff.
        before = len(rng.ceilings)
        await simulator.close_connections()
        await wait_until(lambda: len(rng.ceilings) > before)
        assert rng.ceilings[before] == 0.04
        # One that stayed up for healthy_after does.
        await simulator.wait_for_connections(1)
        await rec.wait_log("connected", "disconnected", "connected")
        await asyncio.sleep(0.35)
        before = len(rng.ceilings)
        await simulator.close_connections()
        await wait_until(lambda: len(rng.ceilings) > before)
        assert rng.ceilings[before] == 0.01
        await simulator.wait_for_connections(1)


# --- stopping ---------------------------------------------------------------------------


async def test_stop_leaves_no_task_and_no_socket(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    stream = make_stream(client, rec)
    task = asyncio.create_task(stream.run())
    await simulator.wait_for_connections(1)
    await rec.wait_log("connected")
    await stream.stop()
    assert task.done()
    assert rec.log == ["connected", "disconnected"]
    assert not stream.connected
    await wait_until(lambda: simulator.open_connections == 0)
    current = asyncio.current_task()
    try:
        await wait_until(lambda: asyncio.all_tasks() == {current}, timeout=2)
    except TimeoutError:
        pytest.fail(f"tasks left behind: {asyncio.all_tasks() - {current}}")


async def waiting_a_minute_to_reconnect(
    simulator: Simulator, client: NgucClient
) -> tuple[NgucEventStream, asyncio.Task[None]]:
    """Return a running stream whose connection was refused, now in backoff."""
    simulator.refuse_events = True
    rng = RecordingRandom()
    stream = make_stream(
        client, Recorder(), rng=rng, backoff_base=60.0, backoff_cap=60.0
    )
    task = asyncio.create_task(stream.run())
    await wait_until(lambda: len(rng.ceilings) == 1)
    return stream, task


async def test_stop_during_backoff(simulator: Simulator, client: NgucClient) -> None:
    stream, task = await waiting_a_minute_to_reconnect(simulator, client)
    async with asyncio.timeout(2):
        await stream.stop()
    assert task.done()
    current = asyncio.current_task()
    await wait_until(lambda: asyncio.all_tasks() == {current}, timeout=2)


async def test_stop_keeps_its_callers_cancellation(
    simulator: Simulator, client: NgucClient
) -> None:
    """An unload that is itself cancelled while stopping the stream stays cancelled."""
    stream, task = await waiting_a_minute_to_reconnect(simulator, client)
    carried_on = False

    async def unload() -> None:
        nonlocal carried_on
        await stream.stop()
        carried_on = True

    unloading = asyncio.create_task(unload())
    await asyncio.sleep(0)  # unload now waits for the run task to end
    unloading.cancel()
    await asyncio.gather(unloading, return_exceptions=True)
    assert unloading.cancelled()
    assert not carried_on
    await wait_until(task.done)


async def test_stop_before_run_and_twice(
    simulator: Simulator, client: NgucClient
) -> None:
    stream = make_stream(client, Recorder())
    await stream.stop()
    async with asyncio.timeout(2):
        await stream.run()  # returns at once: stopped
    await stream.stop()
    assert simulator.connection_count == 0


async def test_stop_while_reconnecting_after_events(
    simulator: Simulator, client: NgucClient
) -> None:
    rec = Recorder()
    stream = make_stream(client, rec)
    async with running(stream) as task:
        await simulator.wait_for_connections(1)
        await simulator.push_event("E", {}, apply=False)
        await rec.wait_events(1)
    assert task.done()
    await wait_until(lambda: simulator.open_connections == 0)


async def test_renewal_during_the_grace_restarts_it(
    simulator: Simulator, client: NgucClient
) -> None:
    """A token renewed before the first grace is over: one connected, no reconnect."""
    rec = Recorder()
    async with running(make_stream(client, rec, auth_grace=0.3)) as task:
        await simulator.wait_for_connections(1)
        await client.auth.async_get_access_token(force_refresh=True)
        await wait_until(lambda: simulator.reauth_on_open_count == 1)
        await rec.wait_log("connected")
        assert simulator.connection_count == 1
        assert not task.done()


async def test_rate_limited_token_request_waits_retry_after(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 429 from the token endpoint: the next attempt waits its Retry-After."""
    caplog.set_level(logging.DEBUG, logger=EVENTS_LOGGER)
    client = make_client(session, simulator)  # no token yet: logs in first
    simulator.fail_rest(429, count=1, retry_after=2)
    rec = Recorder()
    async with running(make_stream(client, rec)):
        await simulator.wait_for_authenticated(1)
    waits = [
        r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()
    ]
    # Without Retry-After the backoff here is at most 0.01 s.
    assert waits[0] == "Event stream: reconnecting in 2.0 s"
