"""Picking up a queued caller: the request, the simulator's answer, the errors."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.weblink_nguc.api import (
    LineState,
    NgucClient,
    NgucConnectionError,
    NgucNotFoundError,
    NgucRateLimitError,
    NgucResponseError,
)
from tests.simulator import QueueCaller, Simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_client(session: aiohttp.ClientSession, api_url: str) -> NgucClient:
    return NgucClient(
        session, company="demo", username="demo", password="demo", api_url=api_url
    )


@pytest.fixture
async def client(simulator: Simulator, session: aiohttp.ClientSession) -> NgucClient:
    client = make_client(session, simulator.api_url)
    await client.login()
    return client


async def test_pickup_gives_the_caller_to_the_user(
    simulator: Simulator, client: NgucClient
) -> None:
    first = await simulator.add_caller("502", "0701111111", wait=40)
    second = await simulator.add_caller("502", "0702222222", wait=5)

    await client.pickup_queue_caller("502", first)

    assert simulator.pickups == [("502", first, "86480")]
    assert simulator.requests[-1] == f"POST /queue/502/caller/{first}/pickup"
    # What the client reads back: the caller left the queue, the line is busy.
    (sales,) = [q for q in await client.get_queues() if q.id == "502"]
    assert [c.call_guid for c in sales.callers] == [second]
    assert sales.callers[0].position == 1
    assert sales.completed == 6
    statuses = {s.user_id: s for s in await client.get_user_statuses()}
    assert statuses["86480"].status == LineState.IN_USE


async def test_caller_no_longer_waiting_is_not_found(
    simulator: Simulator, client: NgucClient
) -> None:
    guid = await simulator.add_caller("502", "0701111111")
    await simulator.remove_caller("502", guid, answered=False)
    with pytest.raises(NgucNotFoundError, match="404"):
        await client.pickup_queue_caller("502", guid)
    with pytest.raises(NgucNotFoundError):
        await client.pickup_queue_caller("599", guid)
    assert simulator.pickups == []


async def test_ids_are_quoted(simulator: Simulator, client: NgucClient) -> None:
    """An id with a slash or a space stays one path segment."""
    queue = simulator.company.queues["501"]
    queue.callers.append(QueueCaller("17/4 x", "501", "0703333333", wait=3))
    await client.pickup_queue_caller("501", "17/4 x")
    assert simulator.pickups == [("501", "17/4 x", "86480")]


async def test_401_renews_the_token_once_and_retries(
    simulator: Simulator, client: NgucClient
) -> None:
    guid = await simulator.add_caller("501", "0701111111")
    simulator.expire_access_tokens()
    await client.pickup_queue_caller("501", guid)
    assert simulator.oauth_grants == ["password", "refresh_token"]
    path = f"POST /queue/501/caller/{guid}/pickup"
    assert simulator.requests.count(path) == 2
    assert simulator.pickups == [("501", guid, "86480")]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, NgucResponseError),
        (403, NgucResponseError),
        (409, NgucResponseError),
        (500, NgucConnectionError),
        (503, NgucConnectionError),
        (429, NgucRateLimitError),
    ],
)
async def test_refusals(
    simulator: Simulator,
    client: NgucClient,
    status: int,
    error: type[Exception],
) -> None:
    guid = await simulator.add_caller("501", "0701111111")
    simulator.fail_rest(status, count=1)
    with pytest.raises(error, match=str(status)) as info:
        await client.pickup_queue_caller("501", guid)
    assert not isinstance(info.value, NgucNotFoundError)
    assert simulator.pickups == []
    # The caller is still waiting: the next try goes through.
    await client.pickup_queue_caller("501", guid)
    assert simulator.pickups == [("501", guid, "86480")]


@pytest.fixture
async def pickup_server(socket_enabled: None) -> AsyncGenerator[dict[str, Any]]:
    """A token endpoint and a pickup endpoint whose answer each test chooses."""
    answer: dict[str, Any] = {"status": 204, "body": None, "content_type": None}
    seen: list[tuple[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "T", "expires_in": 3600})

    async def pickup(request: web.Request) -> web.Response:
        seen.append((request.path, request.content_type))
        return web.Response(
            status=answer["status"],
            text=answer["body"],
            content_type=answer["content_type"],
        )

    app = web.Application()
    app.router.add_post("/oauth2/user-credentials", token)
    app.router.add_post("/queue/{queue_id}/caller/{call_guid}/pickup", pickup)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    answer["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    answer["seen"] = seen
    try:
        yield answer
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, '{"status": "ok"}', "application/json"),
        (200, "OK", "text/plain"),
        (201, "", None),
        (202, "<p>queued</p>", "text/html"),
        (204, None, None),
    ],
)
async def test_any_success_answer_is_accepted(
    pickup_server: dict[str, Any],
    session: aiohttp.ClientSession,
    status: int,
    body: str | None,
    content_type: str | None,
) -> None:
    pickup_server.update(status=status, body=body, content_type=content_type)
    client = make_client(session, pickup_server["url"])
    await client.pickup_queue_caller("501", "1700000000.42")
    assert pickup_server["seen"] == [
        ("/queue/501/caller/1700000000.42/pickup", "application/x-www-form-urlencoded")
    ]


async def test_not_modified_is_not_success(
    pickup_server: dict[str, Any], session: aiohttp.ClientSession
) -> None:
    pickup_server.update(status=304)
    client = make_client(session, pickup_server["url"])
    with pytest.raises(NgucResponseError, match="304"):
        await client.pickup_queue_caller("501", "1700000000.42")
