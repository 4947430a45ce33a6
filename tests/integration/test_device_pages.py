"""A device's page reads true: who made the device, and no row says its name twice."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.translation import async_get_translations
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import DOMAIN

from .conftest import ENTRY_UNIQUE_ID


def _device(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), entry.entry_id
    )
    assert device is not None
    return device


async def test_a_phone_is_its_makers(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A phone's page reads "Yealink T54W", not "Yealink T54W by Weblink".

    NGUC names a phone's model but no maker; users and queues are Weblink's.
    """
    phone = _device(hass, init_integration, "device_9001")
    assert (phone.model, phone.manufacturer) == ("Yealink T54W", None)
    anna = _device(hass, init_integration, "user_86480")
    support = _device(hass, init_integration, "queue_501")
    assert anna.manufacturer == support.manufacturer == "Weblink"


async def test_no_row_says_its_name_twice(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """No entity shows a state that repeats its name ("Registered / Registered")."""
    texts = await async_get_translations(hass, "en", "entity", [DOMAIN])
    prefix = f"component.{DOMAIN}.entity."
    repeated = []
    for entry in er.async_entries_for_config_entry(
        er.async_get(hass), init_integration.entry_id
    ):
        if (
            entry.translation_key is None
            or (state := hass.states.get(entry.entity_id)) is None
        ):
            continue
        base = f"{prefix}{entry.domain}.{entry.translation_key}"
        name = texts.get(f"{base}.name")
        shown = texts.get(f"{base}.state.{state.state}")
        if (
            name is not None
            and shown is not None
            and shown.casefold() == name.casefold()
        ):
            repeated.append(f"{entry.entity_id}: {name} / {shown}")
    assert repeated == []
    # The phone's registration, as its page shows it.
    phone = "binary_sensor.anna_bordstelefon_registered"
    assert hass.states.is_state(phone, "on")
    base = f"{prefix}binary_sensor.registered"
    assert (texts[f"{base}.name"], texts[f"{base}.state.on"]) == ("Registered", "Yes")
