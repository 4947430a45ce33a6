"""The NGUC simulator honours the API contract (docs: /work/shared/nguc-api.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import contextlib
import json
from typing import Any

import aiohttp
import pytest

from tests.simulator import Simulator, demo_company, run_demo

# Home Assistant's test plugin blocks sockets; loopback servers need them enabled.
pytestmark = pytest.mark.usefixtures("socket_enabled")

WS_PATH = "/123/abcdefghij0123/websocket"
CLIENT_ID = "external.demo"


@contextlib.asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[Simulator]:
    """Run a simulator with the demo company and the given options."""
    sim = Simulator(demo_company(), **kwargs)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def sim() -> AsyncGenerator[Simulator]:
    """A simulator with a short auth timeout and heartbeat."""
    async with running(auth_timeout=2.0, heartbeat_interval=0.2) as simulator:
        yield simulator


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """A plain aiohttp client session."""
    async with aiohttp.ClientSession() as client:
        yield client


async def login(
    session: aiohttp.ClientSession,
    sim: Simulator,
    *,
    username: str = "demo",
    password: str = "demo",  # noqa: S107
    tfa: str | None = "",
    client_id: str = CLIENT_ID,
    form: bool = False,
) -> tuple[int, dict[str, Any]]:
    """POST a password grant; return status and JSON body."""
    body: dict[str, str] = {
        "grant_type": "password",
        "client_id": client_id,
        "username": username,
        "password": password,
    }
    if tfa is not None:
        body["tfa"] = tfa
    kwargs: dict[str, Any] = {"data": body} if form else {"json": body}
    async with session.post(f"{sim.api_url}/oauth2/user-credentials", **kwargs) as resp:
        return resp.status, await resp.json()


async def token(session: aiohttp.ClientSession, sim: Simulator) -> str:
    """Log in as demo/demo and return the access token."""
    status, body = await login(session, sim)
    assert status == 200
    return str(body["access_token"])


async def get(
    session: aiohttp.ClientSession, sim: Simulator, path: str, access: str | None
) -> tuple[int, Any]:
    """GET a REST path with a bearer token."""
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    async with session.get(f"{sim.api_url}{path}", headers=headers) as resp:
        return resp.status, await resp.json()


def auth_frame(access: str) -> str:
    """The SockJS authenticate frame of the contract."""
    message = json.dumps(["authenticate", {"authorization": f"Bearer {access}"}])
    return json.dumps([message])


def decode_a(frame: str) -> list[list[Any]]:
    """Decode an `a[...]` frame into [name, payload] pairs."""
    assert frame.startswith("a")
    return [json.loads(item) for item in json.loads(frame[1:])]


async def receive_text(ws: aiohttp.ClientWebSocketResponse, skip_h: bool = True) -> str:
    """Next text frame (heartbeats skipped unless asked)."""
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        if msg.data != "h" or not skip_h:
            return str(msg.data)


@contextlib.asynccontextmanager
async def events(
    session: aiohttp.ClientSession, sim: Simulator, access: str | None
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """Open the event pusher; authenticate when given a token."""
    async with session.ws_connect(sim.events_url + WS_PATH, autoping=False) as ws:
        assert await receive_text(ws) == "o"
        if access is not None:
            await ws.send_str(auth_frame(access))
        yield ws


async def test_password_grant(sim: Simulator, session: aiohttp.ClientSession) -> None:
    status, body = await login(session, sim)
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    assert body["expires_in"] >= 1
    assert body["access_token"]
    assert body["refresh_token"]
    status, form_body = await login(session, sim, form=True)
    assert status == 200
    assert form_body["access_token"] != body["access_token"]

    assert (await login(session, sim, password="nope"))[0] == 401
    assert (await login(session, sim, username="nobody"))[0] == 401
    assert (await login(session, sim, client_id="external.other"))[0] == 401
    assert (await login(session, sim, tfa=None))[0] == 400

    assert (await login(session, sim, username="secure", password="secure"))[0] == 402
    user, word = "secure", "secure"
    assert (await login(session, sim, username=user, password=word, tfa="000000"))[
        0
    ] == 402
    assert (await login(session, sim, username=user, password=word, tfa="123456"))[
        0
    ] == 200
    status, _ = await login(
        session, sim, username=user, password=word, tfa="123456", form=True
    )
    assert status == 200
    assert sim.oauth_grants == ["password"] * 10


async def test_refresh_rotates(sim: Simulator, session: aiohttp.ClientSession) -> None:
    _, first = await login(session, sim)
    url = f"{sim.api_url}/oauth2/user-credentials"
    body = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "refresh_token": first["refresh_token"],
    }
    async with session.post(url, data=body) as resp:
        assert resp.status == 200
        second = await resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    async with session.post(url, json=body) as resp:
        assert resp.status == 401  # the old refresh token was rotated away
    assert (await get(session, sim, "/user/me", second["access_token"]))[0] == 200

    sim.revoke_tokens()
    body["refresh_token"] = second["refresh_token"]
    async with session.post(url, json=body) as resp:
        assert resp.status == 401
    assert (await get(session, sim, "/user/me", second["access_token"]))[0] == 401
    assert sim.oauth_grants == [
        "password",
        "refresh_token",
        "refresh_token",
        "refresh_token",
    ]


async def test_rest_needs_valid_token(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    assert (await get(session, sim, "/company/user", None))[0] == 401
    assert (await get(session, sim, "/company/user", "bogus"))[0] == 401
    access = await token(session, sim)
    assert (await get(session, sim, "/company/user", access))[0] == 200
    sim.expire_access_tokens()
    assert (await get(session, sim, "/company/user", access))[0] == 401


async def test_token_lifetime(session: aiohttp.ClientSession) -> None:
    async with running(token_lifetime=0.3) as sim:
        status, body = await login(session, sim)
        assert status == 200
        assert body["expires_in"] == 1
        assert (await get(session, sim, "/user/me", body["access_token"]))[0] == 200
        await asyncio.sleep(0.4)
        assert (await get(session, sim, "/user/me", body["access_token"]))[0] == 401


async def test_rest_shapes(sim: Simulator, session: aiohttp.ClientSession) -> None:
    access = await token(session, sim)
    _, me = await get(session, sim, "/user/me", access)
    assert me == {
        "id": "86480",
        "username": "demo",
        "name": "Anna Lindqvist",
        "company_id": "4711",
        "company_name": "demo",
    }
    _, users = await get(session, sim, "/company/user", access)
    assert {"id", "name", "extension", "email"} == set(users[0])
    assert any(u["name"] == "Lars Öberg" for u in users)
    _, statuses = await get(session, sim, "/company/user/status", access)
    assert {
        "pbx_user_id": "86482",
        "status": "4",
        "status_text": "Unavailable",
    } in statuses
    _, devices = await get(session, sim, "/company/device", access)
    assert {"id", "pbx_user_id", "name", "model", "status", "status_text"} == set(
        devices[0]
    )
    assert {d["status_text"] for d in devices} == {"Registered", "Unregistered"}
    _, queues = await get(session, sim, "/company/queue", access)
    assert [q["queue"]["name"] for q in queues] == ["Support", "Sales"]
    support = queues[0]
    assert support["queue"]["member_total"] == "3"
    assert support["queue"]["member_available"] == "2"  # Maja is paused
    assert support["members"][0]["call_guid"] is None
    assert support["callers"] == []
    assert all(isinstance(v, str) for v in support["queue"].values())


async def test_events_update_rest(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    access = await token(session, sim)
    await sim.set_user_status("86481", 9)
    _, statuses = await get(session, sim, "/company/user/status", access)
    assert {
        "pbx_user_id": "86481",
        "status": "9",
        "status_text": "InUse&Ringing",
    } in statuses

    await sim.set_device_registered("9001", False)
    _, devices = await get(session, sim, "/company/device", access)
    assert (
        next(d for d in devices if d["id"] == "9001")["status_text"] == "Unregistered"
    )

    guid = await sim.add_caller("501", "0701234567")
    _, queues = await get(session, sim, "/company/queue", access)
    assert queues[0]["queue"]["waiting"] == "1"
    assert queues[0]["callers"][0]["call_guid"] == guid
    await sim.remove_caller("501", guid, answered=False)
    _, queues = await get(session, sim, "/company/queue", access)
    assert queues[0]["queue"]["waiting"] == "0"
    assert queues[0]["queue"]["abandoned"] == "2"

    # A snapshot of an unknown queue adds it; unknown events change nothing.
    snapshot = {
        "queue": {"id": "777", "name": "Växel", "waiting": "0", "completed": "3"},
        "members": [],
        "callers": [],
    }
    await sim.push_event("Queue", snapshot)
    await sim.push_event("CallFlow", {"id": "1"})
    _, queues = await get(session, sim, "/company/queue", access)
    assert queues[-1]["queue"]["name"] == "Växel"
    assert queues[-1]["queue"]["completed"] == "3"


async def test_websocket_flow(sim: Simulator, session: aiohttp.ClientSession) -> None:
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        assert sim.authenticated_count == 1
        await sim.set_user_status("86480", 8)
        [[name, payload]] = decode_a(await receive_text(ws))
        assert name == "UserStatus"
        assert payload == {
            "pbx_user_id": "86480",
            "status": "8",
            "status_text": "Ringing",
        }

        cdr = {"id": "5", "pbx_recording_id": False, "dst_pbx_user_id": None}
        await sim.push_events([("Cdr", cdr), ("CallFlow", {"x": "ö"})])
        assert decode_a(await receive_text(ws)) == [
            ["Cdr", cdr],
            ["CallFlow", {"x": "ö"}],
        ]

        # Re-authentication with a fresh token on the open connection.
        await ws.send_str(auth_frame(await token(session, sim)))
        await sim.wait_for_authenticated(2)
        assert sim.reauth_on_open_count == 1
        assert sim.connection_count == 1

        await sim.send_raw("a[not json")
        assert await receive_text(ws) == "a[not json"
        await sim.send_open_again()
        assert await receive_text(ws) == "o"

        # Heartbeats; websocket pings are answered.
        assert await receive_text(ws, skip_h=False) == "h"
        await ws.ping(b"x")
        msg = await ws.receive(timeout=5)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.PONG

        await sim.close_connections(3000, "Go away!")
        assert await receive_text(ws) == 'c[3000, "Go away!"]'
        assert (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.CLOSE
    assert sim.open_connections == 0


async def test_websocket_bad_auth(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with events(session, sim, "bogus") as ws:
        assert (await receive_text(ws)).startswith("c[")
        assert (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.CLOSE

    access = await token(session, sim)
    sim.reject_auth = True
    async with events(session, sim, access) as ws:
        assert (await receive_text(ws)).startswith("c[")
    sim.clear_faults()

    sim.auth_timeout = 0.2
    async with events(session, sim, None) as ws:
        assert (await receive_text(ws)).startswith("c[")
    assert sim.authenticated_count == 0
    assert sim.connection_count == 3

    async with session.get(f"{sim.events_url}/12/abcdefghij/websocket") as resp:
        assert resp.status == 404
    async with session.get(f"{sim.events_url}/123/ABCDEFGHIJ/websocket") as resp:
        assert resp.status == 404


async def test_silent_and_drop(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.silent = True
    async with events(session, sim, await token(session, sim)) as ws:
        await sim.wait_for_connections(1)
        await ws.ping(b"x")
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.6)  # neither h nor pong
        await sim.drop_connections()
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert sim.open_connections == 0


async def test_rest_faults(sim: Simulator, session: aiohttp.ClientSession) -> None:
    access = await token(session, sim)
    sim.fail_rest(429, count=2, retry_after=7)
    for _ in range(2):
        async with session.get(f"{sim.api_url}/company/user") as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "7"
    assert (await get(session, sim, "/company/user", access))[0] == 200
    sim.fail_rest(503)
    assert (await login(session, sim))[0] == 503
    sim.clear_faults()
    assert (await login(session, sim))[0] == 200


async def test_http_control(sim: Simulator, session: aiohttp.ClientSession) -> None:
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        event = {
            "name": "UserStatus",
            "payload": {"pbx_user_id": "86483", "status": "1"},
        }
        async with session.post(f"{sim.api_url}/_sim/event", json=event) as resp:
            assert resp.status == 200
        [[name, _]] = decode_a(await receive_text(ws))
        assert name == "UserStatus"
        async with session.post(
            f"{sim.api_url}/_sim/close", json={"code": 3001}
        ) as resp:
            assert resp.status == 200
        assert (await receive_text(ws)).startswith("c[3001,")
    assert sim.company.statuses["86483"] == 1
    async with session.get(f"{sim.api_url}/_sim/state") as resp:
        state = await resp.json()
    assert state["authenticated_count"] == 1
    assert state["open_connections"] == 0


async def test_demo_runs(sim: Simulator, session: aiohttp.ClientSession) -> None:
    names: set[str] = set()
    async with events(session, sim, await token(session, sim)) as ws:
        await sim.wait_for_connections(1)
        demo = asyncio.create_task(run_demo(sim, seed=1, interval=0.01))
        try:
            while len(names) < 4:
                frame = await receive_text(ws)
                names.update(name for name, _ in decode_a(frame))
        finally:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
    assert names & {
        "UserStatus",
        "Queue",
        "Cdr",
        "QueueCdr",
        "DeviceStatus",
        "CallFlow",
    }
