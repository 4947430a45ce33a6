"""The project's acceptance criteria, as tests, against servers we did not write.

1. Against a PyPI-``sockjs`` NGUC server whose tokens live 4 seconds and which
   closes the first websocket with ``c[3000,"Go away!"]``, the command line
   ``listen --max-events 9``, run as a real process, prints exactly the 9
   events the server sent, in order, and exits 0, over exactly 2 websocket
   connections, having refreshed its token and authenticated again on the
   open connection. (The process lowers the token lifetime floor of a minute
   to a second, see ``short_tokens_cli``, or it would wait for a minute.)
2. Issue 6: the same kind of server closes two freshly authenticated
   connections in a row with ``c[3000,"Go away!"]`` while its token endpoint
   accepts the credentials, and answers every token request with
   ``expires_in`` ``"0"``: ``listen --max-events N``, the real command line in
   a real process, prints the N events sent on the third connection and exits
   0, with at most 6 token requests.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import sys
from typing import Any

import pytest

from tests.api.nguc_sockjs_server import (
    COMPANY,
    PASSWORD,
    USERNAME,
    Connection,
    NgucSockJsServer,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN_LIFETIME = 4.0

# Four events on the first connection (two frames), then c[3000,"Go away!"].
FIRST: list[tuple[str, Any]] = [
    ("UserStatus", {"pbx_user_id": "1001", "status": "8", "status_text": "Ringing"}),
    ("UserStatus", {"pbx_user_id": "1001", "status": "1", "status_text": "InUse"}),
    (
        "Queue",
        {
            "queue": {"id": "7", "name": "Kundtjänst", "waiting": "1", "total": "4"},
            "members": [
                {"pbx_user_id": "1001", "avg_call_length": "61", "call_guid": "g-1"}
            ],
            "callers": [{"call_guid": "g-2", "callerid": "+46701234567", "wait": "12"}],
        },
    ),
    ("DeviceStatus", {"pbx_device_id": "9101", "status": "0", "pbx_user_id": None}),
]
# Five events on the second connection, one a second: they outlive the token.
SECOND: list[tuple[str, Any]] = [
    (
        "Cdr",
        {
            "id": "555",
            "call_guid": "g-1",
            "calldate": "2024-09-10 09:03:09",
            "direction": "IN",
            "src": "+46701234567",
            "dst": "201",
            "dst_pbx_user_id": "1001",
            "src_pbx_user_id": None,
            "billsec": "42",
            "disposition": "ANSWER",
            "pbx_recording_id": False,
        },
    ),
    ("UserStatus", {"pbx_user_id": "1001", "status": "0", "status_text": "Idle"}),
    (
        "QueueCdr",
        {
            "id": "9",
            "call_guid": "g-2",
            "answered_by": "Örjan Ek",
            "disposition": "ANSWERED",
            "wait_time": "12",
        },
    ),
    ("CallPickup", {"note": "an undocumented event, kept: å ä ö 📞"}),
    (
        "UserStatus",
        {"pbx_user_id": "1002", "status": "9", "status_text": "InUse&Ringing"},
    ),
]
EXPECTED = FIRST + SECOND


async def script(conn: Connection) -> None:
    """First connection: 4 events, then go away; second: 5 events, 1 s apart."""
    if conn.number == 1:
        for event in FIRST[:2]:
            conn.send_event(*event)
        await asyncio.sleep(0.2)
        for event in FIRST[2:]:
            conn.send_event(*event)
        conn.close(3000, "Go away!")
    elif conn.number == 2:
        for event in SECOND:
            await asyncio.sleep(1.0)
            conn.send_event(*event)


async def test_listen_survives_go_away_and_token_expiry() -> None:
    """``listen --max-events 9`` against the PyPI sockjs server: the criterion."""
    server = NgucSockJsServer(
        token_lifetime=TOKEN_LIFETIME, script=script, enforce_token_expiry=True
    )
    await server.start()
    env = {key: value for key, value in os.environ.items() if key != "NGUC_PASSWORD"}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.api.short_tokens_cli",  # tokens of 4 s are taken at their word
            "listen",
            "--api-url",
            server.api_url,
            "--events-url",
            server.events_url,
            "--company",
            COMPANY,
            "--username",
            USERNAME,
            "--password",
            PASSWORD,
            "--max-events",
            "9",
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 40)
        except TimeoutError:
            process.kill()
            stdout, stderr = await process.communicate()
            pytest.fail(f"listen did not finish; stderr:\n{stderr.decode()}")
    finally:
        await server.stop()

    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    lines = stdout.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event": name, "data": payload} for name, payload in EXPECTED
    ], log
    # The server sent exactly these (none was refused for an expired token).
    assert server.sent == EXPECTED
    assert len(server.connections) == 2
    assert server.connections[0].closed
    assert server.refreshes >= 1
    assert server.reauthentications >= 1
    assert server.rejections == 0
    assert server.errors == []


# --- issue 6: two rejections in a row, and tokens that claim to live 0 s ----------

THIRD: list[tuple[str, Any]] = [
    ("UserStatus", {"pbx_user_id": "1001", "status": "8", "status_text": "Ringing"}),
    ("Queue", FIRST[2][1]),
    ("SomethingNew", {"ok": True, "text": "å ä ö"}),
    ("UserStatus", {"pbx_user_id": "1001", "status": "0", "status_text": "Idle"}),
    ("DeviceStatus", {"pbx_device_id": "9101", "status": "1", "pbx_user_id": "1001"}),
]


async def go_away_twice(conn: Connection) -> None:
    """Connections 1 and 2: ``c[3000]`` at once; connection 3: the events."""
    if conn.number <= 2:
        conn.close(3000, "Go away!")
        return
    for event in THIRD[:2]:
        conn.send_event(*event)
    await asyncio.sleep(0.3)
    for event in THIRD[2:]:
        conn.send_event(*event)


async def test_listen_survives_two_rejections_and_zero_lifetimes() -> None:
    """Issue 6's criterion: no exit code 2, the events, few token requests."""
    server = NgucSockJsServer(script=go_away_twice, expires_in="0")
    await server.start()
    env = {key: value for key, value in os.environ.items() if key != "NGUC_PASSWORD"}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "custom_components.weblink_nguc.api",
            "listen",
            "--api-url",
            server.api_url,
            "--events-url",
            server.events_url,
            "--company",
            COMPANY,
            "--username",
            USERNAME,
            "--max-events",
            str(len(THIRD)),
            cwd=REPO_ROOT,
            env={**env, "NGUC_PASSWORD": PASSWORD},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 40)
        except TimeoutError:
            process.kill()
            stdout, stderr = await process.communicate()
            pytest.fail(f"listen did not finish; stderr:\n{stderr.decode()}")
    finally:
        await server.stop()

    log = stderr.decode()
    assert process.returncode == 0, log
    assert "Traceback" not in log
    assert "error:" not in log
    lines = stdout.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event": name, "data": payload} for name, payload in THIRD
    ], log
    assert len(server.connections) == 3
    assert [conn.closed for conn in server.connections[:2]] == [True, True]
    assert server.token_requests <= 6
    assert server.grants == ["password", "refresh_token"]  # one renewal
    # The close is logged with its code and reason, and no token is.
    assert "c[3000, 'Go away!'] before accepting the token" in log
    for conn in server.connections:
        for token in conn.tokens:
            assert token not in log
    assert server.errors == []
