"""What differs between the Home Assistant releases the integration runs on.

Home Assistant 2026.11 wants ``None`` from ``async_setup_entry`` and
``async_unload_entry`` (a failure is an exception) and unloads platforms with
``async_unload_platforms_or_raise``. 2026.10, which HACS users still run and
which the test harness pins, wants a boolean and has no such method. The
integration is written the 2026.11 way; this module adapts it to 2026.10,
and goes when 2026.10 is no longer supported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
import functools

from awesomeversion import AwesomeVersion
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform, __version__
from homeassistant.core import DOMAIN as HOMEASSISTANT_DOMAIN, HomeAssistant
from homeassistant.exceptions import ConfigEntryError

# Config entry methods return None from this release on.
ENTRY_METHODS_RETURN_NONE = AwesomeVersion(__version__) >= AwesomeVersion("2026.11.0b0")


def entry_method[E: ConfigEntry](
    method: Callable[[HomeAssistant, E], Awaitable[None]],
) -> Callable[[HomeAssistant, E], Awaitable[bool | None]]:
    """Return a config entry method as the running release expects it.

    On 2026.11 and newer, the method itself; before, one that returns True
    once the method returns (it raises on failure either way).
    """
    if ENTRY_METHODS_RETURN_NONE:
        return method

    @functools.wraps(method)
    async def returning_true(hass: HomeAssistant, entry: E) -> bool:
        await method(hass, entry)
        return True

    return returning_true


async def async_unload_platforms_or_raise(
    hass: HomeAssistant, entry: ConfigEntry, platforms: Iterable[Platform]
) -> None:
    """Unload the entry's platforms; raise if one of them fails to unload."""
    entries = hass.config_entries
    if hasattr(entries, "async_unload_platforms_or_raise"):
        await entries.async_unload_platforms_or_raise(entry, platforms)
        return
    if not await entries.async_unload_platforms(entry, platforms):
        raise ConfigEntryError(
            translation_domain=HOMEASSISTANT_DOMAIN,
            translation_key="unload_platforms_failed",
        )
