"""A company with more entities than are told of a change at once (issue 7).

Past ``NOTIFY_AT_ONCE`` listeners, changes reach the entities a slice of the
event loop's time at a time: every entity still ends right, and is written
once. A user's queues are kept queue by queue.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import itertools
from unittest.mock import patch

from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
)
from custom_components.weblink_nguc.listeners import NOTIFY_AT_ONCE
from tests.simulator import Simulator
from tests.simulator.model import QueueMember
from tests.simulator.scale import SCALE_COMPANY_ID, scale_company

from .conftest import StateWrites, wait_for, wait_in_sync

USERS = 40
QUEUES = 4  # of 10 agents each: every user is in one queue


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Run the simulator with a company of 40 users, one phone each, and 4 queues."""
    sim = Simulator(scale_company(USERS, QUEUES))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def entry(hass: HomeAssistant, simulator: Simulator) -> MockConfigEntry:
    """Set up the integration for that company, in sync."""
    return await _setup(hass, simulator)


async def _setup(hass: HomeAssistant, simulator: Simulator) -> MockConfigEntry:
    """Set up the integration for the simulator's company; wait until in sync."""
    company = simulator.company
    account = next(iter(company.accounts.values()))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=company.name,
        unique_id=SCALE_COMPANY_ID,
        minor_version=2,
        data={
            CONF_COMPANY: company.name,
            CONF_USERNAME: account.username,
            CONF_USER_ID: account.pbx_user_id,
            CONF_PASSWORD: account.password,
            CONF_API_URL: simulator.api_url,
            CONF_EVENTS_URL: simulator.events_url,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    return entry


def _entity_id(hass: HomeAssistant, platform: Platform, key: str, what: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{SCALE_COMPANY_ID}_{key}_{what}"
    )
    assert entity_id is not None
    return entity_id


def _lines(hass: HomeAssistant, simulator: Simulator) -> list[str]:
    return [
        _entity_id(hass, Platform.SENSOR, f"user_{user}", "line_status")
        for user in simulator.company.users
    ]


async def test_a_resync_that_changes_many_entities_writes_each_once(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """Every line changed while away is right after the resync, written once."""
    coordinator = entry.runtime_data
    # Each user has three entities told of their line: more than at once.
    assert 3 * USERS > NOTIFY_AT_ONCE
    lines = _lines(hass, simulator)
    assert {hass.states.get(line).state for line in lines} == {"idle"}
    state_writes.clear()
    connections = simulator.authenticated_count
    await simulator.restart(
        lambda company: company.statuses.update(dict.fromkeys(company.users, 1))
    )
    await simulator.wait_for_authenticated(connections + 1)
    await wait_in_sync(hass, entry)
    await wait_for(hass, lambda: not coordinator.notifying)
    assert {hass.states.get(line).state for line in lines} == {"in_use"}
    stream = _entity_id(hass, Platform.BINARY_SENSOR, "account", "event_stream")
    # The stream's sensor showed the drop: off, and on again.
    assert state_writes.counts.pop(stream, 0) == 2
    assert state_writes.counts == dict.fromkeys(lines, 1)


@pytest.mark.usefixtures("short_stream_grace")
async def test_an_outage_reaches_every_entity_and_its_end_too(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Past the grace every entity is unavailable; once back, every one is not."""
    entity_ids = [
        registry_entry.entity_id
        for registry_entry in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if registry_entry.disabled_by is None
        and not registry_entry.unique_id.endswith("_event_stream")
        # The calls to return are Home Assistant's own lists: usable offline.
        and registry_entry.domain != "todo"
    ]
    assert len(entity_ids) > NOTIFY_AT_ONCE

    def states() -> set[bool]:
        return {
            hass.states.get(entity_id).state == STATE_UNAVAILABLE
            for entity_id in entity_ids
        }

    await simulator.go_offline()
    await wait_for(hass, lambda: states() == {True})
    await simulator.come_back()
    await wait_in_sync(hass, entry)
    await wait_for(hass, lambda: states() == {False})


async def test_queue_members_change_reaches_only_their_users(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    state_writes: StateWrites,
) -> None:
    """A user who leaves a queue and one who joins it: their queues alone change."""
    company = simulator.company
    users = list(company.users)
    queue_id = next(iter(company.queues))
    queue = company.queues[queue_id]
    leaving = queue.members[0].pbx_user_id
    staying = queue.members[1].pbx_user_id
    joining = next(
        user
        for user in users
        if all(member.pbx_user_id != user for member in queue.members)
    )
    queues = {
        user: _entity_id(hass, Platform.SENSOR, f"user_{user}", "queues")
        for user in (leaving, staying, joining)
    }
    assert {user: hass.states.get(queues[user]).state for user in queues} == {
        leaving: "1",
        staying: "1",
        joining: "1",
    }
    state_writes.clear()
    members = [*queue.members[1:], QueueMember(joining, "Joining")]
    await simulator.update_queue(queue_id, members=members)
    await wait_for(hass, lambda: hass.states.get(queues[joining]).state == "2")
    assert hass.states.get(queues[leaving]).state == "0"
    assert hass.states.get(queues[staying]).state == "1"
    assert state_writes.counts[queues[leaving]] == 1
    assert state_writes.counts[queues[joining]] == 1
    assert queues[staying] not in state_writes.counts


async def test_devices_and_entities_are_made_a_slice_at_a_time(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A company's devices and entities are made a few at a time between loop turns.

    So that no single turn of the event loop makes them all (issue 14 §4):
    each turn is seen by a callback that counts the devices and entities.
    """
    registry = dr.async_get(hass)
    entities = er.async_get(hass)
    seen: list[tuple[int, int]] = []
    watching = True

    def watch() -> None:
        seen.append((len(registry.devices), len(entities.entities)))
        if watching:
            hass.loop.call_soon(watch)

    hass.loop.call_soon(watch)
    with (
        patch("custom_components.weblink_nguc.listeners.ADD_AT_ONCE", 4),
        patch("custom_components.weblink_nguc.listeners.ADD_CHUNK_MAX", 4),
    ):
        entry = await _setup(hass, simulator)
        await hass.async_block_till_done()
    watching = False
    devices = [count for count, _ in seen]
    made = [count for _, count in seen]
    # Every item's device and entities, in the end.
    assert len(dr.async_entries_for_config_entry(registry, entry.entry_id)) == (
        1 + 2 * USERS + QUEUES
    )
    # At most four items (a user has 9 entities, a queue 16) a turn.
    assert max(b - a for a, b in itertools.pairwise(devices)) <= 4
    assert max(b - a for a, b in itertools.pairwise(made)) <= 4 * 16
