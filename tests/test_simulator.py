"""The NGUC simulator honours the API contract (docs: /work/shared/nguc-api.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import contextlib
import json
import random
from typing import Any

import aiohttp
import pytest

from tests.simulator import Device, Simulator, User, demo_company, run_demo
from tests.simulator.server import ExpiresIn

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
    """A simulator with a short auth timeout and heartbeat.

    It sends no `h` on accepting a token, so that the frames a test reads are
    only those it provoked (``test_heartbeat_on_accept`` covers that `h`).
    """
    async with running(auth_timeout=2.0, heartbeat_interval=0.2) as simulator:
        simulator.heartbeat_on_accept = False
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


async def test_heartbeat_on_accept(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """An accepted token is answered with `h` at once; a refused one with `c[...]`."""
    sim.heartbeat_on_accept = True
    sim.heartbeat_interval = 60.0
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        assert await receive_text(ws, skip_h=False) == "h"
    async with events(session, sim, "not-a-token") as ws:
        assert (await receive_text(ws, skip_h=False)).startswith("c[")


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


# --- fault injection (issue 6's fault matrix) --------------------------------------------


async def test_close_after_auth(sim: Simulator, session: aiohttp.ClientSession) -> None:
    """The next connections are accepted, then closed with c[3000,"Go away!"] before any h."""
    access = await token(session, sim)
    sim.close_after_auth(2)
    for _ in range(2):
        async with events(session, sim, access) as ws:
            assert await receive_text(ws, skip_h=False) == 'c[3000, "Go away!"]'
            assert (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.CLOSE
    assert sim.closed_after_auth == 2
    assert sim.authenticated_count == 2  # the token was accepted each time
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        assert await receive_text(ws, skip_h=False) == "h"
        assert sim.proven_connections == 1
    assert sim.closed_after_auth == 2


async def test_silence_connections(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """Half-open: no h, no pong, no event on the silenced socket; a new one works."""
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        sim.silence_connections()
        await sim.set_user_status("86480", 8)
        assert sim.events_sent == 0
        await ws.ping(b"x")
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.6)
        assert sim.open_connections == 1
        async with events(session, sim, access) as fresh:
            await sim.wait_for_connections(2)
            await sim.set_user_status("86480", 0)
            [[name, _]] = decode_a(await receive_text(fresh))
            assert name == "UserStatus"
        assert sim.events_sent == 1
    # The client gave up on the silenced socket: the server lets it go.
    await sim._wait_until(lambda: sim.open_connections == 0, 5, lambda: "still open")
    assert sim.state()["silenced_connections"] == 0


async def test_token_endpoint_faults(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """401 to everything; odd expires_in answers; the tokens themselves keep working."""
    sim.fail_token(401)
    assert (await login(session, sim))[0] == 401
    sim.fail_token(503, retry_after=9)
    url = f"{sim.api_url}/oauth2/user-credentials"
    async with session.post(url, json={"grant_type": "password"}) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "9"
    sim.clear_faults()
    for value in (0, -5, "0", "soon", None):
        sim.expires_in = value
        status, body = await login(session, sim)
        assert status == 200
        assert body["expires_in"] == value
        assert (await get(session, sim, "/user/me", body["access_token"]))[0] == 200
    sim.expires_in = ExpiresIn.MISSING
    _, body = await login(session, sim)
    assert "expires_in" not in body
    assert sim.token_requests == len(sim.oauth_grants) == 8


async def test_path_faults(sim: Simulator, session: aiohttp.ClientSession) -> None:
    """Faults of one REST path: status and Retry-After, a hang, a stale or wrong answer."""
    access = await token(session, sim)
    sim.fail_path("/company/queue", 429, count=1, retry_after=3)
    async with session.get(
        f"{sim.api_url}/company/queue", headers={"Authorization": f"Bearer {access}"}
    ) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "3"
    assert (await get(session, sim, "/company/user", access))[0] == 200
    assert (await get(session, sim, "/company/queue", access))[0] == 200

    sim.fail_path("/company/device", 404)
    for _ in range(2):
        assert (await get(session, sim, "/company/device", access))[0] == 404
    sim.clear_path("/company/device")
    assert (await get(session, sim, "/company/device", access))[0] == 200

    sim.hang_path("/company/user", 5.0, count=1)
    request = asyncio.create_task(get(session, sim, "/company/user", access))
    await sim._wait_until(lambda: sim.pending_requests == 1, 5, lambda: "no hang")
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await request
    await sim._wait_until(lambda: sim.pending_requests == 0, 5, lambda: "still held")
    assert len(sim.request_times("/company/user")) == 2

    sim.override_path("/company/user", {"users": []}, count=1)
    assert await get(session, sim, "/company/user", access) == (200, {"users": []})
    sim.override_path("/company/user", text="<html>", content_type="text/html")
    async with session.get(
        f"{sim.api_url}/company/user", headers={"Authorization": f"Bearer {access}"}
    ) as resp:
        assert resp.status == 200
        assert await resp.text() == "<html>"
    sim.clear_faults()

    # Stale: the answer is made when asked and sent later; the event is newer.
    sim.stale_path("/company/user/status", 0.5, count=1)
    stale = asyncio.create_task(get(session, sim, "/company/user/status", access))
    await sim.wait_for_requests("/company/user/status", 1)
    await asyncio.sleep(0.05)
    await sim.set_user_status("86480", 8)
    _, statuses = await stale
    assert {"pbx_user_id": "86480", "status": "0", "status_text": "Idle"} in statuses
    _, statuses = await get(session, sim, "/company/user/status", access)
    assert {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"} in statuses


async def test_truncated_and_unreadable_lists(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """A list cut to its first items; a list whose items' id field is renamed."""
    access = await token(session, sim)
    _, users = await get(session, sim, "/company/user", access)
    sim.truncate_path("/company/user", 2, count=1)
    assert await get(session, sim, "/company/user", access) == (200, users[:2])
    assert await get(session, sim, "/company/user", access) == (200, users)

    for path, named_by in (
        ("/company/user", "id"),
        ("/company/device", "id"),
        ("/company/user/status", "pbx_user_id"),
    ):
        _, items = await get(session, sim, path, access)
        sim.unreadable_path(path)
        status, unreadable = await get(session, sim, path, access)
        assert status == 200
        assert len(unreadable) == len(items)
        assert all(named_by not in item for item in unreadable)
        assert [item[named_by.upper()] for item in unreadable] == [
            item[named_by] for item in items
        ]
        sim.clear_path(path)
        assert await get(session, sim, path, access) == (200, items)
    _, queues = await get(session, sim, "/company/queue", access)
    sim.unreadable_path("/company/queue", count=1)
    _, unreadable = await get(session, sim, "/company/queue", access)
    assert [queue["queue"]["ID"] for queue in unreadable] == [
        queue["queue"]["id"] for queue in queues
    ]
    assert await get(session, sim, "/company/queue", access) == (200, queues)


async def test_events_delay_and_refusal(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """The websocket handshake is refused (counted), or held while a client waits."""
    sim.refuse_events = True
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(sim.events_url + WS_PATH)
    assert sim.events_refused == 1
    sim.clear_faults()
    sim.events_delay = 5.0
    attempt = asyncio.create_task(session.ws_connect(sim.events_url + WS_PATH))
    await sim._wait_until(lambda: sim.events_held == 1, 5, lambda: "not held")
    assert sim.pending_requests == 1
    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    await sim._wait_until(lambda: sim.pending_requests == 0, 5, lambda: "still held")


async def test_close_on_token_expiry(session: aiohttp.ClientSession) -> None:
    """With `close_on_token_expiry`, a connection dies with its token unless a new one is sent."""
    async with running(token_lifetime=0.5, heartbeat_interval=0.1) as sim:
        sim.close_on_token_expiry = True
        async with events(session, sim, await token(session, sim)) as ws:
            await sim.wait_for_connections(1)
            await asyncio.sleep(0.3)
            await ws.send_str(auth_frame(await token(session, sim)))
            await sim.wait_for_authenticated(2)
            frames = [await receive_text(ws, skip_h=False) for _ in range(3)]
            assert "h" in frames  # still open past the first token's life
            assert await receive_text(ws) == 'c[2012, "Token expired"]'
        assert sim.reauth_on_open_count == 1
        assert sim.connection_count == 1


async def test_go_offline_and_come_back(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """Unreachable (connections refused), then back on the same address with its state."""
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        await sim.go_offline()
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, sim, "/user/me", access)
    await sim.come_back()
    assert (await get(session, sim, "/user/me", access))[0] == 200


async def test_restart_with_changes(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """A restart cuts every connection; the change shows over REST only, no event."""
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        await sim.restart(lambda company: company.remove_user("86483"))
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert sim.events_sent == 0
    _, users = await get(session, sim, "/company/user", access)
    assert "86483" not in {u["id"] for u in users}
    _, phones = await get(session, sim, "/company/device", access)
    assert "9004" not in {p["id"] for p in phones}
    _, queues = await get(session, sim, "/company/queue", access)
    sales = next(q for q in queues if q["queue"]["id"] == "502")
    assert [m["pbx_user_id"] for m in sales["members"]] == ["86481"]
    assert sales["queue"]["member_total"] == "1"


async def test_add_user_by_event(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """A user known by an event only: the event names the id, REST lists it from then on."""
    access = await token(session, sim)
    async with events(session, sim, access) as ws:
        await sim.wait_for_connections(1)
        await sim.add_user_by_event(
            User("86490", "Nils Holm", "110", "nils@demo.example"),
            status=1,
            phone=Device("9010", "86490", "Nils bordstelefon", "Snom D785"),
        )
        [[name, payload]] = decode_a(await receive_text(ws))
        assert (name, payload["pbx_user_id"], payload["status"]) == (
            "UserStatus",
            "86490",
            "1",
        )
        [[name, payload]] = decode_a(await receive_text(ws))
        assert (name, payload["pbx_device_id"]) == ("DeviceStatus", "9010")
    _, users = await get(session, sim, "/company/user", access)
    assert {"id": "86490", "name": "Nils Holm", "extension": "110"}.items() <= next(
        u for u in users if u["id"] == "86490"
    ).items()


def test_company_changes() -> None:
    """Removals cascade, renames reach queue members, fresh ids never clash."""
    company = demo_company()
    assert company.new_item_id("user") == "86500"
    assert company.new_item_id("device") == "9100"
    assert company.new_item_id("queue") == "600"
    company.rename_user("86481", "Erik J")
    assert company.queues["502"].members[0].name == "Erik J"
    company.set_status("86481", 1)
    assert company.queues["501"].member_available == 1  # Anna; Maja is paused
    company.remove_user("86480")
    assert "86480" not in company.statuses
    assert not {"9001", "9005"} & set(company.devices)
    assert "demo" not in company.accounts
    company.rename_device("9002", "Erik skrivbord", "Yealink T57W")
    assert company.devices["9002"].to_wire()["model"] == "Yealink T57W"
    company.rename_queue("501", "Kundtjänst")
    company.remove_queue("502")
    assert [q["queue"]["name"] for q in company.rest_queues()] == ["Kundtjänst"]


def test_scramble_changes_everything_but_the_accounts() -> None:
    """`scramble` adds, removes and renames, and always leaves the accounts' users."""
    company = demo_company()
    before = (set(company.users), set(company.devices), set(company.queues))
    done = company.scramble(random.Random(4))
    assert done["users_added"] >= 1
    assert done["queues_added"] == 1
    assert (set(company.users), set(company.devices), set(company.queues)) != before
    assert {a.pbx_user_id for a in company.accounts.values()} <= set(company.users)
    for queue in company.queues.values():
        assert queue.member_total == len(queue.members)
        assert {m.pbx_user_id for m in queue.members} <= set(company.users)


async def test_second_company(session: aiohttp.ClientSession) -> None:
    """`demo_company` makes another company of the same shape under another name."""
    sim = Simulator(demo_company("4712", "Åkerö Café"))
    await sim.start()
    try:
        assert (await login(session, sim))[0] == 401  # external.demo is not it
        status, body = await login(session, sim, client_id="external.åkerö café")
        assert status == 200
        _, me = await get(session, sim, "/user/me", body["access_token"])
        assert (me["company_id"], me["company_name"]) == ("4712", "Åkerö Café")
    finally:
        await sim.stop()


async def test_push_events_counts_deliveries(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    """`events_sent` counts events delivered to authenticated connections."""
    await sim.set_user_status("86480", 1)  # nobody listens
    assert sim.events_sent == 0
    access = await token(session, sim)
    async with events(session, sim, access), events(session, sim, access):
        await sim.wait_for_connections(2)
        await sim.push_events(
            [("UserStatus", {"pbx_user_id": "86480", "status": "0"})] * 2
        )
    assert sim.events_sent == 4
