"""A real Home Assistant process, driven over its HTTP and websocket APIs.

``.venv-hass`` (made by ``script/setup``) holds the Home Assistant release that
users run, apart from the test venv's (the version the test harness pins).
The process gets a configuration directory with this repository's
integration linked into ``custom_components``, is onboarded over HTTP like
the frontend does it, and is then used only through its public APIs.

The end-to-end test gives it a fresh directory and a free port each time;
``script/develop`` keeps one (``config/``) on port 8123 from run to run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
import contextlib
import itertools
import json
import os
from pathlib import Path
import re
import signal
import socket
import time
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[2]
HASS_BIN = REPO_ROOT / ".venv-hass" / "bin" / "hass"
INTEGRATION = REPO_ROOT / "custom_components" / "weblink_nguc"

# Only what the onboarding and config-flow APIs need; Home Assistant adds its
# default integrations (frontend, websocket_api, ...) by itself.
CONFIGURATION = """\
homeassistant:
  name: NGUC end-to-end
  time_zone: UTC
  country: SE
  unit_system: metric
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
  logs:
    custom_components.weblink_nguc: debug
"""

USERNAME = "e2e"
PASSWORD = "e2e-Password-1"  # a throwaway local account


# The start of a log record: "2026-11-27 23:28:57.117+00:00 WARNING (...".
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+[+-][\d:]+ (?P<level>[A-Z]+) ")


class HassError(AssertionError):
    """Home Assistant answered something the test did not expect."""


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_store(path: Path, key: str, version: int, data: Any) -> None:
    """Write a file of Home Assistant's ``.storage`` as its ``Store`` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"version": version, "minor_version": 1, "key": key, "data": data}),
        encoding="utf-8",
    )


class RealHass:
    """One ``hass`` process on a loopback port, and a client of its APIs."""

    def __init__(
        self,
        config_dir: Path,
        *,
        port: int | None = None,
        configuration: str = CONFIGURATION,
        files: Mapping[str, str] | None = None,
        http_in_storage: bool = False,
    ) -> None:
        """Prepare (nothing runs until :meth:`start`).

        ``port``: a free one if not given. ``configuration``: the text of
        ``configuration.yaml``, ``{port}`` replaced; written only where there
        is none yet, as are ``files`` (name: text), e.g. the files it
        includes. ``http_in_storage``: listen on 127.0.0.1 and ``port``
        by Home Assistant's stored HTTP settings, as if set in its UI,
        rather than by an ``http:`` block in ``configuration``, so that no
        trial has to be confirmed and no repair asks to remove the block.
        """
        self.config_dir = config_dir
        self.port = free_port() if port is None else port
        self.configuration = configuration
        self.files = dict(files or {})
        self.http_in_storage = http_in_storage
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = f"{self.url}/"
        self.log_path = config_dir / "hass-output.log"
        self.token: str | None = None
        self.refresh_token: str | None = None
        self.token_expires_in = 0
        self.process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    # --- Process ---------------------------------------------------------------

    def onboarding_done(self) -> set[str]:
        """Return the onboarding steps that are done, as stored (read it before start)."""
        try:
            stored = json.loads(
                (self.config_dir / ".storage" / "onboarding").read_text("utf-8")
            )
        except FileNotFoundError:
            return set()
        return set(stored["data"]["done"])

    def prepare(self) -> None:
        """Fill the configuration directory with what is missing from it.

        The integration's link, ``configuration.yaml`` and the storage that
        must be there before the first start; what is there already is kept.
        """
        custom = self.config_dir / "custom_components"
        custom.mkdir(parents=True, exist_ok=True)
        link = custom / INTEGRATION.name
        if link.is_symlink() and link.resolve() != INTEGRATION:
            link.unlink()  # e.g. to a clone that has moved
        if not link.exists():
            link.symlink_to(INTEGRATION, target_is_directory=True)
        config_file = self.config_dir / "configuration.yaml"
        if not config_file.exists():
            # Not str.format: a configuration may hold Jinja templates.
            config_file.write_text(
                self.configuration.replace("{port}", str(self.port)),
                encoding="utf-8",
            )
        for name, text in self.files.items():
            if not (path := self.config_dir / name).exists():
                path.write_text(text, encoding="utf-8")
        storage = self.config_dir / ".storage"
        # The onboarding step "core_config" (location, units) is done by the
        # YAML. Done through the API it would also start the onboarding
        # integrations (met, radio_browser, ...), which want the internet.
        if not (storage / "onboarding").exists():
            _write_store(
                storage / "onboarding", "onboarding", 4, {"done": ["core_config"]}
            )
        # The first version of the HTTP settings' store: Home Assistant
        # migrates it to its current one, with its defaults for the rest.
        if self.http_in_storage and not (storage / "http").exists():
            _write_store(
                storage / "http",
                "http",
                1,
                {"server_host": ["127.0.0.1"], "server_port": self.port},
            )

    async def start(self) -> None:
        """Prepare the configuration and start ``hass``; it is not ready yet.

        ``hass`` gets a process group of its own: a Ctrl-C in the terminal
        reaches only this process, which stops ``hass`` with :meth:`stop`.
        (Home Assistant takes a second signal during its shutdown as a kill.)
        """
        self.prepare()
        # The test run's coverage and Python settings are not Home Assistant's.
        # Without PYTHONDONTWRITEBYTECODE, hass caches its bytecode in
        # .venv-hass: later starts take about 3 s instead of 10 to 20.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("COV_CORE_", "PYTEST_", "PYTHON"))
        }
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(HASS_BIN),
                "--config",
                str(self.config_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=self.config_dir,
                process_group=0,
            )
        self._session = aiohttp.ClientSession()

    async def stop(self, timeout: float = 30.0) -> int | None:
        """Stop ``hass`` with SIGTERM (SIGKILL after ``timeout``); return its code.

        Home Assistant handles SIGTERM from the end of its bootstrap on;
        before, SIGTERM ends it at once (exit code -15).
        """
        if self._session is not None:
            await self._session.close()
            self._session = None
        process, self.process = self.process, None
        if process is None:
            return self.returncode
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.returncode = process.returncode
        return self.returncode

    def log(self) -> str:
        """Return everything ``hass`` wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 150) -> str:
        """Return the last ``lines`` lines of :meth:`log`."""
        return "\n".join(self.log().splitlines()[-lines:])

    def records(self, *levels: str) -> list[str]:
        """Return the log records (a line and its traceback) at ``levels``."""
        records: list[str] = []
        for line in self.log().splitlines():
            if _RECORD.match(line) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
        return [
            record
            for record in records
            if (match := _RECORD.match(record)) and match["level"] in levels
        ]

    def problems(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Return the log records at WARNING or above that concern the integration.

        A record is a log line with its continuation lines (a traceback); Home
        Assistant's notice that a custom integration is untested is not one,
        nor is a warning that contains one of ``expected`` (e.g. the warning
        about a connection that the test itself closed).
        """
        return [
            record
            for record in self.records("WARNING", "ERROR", "CRITICAL")
            if (match := _RECORD.match(record))
            and INTEGRATION.name in record
            and "has not been tested by Home Assistant" not in record
            and not (
                match["level"] == "WARNING" and any(text in record for text in expected)
            )
        ]

    def _check_alive(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise HassError(
                f"hass exited with code {self.process.returncode}:\n{self.log_tail()}"
            )

    # --- HTTP ------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        """Return the HTTP session (open between start and stop)."""
        assert self._session is not None, "start() first"
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        expect: int = 200,
    ) -> Any:
        """Call the API; return the decoded JSON answer, HassError on other codes."""
        self._check_alive()
        async with self.session.request(
            method,
            f"{self.url}{path}",
            json=json_body,
            data=data,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            text = await resp.text()
            if resp.status != expect:
                raise HassError(f"{method} {path}: HTTP {resp.status}: {text}")
            return json.loads(text) if text else None

    async def wait_http(
        self, timeout: float = 60.0, path: str = "/api/onboarding"
    ) -> None:
        """Wait until ``path`` answers 200 (the HTTP server is up).

        The onboarding API is there only until the onboarding is done;
        ``/auth/providers`` (the login page's) is always there.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(
                    f"{self.url}{path}",
                    timeout=aiohttp.ClientTimeout(total=2),
                ) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise HassError(f"no HTTP after {timeout} s:\n{self.log_tail()}")
            await asyncio.sleep(0.2)

    async def _tokens_for(self, code: str) -> str:
        """Exchange an authorization code for tokens; keep them."""
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        )
        self.token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])
        self.token_expires_in = int(tokens["expires_in"])
        return self.token

    async def onboard(
        self,
        username: str = USERNAME,
        password: str = PASSWORD,
        name: str = "End-to-end",
    ) -> str:
        """Onboard as the frontend's first screens do; keep a token (the owner's)."""
        token = await self.create_owner(username, password, name)
        await self.finish_onboarding()
        return token

    async def create_owner(self, username: str, password: str, name: str) -> str:
        """Do the onboarding's first step, the owner; keep a token."""
        answer = await self.request(
            "POST",
            "/api/onboarding/users",
            json_body={
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        return await self._tokens_for(answer["auth_code"])

    async def finish_onboarding(self) -> None:
        """Do the onboarding's steps after the owner, so that the frontend shows its normal pages.

        Those done already are left out; needs the owner's token.
        """
        steps = await self.request("GET", "/api/onboarding")
        done = {step["step"] for step in steps if step["done"]}
        if "analytics" not in done:
            await self.request("POST", "/api/onboarding/analytics", json_body={})
        if "integration" not in done:
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json_body={
                    "client_id": self.client_id,
                    "redirect_uri": f"{self.url}/?auth_callback=1",
                },
            )
        steps = await self.request("GET", "/api/onboarding")
        if not all(step["done"] for step in steps):
            raise HassError(f"onboarding not done: {steps}")

    async def login(self, username: str, password: str) -> str:
        """Log in as the login page does; keep a token (HassError if refused)."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json_body={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        answer = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json_body={
                "client_id": self.client_id,
                "username": username,
                "password": password,
            },
        )
        if answer.get("type") != "create_entry":
            raise HassError(f"login as {username} refused: {answer.get('errors')}")
        return await self._tokens_for(answer["result"])

    async def logout(self) -> None:
        """Revoke the refresh token (and so its access tokens), as the frontend does."""
        if self.refresh_token is not None:
            await self.request(
                "POST", "/auth/revoke", data={"token": self.refresh_token}
            )
        self.token = self.refresh_token = None

    async def confirm_http_config(self) -> None:
        """Confirm the HTTP settings, as the frontend's dialog asks the owner.

        Since 2026.11 the ``http:`` YAML is moved into storage as a trial
        that Home Assistant reverts (restarting) after five minutes unless
        it is confirmed.
        """
        http = await self.ws_command("http/config")
        if http.get("pending") is not None:
            await self.ws_command("http/config/promote")
            http = await self.ws_command("http/config")
        if http.get("revert_at") is not None:
            raise HassError(f"HTTP settings not confirmed: {http}")

    async def wait_running(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until Home Assistant reports that it is running; return /api/config."""
        deadline = time.monotonic() + timeout
        while True:
            config: dict[str, Any] = await self.request("GET", "/api/config")
            if config.get("state") == "RUNNING":
                return config
            if time.monotonic() > deadline:
                raise HassError(f"not RUNNING after {timeout} s: {config}")
            await asyncio.sleep(0.2)

    @contextlib.asynccontextmanager
    async def websocket(self) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """Open an authenticated connection to the websocket API."""
        self._check_alive()
        async with self.session.ws_connect(f"{self.url}/api/websocket") as ws:
            assert (await ws.receive_json(timeout=30))["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (answer := await ws.receive_json(timeout=30))["type"] != "auth_ok":
                raise HassError(f"websocket auth: {answer}")
            yield ws

    async def _command(
        self, ws: aiohttp.ClientWebSocketResponse, command: str, **fields: Any
    ) -> Any:
        msg_id = next(self._ids)
        await ws.send_json({"id": msg_id, "type": command, **fields})
        while (answer := await ws.receive_json(timeout=30)).get("id") != msg_id:
            pass
        if not answer.get("success"):
            raise HassError(f"{command}: {answer}")
        return answer["result"]

    async def ws_command(self, command: str, **fields: Any) -> Any:
        """Run one websocket API command on a fresh connection; return its result."""
        async with self.websocket() as ws:
            return await self._command(ws, command, **fields)

    @contextlib.asynccontextmanager
    async def subscribe(self, event_type: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Collect the bus events of ``event_type`` fired while inside."""
        events: list[dict[str, Any]] = []
        async with self.websocket() as ws:
            await self._command(ws, "subscribe_events", event_type=event_type)

            async def read() -> None:
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        data = json.loads(msg.data)
                        if data.get("type") == "event":
                            events.append(data["event"])

            reader = asyncio.create_task(read())
            try:
                yield events
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    # --- States ----------------------------------------------------------------

    async def add_demo_entry(self, api_url: str, events_url: str) -> str:
        """Add the simulator's demo account as the frontend does; return the entry id."""
        flow = await self.request(
            "POST",
            "/api/config/config_entries/flow",
            json_body={"handler": "weblink_nguc", "show_advanced_options": False},
        )
        result = await self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            json_body={
                "company": "demo",
                "username": "demo",
                "password": "demo",
                "advanced": {"api_url": api_url, "events_url": events_url},
            },
        )
        assert result["type"] == "create_entry", result
        return str(result["result"]["entry_id"])

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """Return ``GET /api/states/<entity_id>``, None if there is no state."""
        self._check_alive()
        async with self.session.get(
            f"{self.url}/api/states/{entity_id}", headers=self._headers()
        ) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise HassError(f"state of {entity_id}: HTTP {resp.status}")
            result: dict[str, Any] = await resp.json()
            return result

    async def wait_state(
        self,
        entity_id: str,
        check: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Poll the state of ``entity_id`` until ``check`` holds; return it."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            last = await self.state(entity_id)
            if last is not None and check(last):
                return last
            if time.monotonic() > deadline:
                raise HassError(
                    f"{entity_id}: expected {what} within {timeout} s, last state {last}"
                )
            await asyncio.sleep(0.05)


async def until[T](
    check: Callable[[], Awaitable[T]], what: str, timeout: float = 30.0
) -> T:
    """Poll ``check`` until it returns something true; return it."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        await asyncio.sleep(0.1)
    return result


@contextlib.asynccontextmanager
async def running(
    real: RealHass,
    expected_warnings: tuple[str, ...] = (),
    *,
    owner: tuple[str, str, str] = (USERNAME, PASSWORD, "End-to-end"),
    timeout: float = 60.0,
) -> AsyncIterator[RealHass]:
    """Start ``real``, onboard it with ``owner`` and yield it running; stop it after.

    Its log is printed when anything fails. An unclean exit, or a warning or
    an error about the integration in the log that is not one of
    ``expected_warnings``, fails the test. A test may stop and start it
    again: the run going at the end is the one checked.
    """
    started = time.monotonic()
    try:
        await real.start()
        await real.wait_http(timeout=timeout)
        await real.onboard(*owner)
        await real.confirm_http_config()
        config = await real.wait_running(timeout=timeout)
        print(
            f"\nHome Assistant {config['version']} running on {real.url}"
            f" after {time.monotonic() - started:.1f} s"
        )
        yield real
    except BaseException:
        print(f"\n--- hass log (tail) ---\n{real.log_tail()}")
        raise
    finally:
        code = await real.stop()
        problems = real.problems(expected_warnings)
        print(
            f"hass stopped (exit code {code}) after {time.monotonic() - started:.1f} s"
        )
    if code != 0:
        raise HassError(f"hass exited with {code}:\n{real.log_tail()}")
    if problems:
        raise HassError("the integration in the hass log:\n" + "\n".join(problems))
