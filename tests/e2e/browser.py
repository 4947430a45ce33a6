"""Headless Chromium, driven over the DevTools protocol, to look at Home Assistant.

Only what the end-to-end test needs: open Home Assistant's frontend already
signed in (its ``hassTokens`` in local storage, as the frontend keeps them
itself), wait until a page shows some text, read the text and take a
screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from pathlib import Path
import shutil
import time
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# The text of the page, through every shadow root (the frontend is made of
# web components), with white space collapsed.
_DEEP_TEXT = """
(() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else if (child.nodeType === Node.ELEMENT_NODE) walk(child);
    }
  };
  walk(document.documentElement);
  return parts.join(" ").replace(/\\s+/g, " ");
})()
"""


class BrowserError(AssertionError):
    """The browser did not do or show what was expected."""


class Browser:
    """One headless Chromium with one page, on a DevTools websocket."""

    def __init__(self, work_dir: Path) -> None:
        """Prepare (nothing runs until :meth:`start`)."""
        self.work_dir = work_dir
        self.log_path = work_dir / "chromium.log"
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def start(self, width: int = 1280, height: int = 900) -> None:
        """Start Chromium and attach to its page."""
        assert CHROMIUM is not None, "no chromium"
        profile = self.work_dir / "profile"
        profile.mkdir(parents=True)
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",  # as root in a container
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self._process.returncode is not None or time.monotonic() > deadline:
                raise BrowserError(f"chromium did not start:\n{self.log()}")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._session.ws_connect(
            page["webSocketDebuggerUrl"], max_msg_size=0
        )
        await self.send("Page.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def stop(self) -> None:
        """Close the page connection and end Chromium."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    def log(self) -> str:
        """Return what Chromium wrote to stdout and stderr."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command; return its result (events are skipped)."""
        assert self._ws is not None, "start() first"
        msg_id = next(self._ids)
        await self._ws.send_json({"id": msg_id, "method": method, "params": params})
        while True:
            answer = await self._ws.receive_json(timeout=60)
            if answer.get("id") == msg_id:
                break
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page; return its JSON value."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Go to ``url`` and wait until its document has loaded."""
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while await self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not load")
            await asyncio.sleep(0.1)

    async def sign_in(
        self, hass_url: str, client_id: str, tokens: dict[str, Any]
    ) -> None:
        """Store tokens for ``hass_url`` as the frontend does after a login."""
        # Any page of the origin will do: local storage is per origin.
        await self.navigate(f"{hass_url}/manifest.json")
        auth = {
            "hassUrl": hass_url,
            "clientId": client_id,
            "expires": int(time.time() * 1000) + 1000 * tokens["expires_in"],
            "refresh_token": tokens["refresh_token"],
            "access_token": tokens["access_token"],
            "expires_in": tokens["expires_in"],
            "token_type": "Bearer",
        }
        await self.evaluate(
            f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(auth))})"
        )

    async def text(self) -> str:
        """Return the text of the page, through shadow roots."""
        return str(await self.evaluate(_DEEP_TEXT) or "")

    async def wait_text(self, *needles: str, timeout: float = 45.0) -> str:
        """Wait until the page's text holds every one of ``needles``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            text = await self.text()
            if all(needle in text for needle in needles):
                return text
            if time.monotonic() > deadline:
                missing = [n for n in needles if n not in text]
                raise BrowserError(f"page lacks {missing}; its text: {text[:3000]}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport to ``path``."""
        result = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(result["data"]))
        return path
