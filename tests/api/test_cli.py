"""The command line, against our simulator: output formats and exit codes.

Some tests run ``python -m custom_components.weblink_nguc.api`` as a real
process (the child is not under pytest-socket; starting it costs a few
seconds, because the parent package imports Home Assistant). The others call
``cli.main`` in a worker thread, which runs its own event loop while the
simulator keeps serving in the test's loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import socket
import sys
import time
from typing import Any

import pytest

from custom_components.weblink_nguc.api import cli
from tests.simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT = 30.0
DEMO_PASSWORD = "demo"


def args(
    sim: Simulator, command: str, *extra: str, password: str | None = DEMO_PASSWORD
) -> list[str]:
    """Return a command line for the demo company on ``sim``."""
    argv = [
        command,
        "--api-url",
        sim.api_url,
        "--events-url",
        sim.events_url,
        "--company",
        "demo",
        *extra,
    ]
    if "--username" not in extra:
        argv += ["--username", "demo"]
    if password is not None:
        argv += ["--password", password]
    return argv


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process, without an inherited NGUC_PASSWORD."""
    env = {key: value for key, value in os.environ.items() if key != "NGUC_PASSWORD"}
    env.update(extra)
    return env


async def start_process(argv: list[str], **env: str) -> asyncio.subprocess.Process:
    """Start the command line as a real process."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.weblink_nguc.api",
        *argv,
        cwd=REPO_ROOT,
        env=child_env(**env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Wait for a process; return its exit code, stdout and stderr."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        pytest.fail(f"the command line did not finish; stderr:\n{stderr.decode()}")
    assert process.returncode is not None
    return process.returncode, stdout.decode("utf-8"), stderr.decode("utf-8")


async def run_process(argv: list[str], **env: str) -> tuple[int, str, str]:
    """Run the command line as a real process to the end."""
    return await finish(await start_process(argv, **env))


async def run_main(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run ``cli.main`` in a worker thread; return exit code, stdout, stderr."""
    capsys.readouterr()
    code = await asyncio.wait_for(asyncio.to_thread(cli.main, argv), PROCESS_TIMEOUT)
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    """Return a loopback port nobody listens on (needs ``socket_enabled``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def error_line(stderr: str) -> str:
    """Return the one ``error:`` line of stderr (the log may precede it)."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- listen ---------------------------------------------------------------------------


async def test_listen_prints_one_json_object_per_event(simulator: Simulator) -> None:
    """A real process: one line per event, ``event`` and ``data`` as on the wire."""
    events: list[tuple[str, Any]] = [
        (
            "UserStatus",
            {"pbx_user_id": "86481", "status": "8", "status_text": "Ringing"},
        ),
        (
            "DeviceStatus",
            {
                "pbx_device_id": "9002",
                "pbx_user_id": "86481",
                "status": "0",
                "status_text": "Unregistered",
            },
        ),
        (
            "SomethingNew",
            {"text": "Lars Öberg ☎", "n": "17", "none": None, "no": False},
        ),
    ]
    process = await start_process(args(simulator, "listen", "--max-events", "3"))
    try:
        await simulator.wait_for_connections(1, timeout=PROCESS_TIMEOUT)
        await simulator.push_events(events[:2], apply=False)  # one frame, two events
        await simulator.push_event(*events[2], apply=False)
    finally:
        code, stdout, stderr = await finish(process)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 3
    decoded = [json.loads(line) for line in lines]
    assert all(set(item) == {"event", "data"} for item in decoded)
    assert decoded == [{"event": name, "data": payload} for name, payload in events]
    assert "Lars Öberg ☎" in lines[2]  # printed as text, not \u escapes


async def test_listen_max_events_in_process(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cli.main`` stops after N events, even when a frame holds more."""
    run = asyncio.create_task(
        run_main(args(simulator, "listen", "--max-events", "2"), capsys)
    )
    await simulator.wait_for_connections(1)
    payloads = [
        {"pbx_user_id": user, "status": "1", "status_text": "InUse"}
        for user in ("86480", "86481", "86483")
    ]
    await simulator.push_events([("UserStatus", p) for p in payloads], apply=False)
    code, stdout, _ = await run
    assert code == 0
    assert [json.loads(line) for line in stdout.splitlines()] == [
        {"event": "UserStatus", "data": p} for p in payloads[:2]
    ]
    await simulator.wait_for_connections(0)


async def test_listen_seconds_stops(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--seconds`` ends a quiet listen with exit code 0 and no output."""
    started = time.monotonic()
    code, stdout, stderr = await run_main(
        args(simulator, "listen", "--seconds", "1"), capsys
    )
    assert code == 0, stderr
    assert stdout == ""
    assert 1.0 <= time.monotonic() - started < 5.0
    assert simulator.connection_count == 1
    await simulator.wait_for_connections(0)


# --- snapshot -------------------------------------------------------------------------


async def test_snapshot_document(
    simulator: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """``snapshot`` prints the five REST answers, unchanged, as one document."""
    code, stdout, stderr = await run_main(args(simulator, "snapshot"), capsys)
    assert code == 0, stderr
    document = json.loads(stdout)
    company = simulator.company
    assert document == {
        "me": company.me(company.accounts["demo"]),
        "users": company.rest_users(),
        "statuses": company.rest_statuses(),
        "queues": company.rest_queues(),
        "devices": company.rest_devices(),
    }
    assert document["me"]["id"] == "86480"
    assert "Lars Öberg" in stdout


# Runs the client with every import of Home Assistant refused.
WITHOUT_HOME_ASSISTANT = """
import runpy, sys

class RefuseHomeAssistant:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "homeassistant":
            raise ImportError(f"{name} imported")
        return None

sys.meta_path.insert(0, RefuseHomeAssistant())
sys.argv = ["api", *sys.argv[1:]]
runpy.run_module("api", run_name="__main__", alter_sys=True)
"""


async def test_client_runs_without_home_assistant(simulator: Simulator) -> None:
    """The client package stands alone: run from its parent, it needs no Home Assistant."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WITHOUT_HOME_ASSISTANT,
        *args(simulator, "snapshot"),
        cwd=REPO_ROOT / "custom_components" / "weblink_nguc",
        env=child_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    code, stdout, stderr = await finish(process)
    assert code == 0, stderr
    assert json.loads(stdout)["me"]["id"] == "86480"


# --- credentials and exit codes -------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "tfa", "expected"),
    [
        ("demo", "Wr0ng-pw", None, cli.EXIT_CREDENTIALS),
        ("nobody", "demo", None, cli.EXIT_CREDENTIALS),
        ("secure", "secure", None, cli.EXIT_TWO_FACTOR),
        ("secure", "secure", "000000", cli.EXIT_TWO_FACTOR),
        ("secure", "secure", "123456", cli.EXIT_OK),
    ],
)
async def test_exit_codes(
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    *,
    username: str,
    password: str,
    tfa: str | None,
    expected: int,
) -> None:
    """2: credentials rejected; 3: two-factor code missing or wrong; 0: done."""
    extra = ["--username", username] + (["--tfa", tfa] if tfa is not None else [])
    code, stdout, stderr = await run_main(
        args(simulator, "snapshot", *extra, password=password), capsys
    )
    assert code == expected, stderr
    if expected == cli.EXIT_OK:
        assert json.loads(stdout)["me"]["username"] == "secure"
    else:
        assert stdout == ""
        line = error_line(stderr)
        assert password not in line  # never echoes the password


async def test_listen_keeps_trying_when_the_event_stream_rejects_us(
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Login works but every ``authenticate`` is refused: no exit code 2.

    Only the token endpoint can say the credentials are bad; it accepts them.
    ``listen`` retries with one token renewal, logs the close codes, and ends
    at ``--seconds`` with exit code 0.
    """
    simulator.reject_auth = True
    code, stdout, stderr = await run_main(
        args(simulator, "listen", "--seconds", "3"), capsys
    )
    assert code == cli.EXIT_OK, stderr
    assert stdout == ""
    assert "error:" not in stderr
    log = caplog.text
    assert "c[2010, 'Authentication failed'] before accepting the token" in log
    assert "closed 1 connection(s) in a row" in log
    assert 2 <= simulator.connection_count <= 6  # backoff from 1 s
    assert simulator.oauth_grants == ["password", "refresh_token"]


async def test_password_from_environment(
    simulator: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``--password``, NGUC_PASSWORD is used."""
    monkeypatch.setenv("NGUC_PASSWORD", "demo")
    code, stdout, stderr = await run_main(
        args(simulator, "snapshot", password=None), capsys
    )
    assert code == cli.EXIT_OK, stderr
    assert json.loads(stdout)["me"]["username"] == "demo"


@pytest.mark.usefixtures("socket_enabled")
async def test_unreachable_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: exit code 1 and one ``error:`` line."""
    code, stdout, stderr = await run_main(
        [
            "snapshot",
            "--api-url",
            f"http://127.0.0.1:{closed_port()}",
            "--company",
            "demo",
            "--username",
            "demo",
            "--password",
            DEMO_PASSWORD,
        ],
        capsys,
    )
    assert code == cli.EXIT_FAILURE
    assert stdout == ""
    assert "cannot connect" in error_line(stderr)


def test_missing_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``--password`` and no NGUC_PASSWORD: exit code 1, one line, no request."""
    monkeypatch.delenv("NGUC_PASSWORD", raising=False)
    code = cli.main(
        [
            "snapshot",
            "--api-url",
            "http://127.0.0.1:9",
            "--company",
            "demo",
            "--username",
            "demo",
        ]
    )
    out, err = capsys.readouterr()
    assert code == cli.EXIT_FAILURE
    assert out == ""
    assert "NGUC_PASSWORD" in error_line(err)


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad usage exits 1: exit code 2 is reserved for rejected credentials."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["listen", "--username", "demo"])  # no --company
    assert exit_info.value.code == cli.EXIT_FAILURE
    assert "--company" in capsys.readouterr().err


@pytest.mark.usefixtures("socket_enabled")
async def test_real_process_exit_codes(simulator: Simulator) -> None:
    """Real processes: 1 when unreachable (one line, no traceback), 2 when rejected.

    (Two processes only: each spends seconds importing Home Assistant; the
    other exit codes are checked in-process above.)
    """
    port = closed_port()
    unreachable = [
        "listen",
        "--api-url",
        f"http://127.0.0.1:{port}",
        "--events-url",
        f"ws://127.0.0.1:{port}/events",
        "--company",
        "demo",
        "--username",
        "demo",
    ]
    (code1, out1, err1), (code2, out2, err2) = await asyncio.gather(
        run_process(unreachable, NGUC_PASSWORD="demo"),
        run_process(args(simulator, "listen", password="wrong")),
    )

    assert code1 == cli.EXIT_FAILURE
    assert out1 == ""
    assert err1.strip().splitlines() == [error_line(err1)]  # exactly one line
    assert "cannot connect" in err1

    assert code2 == cli.EXIT_CREDENTIALS, err2
    assert out2 == ""
    assert "credentials rejected" in error_line(err2)
