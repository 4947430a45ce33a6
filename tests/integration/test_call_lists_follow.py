"""The call lists follow the entry (issue 18, case 8).

Only the users and queues the entry follows have *Calls to return*; a list
whose user or queue is gone, or no longer followed, goes with its entity
and its stored items. Open items of calls go 30 days after the last call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.weblink_nguc.callbacks import KEEP_OPEN
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from custom_components.weblink_nguc.followup import followup_of
from tests.simulator import Simulator

from .conftest import entity_id_of, wait_for, wait_in_sync
from .test_calls_to_return import items_of, open_count, queue_record, todo_action

ANNA, ERIK, LARS = "86480", "86481", "86483"
SUPPORT, SALES = "501", "502"
CALLER = "0701234567"


def stored_lists(hass_storage: dict[str, Any], entry: MockConfigEntry) -> set[str]:
    stored = hass_storage.get(f"weblink_nguc.{entry.entry_id}.calls_to_return")
    return set() if stored is None else set(stored["data"]["lists"])


def list_keys(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    followup = followup_of(hass, entry)
    assert followup is not None
    return followup.lists.keys()


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)


async def missed(simulator: Simulator, user: str, remote: str = CALLER) -> None:
    await simulator.finish_call(user, remote=remote, disposition="NO ANSWER")


async def test_only_followed_users_and_queues_have_lists(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """Calls of users and queues not followed keep no list (case 8)."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={"users": [ANNA], "queues": [SUPPORT]}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)

    await missed(simulator, LARS)  # not followed
    await queue_record(simulator, SALES, "NOANSWERED")  # not followed
    await queue_record(simulator, SUPPORT, "NOANSWERED", "0708888888")
    await missed(simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    assert open_count(hass, queue_key(SUPPORT)) == 1
    assert list_keys(hass, entry) == {user_key(ANNA), queue_key(SUPPORT)}

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert stored_lists(hass_storage, entry) == {user_key(ANNA), queue_key(SUPPORT)}


async def test_a_list_no_longer_followed_is_dropped(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """Lars left out in the options: his list and its stored items go."""
    entry = mock_config_entry
    await set_up(hass, entry)
    await missed(simulator, LARS)
    await missed(simulator, ANNA)
    await wait_for(
        hass,
        lambda: (
            open_count(hass, user_key(LARS)) == 1
            and open_count(hass, user_key(ANNA)) == 1
        ),
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert user_key(LARS) in stored_lists(hass_storage, entry)

    hass.config_entries.async_update_entry(entry, options={"users": [ANNA, ERIK]})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    assert list_keys(hass, entry) == {user_key(ANNA)}
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert stored_lists(hass_storage, entry) == {user_key(ANNA)}


async def test_a_list_goes_with_its_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """A user gone from NGUC takes their device, its list and the stored items."""
    entry = init_integration
    await missed(simulator, LARS)
    await missed(simulator, ANNA)
    await wait_for(
        hass,
        lambda: (
            open_count(hass, user_key(LARS)) == 1
            and open_count(hass, user_key(ANNA)) == 1
        ),
    )
    dev_reg = dr.async_get(hass)
    lars = dev_reg.async_get_device_by_identifier(
        (DOMAIN, entry.runtime_data.identifier(user_key(LARS))), entry.entry_id
    )
    assert lars is not None
    dev_reg.async_remove_device(lars.id)
    await hass.async_block_till_done()
    assert entity_id_of(hass, Platform.TODO, user_key(LARS), "calls_to_return") is None
    assert list_keys(hass, entry) == {user_key(ANNA)}
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert stored_lists(hass_storage, entry) == {user_key(ANNA)}


async def test_unloading_keeps_the_lists(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """Entities removed by an unload or a reload are not gone: the lists stay."""
    entry = init_integration
    await missed(simulator, LARS)
    await wait_for(hass, lambda: open_count(hass, user_key(LARS)) == 1)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await wait_in_sync(hass, entry)
    assert open_count(hass, user_key(LARS)) == 1


@pytest.mark.freeze_time("2026-11-01 10:00:00+00:00", tick=True)
async def test_open_items_of_calls_go_after_thirty_days(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nobody ticked it in 30 days: it goes. A person's own item stays."""
    key = user_key(ANNA)
    await missed(simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, key) == 1)
    await todo_action(hass, key, "add_item", item="Ring Sven")
    assert await hass.config_entries.async_unload(init_integration.entry_id)

    freezer.tick(KEEP_OPEN - timedelta(hours=2))
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await wait_in_sync(hass, init_integration)
    assert open_count(hass, key) == 2

    freezer.tick(timedelta(hours=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [item["summary"] for item in await items_of(hass, key)] == ["Ring Sven"]
