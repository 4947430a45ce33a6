"""The Weblink NGUC integration: a hosted business phone system in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .account import client_from_entry
from .compat import async_unload_platforms_or_raise, entry_method
from .const import DOMAIN, ISSUE_DUPLICATE_COMPANY
from .coordinator import (
    KEY_ACCOUNT,
    NgucConfigEntry,
    NgucCoordinator,
    async_remove_store,
)
from .followup import async_remove_followup, async_setup_followup
from .migrate import async_migrate
from .services import async_setup_services
from .timings import timings_of
from .wallboard import async_setup_wallboard

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.TODO,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions; serve the wallboard to the frontend."""
    async_setup_services(hass)
    await async_setup_wallboard(hass)
    return True


@entry_method
async def async_setup_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> None:
    """Log in and start the event stream; the state is read once it connects."""
    coordinator = NgucCoordinator(
        hass, entry, client_from_entry(hass, entry), timings_of(hass)
    )
    await coordinator.async_setup()
    entry.runtime_data = coordinator
    await async_setup_followup(hass, entry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start()


async def async_migrate_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> bool:
    """Migrate an older entry: its company becomes its unique id."""
    return await async_migrate(hass, entry)


@entry_method
async def async_unload_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> None:
    """Close the event stream, then unload the platforms.

    In this order, no event can add entities to a platform being unloaded.
    """
    await entry.runtime_data.async_stop()
    await async_unload_platforms_or_raise(hass, entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: NgucConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a device that NGUC no longer reports."""
    coordinator = entry.runtime_data
    current = {
        coordinator.identifier(key)
        for key in coordinator.data.item_keys() | {KEY_ACCOUNT}
    }
    return not any(
        domain == DOMAIN and identifier in current
        for domain, identifier in device.identifiers
    )


async def async_remove_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> None:
    """Forget what the entry kept: its items on disk, its repair issues."""
    await async_remove_store(hass, entry)
    await async_remove_followup(hass, entry)
    ir.async_delete_issue(hass, DOMAIN, f"{entry.entry_id}_{ISSUE_DUPLICATE_COMPANY}")
