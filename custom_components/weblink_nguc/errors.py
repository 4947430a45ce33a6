"""NGUC's errors as Home Assistant's, written once for setup and for actions.

At setup, refused credentials fail the entry into reauthentication
(``ConfigEntryAuthFailed``) and anything else is retried later
(``ConfigEntryNotReady``). In an action, each is a translated
``HomeAssistantError``; refused credentials also start reauthentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryNotReady,
    HomeAssistantError,
)

from .api import NgucAuthError, NgucConnectionError, NgucError
from .const import DOMAIN


def translated(
    err: NgucError, *, setup: bool, refused_key: str = "unexpected_response"
) -> HomeAssistantError:
    """Return the Home Assistant error that tells a person what ``err`` means.

    ``refused_key`` is the translation of an answer NGUC gave but we cannot
    use (neither credentials nor connection).
    """
    if isinstance(err, NgucAuthError):
        auth = ConfigEntryAuthFailed if setup else HomeAssistantError
        return auth(translation_domain=DOMAIN, translation_key="invalid_auth")
    other = ConfigEntryNotReady if setup else HomeAssistantError
    return other(
        translation_domain=DOMAIN,
        translation_key="cannot_connect"
        if isinstance(err, NgucConnectionError)
        else refused_key,
        translation_placeholders={"error": str(err)},
    )


@contextmanager
def setup_errors() -> Iterator[None]:
    """Raise what setting up an entry should, for an NGUC error inside."""
    try:
        yield
    except NgucError as err:
        raise translated(err, setup=True) from err


@contextmanager
def action_errors(
    hass: HomeAssistant,
    entry: ConfigEntry,
    *,
    refused_key: str = "unexpected_response",
) -> Iterator[None]:
    """Raise a translated error for an NGUC error inside an action.

    Refused credentials also start reauthentication of ``entry``: the
    action cannot succeed until a person signs in again.
    """
    try:
        yield
    except NgucError as err:
        if isinstance(err, NgucAuthError):
            entry.async_start_reauth(hass)
        raise translated(err, setup=False, refused_key=refused_key) from err
