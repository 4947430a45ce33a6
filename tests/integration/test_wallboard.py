"""The wallboard's module: served by Home Assistant and loaded by every frontend page."""

from __future__ import annotations

import json
import re
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.json import JSONEncoder
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.weblink_nguc.wallboard import WALLBOARD_FILE, WALLBOARD_URL
from tests.frontend.node import NODE, cards, generate, referenced

WALLBOARD = {"type": "custom:weblink-nguc-wallboard"}


async def test_wallboard_module_served_and_loaded(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """Every frontend page loads the module, at a URL that serves it."""
    client = await hass_client()
    # The page the frontend starts from (once onboarded) names the module.
    with patch(
        "homeassistant.components.onboarding.async_is_onboarded", return_value=True
    ):
        page = await client.get("/")
        assert page.status == 200
        html = await page.text()
    urls = re.findall(rf'"({re.escape(WALLBOARD_URL)}[^"]*)"', html)
    assert urls, "the module is not loaded by the frontend"
    # The URL changes with each release and each change of the file, so
    # that a browser that kept the old one fetches the new.
    url = urls[0]
    assert re.search(r"\?v=[^&]+-[0-9a-f]{8}$", url), url

    response = await client.get(url)
    assert response.status == 200
    assert response.content_type in ("application/javascript", "text/javascript")
    body = await response.text()
    assert body == WALLBOARD_FILE.read_text(encoding="utf-8")
    assert "customElements.define" in body
    assert "weblink-nguc-wallboard" in body


def frontend_hass(hass: HomeAssistant) -> dict[str, Any]:
    """Return ``hass.devices``, ``hass.entities``, ``hass.states`` as the frontend has them.

    The frontend lists the registry's display entries of enabled entities only.
    """
    entities = {
        entry.entity_id: {
            "entity_id": entry.entity_id,
            "device_id": entry.device_id,
            "platform": entry.platform,
            "translation_key": entry.translation_key,
            "hidden": entry.hidden_by is not None,
            "entity_category": entry.entity_category,
        }
        for entry in er.async_get(hass).entities.values()
        if entry.disabled_by is None
    }
    devices = {
        device.id: {
            "id": device.id,
            "name": device.name,
            "name_by_user": device.name_by_user,
            "model": device.model,
            "config_entry_id": device.config_entry_id,
        }
        for device in dr.async_get(hass).devices
    }
    states = {
        state.entity_id: {"state": state.state, "attributes": dict(state.attributes)}
        for state in hass.states.async_all()
    }
    # As JSON, as the frontend receives them (times as strings).
    as_json: dict[str, Any] = json.loads(
        json.dumps(
            {"devices": devices, "entities": entities, "states": states},
            cls=JSONEncoder,
        )
    )
    return as_json


@pytest.mark.skipif(NODE is None, reason="Node.js (node) is not installed")
async def test_wallboard_of_the_demo_company(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The strategy, given this Home Assistant's registries, shows every queue and user.

    One entity disabled through the registry (as a person does on its page)
    is then named by no card.
    """
    devices = dr.async_entries_for_config_entry(
        dr.async_get(hass), init_integration.entry_id
    )
    queues = sorted(d.name for d in devices if d.model == "Call queue" and d.name)
    users = sorted(d.name for d in devices if d.model == "PBX user" and d.name)
    assert queues == ["Sales", "Support"]
    assert len(users) == 4

    dashboard = generate(WALLBOARD, frontend_hass(hass))
    everything = frontend_hass(hass)
    assert referenced(dashboard) <= everything["entities"].keys() & (
        everything["states"].keys()
    )
    headings = {c["heading"] for c in cards(dashboard) if c.get("type") == "heading"}
    assert set(queues) <= headings
    # Users are named by their device, which the frontend shows.
    named_by_device = {
        everything["devices"][everything["entities"][c["entity"]]["device_id"]]["name"]
        for c in cards(dashboard)
        if c.get("type") == "tile" and c.get("name") == {"type": "device"}
    }
    assert named_by_device == set(users)

    registry = er.async_get(hass)
    support = next(d for d in devices if d.name == "Support")
    waiting = next(
        entry.entity_id
        for entry in er.async_entries_for_device(registry, support.id)
        if entry.translation_key == "waiting"
    )
    assert waiting in referenced(dashboard)
    registry.async_update_entity(waiting, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    after = generate(WALLBOARD, frontend_hass(hass))
    assert waiting not in referenced(after)
    assert "Support" in {
        c["heading"] for c in cards(after) if c.get("type") == "heading"
    }
