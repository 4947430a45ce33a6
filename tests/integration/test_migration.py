"""Entries of version 1.1 ("<company>_<user>") become their company, devices kept."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
)
from tests.simulator import Simulator

from .conftest import wait_in_sync


def old_entry(
    simulator: Simulator, unique_id: str, company: str = "demo", **extra: Any
) -> MockConfigEntry:
    """Return an entry as version 1.1 of the integration made it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="demo (Anna Lindqvist)",
        unique_id=unique_id,
        version=1,
        minor_version=1,
        data={
            CONF_COMPANY: company,
            CONF_USERNAME: "demo",
            CONF_PASSWORD: "demo",
            CONF_API_URL: simulator.api_url,
            CONF_EVENTS_URL: simulator.events_url,
        }
        | extra,
    )


def old_device_and_entity(
    hass: HomeAssistant, entry: MockConfigEntry, prefix: str
) -> tuple[dr.DeviceEntry, er.RegistryEntry]:
    """Register Erik's device and line sensor as version 1.1 did."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, f"{prefix}_user_86481")},
        name="Erik Johansson",
    )
    entity = er.async_get(hass).async_get_or_create(
        "sensor",
        DOMAIN,
        f"{prefix}_user_86481_line_status",
        config_entry=entry,
        device_id=device.id,
        suggested_object_id="erik_johansson_line_status",
    )
    return device, entity


async def test_migrate_keeps_devices_and_entities(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """The company becomes the unique id; devices and entities keep their ids."""
    entry = old_entry(simulator, "4711_86480")
    entry.add_to_hass(hass)
    device, entity = old_device_and_entity(hass, entry, "4711_86480")
    # Identifiers not made from the old unique id are left as they are.
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, "handmade"), ("other_domain", "4711_86480_x")},
    )

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert (entry.version, entry.minor_version) == (1, 2)
    assert entry.unique_id == "4711"
    assert entry.data[CONF_USER_ID] == "86480"
    migrated = dr.async_get(hass).async_get(device.id)
    assert migrated is not None
    assert migrated.identifiers == {(DOMAIN, "4711_user_86481")}
    kept = dr.async_get(hass).async_get(other.id)
    assert kept is not None
    assert kept.identifiers == other.identifiers
    ent_reg = er.async_get(hass)
    assert ent_reg.async_get_entity_id(
        "sensor", DOMAIN, "4711_user_86481_line_status"
    ) == (entity.entity_id)
    # The same entity, current: not a second one beside it.
    assert hass.states.get(entity.entity_id).state == "idle"
    lines = [
        e
        for e in er.async_entries_for_config_entry(ent_reg, entry.entry_id)
        if e.unique_id.endswith("user_86481_line_status")
    ]
    assert len(lines) == 1


async def test_migrate_company_without_id(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An entry made from the company's name keeps the name, normalised."""
    entry = old_entry(simulator, "demo ab_86480", company="Demo AB")
    entry.add_to_hass(hass)
    device, _ = old_device_and_entity(hass, entry, "demo ab_86480")

    assert await entry.async_migrate(hass)

    assert entry.unique_id == "demo ab"
    assert entry.data[CONF_USER_ID] == "86480"
    migrated = dr.async_get(hass).async_get(device.id)
    assert migrated is not None
    assert migrated.identifiers == {(DOMAIN, "demo ab_user_86481")}


async def test_migrate_second_entry_of_a_company(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Of two entries of one company, the second keeps its id and raises an issue."""
    first = old_entry(simulator, "4711_86480")
    second = old_entry(simulator, "4711_86481")
    first.add_to_hass(hass)
    second.add_to_hass(hass)
    device, _ = old_device_and_entity(hass, second, "4711_86481")

    assert await first.async_migrate(hass)
    assert await second.async_migrate(hass)

    assert first.unique_id == "4711"
    assert second.unique_id == "4711_86481"
    assert second.minor_version == 2
    kept = dr.async_get(hass).async_get(device.id)
    assert kept is not None
    assert kept.identifiers == {(DOMAIN, "4711_86481_user_86481")}
    issue_id = f"{second.entry_id}_duplicate_company"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "account": second.title,
        "other": first.title,
    }

    # Removing the second entry removes its issue.
    assert await hass.config_entries.async_remove(second.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_entry_from_a_newer_version_is_not_set_up(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An entry a newer version made is left alone."""
    entry = old_entry(simulator, "4711")
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="4711", version=2, data=dict(entry.data)
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
