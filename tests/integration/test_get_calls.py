"""The action get_calls: the call history by device, type, time and number."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import todo
from homeassistant.components.todo import DOMAIN as TODO_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.util import dt as dt_util
import probatio as vol
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.actions import SERVICE_GET_CALLS
from custom_components.weblink_nguc.call_log import CALL_TYPES, Call
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import (
    device_key,
    queue_key,
    user_key,
)
from custom_components.weblink_nguc.followup import DATA_FOLLOWUP
from tests.simulator import Simulator

from .conftest import wait_for, wait_in_sync

ANNA, ERIK, LARS = "86480", "86481", "86483"
SUPPORT, SALES = "501", "502"


def device_id_of(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """Return the Home Assistant device id of an NGUC item."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.runtime_data.identifier(key)), entry.entry_id
    )
    assert device is not None
    return device.id


async def get_calls(hass: HomeAssistant, **data: Any) -> list[dict[str, Any]]:
    """Call the action and return its calls."""
    answer = await hass.services.async_call(
        DOMAIN, SERVICE_GET_CALLS, data, blocking=True, return_response=True
    )
    assert answer is not None
    calls = answer["calls"]
    assert isinstance(calls, list)
    return calls


async def some_calls(hass: HomeAssistant, simulator: Simulator) -> None:
    """Push a day's calls: in order, a missed, an answered, an outgoing, a queue call."""
    company = simulator.company
    await simulator.finish_call(
        ANNA, remote="0701234567", disposition="NO ANSWER", call_guid="1.1"
    )
    await simulator.finish_call(
        ERIK, remote="+46 8 123 456 78", billsec=65, call_guid="1.2"
    )
    await simulator.push_event(
        "Cdr", company.cdr(LARS, direction="OUT", remote="101", billsec=12)
    )
    answered = company.queue_cdr(
        SUPPORT,
        call_guid="1.4",
        callerid="0709876543",
        disposition="ANSWERED",
        agent_id=ERIK,
        talk_time=90,
    )
    # NGUC repeats a queue's record at each step: one call.
    await simulator.push_events(
        [("QueueCdr", answered), ("QueueCdr", {**answered, "id": "99"})]
    )
    await wait_for(hass, lambda: len(history_of(hass)) == 4)


def history_of(hass: HomeAssistant) -> list[Call]:
    """Return every call kept, newest first."""
    return [
        call
        for followup in hass.data.get(DATA_FOLLOWUP, {}).values()
        for call in followup.log.calls()
    ]


async def test_answers_every_call_newest_first(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await some_calls(hass, simulator)
    calls = await get_calls(hass)

    assert [call["type"] for call in calls] == [
        "queue_answered",
        "outgoing",
        "answered",
        "missed",
    ]
    queue, outgoing, answered, missed = calls
    assert missed | {"time": None, "steps": None} == {
        "time": None,
        "steps": None,
        "type": "missed",
        "user": "Anna Lindqvist",
        "number": "+46701234567",
        "name": None,
        "duration": 0,
        "recorded": False,
        "call_guid": "1.1",
    }
    time = datetime.fromisoformat(missed["time"])
    # In Home Assistant's time zone.
    assert time.utcoffset() == dt_util.now().utcoffset()
    assert abs(time - datetime.now(time.tzinfo)) < timedelta(minutes=1)
    assert answered["number"] == "+46812345678"
    assert answered["duration"] == 65
    # A colleague: named, the number is their extension.
    assert outgoing["user"] == "Lars Öberg"
    assert outgoing["number"] == "101"
    assert outgoing["name"] == "Anna Lindqvist"
    assert queue["queue"] == "Support"
    assert queue["user"] == "Erik Johansson"
    assert queue["number"] == "+46709876543"
    assert queue["duration"] == 90
    # Each call once, with its steps: the queue's record sent twice is one.
    assert missed["steps"] == [
        {
            "time": missed["time"],
            "type": "missed",
            "user": "Anna Lindqvist",
            "duration": 0,
        }
    ]
    assert [(s["type"], s["user"], s["queue"]) for s in queue["steps"]] == [
        ("queue_answered", "Erik Johansson", "Support")
    ]


async def test_filters_and_limit(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    entry = init_integration
    await some_calls(hass, simulator)

    anna = device_id_of(hass, entry, user_key(ANNA))
    erik = device_id_of(hass, entry, user_key(ERIK))
    support = device_id_of(hass, entry, queue_key(SUPPORT))
    sales = device_id_of(hass, entry, queue_key(SALES))
    assert [c["call_guid"] for c in await get_calls(hass, device_id=anna)] == ["1.1"]
    # Erik's own call and the queue call he answered.
    assert [c["type"] for c in await get_calls(hass, device_id=[erik])] == [
        "queue_answered",
        "answered",
    ]
    assert [c["type"] for c in await get_calls(hass, device_id=[support])] == [
        "queue_answered"
    ]
    assert await get_calls(hass, device_id=[sales]) == []
    # Nothing chosen (as the UI may send it): everything.
    assert len(await get_calls(hass, device_id=[], type=[])) == 4
    assert [
        c["call_guid"] for c in await get_calls(hass, device_id=[anna, support])
    ] == ["1.4", "1.1"]

    assert [c["type"] for c in await get_calls(hass, type=["missed", "outgoing"])] == [
        "outgoing",
        "missed",
    ]
    assert [c["type"] for c in await get_calls(hass, limit=2)] == [
        "queue_answered",
        "outgoing",
    ]
    future = (datetime.now().astimezone() + timedelta(minutes=5)).isoformat()
    assert await get_calls(hass, since=future) == []
    past = (datetime.now().astimezone() - timedelta(minutes=5)).isoformat()
    assert len(await get_calls(hass, since=past)) == 4


@pytest.mark.parametrize("limit", [0, 501])
async def test_limit_out_of_range(
    hass: HomeAssistant, init_integration: MockConfigEntry, limit: int
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await get_calls(hass, limit=limit)
    assert err.value.translation_key == "limit_out_of_range"
    assert err.value.translation_placeholders == {"limit": str(limit), "max": "500"}


async def test_devices_that_are_not_users_or_queues(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    other_entry = MockConfigEntry(domain="other")
    other_entry.add_to_hass(hass)
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=other_entry.entry_id, identifiers={("other", "1")}
    )
    with pytest.raises(ServiceValidationError) as err:
        await get_calls(hass, device_id=other.id)
    assert err.value.translation_key == "not_nguc_device"
    with pytest.raises(ServiceValidationError) as err:
        await get_calls(hass, device_id="no-such-device")
    assert err.value.translation_key == "not_nguc_device"

    phone = device_id_of(hass, init_integration, device_key("9001"))
    with pytest.raises(ServiceValidationError) as err:
        await get_calls(hass, device_id=phone)
    assert err.value.translation_key == "not_user_or_queue"

    with pytest.raises(vol.Invalid):
        await get_calls(hass, type=["unknown_type"])


async def test_history_survives_a_reload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    await some_calls(hass, simulator)
    before = await get_calls(hass)
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await wait_in_sync(hass, init_integration)
    assert await get_calls(hass) == before
    assert f"weblink_nguc.{init_integration.entry_id}.call_log" in hass_storage

    # A record seen again after the reload is the same call.
    await simulator.finish_call(
        ANNA, remote="0701234567", disposition="NO ANSWER", call_guid="1.1"
    )
    await simulator.finish_call(ANNA, remote="0701234567", call_guid="1.5")
    await wait_for(hass, lambda: len(history_of(hass)) == 5)


@pytest.mark.freeze_time("2026-11-20 10:00:00+00:00", tick=True)
async def test_kept_fourteen_days(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = init_integration
    await some_calls(hass, simulator)
    # Home Assistant is stopped for 13 days (a clock that jumps while the
    # stream runs would make it reconnect, and lose what is sent meanwhile).
    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.tick(timedelta(days=13))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    assert len(await get_calls(hass)) == 4
    await simulator.finish_call(ANNA, remote="0701234567", call_guid="2.1")
    await wait_for(hass, lambda: len(history_of(hass)) == 5)

    freezer.tick(timedelta(days=1, hours=1))
    assert [c["call_guid"] for c in await get_calls(hass)] == ["2.1"]


async def test_at_most_5000_calls(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    with patch("custom_components.weblink_nguc.call_log.MAX_CALLS", 3):
        for guid in ("3.1", "3.2", "3.3", "3.4"):
            await simulator.finish_call(ERIK, remote="0701234567", call_guid=guid)
        await wait_for(
            hass,
            lambda: [c.call_guid for c in history_of(hass)] == ["3.4", "3.3", "3.2"],
        )


async def test_action_is_described(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """services.yaml parses; its type options are the types answered."""
    # The todo component's actions name base components by their features;
    # importing all of them needs packages the test environment lacks.
    with patch(
        "homeassistant.helpers.service._base_components",
        return_value={TODO_DOMAIN: todo},
    ):
        descriptions = await async_get_all_descriptions(hass)
    action = descriptions[DOMAIN][SERVICE_GET_CALLS]
    assert set(action["fields"]) == {"device_id", "type", "since", "limit"}
    assert action["fields"]["device_id"]["selector"]["device"]["integration"] == DOMAIN
    options = action["fields"]["type"]["selector"]["select"]["options"]
    assert tuple(options) == CALL_TYPES
