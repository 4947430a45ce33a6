"""Damaged stored data never stops the entry (issue 18, case 10).

Valid JSON of a wrong shape in the call history, the calls to return or the
known items (a missing key, a list where a dict belongs, an impossible date):
the part that does not read is set aside with one warning naming it, the
rest loads, and the entry is set up.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.coordinator import user_key
from custom_components.weblink_nguc.followup import DATA_FOLLOWUP

from .conftest import wait_in_sync
from .test_calls_to_return import items_of

ANNA, LARS = "86480", "86481"
NUMBER = "+46701234567"

GOOD_ITEM: dict[str, Any] = {
    "uid": "good",
    "summary": NUMBER,
    "number": NUMBER,
    "description": "2026-12-01 10:00",
    "times": ["2026-12-01T09:00:00+00:00"],
    "count": 1,
    "created": "2026-12-01T09:00:00+00:00",
    "completed": None,
}
GOOD_CALL: dict[str, Any] = {
    "time": "2026-12-06T09:00:00+00:00",
    "type": "missed",
    "user_id": ANNA,
    "user": "Anna Lindqvist",
    "queue_id": None,
    "queue": None,
    "number": NUMBER,
    "name": None,
    "colleague": False,
    "duration": 0,
    "recorded": False,
    "call_guid": "good.1",
}


def put(
    hass_storage: dict[str, Any], entry: MockConfigEntry, name: str, data: Any
) -> str:
    """Store ``data`` as the part ``name`` of the entry; return its key."""
    key = f"weblink_nguc.{entry.entry_id}" + (f".{name}" if name else "")
    hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": data}
    return key


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await wait_in_sync(hass, entry)


def warnings_naming(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and name in record.getMessage()
    ]


def history(hass: HomeAssistant) -> list[str | None]:
    return [
        call.call_guid
        for followup in hass.data[DATA_FOLLOWUP].values()
        for call in followup.log.calls(since=None)
    ]


@pytest.mark.usefixtures("simulator")
@pytest.mark.freeze_time("2026-12-07 10:00:00+00:00", tick=True)
@pytest.mark.parametrize(
    "lists",
    [
        [],  # a list where a dict belongs
        {"lists": []},
        {"no_lists": {}},  # a missing key
        "text",
    ],
)
async def test_calls_to_return_of_a_wrong_shape(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    lists: Any,
) -> None:
    """The lists are set aside; the call history still loads."""
    key = put(hass_storage, mock_config_entry, "calls_to_return", lists)
    put(hass_storage, mock_config_entry, "call_log", {"calls": [GOOD_CALL]})
    await set_up(hass, mock_config_entry)
    assert len(warnings_naming(caplog, key)) == 1
    assert await items_of(hass, user_key(ANNA)) == []
    assert history(hass) == ["good.1"]


@pytest.mark.usefixtures("simulator")
@pytest.mark.freeze_time("2026-12-07 10:00:00+00:00", tick=True)
@pytest.mark.parametrize(
    "damaged",
    [
        {"uid": "bad"},  # a missing key
        {**GOOD_ITEM, "uid": "bad", "times": ["2026-02-30T10:00:00+00:00"]},
        {**GOOD_ITEM, "uid": "bad", "completed": "yesterday"},  # impossible date
        {**GOOD_ITEM, "uid": "bad", "times": {"a": 1}},  # a dict for a list
        ["a", "list"],  # a list where a dict belongs
    ],
)
async def test_an_item_that_does_not_read(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    damaged: Any,
) -> None:
    """The item is set aside; the list's other items and other lists load."""
    key = put(
        hass_storage,
        mock_config_entry,
        "calls_to_return",
        {
            "lists": {
                user_key(ANNA): [GOOD_ITEM, damaged],
                user_key(LARS): {"uid": "x"},  # a dict where a list belongs
            }
        },
    )
    await set_up(hass, mock_config_entry)
    assert [item["uid"] for item in await items_of(hass, user_key(ANNA))] == ["good"]
    assert await items_of(hass, user_key(LARS)) == []
    assert len(warnings_naming(caplog, f"{user_key(ANNA)} ({key})")) == 1
    assert len(warnings_naming(caplog, f"{user_key(LARS)} ({key})")) == 1


@pytest.mark.usefixtures("simulator")
@pytest.mark.freeze_time("2026-12-07 10:00:00+00:00", tick=True)
@pytest.mark.parametrize(
    "calls",
    [
        [GOOD_CALL],  # a list where a dict belongs: read as the calls
        {"calls": {"a": GOOD_CALL}},  # a dict where a list belongs
        {"calls": [GOOD_CALL, {**GOOD_CALL, "time": "2026-13-45T99:00:00"}]},
        {"calls": [GOOD_CALL, {"type": "missed"}]},  # a missing key
        {"calls": [GOOD_CALL, {"id": "x", "steps": {"not": "a list"}}]},
        {"calls": [GOOD_CALL, "text"]},
        "text",
    ],
)
async def test_call_history_of_a_wrong_shape(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    calls: Any,
) -> None:
    """What reads of the history loads, the rest is set aside; the lists load."""
    key = put(hass_storage, mock_config_entry, "call_log", calls)
    put(
        hass_storage,
        mock_config_entry,
        "calls_to_return",
        {"lists": {user_key(ANNA): [GOOD_ITEM]}},
    )
    await set_up(hass, mock_config_entry)
    assert [item["uid"] for item in await items_of(hass, user_key(ANNA))] == ["good"]
    readable = isinstance(calls, list) or (
        isinstance(calls, dict) and isinstance(calls["calls"], list)
    )
    assert history(hass) == (["good.1"] if readable else [])
    if calls != [GOOD_CALL]:
        assert len(warnings_naming(caplog, key)) == 1


@pytest.mark.parametrize(
    "items",
    [
        [],  # a list where a dict belongs
        {"users": {"86480": ["not", "a", "user"]}},
        {"users": [{"id": "86480"}], "queues": "text"},
        {"devices": {"9001": {"pbx_user_id": 5}}},
    ],
)
@pytest.mark.usefixtures("simulator")
async def test_known_items_of_a_wrong_shape(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    items: Any,
) -> None:
    """The items kept for a failing list: a damaged part never stops the entry."""
    put(hass_storage, mock_config_entry, "", items)
    await set_up(hass, mock_config_entry)
