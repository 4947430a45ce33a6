"""OAuth2 against the simulator: login, 2FA, errors, refresh before expiry, one renewal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import contextlib
import itertools
import socket
import time
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.weblink_nguc.api import (
    AuthTimings,
    NgucAuth,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucError,
    NgucRateLimitError,
    NgucResponseError,
    NgucTwoFactorError,
    TokenSet,
    auth as auth_module,
)
from custom_components.weblink_nguc.api.http import (
    RETRY_AFTER_MAX,
    retry_after,
    transport_error,
)
from tests.simulator import Simulator, demo_company

pytestmark = pytest.mark.usefixtures("socket_enabled")

SECRET_PASSWORD = "hunter2-Very-Secret"
# A failed renewal is retried after hundredths of a second, not seconds.
FAST_RETRY = AuthTimings(retry_min=0.01, retry_base=0.02, retry_cap=0.05)


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@contextlib.asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[Simulator]:
    sim = Simulator(demo_company(), **kwargs)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def make_auth(
    session: aiohttp.ClientSession,
    sim: Simulator,
    *,
    username: str = "demo",
    **kwargs: Any,
) -> NgucAuth:
    kwargs.setdefault("password", "demo")
    return NgucAuth(
        session, api_url=sim.api_url, company="demo", username=username, **kwargs
    )


def due(tokens: TokenSet) -> TokenSet:
    """The same tokens as restored from storage, now due for renewal."""
    return TokenSet.from_dict({**tokens.as_dict(), "expires_at": time.time() - 1})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_secrets(err: BaseException, *secrets: str) -> None:
    for text in (str(err), repr(err), *(str(arg) for arg in err.args)):
        for secret in secrets:
            assert secret not in text


# --- login ----------------------------------------------------------------------


async def test_login_returns_tokens(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    seen: list[TokenSet] = []
    auth = make_auth(session, simulator, on_tokens=seen.append)
    before = time.time()
    tokens = await auth.login()
    assert simulator.oauth_grants == ["password"]
    assert tokens.access_token in simulator._access
    assert tokens.refresh_token
    assert tokens.lifetime == 3600
    assert before + 3600 <= tokens.expires_at <= time.time() + 3600
    assert auth.tokens == tokens
    assert seen == [tokens]
    assert await auth.async_get_access_token() == tokens.access_token
    assert simulator.oauth_grants == ["password"]  # no second request
    assert 3000 < auth.seconds_until_refresh() <= 3540


async def test_login_request_shape(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """The password grant carries client_id external.<company> and always tfa."""
    forms: list[dict[str, str]] = []

    async def token_endpoint(request: web.Request) -> web.Response:
        forms.append({k: str(v) for k, v in (await request.post()).items()})
        return web.json_response(
            {"access_token": "A", "expires_in": 60, "refresh_token": "R"}
        )

    app = web.Application()
    app.router.add_post("/oauth2/user-credentials", token_endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        auth = NgucAuth(
            session,
            api_url=f"http://127.0.0.1:{port}/",
            company="acme",
            username="u",
            password="p",
        )
        await auth.login()
        await auth.login("654321")
    finally:
        await runner.cleanup()
    assert forms == [
        {
            "grant_type": "password",
            "client_id": "external.acme",
            "username": "u",
            "password": "p",
            "tfa": "",
        },
        {
            "grant_type": "password",
            "client_id": "external.acme",
            "username": "u",
            "password": "p",
            "tfa": "654321",
        },
    ]


async def test_login_wrong_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator, password=SECRET_PASSWORD)
    with pytest.raises(NgucAuthError) as info:
        await auth.login()
    assert not isinstance(info.value, NgucTwoFactorError)
    assert_no_secrets(info.value, SECRET_PASSWORD)
    assert auth.tokens is None


async def test_login_wrong_company(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = NgucAuth(
        session, api_url=simulator.api_url, company="other", username="demo"
    )
    with pytest.raises(NgucAuthError, match="no password"):
        await auth.login()
    auth = NgucAuth(
        session,
        api_url=simulator.api_url,
        company="other",
        username="demo",
        password="demo",
    )
    with pytest.raises(NgucAuthError):
        await auth.login()


async def test_login_two_factor_missing(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator, username="secure", password="secure")
    with pytest.raises(NgucTwoFactorError):
        await auth.login()


async def test_login_two_factor_wrong(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator, username="secure", password="secure")
    with pytest.raises(NgucTwoFactorError) as info:
        await auth.login("000000")
    assert isinstance(info.value, NgucAuthError)
    assert_no_secrets(info.value, "secure", "000000")


async def test_login_two_factor_right(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator, username="secure", password="secure")
    tokens = await auth.login("123456")
    assert tokens.access_token in simulator._access
    assert simulator.oauth_grants == ["password"]


async def test_login_network_error(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    auth = NgucAuth(
        session,
        api_url=f"http://127.0.0.1:{closed_port()}",
        company="demo",
        username="demo",
        password=SECRET_PASSWORD,
    )
    with pytest.raises(NgucConnectionError) as info:
        await auth.login()
    assert not isinstance(info.value, NgucRateLimitError)
    assert "cannot connect" in str(info.value)
    assert_no_secrets(info.value, SECRET_PASSWORD)


async def test_login_timeout(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    simulator.rest_delay = 0.5
    auth = make_auth(session, simulator, timings=AuthTimings(login_timeout=0.05))
    with pytest.raises(NgucConnectionError, match="timed out"):
        await auth.login()


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_login_server_error(
    simulator: Simulator, session: aiohttp.ClientSession, status: int
) -> None:
    simulator.fail_rest(status)
    auth = make_auth(session, simulator, password=SECRET_PASSWORD)
    with pytest.raises(NgucConnectionError) as info:
        await auth.login()
    assert str(status) in str(info.value)
    assert_no_secrets(info.value, SECRET_PASSWORD)


async def test_login_rate_limited(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    simulator.fail_rest(429, count=1, retry_after=7)
    auth = make_auth(session, simulator)
    with pytest.raises(NgucRateLimitError) as info:
        await auth.login()
    assert info.value.retry_after == 7.0
    assert isinstance(info.value, NgucConnectionError)
    # The fault was for one request only.
    assert (await auth.login()).access_token


async def test_login_rate_limited_without_retry_after(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    simulator.fail_rest(429, count=1)
    with pytest.raises(NgucRateLimitError) as info:
        await make_auth(session, simulator).login()
    assert info.value.retry_after is None


async def test_login_unexpected_status(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    simulator.fail_rest(404, count=1)
    with pytest.raises(NgucResponseError, match="404"):
        await make_auth(session, simulator).login()


def test_retry_after_header_forms() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"Retry-After": "1.5"}) == 1.5
    assert retry_after({"Retry-After": "-3"}) == 0.0
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({"Retry-After": "nan"}) is None
    # The HTTP-date form counts from now; a date in the past means now.
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, now) == 30.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT"}, now) == 0.0


@pytest.mark.parametrize(
    "wish", ["inf", "1e300", "86400", "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_retry_after_never_parks_the_client_past_an_hour(wish: str) -> None:
    """A server that asks for forever (or a day) is retried within the hour."""
    assert retry_after({"Retry-After": wish}) == RETRY_AFTER_MAX


def test_transport_error_names_kind_only() -> None:
    err = transport_error("login", TimeoutError("secret detail"))
    assert str(err) == "login: cannot connect (timed out)"
    err = transport_error("login", aiohttp.ClientPayloadError("secret detail"))
    assert str(err) == "login: cannot connect (ClientPayloadError)"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"token_type": "Bearer"}',
        '{"access_token": 5}',
    ],
)
async def test_login_unreadable_answer(
    socket_enabled: None, session: aiohttp.ClientSession, body: str
) -> None:
    async def token_endpoint(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/oauth2/user-credentials", token_endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        auth = NgucAuth(
            session,
            api_url=f"http://127.0.0.1:{port}",
            company="x",
            username="u",
            password="p",
        )
        with pytest.raises(NgucResponseError):
            await auth.login()
    finally:
        await runner.cleanup()


async def test_messages_never_hold_secrets(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Whatever goes wrong, the message names neither password nor token."""
    auth = make_auth(session, simulator, password=SECRET_PASSWORD)
    errors: list[NgucError] = []
    tokens = await make_auth(session, simulator).login()
    for status in (400, 401, 402, 404, 429, 500):
        # Expired: no token to fall back on, so the renewal's error is raised.
        good = make_auth(session, simulator, password=None, tokens=due(tokens))
        simulator.fail_rest(status, count=1, retry_after=1)
        with pytest.raises(NgucError) as info:
            await auth.login("123456")
        errors.append(info.value)
        simulator.fail_rest(status, count=1)
        with pytest.raises(NgucError) as info:
            await good.async_get_access_token(force_refresh=True)
        errors.append(info.value)
    for err in errors:
        assert_no_secrets(
            err, SECRET_PASSWORD, tokens.access_token, str(tokens.refresh_token)
        )
    assert tokens.access_token not in repr(tokens)
    assert str(tokens.refresh_token) not in repr(tokens)


# --- TokenSet -------------------------------------------------------------------


def test_token_set_from_response_defaults() -> None:
    tokens = TokenSet.from_response({"access_token": "A"}, now=1000.0)
    assert tokens.refresh_token is None
    assert tokens.lifetime == 3600
    assert tokens.expires_at == 4600
    tokens = TokenSet.from_response(
        {"access_token": "A", "expires_in": "abc", "refresh_token": ""}, now=0
    )
    assert tokens.lifetime == 3600
    assert tokens.refresh_token is None
    tokens = TokenSet.from_response({"access_token": "A", "expires_in": [1]}, now=0)
    assert tokens.lifetime == 3600
    tokens = TokenSet.from_response({"access_token": "A", "expires_in": "120"}, now=0)
    assert tokens.lifetime == 120


@pytest.mark.parametrize("body", [None, [], "x", {}, {"access_token": None}])
def test_token_set_from_bad_response(body: Any) -> None:
    with pytest.raises(NgucResponseError):
        TokenSet.from_response(body)


def test_token_set_storage_round_trip() -> None:
    tokens = TokenSet("A", "R", 1234.5, 600.0)
    assert TokenSet.from_dict(tokens.as_dict()) == tokens
    legacy = TokenSet.from_dict({"access_token": "A", "expires_at": 10})
    assert legacy.refresh_token is None
    assert legacy.lifetime == 3600.0


def test_refresh_margin() -> None:
    # Long-lived tokens: renewed 60 s early; short-lived: at 3/4 of their life.
    assert TokenSet("A", "R", 10_000.0, 3600.0).refresh_at() == 9940.0
    assert TokenSet("A", "R", 100.0, 2.0).refresh_at() == 99.5


# --- refresh ----------------------------------------------------------------------


@pytest.mark.usefixtures("short_tokens")
async def test_refresh_before_expiry(session: aiohttp.ClientSession) -> None:
    async with running(token_lifetime=2) as sim:
        client = NgucClient(
            session,
            company="demo",
            username="demo",
            password="demo",
            api_url=sim.api_url,
        )
        first = await client.login()
        await asyncio.sleep(1.0)
        await client.get_users()
        assert sim.oauth_grants == ["password"]
        await asyncio.sleep(0.6)  # 1.6 s: inside the margin, not yet expired
        await client.get_users()
        assert sim.oauth_grants == ["password", "refresh_token"]
        assert client.auth.tokens is not None
        assert client.auth.tokens.access_token != first.access_token
        # The request used the new token: no 401 and no retry.
        assert sim.requests.count("GET /company/user") == 2


async def test_concurrent_callers_share_one_refresh(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, tokens=due(tokens))
    assert auth.seconds_until_refresh() == 0.0
    results = await asyncio.gather(*(auth.async_get_access_token() for _ in range(10)))
    assert simulator.oauth_grants == ["password", "refresh_token"]
    assert len(set(results)) == 1
    assert results[0] != tokens.access_token
    assert auth.tokens is not None
    assert results[0] == auth.tokens.access_token


async def test_cancelled_caller_does_not_lose_the_rotated_refresh_token(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A renewal outlives its caller: the server has spent the old refresh token.

    Without a password (a two-factor account) a lost refresh token would
    need a person; here the next caller gets the renewal's new token.
    """
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, password=None, tokens=due(tokens))
    simulator.token_answer_delay = 0.3
    caller = asyncio.create_task(auth.async_get_access_token())
    while simulator.oauth_grants != ["password", "refresh_token"]:
        await asyncio.sleep(0.01)
    caller.cancel()  # e.g. the event stream's connection dropped
    with pytest.raises(asyncio.CancelledError):
        await caller
    simulator.token_answer_delay = 0.0
    token = await auth.async_get_access_token()
    assert token != tokens.access_token
    assert simulator.oauth_grants == ["password", "refresh_token"]
    # The kept refresh token is the live one: the next renewal works too.
    assert await auth.async_get_access_token(force_refresh=True) != token
    assert simulator.oauth_grants == ["password", "refresh_token", "refresh_token"]


async def test_close_does_not_wait_for_a_slow_renewal_and_hands_it_on(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Issue 18 §6: closing waits ``close_wait`` at most; the late answer is not lost.

    It reaches the closed client's ``on_tokens`` (the entry's storage) when
    it lands, and the next client of the account (started with the spent
    refresh token) waits for it instead of refreshing again.
    """
    tokens = await make_auth(session, simulator).login()
    stored: list[TokenSet] = []
    timings = AuthTimings(close_wait=0.1)
    first = make_auth(
        session,
        simulator,
        password=None,
        tokens=due(tokens),
        on_tokens=stored.append,
        timings=timings,
    )
    simulator.token_answer_delay = 1.0
    caller = asyncio.create_task(first.async_get_access_token())
    while simulator.oauth_grants != ["password", "refresh_token"]:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await first.async_close()
    assert time.monotonic() - started < 0.5
    caller.cancel()
    # Started from storage as it was: the refresh token in it is spent.
    second = make_auth(
        session, simulator, password=None, tokens=due(tokens), timings=timings
    )
    token = await second.async_get_access_token()
    assert stored
    assert stored[-1].access_token == token
    assert second.tokens == stored[-1]
    assert simulator.oauth_grants == ["password", "refresh_token"]
    assert auth_module._HANDED_ON == {}
    await second.async_close()


async def test_force_refresh_skips_token_already_replaced(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator)
    old = (await auth.login()).access_token
    new = await auth.async_get_access_token(force_refresh=True)
    assert new != old
    assert simulator.oauth_grants == ["password", "refresh_token"]
    # A caller that saw the old token rejected gets the new one, no new grant.
    assert await auth.async_get_access_token(force_refresh=True, rejected=old) == new
    assert simulator.oauth_grants == ["password", "refresh_token"]
    # When the rejected token is the current one, it is renewed.
    newest = await auth.async_get_access_token(force_refresh=True, rejected=new)
    assert newest != new
    assert simulator.oauth_grants == ["password", "refresh_token", "refresh_token"]


async def test_refresh_rejected_logs_in_with_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    seen: list[TokenSet] = []
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, tokens=due(tokens), on_tokens=seen.append)
    simulator.revoke_tokens()
    token = await auth.async_get_access_token()
    assert simulator.oauth_grants == ["password", "refresh_token", "password"]
    assert token in simulator._access
    assert [t.access_token for t in seen] == [token]


async def test_refresh_unreadable_logs_in_with_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, tokens=due(tokens))
    simulator.fail_rest(404, count=1)
    token = await auth.async_get_access_token()
    assert simulator.oauth_grants == ["password", "password"]  # 404 not counted
    assert simulator.requests[-2:] == [
        "POST /oauth2/user-credentials",
        "POST /oauth2/user-credentials",
    ]
    assert token in simulator._access


async def test_refresh_rejected_without_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, password=None, tokens=due(tokens))
    simulator.revoke_tokens()
    with pytest.raises(NgucAuthError) as info:
        await auth.async_get_access_token()
    assert_no_secrets(info.value, tokens.access_token, str(tokens.refresh_token))
    assert simulator.oauth_grants == ["password", "refresh_token"]


async def test_refresh_unreadable_without_password_is_retried(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A 404 from the token endpoint is no verdict on the credentials."""
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, password=None, tokens=due(tokens))
    simulator.fail_rest(404, count=1)
    with pytest.raises(NgucResponseError) as info:
        await auth.async_get_access_token()
    assert not isinstance(info.value, NgucAuthError)


async def test_refresh_network_error_is_not_an_auth_error(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(session, simulator).login()
    auth = make_auth(session, simulator, tokens=due(tokens), timings=FAST_RETRY)
    simulator.fail_rest(503, count=1)
    with pytest.raises(NgucConnectionError):
        await auth.async_get_access_token()
    assert simulator.oauth_grants == ["password"]  # no password fallback
    # No token to fall back on: callers are told when to come back, and
    # the token endpoint is not asked again before then.
    with pytest.raises(NgucRateLimitError) as info:
        await auth.async_get_access_token()
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= FAST_RETRY.retry_base
    assert simulator.requests.count("POST /oauth2/user-credentials") == 2
    # The refresh token is still good once the server is back.
    await asyncio.sleep(auth.seconds_until_refresh())
    assert await auth.async_get_access_token() in simulator._access
    assert simulator.oauth_grants == ["password", "refresh_token"]


async def test_refresh_rejected_for_two_factor_user_needs_a_person(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_auth(
        session, simulator, username="secure", password="secure"
    ).login("123456")
    auth = make_auth(
        session, simulator, username="secure", password="secure", tokens=due(tokens)
    )
    simulator.revoke_tokens()
    with pytest.raises(NgucTwoFactorError):
        await auth.async_get_access_token()


async def test_no_tokens_and_no_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator, password=None)
    assert auth.tokens is None
    assert auth.seconds_until_refresh() == 0.0
    with pytest.raises(NgucAuthError):
        await auth.async_get_access_token()
    with pytest.raises(NgucAuthError):
        await auth.login()
    assert simulator.oauth_grants == []


async def test_no_tokens_logs_in_on_demand(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(session, simulator)
    token = await auth.async_get_access_token()
    assert simulator.oauth_grants == ["password"]
    assert token in simulator._access


async def test_failing_token_listener_costs_no_one_the_new_tokens(
    simulator: Simulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged; the others and the caller get the tokens."""
    seen: list[TokenSet] = []

    def broken(_tokens: TokenSet) -> None:
        raise RuntimeError("listener bug")

    auth = make_auth(session, simulator, on_tokens=broken)
    auth.add_listener(seen.append)
    tokens = await auth.login()
    assert seen == [tokens]
    token = await auth.async_get_access_token(force_refresh=True)
    assert seen[-1].access_token == token == auth.tokens.access_token  # type: ignore[union-attr]
    assert "Error in a token listener" in caplog.text


async def test_token_without_refresh_token_logs_in_again(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(
        session, simulator, tokens=TokenSet("stale", None, time.time() - 1, 60.0)
    )
    assert await auth.async_get_access_token() in simulator._access
    assert simulator.oauth_grants == ["password"]


async def test_on_tokens_receives_every_new_token_set(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    seen: list[TokenSet] = []
    extra: list[TokenSet] = []
    auth = make_auth(session, simulator, on_tokens=seen.append)
    remove = auth.add_listener(extra.append)
    await auth.login()  # password
    await auth.async_get_access_token(force_refresh=True)  # refresh
    simulator.revoke_tokens()
    await auth.async_get_access_token(force_refresh=True)  # refresh fails: password
    remove()
    await auth.async_get_access_token(force_refresh=True)  # refresh
    assert simulator.oauth_grants == [
        "password",
        "refresh_token",
        "refresh_token",
        "password",
        "refresh_token",
    ]
    assert len(seen) == 4
    assert len({t.access_token for t in seen}) == 4
    assert seen[-1] == auth.tokens
    assert extra == seen[:3]
    # Each set handed out can be stored and restored.
    assert TokenSet.from_dict(seen[0].as_dict()) == seen[0]


# --- lifetimes and failed renewals against a scripted token endpoint -------------


class TokenEndpoint:
    """A token endpoint on loopback answering what each test scripts."""

    def __init__(self) -> None:
        self.expires_in: Any = 3600
        #: (status, headers) for the next requests, then 200s.
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.requests: list[float] = []
        self.issued = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(time.monotonic())
        if self.failures:
            status, headers = self.failures.pop(0)
            return web.json_response({"error": "x"}, status=status, headers=headers)
        self.issued += 1
        body: dict[str, Any] = {
            "access_token": f"A{self.issued}",
            "refresh_token": f"R{self.issued}",
        }
        if self.expires_in is not MISSING:
            body["expires_in"] = self.expires_in
        return web.json_response(body)


MISSING = object()


@pytest.fixture
async def endpoint(socket_enabled: None) -> AsyncGenerator[TokenEndpoint]:
    server = TokenEndpoint()
    app = web.Application()
    app.router.add_post("/oauth2/user-credentials", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


def endpoint_auth(
    session: aiohttp.ClientSession, endpoint: TokenEndpoint, **kwargs: Any
) -> NgucAuth:
    kwargs.setdefault("password", "p")
    return NgucAuth(session, api_url=endpoint.url, company="c", username="u", **kwargs)


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (0, 60.0),
        ("0", 60.0),
        (-5, 60.0),
        ("-3600", 60.0),
        (1, 60.0),
        (59.9, 60.0),
        (MISSING, 3600.0),
        (None, 3600.0),
        ("abc", 3600.0),
        ("", 3600.0),
        ("nan", 3600.0),
        (True, 3600.0),
        ([60], 3600.0),
        ({"s": 60}, 3600.0),
        (120, 120.0),
        ("120", 120.0),
        (86400, 86400.0),
        (10**12, 86400.0),
        (10**400, 86400.0),
        ("1e999", 86400.0),
        ("-inf", 60.0),
        (-(10**400), 60.0),
    ],
)
def test_lifetime_is_clamped(expires_in: Any, lifetime: float) -> None:
    body: dict[str, Any] = {"access_token": "A"}
    if expires_in is not MISSING:
        body["expires_in"] = expires_in
    tokens = TokenSet.from_response(body, now=1000.0)
    assert tokens.lifetime == lifetime
    assert tokens.expires_at == 1000.0 + lifetime
    assert tokens.issued_at == 1000.0


def test_stored_lifetime_is_clamped() -> None:
    tokens = TokenSet.from_dict({"access_token": "A", "expires_at": 10, "lifetime": 0})
    assert tokens.lifetime == 60.0


@pytest.mark.parametrize("expires_in", [0, "0", -1, MISSING, "abc", 1e-9])
async def test_token_requests_stay_bounded_whatever_expires_in_says(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession, expires_in: Any
) -> None:
    """The 900-requests-a-second bug: every caller, for a second, one request."""
    endpoint.expires_in = expires_in
    auth = endpoint_auth(session, endpoint)
    await auth.login()
    deadline = time.monotonic() + 1.0
    calls = 0
    while time.monotonic() < deadline:
        await auth.async_get_access_token()
        calls += 1
        await asyncio.sleep(0.001)
    assert calls > 100
    assert len(endpoint.requests) == 1
    assert auth.seconds_until_refresh() > 43.0  # a 60 s token, renewed at 3/4


@pytest.mark.parametrize("status", [500, 503, 404, 400])
async def test_failed_renewal_keeps_the_valid_token(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession, status: int
) -> None:
    """Due for renewal, not expired: the current token is used meanwhile."""
    tokens = TokenSet("A0", "R0", time.time() + 30, 3600.0)  # due: 30 s left
    auth = endpoint_auth(session, endpoint, tokens=tokens)
    endpoint.failures = [(status, {})] * 4  # refresh and password both fail
    assert await auth.async_get_access_token() == "A0"
    tried = len(endpoint.requests)
    assert tried in (1, 2)  # the refresh, and for a 4xx the password too
    # The next attempt waits for its backoff: no request meanwhile.
    for _ in range(20):
        assert await auth.async_get_access_token() == "A0"
    assert len(endpoint.requests) == tried
    assert 0 < auth.seconds_until_refresh() <= auth_module.RENEW_RETRY_BASE


async def test_failed_renewals_back_off_then_succeed(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession
) -> None:
    tokens = TokenSet("A0", "R0", time.time() + 30, 3600.0)
    auth = endpoint_auth(session, endpoint, tokens=tokens, timings=FAST_RETRY)
    endpoint.failures = [(503, {})] * 3
    for _ in range(3):
        assert await auth.async_get_access_token() == "A0"
        await asyncio.sleep(auth.seconds_until_refresh())
    assert await auth.async_get_access_token() == "A1"
    assert len(endpoint.requests) == 4
    gaps = [b - a for a, b in itertools.pairwise(endpoint.requests)]
    assert all(gap >= FAST_RETRY.retry_min for gap in gaps)
    assert auth.seconds_until_refresh() > 3000  # renewed: the backoff is over


async def test_retry_after_of_the_token_endpoint_is_honoured(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession
) -> None:
    tokens = TokenSet("A0", "R0", time.time() + 30, 3600.0)
    auth = endpoint_auth(session, endpoint, tokens=tokens)
    endpoint.failures = [(429, {"Retry-After": "20"})]
    assert await auth.async_get_access_token() == "A0"
    assert 19.0 < auth.seconds_until_refresh() <= 20.0
    assert await auth.async_get_access_token() == "A0"
    assert len(endpoint.requests) == 1


async def test_retry_after_without_a_valid_token(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession
) -> None:
    """Expired and rate limited: callers learn how long to wait, the server is spared."""
    tokens = TokenSet("A0", "R0", time.time() - 1, 3600.0)
    auth = endpoint_auth(session, endpoint, tokens=tokens)
    endpoint.failures = [(429, {"Retry-After": "20"})]
    with pytest.raises(NgucRateLimitError) as info:
        await auth.async_get_access_token()
    assert info.value.retry_after == 20.0
    with pytest.raises(NgucRateLimitError) as info:
        await auth.async_get_access_token(force_refresh=True)
    assert info.value.retry_after is not None
    assert 19.0 < info.value.retry_after <= 20.0
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, NgucAuthError), (402, NgucTwoFactorError)],
)
async def test_only_401_and_402_of_the_token_endpoint_are_auth_errors(
    endpoint: TokenEndpoint,
    session: aiohttp.ClientSession,
    status: int,
    error: type[NgucAuthError],
) -> None:
    auth = endpoint_auth(
        session, endpoint, password=None, tokens=due(TokenSet("A0", "R0", 0, 3600.0))
    )
    endpoint.failures = [(status, {})]
    with pytest.raises(error):
        await auth.async_get_access_token()


@pytest.mark.parametrize("status", [400, 403, 404, 500, 429])
async def test_other_answers_of_the_token_endpoint_are_not_auth_errors(
    endpoint: TokenEndpoint, session: aiohttp.ClientSession, status: int
) -> None:
    auth = endpoint_auth(session, endpoint)
    endpoint.failures = [(status, {})]
    with pytest.raises(NgucError) as info:
        await auth.login()
    assert not isinstance(info.value, NgucAuthError)
