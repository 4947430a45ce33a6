"""The Weblink NGUC integration: a hosted business phone system in Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .coordinator import (
    KEY_ACCOUNT,
    NgucConfigEntry,
    NgucCoordinator,
    client_from_entry,
)

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> bool:
    """Log in, read the state over REST and start the event stream."""
    coordinator = NgucCoordinator(hass, entry, client_from_entry(hass, entry))
    await coordinator.async_setup()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> bool:
    """Unload the platforms and close the event stream."""
    unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unload_ok:
        await entry.runtime_data.async_stop()
    return unload_ok


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: NgucConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a device that NGUC no longer reports."""
    coordinator = entry.runtime_data
    current = {
        coordinator.identifier(key)
        for key in coordinator.data.device_keys() | {KEY_ACCOUNT}
    }
    return not any(
        domain == DOMAIN and identifier in current
        for domain, identifier in device.identifiers
    )
