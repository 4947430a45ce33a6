"""The client against a real third-party SockJS server (PyPI ``sockjs``), over loopback.

PyPI ``sockjs`` behaves unlike our simulator in ways that matter: it packs
several sends into one ``a[...]`` frame, escapes non-ASCII text, and sends
websocket pings rather than ``h`` frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import json
from typing import Any

import aiohttp
import pytest

from custom_components.weblink_nguc.api import (
    NgucAuthError,
    NgucClient,
    NgucEventStream,
    NgucTwoFactorError,
    events as events_module,
)
from custom_components.weblink_nguc.api.sockjs import Frame, parse_frame
from tests.api.nguc_sockjs_server import (
    COMPANY,
    DEVICES,
    ME,
    PASSWORD,
    QUEUES,
    STATUSES,
    TFA_CODE,
    TFA_USERNAME,
    USERNAME,
    USERS,
    Connection,
    NgucSockJsServer,
    Script,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

TIMEOUT = 5.0


@dataclass
class Recorder:
    """Collects what the event stream hands to its callbacks."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    connected: int = 0
    disconnected: int = 0

    def on_event(self, name: str, payload: Any) -> None:
        """Record one event."""
        self.events.append((name, payload))

    def on_connected(self) -> None:
        """Count a connection."""
        self.connected += 1

    def on_disconnected(self) -> None:
        """Count a disconnection."""
        self.disconnected += 1


@contextlib.asynccontextmanager
async def serving(**kwargs: Any) -> AsyncIterator[NgucSockJsServer]:
    """Run an :class:`NgucSockJsServer` on 127.0.0.1."""
    server = NgucSockJsServer(**kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.errors == []


@contextlib.asynccontextmanager
async def streaming(
    server: NgucSockJsServer,
    *,
    heartbeat: float = 25.0,
    auth_grace: float = 1.0,
    on_rejected: Callable[[int], None] | None = None,
) -> AsyncIterator[tuple[NgucEventStream, Recorder, asyncio.Task[None]]]:
    """Log in and run an event stream against ``server``; stop it afterwards."""
    async with aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company=COMPANY,
            username=USERNAME,
            password=PASSWORD,
            api_url=server.api_url,
            events_url=server.events_url,
        )
        await client.login()
        recorder = Recorder()
        stream = NgucEventStream(
            session,
            server.events_url,
            client.auth,
            on_event=recorder.on_event,
            on_connected=recorder.on_connected,
            on_disconnected=recorder.on_disconnected,
            on_rejected=on_rejected,
            heartbeat=heartbeat,
            auth_grace=auth_grace,
            backoff_base=0.05,
            backoff_cap=0.2,
        )
        task = asyncio.create_task(stream.run())
        try:
            yield stream, recorder, task
        finally:
            await stream.stop()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SockJS text frame the event stream parses, in order."""
    seen: list[str] = []

    def spy(text: str) -> Frame:
        seen.append(text)
        return parse_frame(text)

    monkeypatch.setattr(events_module, "parse_frame", spy)
    return seen


def per_connection(scripts: dict[int, Script]) -> Script:
    """Run ``scripts[n]`` on the n-th connection; other connections stay idle."""

    async def script(conn: Connection) -> None:
        if conn.number in scripts:
            await scripts[conn.number](conn)

    return script


EVENTS: list[tuple[str, Any]] = [
    ("UserStatus", {"pbx_user_id": "1001", "status": "8", "status_text": "Ringing"}),
    ("UserStatus", {"pbx_user_id": "1001", "status": "1", "status_text": "InUse"}),
    ("DeviceStatus", {"pbx_device_id": "9101", "status": "0", "pbx_user_id": None}),
    ("SomethingNew", {"flag": False, "list": [1, "2", None]}),
    ("UserStatus", {"pbx_user_id": "1001", "status": "0", "status_text": "Idle"}),
]


async def test_rest_and_oauth_against_the_server() -> None:
    """The server answers the client's login and REST seed as the contract says."""
    async with serving() as server, aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company=COMPANY,
            username=USERNAME,
            password=PASSWORD,
            api_url=server.api_url,
        )
        await client.login()
        assert (await client.get_me()).id == ME["id"]
        assert [user.id for user in await client.get_users()] == ["1001", "1002"]
        assert len(await client.get_user_statuses()) == len(STATUSES)
        assert len(await client.get_queues()) == len(QUEUES)
        assert len(await client.get_devices()) == len(DEVICES)
        assert await client.get_json("/company/user") == USERS

        wrong = NgucClient(
            session,
            company=COMPANY,
            username=USERNAME,
            password="nope",
            api_url=server.api_url,
        )
        with pytest.raises(NgucAuthError) as err:
            await wrong.login()
        assert not isinstance(err.value, NgucTwoFactorError)

        tfa = NgucClient(
            session,
            company=COMPANY,
            username=TFA_USERNAME,
            password=PASSWORD,
            api_url=server.api_url,
        )
        with pytest.raises(NgucTwoFactorError):
            await tfa.login()
        with pytest.raises(NgucTwoFactorError):
            await tfa.login("000000")
        await tfa.login(TFA_CODE)

        # The server also takes a JSON body.
        async with session.post(
            f"{server.api_url}/oauth2/user-credentials",
            json={
                "grant_type": "password",
                "client_id": f"external.{COMPANY}",
                "username": USERNAME,
                "password": PASSWORD,
                "tfa": "",
            },
        ) as response:
            assert response.status == 200
            assert (await response.json())["token_type"] == "Bearer"


async def test_several_messages_in_one_frame_delivered_in_order(
    frames: list[str],
) -> None:
    """Sends in a row arrive as one ``a[...]`` frame; every event comes out, in order."""

    async def burst(conn: Connection) -> None:
        for name, payload in EVENTS:
            conn.send_event(name, payload)

    async with (
        serving(script=per_connection({1: burst})) as server,
        streaming(server) as (stream, recorder, _task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= len(EVENTS))
        assert recorder.events == EVENTS
        message_frames = [frame for frame in frames if frame.startswith("a")]
        assert len(message_frames) == 1
        assert len(json.loads(message_frames[0][1:])) == len(EVENTS)
        assert stream.connections == 1
        # What the client sent, as the sockjs server decoded it.
        token = server.connections[0].tokens[0]
        assert server.client_messages == [
            f'["authenticate",{{"authorization":"Bearer {token}"}}]'
        ]


@pytest.mark.parametrize("ensure_ascii", [True, False])
async def test_non_ascii_text_intact(ensure_ascii: bool) -> None:
    """Swedish letters and emoji survive, escaped or not in the inner JSON."""
    payload = {
        "name": "Åsa Öberg-Ängström",
        "note": "smörgåsbord på ön 🎉 ☎️ 👩‍💻",
        "answered_by": "Jöns Bäckström",
    }

    async def send(conn: Connection) -> None:
        conn.send_event("Cdr", payload, ensure_ascii=ensure_ascii)
        conn.send_event("Händelse😀", {"ä": "ö"}, ensure_ascii=ensure_ascii)

    async with (
        serving(script=per_connection({1: send})) as server,
        streaming(server) as (_stream, recorder, _task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= 2)
        assert recorder.events == [("Cdr", payload), ("Händelse😀", {"ä": "ö"})]


@pytest.mark.parametrize(
    ("code", "reason"), [(3000, "Go away!"), (1002, "Connection interrupted")]
)
async def test_close_frame_after_events_reconnects(code: int, reason: str) -> None:
    """``c[...]`` after events: a lost connection; reconnect with the same token."""

    async def first(conn: Connection) -> None:
        conn.send_event(*EVENTS[0])
        conn.close(code, reason)

    async def second(conn: Connection) -> None:
        conn.send_event(*EVENTS[1])

    async with (
        serving(script=per_connection({1: first, 2: second})) as server,
        streaming(server) as (stream, recorder, task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= 2)
        assert recorder.events == EVENTS[:2]
        assert stream.connections == 2
        assert len(server.connections) == 2
        assert server.connections[0].closed
        assert server.refreshes == 0
        assert server.connections[1].tokens == server.connections[0].tokens
        assert (recorder.connected, recorder.disconnected) == (2, 1)
        assert stream.connected
        assert not task.done()


async def test_close_within_grace_renews_token_and_reconnects() -> None:
    """``c[3000]`` right after authenticating, before any event: token renewed."""

    async def first(conn: Connection) -> None:
        conn.close()

    async def second(conn: Connection) -> None:
        conn.send_event(*EVENTS[0])

    async with (
        serving(script=per_connection({1: first, 2: second})) as server,
        streaming(server) as (stream, recorder, task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= 1)
        assert recorder.events == EVENTS[:1]
        assert stream.connections == 2
        assert server.refreshes == 1
        first_token, second_token = (c.tokens[0] for c in server.connections)
        assert first_token != second_token
        assert not task.done()


@pytest.mark.parametrize(
    "server_heartbeat", [0.2, 30.0], ids=["server-pings", "client-pings"]
)
async def test_websocket_pings_keep_an_idle_connection(
    frames: list[str], server_heartbeat: float
) -> None:
    """No ``h`` ever: pings and pongs alone keep the connection for 4 heartbeats."""
    heartbeat = 0.4  # the client calls the connection dead after 1 s of silence
    async with (
        serving(heartbeat=server_heartbeat) as server,
        streaming(server, heartbeat=heartbeat, auth_grace=0.2) as (stream, rec, _t),
    ):
        await server.wait_until(lambda: stream.connected)
        await asyncio.sleep(heartbeat * 4)
        assert frames == ["o"]  # no h, no a, no c: silent at the SockJS level
        assert stream.connections == 1
        assert len(server.connections) == 1
        conn = server.connections[0]
        assert not conn.closed
        assert stream.connected
        if server_heartbeat < heartbeat:
            assert conn.session._heartbeats >= 3  # the server did ping
        # Still alive end to end.
        conn.send_event(*EVENTS[0])
        await server.wait_until(lambda: rec.events == EVENTS[:1])
        assert rec.disconnected == 0


@pytest.mark.usefixtures("short_tokens")
async def test_reauthenticates_on_the_open_connection() -> None:
    """A short-lived token is renewed and sent again without reconnecting."""

    async def late(conn: Connection) -> None:
        await asyncio.sleep(2.6)  # past the first token's expiry
        conn.send_event(*EVENTS[0])

    async with (
        serving(
            token_lifetime=2.0,
            enforce_token_expiry=True,
            script=per_connection({1: late}),
        ) as server,
        streaming(server) as (stream, recorder, _task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= 1, timeout=6.0)
        assert recorder.events == EVENTS[:1]
        assert stream.connections == 1
        assert server.refreshes >= 1
        assert server.reauthentications >= 1
        assert len(server.connections[0].tokens) >= 2


async def test_authentication_rejected_is_retried_with_one_renewal() -> None:
    """A server that closes on every ``authenticate``: no NgucAuthError, no spin.

    The token endpoint accepts the credentials, so only it could say they are
    bad: the stream renews its token once and keeps trying with backoff.
    """
    counts: list[int] = []
    async with (
        serving(reject_ws_auth=True) as server,
        streaming(server, on_rejected=counts.append) as (stream, recorder, task),
    ):
        await server.wait_until(lambda: len(counts) >= 4)
        assert not task.done()
        assert server.refreshes == 1
        assert server.token_requests == 2  # the login and the one renewal
        assert counts[:4] == [1, 2, 3, 4]
        assert recorder.events == []
        assert recorder.connected == 0
        assert not stream.connected


@pytest.mark.usefixtures("fast_token_retry")
async def test_token_endpoint_down_after_a_rejection_is_retried() -> None:
    """A close within the grace, then the token endpoint fails once: keep going.

    The stream renews its token after a rejection; when that renewal meets a
    transient failure (503), it must back off and retry, not end ``run()``.
    """

    async def first(conn: Connection) -> None:
        conn.server.oauth_failures = 1  # the renewal that follows fails
        conn.close()

    async def second(conn: Connection) -> None:
        conn.send_event(*EVENTS[0])

    async with (
        serving(script=per_connection({1: first, 2: second})) as server,
        streaming(server) as (stream, recorder, task),
    ):
        await server.wait_until(lambda: len(recorder.events) >= 1 or task.done())
        if task.done():
            pytest.fail(f"run() ended: {task.exception()!r}")
        assert recorder.events == EVENTS[:1]
        assert stream.connections == 2
