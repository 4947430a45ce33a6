"""The wallboard end to end: offered in "Add dashboard", drawn by a real frontend in Chromium.

Home Assistant is the ``hass`` of ``.venv-hass`` (the release users run) with
the simulator's demo company; its frontend runs in headless Chromium, driven
by Playwright. The Add-dashboard dialog offers the strategy, and the
dashboard made from it shows every queue and every user of the demo, no
card that failed, and a longest wait in amber and red past the thresholds.
``UPDATE_SCREENSHOTS=1`` saves its screenshot as docs/wallboard.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import os
from pathlib import Path
import re
from typing import Any

from playwright.async_api import Locator, Page
import pytest

from tests.e2e.browser import Frontend, browsing
from tests.e2e.examples import DOCS
from tests.e2e.marks import NEEDS_CHROMIUM, NEEDS_HASS
from tests.e2e.real_hass import (
    CONFIGURATION,
    PASSWORD,
    USERNAME,
    HassError,
    RealHass,
    running,
    until,
)
from tests.simulator import Simulator

pytestmark = [
    NEEDS_HASS,
    NEEDS_CHROMIUM,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(300),
]

DOMAIN = "weblink_nguc"
STRATEGY = "custom:weblink-nguc-wallboard"
STRATEGY_NAME = "Weblink NGUC wallboard"
# The demo company (tests/simulator/model.py).
SUPPORT, SALES = "501", "502"
ANNA, ERIK = "86480", "86481"
IN_USE, RINGING = 1, 8
# A caller in Support waits past the default red threshold (180 s), one in
# Sales past the amber one (60 s).
SUPPORT_WAIT, SALES_WAIT, SHORT_WAIT = 240, 75, 5

# Every tile card the page draws, with its entity, colour and whether it is
# shown, found through the shadow roots; and every error card.
_CARDS_JS = """
() => {
  const found = { tiles: [], errors: [] };
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      const tag = el.localName;
      if (tag === "hui-tile-card" && el._config) {
        found.tiles.push({
          entity: el._config.entity,
          color: el._config.color ?? null,
          visible: el.checkVisibility(),
        });
      }
      if (tag === "hui-error-card" && el.checkVisibility()) {
        found.errors.push(
          JSON.stringify(el._config ?? tag)
        );
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}
"""


def at_least(value: float) -> Callable[[dict[str, Any]], bool]:
    """Return a check that a state is a number of at least ``value``."""

    def check(state: dict[str, Any]) -> bool:
        try:
            return float(state["state"]) >= value
        except ValueError:
            return False  # unknown, unavailable

    return check


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant."""
    # logbook: the recent calls (default_config has it).
    real = RealHass(tmp_path / "config", configuration=CONFIGURATION + "logbook:\n")
    async with running(real, timeout=180) as started:
        yield started


@pytest.fixture
async def frontend(hass: RealHass) -> AsyncIterator[Frontend]:
    """Chromium on the frontend of ``hass``, logged in."""
    async with browsing(hass.url, (USERNAME, PASSWORD)) as front:
        yield front


async def entities_by_role(hass: RealHass) -> dict[tuple[str, str], str]:
    """Return the integration's enabled entities: (device name, role) -> entity id."""
    listed = await hass.ws_command("config/entity_registry/list_for_display")
    devices = {
        device["id"]: device["name_by_user"] or device["name"]
        for device in await hass.ws_command("config/device_registry/list")
    }
    return {
        (devices[entity["di"]], entity["tk"]): entity["ei"]
        for entity in listed["entities"]
        if entity.get("pl") == DOMAIN and "di" in entity and "tk" in entity
    }


async def tiles(frontend: Frontend) -> dict[str, Any]:
    """Return the tiles and error cards the page shows now."""
    found: dict[str, Any] = await frontend.page.evaluate(_CARDS_JS)
    return found


def field(page: Page, label: str) -> Locator:
    """Return the number field of the wallboard's form whose label starts with ``label``."""
    return page.get_by_role("spinbutton", name=re.compile(f"^{re.escape(label)}"))


def shown_colour(found: dict[str, Any], entity_id: str) -> str | None:
    """Return the colour of the one tile of ``entity_id`` that is shown."""
    visible = [t for t in found["tiles"] if t["entity"] == entity_id and t["visible"]]
    assert len(visible) == 1, f"{entity_id}: {visible}"
    colour: str | None = visible[0]["color"]
    return colour


async def test_wallboard_in_a_real_frontend(
    simulator: Simulator, hass: RealHass, frontend: Frontend, tmp_path: Path
) -> None:
    """Offered in Add dashboard; it shows the demo, amber and red past the thresholds."""
    company = simulator.company
    queues = sorted(queue.name for queue in company.queues.values())
    users = sorted(user.name for user in company.users.values())
    await hass.add_demo_entry(simulator.api_url, simulator.events_url)

    async def all_there() -> dict[tuple[str, str], str] | None:
        roles = await entities_by_role(hass)
        needed = [(q, "current_longest_wait") for q in queues]
        needed += [(u, "line_status") for u in users]
        return roles if all(key in roles for key in needed) else None

    roles = await until(all_there, "the demo's entities", timeout=60)
    support_wait = roles[("Support", "current_longest_wait")]
    sales_wait = roles[("Sales", "current_longest_wait")]

    # A busy moment: callers waiting, Anna on a call, Erik's phone ringing.
    longest = await simulator.add_caller(SUPPORT, "0701111111", wait=SUPPORT_WAIT)
    await simulator.add_caller(SUPPORT, "0702222222", wait=SHORT_WAIT)
    await simulator.add_caller(SALES, "0703333333", wait=SALES_WAIT)
    await simulator.set_user_status(ANNA, IN_USE)
    await simulator.set_user_status(ERIK, RINGING)
    await simulator.finish_call(ANNA, remote="+46705550101", billsec=95)
    # The longest wait counts up between snapshots (every 5 s): at least
    # the snapshot's figure.
    await hass.wait_state(support_wait, at_least(SUPPORT_WAIT), what="the wait")
    await hass.wait_state(sales_wait, at_least(SALES_WAIT), what="the wait")

    # The Add-dashboard dialog offers the wallboard; picking it asks for a
    # title and makes the dashboard.
    page = frontend.page
    await frontend.open("/config/lovelace/dashboards", "Add dashboard")
    await frontend.click("Add dashboard")
    await frontend.wait_text(STRATEGY_NAME)
    await frontend.click_text(STRATEGY_NAME)
    await frontend.fill("Title", "Wallboard")
    await frontend.click("Create")

    async def created() -> tuple[str, Any] | None:
        dashboards = await hass.ws_command("lovelace/dashboards/list")
        url_path = next(
            (d["url_path"] for d in dashboards if d["title"] == "Wallboard"), None
        )
        if url_path is None:
            return None
        # The frontend saves the new dashboard's configuration just after.
        try:
            config = await hass.ws_command("lovelace/config", url_path=url_path)
        except HassError:
            return None
        return url_path, config

    url_path, config = await until(created, "the dashboard")
    assert config == {"strategy": {"type": STRATEGY}}

    # Open it: every queue and user, no error card.
    await frontend.open(f"/{url_path}/0", *queues, *users)
    await frontend.wait_text("Who is on the phone", "Recent calls")
    for text in ("doesn't exist", "Configuration error", "Entity not available"):
        assert await page.get_by_text(text).count() == 0, text
    found = await tiles(frontend)
    assert found["errors"] == []
    # The longest waits past their thresholds, and the lines by status.
    assert shown_colour(found, support_wait) == "red"
    assert shown_colour(found, sales_wait) == "amber"
    assert shown_colour(found, roles[("Anna Lindqvist", "line_status")]) == "red"
    assert shown_colour(found, roles[("Erik Johansson", "line_status")]) == "amber"
    assert shown_colour(found, roles[("Lars Öberg", "line_status")]) == "green"

    screenshots = DOCS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    path = await frontend.screenshot(screenshots / "wallboard.png")
    print(f"screenshot: {path}")

    # Thresholds from the strategy's options, set in its form (✏️ Edit
    # dashboard): Sales is red past 60 s.
    await page.get_by_role("button", name="Edit dashboard").click()
    await field(page, "Amber past").fill("30")
    await field(page, "Red past").fill("60")
    await frontend.click("Save")

    async def saved() -> bool:
        config = await hass.ws_command("lovelace/config", url_path=url_path)
        return bool(config.get("strategy", config).get("wait_red") == 60)

    await until(saved, "the options saved")
    config = await hass.ws_command("lovelace/config", url_path=url_path)
    assert config["strategy"]["wait_amber"] == 30
    await frontend.open(f"/{url_path}/0", *queues)
    found = await tiles(frontend)
    assert shown_colour(found, sales_wait) == "red"
    assert shown_colour(found, support_wait) == "red"
    # The board follows the queue as it changes: once the caller who waited
    # longest in Support is answered, the other caller's short wait is the
    # longest there, not past the amber threshold.
    await simulator.remove_caller(SUPPORT, longest)
    await hass.wait_state(
        support_wait,
        lambda s: s["state"].isdigit() and int(s["state"]) < SUPPORT_WAIT,
        what="a short wait",
    )

    async def green() -> bool:
        return shown_colour(await tiles(frontend), support_wait) == "green"

    await until(green, "Support's longest wait in green")
