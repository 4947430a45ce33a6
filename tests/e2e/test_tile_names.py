"""Entity names fit a tile: drawn by a real frontend in Chromium, in English and Swedish.

Home Assistant is the ``hass`` of ``.venv-hass`` with the simulator's demo
company. A sections dashboard shows a tile for every enabled entity of a
user's and of a queue's device, as a person adds them (one tile, the
default width of half a section, the entity's own name), at the README's
screen size; no tile's name is cut off ("Longest w…"). Then the server and
the person switch to Swedish, the entry is reloaded (Home Assistant names
entities in the server's language when it sets them up), and again no name
is cut off. ``tests/test_entity_names.py`` keeps the names short; this test
shows that short is short enough.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import Frontend, browsing
from tests.e2e.marks import NEEDS_CHROMIUM, NEEDS_HASS
from tests.e2e.real_hass import (
    PASSWORD,
    USERNAME,
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
URL_PATH = "entity-tiles"
# A user's and a queue's device of the demo company: every kind of entity.
DEVICES = ("Anna Lindqvist", "Support")
# Home Assistant's own, when the language changes (not the integration's).
EXPECTED_WARNINGS = ("Failed to load integration for translation",)
# The README's screen, and a phone's: there a tile's name has about 110
# pixels, where "Senaste missade samtal" showed as "Senaste missa…".
SCREENS = {
    "laptop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}

# Each tile card's name as drawn: its text, and whether it is cut off (wider
# than the room it has), found through the shadow roots.
_NAMES_JS = """
() => {
  const names = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.localName === "hui-tile-card" && el.shadowRoot) {
        const primary = el.shadowRoot.querySelector("ha-tile-info .primary");
        if (!primary) continue;
        // The text's own width, also where it is cut off.
        const range = document.createRange();
        range.selectNodeContents(primary);
        const needs = range.getBoundingClientRect().width;
        names.push({
          entity: el._config && el._config.entity,
          // A name of the test's own (the old names, to see the measure work).
          own: typeof (el._config && el._config.name) === "string",
          name: primary.textContent.trim(),
          width: primary.clientWidth,
          needs: Math.ceil(needs),
          cut: primary.scrollWidth > primary.clientWidth || needs > primary.clientWidth + 0.5,
        });
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return names;
}
"""


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant."""
    async with running(
        RealHass(tmp_path / "config"), EXPECTED_WARNINGS, timeout=180
    ) as started:
        yield started


@pytest.fixture
async def frontend(hass: RealHass) -> AsyncIterator[Frontend]:
    """Chromium on the frontend of ``hass``, logged in."""
    async with browsing(hass.url, (USERNAME, PASSWORD)) as front:
        yield front


async def device_entities(hass: RealHass) -> dict[str, list[str]] | None:
    """Return the enabled entities of each of DEVICES, once all are there."""
    listed = await hass.ws_command("config/entity_registry/list_for_display")
    devices = {
        device["id"]: device["name"]
        for device in await hass.ws_command("config/device_registry/list")
    }
    found: dict[str, list[str]] = {name: [] for name in DEVICES}
    for entity in listed["entities"]:
        device = devices.get(entity.get("di", ""))
        if entity.get("pl") == DOMAIN and device in found:
            found[device].append(entity["ei"])
    # A queue has 13 enabled entities, a user at least 6.
    if len(found["Support"]) < 13 or len(found["Anna Lindqvist"]) < 6:
        return None
    return found


async def names_drawn(
    frontend: Frontend, count: int, screen: str, shots: Path
) -> list[dict[str, Any]]:
    """Open the dashboard on ``screen``; return its tiles' names once all are drawn."""
    await frontend.page.set_viewport_size(SCREENS[screen])  # type: ignore[arg-type]
    await frontend.page.goto(f"{frontend.url}/{URL_PATH}/0")

    async def drawn() -> list[dict[str, Any]] | None:
        names: list[dict[str, Any]] = await frontend.page.evaluate(_NAMES_JS)
        done = len(names) == count and all(n["name"] for n in names)
        return names if done else None

    await until(drawn, f"{count} tiles drawn")
    await frontend.settled()  # fonts loaded: widths are final
    measured: list[dict[str, Any]] = await frontend.page.evaluate(_NAMES_JS)
    await frontend.page.screenshot(path=shots / f"tiles-{screen}.png", full_page=True)
    print(
        f"{screen}: "
        + ", ".join(f"{n['name']} {n['needs']}/{n['width']}" for n in measured)
    )
    return measured


async def test_tile_names_are_not_cut_off(
    simulator: Simulator, hass: RealHass, frontend: Frontend, tmp_path: Path
) -> None:
    """Every entity's name fits its tile, in English and in Swedish."""
    entry_id = await hass.add_demo_entry(simulator.api_url, simulator.events_url)
    entities = await until(lambda: device_entities(hass), "the entities", 60)
    assert entities is not None
    sections = [
        {
            "type": "grid",
            "cards": [
                {"type": "heading", "heading": device},
                *(
                    {"type": "tile", "entity": e, "name": {"type": "entity"}}
                    for e in sorted(entity_ids)
                ),
            ],
        }
        for device, entity_ids in entities.items()
    ]
    # Names of before, on tiles of their own: the phone cuts them off.
    old = ("Longest waiting since", "Senaste missade samtal")
    sections.append(
        {
            "type": "grid",
            "cards": [
                {"type": "tile", "entity": entities["Support"][0], "name": name}
                for name in old
            ],
        }
    )
    await hass.ws_command(
        "lovelace/dashboards/create",
        url_path=URL_PATH,
        title="Tiles",
        show_in_sidebar=False,
        require_admin=False,
    )
    await hass.ws_command(
        "lovelace/config/save",
        url_path=URL_PATH,
        config={"views": [{"type": "sections", "sections": sections}]},
    )
    count = sum(len(ids) for ids in entities.values()) + len(old)

    for screen in SCREENS:
        english = await names_drawn(frontend, count, screen, tmp_path / "en")
        assert "Waiting since" in {n["name"] for n in english}
        assert [n for n in english if n["cut"] and not n["own"]] == [], screen
        if screen == "phone":
            assert {n["name"] for n in english if n["cut"]} == set(old)

    # In Swedish: the server's language names the entities (on the entry's
    # next setup), the person's the rest of the page.
    await hass.ws_command("config/core/update", language="sv")
    await hass.ws_command(
        "frontend/set_user_data", key="language", value={"language": "sv"}
    )
    await hass.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")

    async def swedish() -> bool:
        states = [await hass.state(e) for e in entities["Support"]]
        return any(
            s and s["attributes"].get("friendly_name") == "Support Väntande"
            for s in states
        )

    await until(swedish, "Swedish names", 60)
    for screen in SCREENS:
        swedish_names = await names_drawn(frontend, count, screen, tmp_path / "sv")
        assert "Väntar sedan" in {n["name"] for n in swedish_names}
        assert [n for n in swedish_names if n["cut"] and not n["own"]] == [], screen
