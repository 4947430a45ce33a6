"""The NGUC client of a config entry: its account, its URLs, its tokens kept current."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import NgucClient, TokenSet
from .const import CONF_API_URL, CONF_COMPANY, CONF_EVENTS_URL, CONF_TOKEN
from .timings import timings_of


def client_from_entry(hass: HomeAssistant, entry: ConfigEntry) -> NgucClient:
    """Build the NGUC client for an entry; new tokens are stored at once."""

    @callback
    def store_tokens(tokens: TokenSet) -> None:
        # A renewal may land after its entry was unloaded (it outlives the
        # client, see api/auth.py): stored all the same, for the next start,
        # unless the entry is gone.
        if hass.config_entries.async_get_entry(entry.entry_id) is not entry:
            return
        # No reload: the running client already holds these tokens.
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_TOKEN: tokens.as_dict()}
        )

    token = entry.data.get(CONF_TOKEN)
    timings = timings_of(hass)
    return NgucClient(
        async_get_clientsession(hass),
        company=entry.data[CONF_COMPANY],
        username=entry.data[CONF_USERNAME],
        password=entry.data.get(CONF_PASSWORD),
        tokens=TokenSet.from_dict(token) if token else None,
        api_url=entry.data[CONF_API_URL],
        events_url=entry.data[CONF_EVENTS_URL],
        on_tokens=store_tokens,
        auth_timings=timings.auth,
        request_timeout=timings.request_timeout,
    )
