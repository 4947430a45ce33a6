"""Issue 14 section 2: a token endpoint that is down, slow or says invalid_grant,
and connections that a load balancer closes, against servers on 127.0.0.1.

Every wait is injected (``AuthTimings``, the stream's timings) and short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
import json
import random
import time
from typing import Any

import aiohttp
import pytest

from custom_components.weblink_nguc.api import (
    AuthTimings,
    NgucAuth,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucEventStream,
    NgucTwoFactorError,
    StreamTimings,
    TokenSet,
    contract,
)
from tests.api.nguc_sockjs_server import COMPANY, PASSWORD, USERNAME, NgucSockJsServer
from tests.api.test_events import RecordingRandom
from tests.simulator import Simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

EVENT = ("UserStatus", {"pbx_user_id": "86480", "status": "8", "status_text": "R"})

# Renewals retried within hundredths of a second; callers wait 0.2 s at most.
FAST = AuthTimings(
    refresh_timeout=2.0,
    login_timeout=2.0,
    caller_wait=0.2,
    retry_min=0.01,
    retry_base=0.02,
    retry_cap=0.05,
)


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


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_auth(
    session: aiohttp.ClientSession,
    sim: Simulator,
    *,
    username: str = "demo",
    timings: AuthTimings = FAST,
    **kwargs: Any,
) -> NgucAuth:
    kwargs.setdefault("password", username)
    return NgucAuth(
        session,
        api_url=sim.api_url,
        company="demo",
        username=username,
        timings=timings,
        **kwargs,
    )


def due(tokens: TokenSet, left: float = 30.0) -> TokenSet:
    """The same tokens, due for renewal with ``left`` seconds of life."""
    return TokenSet.from_dict({**tokens.as_dict(), "expires_at": time.time() + left})


def make_client(
    session: aiohttp.ClientSession, sim: Simulator, **kwargs: Any
) -> NgucClient:
    kwargs.setdefault("password", "demo")
    kwargs.setdefault("auth_timings", FAST)
    return NgucClient(
        session,
        company="demo",
        username="demo",
        api_url=sim.api_url,
        events_url=sim.events_url,
        **kwargs,
    )


def stream_timings(**kwargs: float) -> StreamTimings:
    """Short waits: grace 0.1 s, rejections within 0.3 s, backoff 0.02-0.1 s."""
    defaults = {
        "auth_grace": 0.1,
        "reject_within": 0.3,
        "healthy_after": 30.0,
        "backoff_base": 0.02,
        "backoff_cap": 0.1,
    }
    return StreamTimings(**{**defaults, **kwargs})


def make_stream(
    client: NgucClient,
    rec: Recorder,
    *,
    rng: RecordingRandom | None = None,
    **timings: float,
) -> NgucEventStream:
    return NgucEventStream(
        client._session,
        client.events_url,
        client.auth,
        on_event=rec.on_event,
        on_connected=rec.on_connected,
        on_disconnected=rec.on_disconnected,
        on_rejected=rec.on_rejected,
        heartbeat=5.0,
        timings=stream_timings(**timings),
        rng=rng,
    )


async def push_until_heard(simulator: Simulator, rec: Recorder) -> None:
    """Push an event until it is heard (one may fall between two connections)."""
    async with asyncio.timeout(5):
        while not rec.events:
            await simulator.push_event(*EVENT)
            await asyncio.sleep(0.05)
    assert rec.events[0] == EVENT


@contextlib.asynccontextmanager
async def running(stream: NgucEventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        await stream.stop()
        assert task.done()


# --- the token endpoint down: the valid token is used -------------------------------


@pytest.mark.parametrize("status", [503, None], ids=["503", "no-answer"])
async def test_forced_renewal_with_the_endpoint_down_returns_the_valid_token(
    simulator: Simulator, session: aiohttp.ClientSession, status: int | None
) -> None:
    timings = AuthTimings(retry_min=0.3, retry_base=0.3, retry_cap=0.3)
    auth = make_auth(session, simulator, timings=timings)
    token = (await auth.login()).access_token
    simulator.token_down(status=status)
    # Forced (an early close made it look rejected): the endpoint cannot
    # renew, and the token in hand has an hour left.
    assert await auth.async_get_access_token(force_refresh=True, rejected=token) == (
        token
    )
    # During the backoff nothing is asked; after it, the renewal is tried again.
    asked = simulator.token_requests
    assert await auth.async_get_access_token(force_refresh=True, rejected=token) == (
        token
    )
    assert simulator.token_requests == asked
    simulator.clear_faults()
    await asyncio.sleep(0.31)  # the backoff
    renewed = await auth.async_get_access_token(force_refresh=True, rejected=token)
    assert renewed != token
    assert simulator.oauth_grants[-1] == "refresh_token"


async def test_token_endpoint_down_for_a_while_then_back(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """``token_down(seconds)`` ends by itself; the renewal then succeeds."""
    auth = make_auth(session, simulator)
    tokens = await auth.login()
    auth = make_auth(session, simulator, tokens=due(tokens))
    simulator.token_down(0.3)
    assert await auth.async_get_access_token() == tokens.access_token
    await asyncio.sleep(0.35)
    await wait_until(lambda: auth.seconds_until_refresh() == 0.0)
    assert await auth.async_get_access_token() != tokens.access_token
    assert simulator.oauth_grants[-1] == "refresh_token"


async def test_early_close_with_the_token_endpoint_down_still_connects(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """One early close, then no token endpoint: the hour-long token connects.

    Before, the forced renewal failed and nothing connected until the
    token endpoint was back.
    """
    client = make_client(session, simulator)
    token = (await client.login()).access_token
    simulator.close_after_auth(1)
    simulator.token_down()  # for good
    rec = Recorder()
    stream = client.event_stream(
        rec.on_event,
        on_connected=rec.on_connected,
        on_rejected=rec.on_rejected,
        timings=stream_timings(),
    )
    async with running(stream) as task:
        await wait_until(lambda: "connected" in rec.log or task.done())
        assert not task.done()
        await simulator.push_event(*EVENT)
        await wait_until(lambda: rec.events == [EVENT])
    assert simulator.ws_tokens == [token, token]
    assert rec.rejected == [1]  # the second use of the token is no fresh rejection
    assert rec.log[0] == "connected"


def sent_tokens(simulator: Simulator) -> list[str]:
    """The token of every ``authenticate`` the simulator received, accepted or not."""
    tokens = []
    for message in simulator.client_messages:
        name, details = json.loads(message)
        if name == "authenticate":
            tokens.append(details["authorization"].removeprefix("Bearer "))
    return tokens


class LongestDelay(random.Random):
    """Jitter that always draws the longest delay: reconnects at a steady pace."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_the_renewal_is_tried_again_at_the_next_connections(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Rejected, the renewal fails, rejected again: it is asked for again.

    The renewal of a run of rejections stays wanted until it succeeds (or a
    connection is accepted), within the token endpoint's backoff; before,
    the run waited five more rejections for its next renewal.
    """
    client = make_client(session, simulator)
    token = (await client.login()).access_token
    simulator.reject_auth = True
    simulator.token_down()

    def allow(_tokens: TokenSet) -> None:
        simulator.reject_auth = False

    client.auth.add_listener(allow)
    rec = Recorder()
    stream = make_stream(
        client, rec, rng=LongestDelay(), backoff_base=0.1, backoff_cap=0.1
    )
    async with running(stream):
        await wait_until(lambda: simulator.connection_count >= 2)
        simulator.token_down_until = 0.0  # back
        await wait_until(lambda: "connected" in rec.log)
    assert simulator.connection_count <= 4
    sent = sent_tokens(simulator)
    assert sent[0] == sent[1] == token
    assert sent[-1] != token
    assert simulator.ws_tokens == [sent[-1]]  # the only one accepted
    assert rec.rejected == [1]


async def test_rest_401_with_the_token_endpoint_down_is_no_auth_error(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A list answering 401 while the token cannot be renewed: retry later.

    A connection error, retried on the list's own backoff (issue 18 §1), not
    an auth error.
    """
    client = make_client(session, simulator)
    await client.login()
    simulator.expire_access_tokens()
    simulator.token_down()
    with pytest.raises(NgucConnectionError):
        await client.get_users()
    assert simulator.requests.count("GET /company/user") == 1


# --- a slow token endpoint -------------------------------------------------------------


def test_the_token_endpoint_is_given_at_least_a_minute() -> None:
    assert AuthTimings().refresh_timeout >= 60.0
    assert AuthTimings.defaults().refresh_timeout >= 60.0


async def test_a_refresh_is_given_longer_than_a_login(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Answers after 0.4 s: too slow for a login (0.2 s), in time for a refresh."""
    timings = AuthTimings(login_timeout=0.2, refresh_timeout=2.0)
    tokens = await make_auth(session, simulator).login()
    expired = TokenSet.from_dict({**tokens.as_dict(), "expires_at": time.time()})
    auth = make_auth(session, simulator, tokens=expired, timings=timings)
    simulator.slow_token(0.4)
    with pytest.raises(NgucConnectionError, match="timed out"):
        await auth.login()
    assert await auth.async_get_access_token() != tokens.access_token
    assert simulator.oauth_grants[-1] == "refresh_token"


async def test_slow_renewal_goes_on_while_callers_use_the_valid_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A two-factor account (no password) and an answer after 0.6 s.

    The caller waits 0.2 s, then goes on with its token; the renewal's
    answer (the only copy of the rotated refresh token) is still taken.
    """
    tokens = await make_auth(session, simulator, username="secure").login("123456")
    seen: list[TokenSet] = []
    auth = make_auth(
        session,
        simulator,
        username="secure",
        password=None,
        tokens=due(tokens),
        on_tokens=seen.append,
    )
    simulator.slow_token(0.6)
    started = time.monotonic()
    assert await auth.async_get_access_token() == tokens.access_token
    assert time.monotonic() - started < 0.5
    await wait_until(lambda: seen)
    simulator.slow_token(0.0)
    assert auth.tokens == seen[0]
    assert await auth.async_get_access_token() == seen[0].access_token
    # The rotated refresh token was kept: the next renewal works.
    assert await auth.async_get_access_token(force_refresh=True) != (
        seen[0].access_token
    )
    assert simulator.oauth_grants == ["password", "refresh_token", "refresh_token"]


async def test_slow_renewal_reaches_an_open_connection(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """The stream connects with the valid token, then sends the late new one."""
    client = make_client(session, simulator)
    tokens = await client.login()
    client = make_client(session, simulator, tokens=due(tokens))
    simulator.slow_token(0.5)
    rec = Recorder()
    async with running(make_stream(client, rec)):
        await wait_until(lambda: simulator.reauth_on_open_count == 1)
    assert simulator.connection_count == 1
    assert simulator.ws_tokens[0] == tokens.access_token
    assert simulator.ws_tokens[1] != tokens.access_token


@pytest.mark.parametrize(
    ("username", "password", "verdict"),
    [
        ("demo", "demo", None),
        ("secure", None, NgucAuthError),
        ("secure", "secure", NgucTwoFactorError),
    ],
    ids=["password", "two-factor-no-password", "two-factor-with-password"],
)
async def test_a_timed_out_refresh_keeps_the_sign_in(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    username: str,
    password: str | None,
    verdict: type[Exception] | None,
) -> None:
    """The refresh times out after the server rotated the refresh token.

    The refresh token in hand is kept and tried again; the server refuses
    it; then the stored password signs in, and only without one (or with
    two-factor) is a person asked.
    """
    code = "123456" if username == "secure" else ""
    tokens = await make_auth(session, simulator, username=username).login(code)
    timings = AuthTimings(
        refresh_timeout=0.2, caller_wait=1.0, retry_min=0.01, retry_base=0.02
    )
    auth = make_auth(
        session,
        simulator,
        username=username,
        password=password,
        tokens=due(tokens),
        timings=timings,
    )
    simulator.slow_token(0.5)
    # Timed out: the valid token is used, the refresh token kept.
    assert await auth.async_get_access_token() == tokens.access_token
    assert auth.tokens is not None
    assert auth.tokens.refresh_token == tokens.refresh_token
    await asyncio.sleep(0.4)  # the server finished the grant: rotated
    simulator.slow_token(0.0)
    await asyncio.sleep(auth.seconds_until_refresh())
    if verdict is None:
        token = await auth.async_get_access_token()
        assert token != tokens.access_token
        assert simulator.oauth_grants[-2:] == ["refresh_token", "password"]
    else:
        with pytest.raises(verdict):
            await auth.async_get_access_token()
        assert simulator.oauth_grants[1:3] == ["refresh_token", "refresh_token"]


# --- invalid_grant ---------------------------------------------------------------------


def test_invalid_grant_is_in_the_contract() -> None:
    assert contract.OAUTH_ERROR == "error"
    assert contract.OAUTH_INVALID_GRANT == "invalid_grant"


async def test_invalid_grant_without_password_asks_a_person(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """400 invalid_grant to a refresh is the endpoint's verdict: reauthentication."""
    tokens = await make_auth(session, simulator, username="secure").login("123456")
    auth = make_auth(
        session, simulator, username="secure", password=None, tokens=due(tokens)
    )
    simulator.refuse_refresh(400)
    with pytest.raises(NgucAuthError):
        await auth.async_get_access_token()
    assert simulator.oauth_grants == ["password", "refresh_token"]


async def test_invalid_grant_with_password_signs_in_again(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, tokens=due(tokens))
    simulator.refuse_refresh(400)
    token = await auth.async_get_access_token()
    assert token != tokens.access_token
    assert simulator.oauth_grants == ["password", "refresh_token", "password"]


async def test_invalid_grant_ends_the_stream_for_a_person(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """The stream's renewal meets invalid_grant: run() raises NgucAuthError."""
    tokens = await make_auth(session, simulator, username="secure").login("123456")
    client = NgucClient(
        session,
        company="demo",
        username="secure",
        tokens=TokenSet.from_dict({**tokens.as_dict(), "expires_at": time.time()}),
        api_url=simulator.api_url,
        events_url=simulator.events_url,
        auth_timings=FAST,
    )
    simulator.refuse_refresh(400)
    stream = make_stream(client, Recorder())
    with pytest.raises(NgucAuthError):
        async with asyncio.timeout(5):
            await stream.run()
    assert simulator.connection_count == 0


async def test_other_400s_to_a_refresh_are_retried(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A 400 that does not say invalid_grant is no verdict."""
    tokens = await make_auth(session, simulator, username="secure").login("123456")
    auth = make_auth(
        session, simulator, username="secure", password=None, tokens=due(tokens)
    )
    simulator.fail_rest(400, count=1)
    assert await auth.async_get_access_token() == tokens.access_token


# --- connections a load balancer closes ---------------------------------------------------


@pytest.mark.parametrize(
    "ping_every", [0.05, 0.2], ids=["pinged-within-the-grace", "pinged-after-it"]
)
async def test_ping_only_connections_closed_every_so_often_are_no_rejections(
    simulator: Simulator, session: aiohttp.ClientSession, ping_every: float
) -> None:
    """Websocket pings, never ``h``; each connection closed after 0.5 s.

    Before, each close counted as a rejected sign-in (three raise a repair
    issue), renewed the token and made the backoff grow.
    """
    simulator.ping_keepalive = True
    simulator.heartbeat_interval = ping_every  # the grace is 0.1 s
    simulator.connection_lifetime = 0.5
    client = make_client(session, simulator)
    await client.login()
    rec = Recorder()
    rng = RecordingRandom()
    stream = make_stream(client, rec, rng=rng)
    async with running(stream):
        await wait_until(lambda: simulator.closed_by_lifetime >= 4)
        await push_until_heard(simulator, rec)
    assert rec.rejected == []
    assert stream.rejected_in_a_row == 0
    assert simulator.oauth_grants == ["password"]
    # Each reconnect waits the shortest delay: the backoff does not grow.
    assert rng.ceilings[:4] == [0.02] * 4
    assert simulator.client_messages.count(simulator.client_messages[0]) >= 5


async def test_a_silent_connection_closed_late_is_no_rejection(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """No ``h``, no ping, closed 0.5 s after authenticate: not a rejection.

    Only a close within ``reject_within`` (0.3 s here) of authenticate
    counts; a later one says nothing about the token.
    """
    simulator.ping_keepalive = True  # and no ping within its 5 s interval
    simulator.connection_lifetime = 0.5
    client = make_client(session, simulator)
    await client.login()
    rec = Recorder()
    async with running(make_stream(client, rec)):
        await wait_until(lambda: simulator.closed_by_lifetime >= 3)
    assert rec.rejected == []
    assert simulator.oauth_grants == ["password"]


async def test_a_close_soon_after_authenticate_is_still_a_rejection(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Within ``reject_within`` and without proof: counted, and renewed."""
    simulator.ping_keepalive = True
    simulator.connection_lifetime = 0.15
    client = make_client(session, simulator)
    await client.login()
    rec = Recorder()
    async with running(make_stream(client, rec, reject_within=0.5)):
        await wait_until(lambda: len(rec.rejected) >= 2)
    assert rec.rejected[:2] == [1, 2]
    assert simulator.oauth_grants[:2] == ["password", "refresh_token"]


async def test_a_connection_that_lived_long_enough_resets_the_backoff(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Refused a while (the backoff grows), then up past ``healthy_after``."""
    client = make_client(session, simulator)
    await client.login()
    rec = Recorder()
    rng = RecordingRandom()
    stream = make_stream(
        client, rec, rng=rng, healthy_after=0.4, backoff_base=0.01, backoff_cap=0.08
    )
    simulator.refuse_events = True
    async with running(stream):
        await wait_until(lambda: len(rng.ceilings) >= 5)
        simulator.refuse_events = False
        await wait_until(lambda: "connected" in rec.log)
        assert rng.ceilings[4] == 0.08
        await asyncio.sleep(0.45)
        before = len(rng.ceilings)
        await simulator.close_connections()
        await wait_until(lambda: len(rng.ceilings) > before)
        # Started again from the shortest: failures double from there.
        simulator.refuse_events = True
        await wait_until(lambda: len(rng.ceilings) > before + 3)
        assert rng.ceilings[before : before + 4] == [0.01, 0.01, 0.02, 0.04]


# --- the reference SockJS server (PyPI sockjs): pings, never h ------------------------------


async def test_reference_server_behind_a_load_balancer() -> None:
    """PyPI sockjs pings every 0.05 s; each session is closed after 0.5 s."""
    server = NgucSockJsServer(heartbeat=0.05, connection_lifetime=0.5)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = NgucClient(
                session,
                company=COMPANY,
                username=USERNAME,
                password=PASSWORD,
                api_url=server.api_url,
                events_url=server.events_url,
                auth_timings=FAST,
            )
            await client.login()
            rec = Recorder()
            rng = RecordingRandom()
            stream = make_stream(client, rec, rng=rng)
            async with running(stream):
                await server.wait_until(lambda: server.cut >= 3, timeout=5.0)
                async with asyncio.timeout(5):
                    while not rec.events:
                        server.broadcast(*EVENT)
                        await asyncio.sleep(0.05)
    finally:
        await server.stop()
    assert server.errors == []
    assert rec.events[0] == EVENT
    assert rec.rejected == []
    assert server.grants == ["password"]
    assert rng.ceilings[:3] == [0.02] * 3


# --- the simulator's knobs, over its HTTP control API (for the soak and demos) -------------


async def test_control_api_sets_the_token_and_connection_faults(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    async def post(action: str, body: dict[str, Any]) -> None:
        url = f"{simulator.api_url}/_sim/{action}"
        async with session.post(url, json=body) as response:
            assert response.status == 200, await response.text()

    token_url = simulator.api_url + contract.TOKEN_PATH
    form = {"grant_type": "refresh_token", "client_id": "external.demo"}
    await post("token_down", {"seconds": 0.2, "status": 503})
    async with session.post(token_url, data=form) as response:
        assert response.status == 503
    await asyncio.sleep(0.25)
    async with session.post(token_url, data=form) as response:
        assert response.status == 400  # back: a refresh grant without its token
    await post("token_down", {"status": None})
    with pytest.raises(aiohttp.ClientError):
        async with session.post(token_url, data=form) as response:
            await response.read()
    await post("slow_token", {"seconds": 2.5})
    await post("refuse_refresh", {})
    await post("ping_keepalive", {"on": True})
    await post("connection_lifetime", {"seconds": 20})
    assert simulator.token_answer_delay == 2.5
    assert simulator.refresh_refused_status == 400
    assert simulator.ping_keepalive
    assert simulator.connection_lifetime == 20.0
    await post("clear", {})
    assert simulator.token_down_until == 0.0
    assert simulator.token_answer_delay == 0.0
    assert simulator.refresh_refused_status == 401
    assert not simulator.ping_keepalive
    assert simulator.connection_lifetime is None
