"""The command line against the reference SockJS server (npm ``sockjs`` 0.3.24).

``npm_sockjs/server.js`` is an NGUC-compatible server on it: tokens that live
4 seconds, a first connection closed with ``c[3000,"Go away!"]`` after 4
events, and 5 more events on the second connection spread over ~5 seconds.
``script/setup`` installs the npm package; without Node.js this is skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import shutil
import socket
import sys
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = Path(__file__).resolve().parent / "npm_sockjs"

pytestmark = [
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.skipif(
        shutil.which("node") is None
        or not (SERVER_DIR / "node_modules" / "sockjs").is_dir(),
        reason="Node.js or npm sockjs not installed (script/setup installs it)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_listen_against_npm_sockjs() -> None:
    """9 events in order over 2 connections, renewing and re-authenticating."""
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        "node",
        str(SERVER_DIR / "server.js"),
        str(port),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(10):
            assert (await server.stdout.readline()).strip() == b"listening"
        env = {k: v for k, v in os.environ.items() if k != "NGUC_PASSWORD"}
        listen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.api.short_tokens_cli",  # tokens of 4 s are taken at their word
            "listen",
            "--api-url",
            f"http://127.0.0.1:{port}",
            "--events-url",
            f"ws://127.0.0.1:{port}/events",
            "--company",
            "acme",
            "--username",
            "u",
            "--password",
            "p",
            "--max-events",
            "9",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(45):
            out, err = await listen.communicate()
        assert listen.returncode == 0, err.decode()
        lines = [json.loads(line) for line in out.decode().splitlines()]
        assert [line["data"]["seq"] for line in lines] == list(range(1, 10))
        assert [line["event"] for line in lines] == ["UserStatus"] * 4 + ["Queue"] * 5
        assert lines[4]["data"]["text"] == "åäö ☎"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/stats") as response,
        ):
            stats: dict[str, Any] = json.loads(await response.text())
        assert stats["conns"] == 2
        assert stats["sent"] == 9
        assert stats["refreshes"] >= 1
        assert stats["reauth"] >= 1
    finally:
        server.terminate()
        await server.wait()
