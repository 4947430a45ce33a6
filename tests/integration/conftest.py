"""Fixtures for the Home Assistant side: the integration set up against the simulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Generator
import contextlib
from typing import Any
from unittest.mock import patch

from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
)
from tests.harness.timings import TESTS, Timings, applied, applied_to_test
from tests.simulator import Simulator

# The demo account "demo" is PBX user 86480 of company 4711; an entry is its
# company.
ENTRY_UNIQUE_ID = "4711"
DEMO_USER_ID = "86480"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: Any) -> None:
    """Let Home Assistant load this repository's integration."""


@pytest.fixture(autouse=True)
def short_delays(request: pytest.FixtureRequest) -> Generator[None]:
    """Accept authentication after 50 ms, reconnect within 50 ms at first."""
    with applied_to_test(request, TESTS):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialize like Home Assistant: random ids and times as ANY, in snapshots/.

    The harness defines this fixture too, but syrupy's own plugin shadows it.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def short_stream_grace(hass: HomeAssistant) -> Generator[None]:
    """Entities go unavailable 0.2 s after the event stream drops."""
    with applied(hass, Timings(stream_grace=0.2)):
        yield


@pytest.fixture
def mock_config_entry(simulator: Simulator) -> MockConfigEntry:
    """Return a config entry for the demo account on the simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="demo (Anna Lindqvist)",
        unique_id=ENTRY_UNIQUE_ID,
        minor_version=2,
        data={
            CONF_COMPANY: "demo",
            CONF_USERNAME: "demo",
            CONF_USER_ID: DEMO_USER_ID,
            CONF_PASSWORD: "demo",
            CONF_API_URL: simulator.api_url,
            CONF_EVENTS_URL: simulator.events_url,
        },
    )


async def wait_in_sync(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Wait until the event stream is up and the state was re-read after it."""
    coordinator = entry.runtime_data
    async with asyncio.timeout(10):
        while not (coordinator.in_sync and coordinator.stream.connected):
            await asyncio.sleep(0.02)
    await hass.async_block_till_done()


async def reconnect(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Cut the event stream; wait until it is back and the state was read again."""
    connections = simulator.authenticated_count
    await simulator.drop_connections()
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, entry)


async def wait_for(hass: HomeAssistant, condition: Any, timeout: float = 10) -> None:
    """Wait until ``condition()`` is true (events travel over a real socket)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    await hass.async_block_till_done()


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> MockConfigEntry:
    """Set up the integration against the simulator and wait until in sync."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, mock_config_entry)
    return mock_config_entry


@contextlib.asynccontextmanager
async def setup_platform(
    hass: HomeAssistant, entry: MockConfigEntry, platform: Platform
) -> AsyncIterator[MockConfigEntry]:
    """Set up the integration with one platform only, in sync with the simulator."""
    with patch("custom_components.weblink_nguc.PLATFORMS", [platform]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await wait_in_sync(hass, entry)
        yield entry


def entity_id_of(
    hass: HomeAssistant, platform: Platform, item_key: str, key: str
) -> str | None:
    """Return the entity id of one of our entities, found by its unique id."""
    return er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{ENTRY_UNIQUE_ID}_{item_key}_{key}"
    )


class StateWrites:
    """Counts state writes per entity: those that change a state and those that
    only report it unchanged (``state_reported``), which cost about the same."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Listen to every state write of ``hass``."""
        self.counts: Counter[str] = Counter()
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._changed)
        hass.bus.async_listen(
            EVENT_STATE_REPORTED, self._never, event_filter=self._reported
        )

    @callback
    def _changed(self, event: Event[Any]) -> None:
        self.counts[event.data["entity_id"]] += 1

    @callback
    def _reported(self, data: Any) -> bool:
        self.counts[data["entity_id"]] += 1
        return False  # counted; nothing to run

    @callback
    def _never(self, _event: Event[Any]) -> None:
        """Never called: the filter takes every report."""

    def clear(self) -> None:
        """Count from zero."""
        self.counts.clear()

    @property
    def total(self) -> int:
        """Return the writes counted."""
        return sum(self.counts.values())


@pytest.fixture
def state_writes(hass: HomeAssistant) -> StateWrites:
    """Count the state writes of every entity from now on."""
    return StateWrites(hass)
