"""A Home Assistant of the test harness for the soak and the benchmark, and an account's entry.

Set up as the harness's ``hass`` fixture sets one up, with one storage policy:
registries and stores are saved for real, into a directory of the run's own
(as a real Home Assistant saves them; the next run starts empty). Names are
resolved without zeroconf, whose multicast sockets a run on 127.0.0.1 has
no use for, as the harness's autouse fixture does too. Tests use the
harness's own ``hass`` fixture and the entry helpers here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import tempfile
from typing import Any
from unittest.mock import patch

from aiohttp.resolver import AsyncResolver
from homeassistant import core as ha, loader
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import frame
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    DOMAIN,
)


@contextlib.asynccontextmanager
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """Yield a started Home Assistant that loads this repository's integration."""
    resolver = AsyncResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    with (
        tempfile.TemporaryDirectory(prefix="nguc-hass-") as config_dir,
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=resolver,
        ),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            # The shared aiohttp session asks the network component for addresses.
            await async_setup_component(hass, "network", {})
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)
                frame.async_setup(None)  # type: ignore[arg-type]
                ha._hass.__dict__.clear()


def account_entry(
    *,
    api_url: str,
    events_url: str,
    company: str,
    username: str,
    password: str,
    unique_id: str,
    title: str,
    **data: Any,
) -> MockConfigEntry:
    """Return a config entry for an account on a simulator (not yet added)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id,
        minor_version=2,
        data={
            CONF_COMPANY: company,
            CONF_USERNAME: username,
            CONF_PASSWORD: password,
            CONF_API_URL: api_url,
            CONF_EVENTS_URL: events_url,
            **data,
        },
    )


async def add_through_flow(
    hass: HomeAssistant,
    *,
    api_url: str,
    events_url: str,
    company: str,
    username: str,
    password: str,
    code: str | None = None,
) -> ConfigEntry[Any]:
    """Add an account as a user does, through the config flow; return its entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_COMPANY: company,
            CONF_USERNAME: username,
            CONF_PASSWORD: password,
            "advanced": {CONF_API_URL: api_url, CONF_EVENTS_URL: events_url},
        },
    )
    if code is not None:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"code": code}
        )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"the config flow did not create an entry: {result}")
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    return entry
