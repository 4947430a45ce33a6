"""What differs between the Home Assistant releases the integration runs on.

Home Assistant 2026.11 wants ``None`` from ``async_setup_entry`` and
``async_unload_entry`` (a failure is an exception) and unloads platforms with
``async_unload_platforms_or_raise``, and links a repair issue to its config
entry (``config_entry_id``: hidden while the entry is disabled, removed with
it). 2026.10, which HACS users still run and
which the test harness pins, wants a boolean and has no such method. The
integration is written the 2026.11 way; this module adapts it to 2026.10,
and goes when 2026.10 is no longer supported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
import functools
import inspect
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform, __version__
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

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
            translation_domain=DOMAIN,
            translation_key="unload_platforms_failed",
        )


def issues_link_entries() -> bool:
    """Return whether repair issues can name their config entry (2026.11 on)."""
    return "config_entry_id" in inspect.signature(ir.async_create_issue).parameters


def async_create_issue(
    hass: HomeAssistant,
    entry: ConfigEntry,
    issue_id: str,
    *,
    is_fixable: bool,
    translation_key: str,
    translation_placeholders: dict[str, str],
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
    data: dict[str, str | int | float | None] | None = None,
) -> None:
    """Raise (or replace) a repair issue of ``entry``, linked to it where supported."""
    extra: dict[str, Any] = (
        {"config_entry_id": entry.entry_id} if issues_link_entries() else {}
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        data=data,
        is_fixable=is_fixable,
        severity=severity,
        translation_key=translation_key,
        translation_placeholders=translation_placeholders,
        **extra,
    )
