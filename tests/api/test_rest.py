"""The REST seed endpoints against the simulator: typed models, 401 retry, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import logging
import socket
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.weblink_nguc.api import (
    Device,
    LineState,
    Me,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucRateLimitError,
    NgucResponseError,
    NgucUnreadableListError,
    Queue,
    QueueCaller,
    QueueMember,
    User,
    UserStatus,
)
from tests.simulator import Account, Simulator, demo_company

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_client(
    session: aiohttp.ClientSession,
    api_url: str,
    *,
    username: str = "demo",
    **kwargs: Any,
) -> NgucClient:
    kwargs.setdefault("password", "demo")
    return NgucClient(
        session, company="demo", username=username, api_url=api_url, **kwargs
    )


@pytest.fixture
async def client(simulator: Simulator, session: aiohttp.ClientSession) -> NgucClient:
    client = make_client(session, simulator.api_url + "/")
    await client.login()
    return client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def odd_server(socket_enabled: None) -> AsyncGenerator[dict[str, Any]]:
    """A token endpoint and a GET endpoint whose answer each test chooses."""
    answer: dict[str, Any] = {"body": "[]", "content_type": "application/json"}

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "T", "expires_in": 3600})

    async def anything(request: web.Request) -> web.Response:
        return web.Response(text=answer["body"], content_type=answer["content_type"])

    app = web.Application()
    app.router.add_post("/oauth2/user-credentials", token)
    app.router.add_get("/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    answer["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield answer
    finally:
        await runner.cleanup()


# --- the seed endpoints -----------------------------------------------------------


async def test_get_me(client: NgucClient) -> None:
    assert await client.get_me() == Me(
        "86480", "demo", "Anna Lindqvist", "4711", "demo"
    )


async def test_get_users(client: NgucClient) -> None:
    users = await client.get_users()
    assert all(isinstance(user, User) for user in users)
    assert [user.id for user in users] == ["86480", "86481", "86482", "86483"]
    assert users[0] == User("86480", "Anna Lindqvist", "101", "anna@demo.example")


async def test_get_user_statuses(simulator: Simulator, client: NgucClient) -> None:
    simulator.company.statuses["86481"] = 9
    statuses = {s.user_id: s for s in await client.get_user_statuses()}
    assert statuses["86480"] == UserStatus("86480", LineState.IDLE, "Idle")
    assert statuses["86481"].status == LineState.IN_USE | LineState.RINGING
    assert statuses["86481"].status_text == "InUse&Ringing"
    assert statuses["86482"].status == LineState.UNAVAILABLE


async def test_get_queues_numbers_become_ints(client: NgucClient) -> None:
    queues = {q.id: q for q in await client.get_queues()}
    support = queues["501"]
    assert isinstance(support, Queue)
    assert support.name == "Support"
    assert support.wait_longest == 95
    assert type(support.wait_longest) is int
    assert support.service_level == 92
    assert support.completed == 12
    assert support.total == 13
    assert support.member_total == 3
    assert support.member_available == 2  # Maja is paused
    assert support.members[2] == QueueMember(
        "86482", "Maja Karlsson", paused=True, avg_call_length=203, call_guid=None
    )
    assert type(support.members[0].avg_call_length) is int
    assert queues["502"].holdtime == 90


async def test_get_queues_after_a_change(
    simulator: Simulator, client: NgucClient
) -> None:
    guid = await simulator.add_caller("502", "0701234567", wait=12)
    (sales,) = [q for q in await client.get_queues() if q.id == "502"]
    assert sales.waiting == 1
    assert sales.callers == (QueueCaller(guid, "0701234567", 12, 1),)


async def test_get_devices(client: NgucClient) -> None:
    devices = {d.id: d for d in await client.get_devices()}
    assert devices["9001"] == Device(
        "9001", "86480", "Anna bordstelefon", "Yealink T54W", registered=True
    )
    assert devices["9005"].registered is False
    assert len(devices) == 5


async def test_extra_and_missing_fields_are_tolerated(
    simulator: Simulator, client: NgucClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = simulator.company.queues["501"].to_wire()
    wire["queue"]["strategy"] = "ringall"  # extra
    wire["queue"]["new_counter"] = {"nested": ["x"]}
    del wire["queue"]["holdtime"]  # missing
    del wire["queue"]["name"]
    wire["members"][0]["penalty"] = "3"
    del wire["members"][0]["avg_call_length"]
    wire["callers"] = None
    wire["unknown_list"] = [1, 2]
    monkeypatch.setattr(simulator.company, "rest_queues", lambda: [wire])
    (queue,) = await client.get_queues()
    assert queue.id == "501"
    assert queue.name is None
    assert queue.holdtime is None
    assert queue.wait_longest == 95
    assert queue.members[0].avg_call_length is None
    assert queue.members[0].user_id == "86480"
    assert queue.callers == ()


async def test_pushed_queue_with_extra_fields_then_rest(
    simulator: Simulator, client: NgucClient
) -> None:
    """A Queue event with extra and missing fields is read back over REST."""
    payload = {
        "queue": {"id": "503", "name": "Night", "waiting": "0", "vip": "yes"},
        "members": [{"pbx_user_id": "86483", "name": "Lars Öberg", "x": 1}],
        "callers": [],
        "extra": True,
    }
    await simulator.push_event("Queue", payload)
    (night,) = [q for q in await client.get_queues() if q.id == "503"]
    assert night.name == "Night"
    assert night.members[0].name == "Lars Öberg"
    assert night.members[0].paused is False


async def test_item_without_id_is_skipped(
    simulator: Simulator,
    client: NgucClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    users = simulator.company.rest_users()
    monkeypatch.setattr(
        simulator.company,
        "rest_users",
        lambda: [users[0], {"name": "ghost"}, "junk", users[1]],
    )
    with caplog.at_level(logging.WARNING):
        result = await client.get_users()
    assert [u.id for u in result] == ["86480", "86481"]
    # One line for the list, not one per item.
    lines = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert lines == [
        "GET /company/user: skipped 2 unreadable items, the first: {'name': 'ghost'}"
    ]


async def test_list_of_items_none_readable_is_a_failure(
    simulator: Simulator, client: NgucClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 case 5: a field renamed in every item is no empty list."""
    renamed = [
        {"userId": user["id"], **{k: v for k, v in user.items() if k != "id"}}
        for user in simulator.company.rest_users()
    ]
    monkeypatch.setattr(simulator.company, "rest_users", lambda: renamed)
    with pytest.raises(NgucUnreadableListError, match="none of the 4 items"):
        await client.get_users()
    monkeypatch.setattr(simulator.company, "rest_users", list)
    assert await client.get_users() == []  # truly empty is an answer


async def test_list_endpoint_answering_an_object(
    simulator: Simulator, client: NgucClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator.company, "rest_devices", lambda: {"items": []})
    with pytest.raises(NgucResponseError, match="expected a list"):
        await client.get_devices()


async def test_me_without_id(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    simulator.company.add_account(Account("nobody", "pw", ""))
    client = make_client(session, simulator.api_url, username="nobody", password="pw")
    with pytest.raises(NgucResponseError, match="no user id"):
        await client.get_me()


async def test_not_json(
    odd_server: dict[str, Any], session: aiohttp.ClientSession
) -> None:
    odd_server.update(body="<html>maintenance</html>", content_type="text/html")
    client = make_client(session, odd_server["url"])
    with pytest.raises(NgucResponseError, match="not JSON"):
        await client.get_users()


async def test_json_without_content_type(
    odd_server: dict[str, Any], session: aiohttp.ClientSession
) -> None:
    odd_server.update(body='[{"id": "1", "name": "x"}]', content_type="text/plain")
    client = make_client(session, odd_server["url"])
    assert await client.get_users() == [User("1", "x", None, None)]


async def test_get_json_any_path(client: NgucClient) -> None:
    assert (await client.get_json("/user/me"))["id"] == "86480"
    with pytest.raises(NgucResponseError, match="404"):
        await client.get_json("/no/such/path")


# --- tokens on REST ---------------------------------------------------------------


async def test_first_request_logs_in(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    seen: list[Any] = []
    client = make_client(session, simulator.api_url, on_tokens=seen.append)
    await client.get_users()
    assert simulator.oauth_grants == ["password"]
    assert len(seen) == 1


async def test_401_refreshes_once_and_retries_once(
    simulator: Simulator, client: NgucClient
) -> None:
    simulator.expire_access_tokens()
    users = await client.get_users()
    assert len(users) == 4
    assert simulator.oauth_grants == ["password", "refresh_token"]
    assert simulator.requests.count("GET /company/user") == 2


async def test_401_for_many_callers_refreshes_once(
    simulator: Simulator, client: NgucClient
) -> None:
    simulator.expire_access_tokens()
    results = await asyncio.gather(*(client.get_user_statuses() for _ in range(10)))
    assert all(len(r) == 4 for r in results)
    assert simulator.oauth_grants == ["password", "refresh_token"]


async def test_401_after_refresh_is_a_fault_not_bad_credentials(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Only the token endpoint decides that credentials are bad."""
    # Every token the server issues is already expired on the server's side.
    sim = Simulator(demo_company(), token_lifetime=0)
    await sim.start()
    try:
        client = make_client(session, sim.api_url)
        with pytest.raises(NgucResponseError, match="refused a fresh token") as err:
            await client.get_users()
        assert not isinstance(err.value, NgucAuthError)
        assert sim.oauth_grants == ["password", "refresh_token"]
        assert sim.requests.count("GET /company/user") == 2  # retried once only
    finally:
        await sim.stop()


async def test_401_while_the_token_endpoint_is_down_is_a_plain_fault(
    simulator: Simulator, client: NgucClient
) -> None:
    """Issue 18 case 1: no wait until the token's next renewal (an hour) rides along.

    The caller retries on its own backoff; a 429's Retry-After is for 429s.
    """
    simulator.token_down()
    simulator.fail_path("/company/user", 401)
    with pytest.raises(NgucConnectionError, match="could not be renewed") as info:
        await client.get_users()
    assert not isinstance(info.value, NgucRateLimitError)


async def test_401_and_refresh_rejected_without_password(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    tokens = await make_client(session, simulator.api_url).login()
    client = make_client(session, simulator.api_url, password=None, tokens=tokens)
    simulator.revoke_tokens()
    with pytest.raises(NgucAuthError):
        await client.get_me()
    assert simulator.requests.count("GET /user/me") == 1


async def test_401_and_refresh_rejected_with_password(
    simulator: Simulator, client: NgucClient
) -> None:
    simulator.revoke_tokens()
    assert (await client.get_me()).id == "86480"
    assert simulator.oauth_grants == ["password", "refresh_token", "password"]


# --- transport and server errors ----------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error(
    simulator: Simulator, client: NgucClient, status: int
) -> None:
    simulator.fail_rest(status, count=1)
    with pytest.raises(NgucConnectionError, match=str(status)):
        await client.get_queues()
    assert len(await client.get_queues()) == 2  # fine once the server is back


async def test_402_from_a_rest_endpoint_is_not_a_two_factor_error(
    simulator: Simulator, client: NgucClient
) -> None:
    """Only the token endpoint's 402 asks for a two-factor code."""
    simulator.fail_rest(402, count=1)
    with pytest.raises(NgucResponseError, match="402") as info:
        await client.get_users()
    assert not isinstance(info.value, NgucAuthError)
    assert simulator.oauth_grants == ["password"]  # and no token renewal
    assert len(await client.get_users()) == 4


async def test_rate_limited(simulator: Simulator, client: NgucClient) -> None:
    simulator.fail_rest(429, count=1, retry_after=30)
    with pytest.raises(NgucRateLimitError) as info:
        await client.get_devices()
    assert info.value.retry_after == 30.0


async def test_network_error(session: aiohttp.ClientSession) -> None:
    client = make_client(
        session, f"http://127.0.0.1:{closed_port()}", password="Secret-Pw-42"
    )
    with pytest.raises(NgucConnectionError) as info:
        await client.get_users()
    assert "Secret-Pw-42" not in str(info.value)


async def test_network_error_after_login(
    simulator: Simulator, client: NgucClient
) -> None:
    await simulator.stop()
    with pytest.raises(NgucConnectionError, match="cannot connect"):
        await client.get_users()


async def test_timeout(simulator: Simulator, session: aiohttp.ClientSession) -> None:
    client = make_client(session, simulator.api_url, request_timeout=0.05)
    await client.login()
    simulator.rest_delay = 0.3
    with pytest.raises(NgucConnectionError, match="timed out"):
        await client.get_users()
