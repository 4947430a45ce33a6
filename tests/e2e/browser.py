"""Home Assistant's frontend in headless Chromium, driven by Playwright.

Playwright drives Debian's ``chromium`` (``executable_path``): its own browser
download is not available everywhere. Its locators see through the shadow
roots of the frontend's web components, so a test finds fields, buttons and
texts by what a person reads on the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import re
import shutil
from typing import Self

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    async_playwright,
    expect,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The README's screenshots: a laptop's screen.
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000


class Frontend:
    """One headless Chromium with one page on one Home Assistant."""

    def __init__(self, url: str) -> None:
        """Prepare (nothing runs until :meth:`start`)."""
        self.url = url
        self.console: list[str] = []
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None

    async def start(self) -> Self:
        """Start Chromium and open a page."""
        assert CHROMIUM is not None, "no chromium"
        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            # As root in a container; /dev/shm may be small there.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        self._context = await self._browser.new_context(
            viewport=VIEWPORT,  # type: ignore[arg-type]
            locale="en-US",
            timezone_id="Europe/Stockholm",
        )
        self._context.set_default_timeout(TIMEOUT_MS)
        self._page = await self._context.new_page()
        self._page.on("console", self._on_console)
        return self

    async def stop(self) -> None:
        """Close the browser."""
        with contextlib.suppress(Exception):
            if self._browser is not None:
                await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self._playwright = self._browser = self._context = self._page = None

    async def __aenter__(self) -> Self:
        """Start."""
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Stop."""
        await self.stop()

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    @property
    def page(self) -> Page:
        """The page (between start and stop)."""
        assert self._page is not None, "start() first"
        return self._page

    # --- What a person does ----------------------------------------------------

    async def log_in(self, username: str, password: str) -> None:
        """Open Home Assistant and log in on its login page."""
        page = self.page
        await page.goto(self.url)
        await page.wait_for_url("**/auth/authorize?**")
        await page.get_by_role("textbox", name="Username").fill(username)
        await page.get_by_role("textbox", name="Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        # Back in the frontend, signed in: the sidebar shows the user.
        await page.wait_for_url(f"{self.url}/**")
        await self.wait_text("Settings")

    async def open(self, path: str, *texts: str) -> None:
        """Go to ``path`` of the frontend and wait until it shows ``texts``."""
        await self.page.goto(f"{self.url}{path}")
        await self.wait_text(*texts)

    async def wait_text(self, *texts: str) -> None:
        """Wait until every one of ``texts`` is visible on the page."""
        for text in texts:
            await expect(self.page.get_by_text(text).first).to_be_visible(
                timeout=TIMEOUT_MS
            )

    def field(self, label: str) -> Locator:
        """Return the text field labelled ``label`` (a required one: "label*")."""
        name = re.compile(rf"^{re.escape(label)}\*?$")
        return self.page.get_by_role("textbox", name=name)

    async def fill(self, label: str, value: str) -> None:
        """Fill the text field labelled ``label``."""
        await self.field(label).fill(value)

    async def value(self, label: str) -> str:
        """Return what the text field labelled ``label`` holds."""
        return await self.field(label).input_value()

    async def click(self, name: str) -> None:
        """Click the button named ``name``."""
        await self.page.get_by_role("button", name=name, exact=True).click()

    async def click_text(self, text: str) -> None:
        """Click the (first) element showing ``text``."""
        await self.page.get_by_text(text, exact=True).first.click()

    async def settled(self) -> None:
        """Wait until the page is drawn: no request pending, fonts, animations done."""
        page = self.page
        await page.wait_for_load_state("networkidle")
        await page.evaluate("document.fonts.ready.then(() => true)")
        # Dialogs and cards fade in; charts animate.
        await page.wait_for_timeout(1000)

    async def screenshot(self, path: Path) -> Path:
        """Save a screenshot of what the page shows now."""
        await self.settled()
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=path, animations="disabled")
        return path


@contextlib.asynccontextmanager
async def browsing(
    url: str, login: tuple[str, str] | None = None
) -> AsyncIterator[Frontend]:
    """Chromium on the frontend at ``url``, logged in with ``login`` if given.

    When the test fails, the browser's console is printed: what the frontend
    said is often the reason.
    """
    front = Frontend(url)
    await front.start()
    try:
        if login is not None:
            await front.log_in(*login)
        yield front
    except BaseException:
        print("--- browser console ---\n" + "\n".join(front.console[-50:]))
        raise
    finally:
        await front.stop()
