"""Calls to return: the to-do list of each user and queue, against the simulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.todo import DOMAIN as TODO_DOMAIN
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.weblink_nguc.callbacks import MAX_OPEN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from tests.simulator import Simulator

from .conftest import entity_id_of, wait_for, wait_in_sync

ANNA, ERIK, LARS = "86480", "86481", "86483"
SUPPORT, SALES = "501", "502"
CALLER = "0701234567"
CALLER_E164 = "+46701234567"


def list_id(hass: HomeAssistant, key: str) -> str:
    """Return the entity id of the calls to return of a user or queue."""
    entity_id = entity_id_of(hass, Platform.TODO, key, "calls_to_return")
    assert entity_id is not None, key
    return entity_id


def open_count(hass: HomeAssistant, key: str) -> int:
    """Return how many items of a list are still to do (its state)."""
    state = hass.states.get(list_id(hass, key))
    assert state is not None
    return int(state.state)


async def items_of(hass: HomeAssistant, key: str) -> list[dict[str, Any]]:
    """Return a list's items as ``todo.get_items`` answers them."""
    entity_id = list_id(hass, key)
    answer = await hass.services.async_call(
        TODO_DOMAIN,
        "get_items",
        {},
        target={"entity_id": entity_id},
        blocking=True,
        return_response=True,
    )
    assert answer is not None
    items = answer[entity_id]["items"]  # type: ignore[index]
    assert isinstance(items, list)
    return items


async def todo_action(hass: HomeAssistant, key: str, action: str, **data: Any) -> None:
    """Do what a person does to a list (add_item, update_item, remove_item)."""
    await hass.services.async_call(
        TODO_DOMAIN,
        action,
        data,
        target={"entity_id": list_id(hass, key)},
        blocking=True,
    )


async def missed(
    hass: HomeAssistant,
    simulator: Simulator,
    user: str,
    remote: str = CALLER,
    **cdr: Any,
) -> None:
    """Push a missed call of ``user`` from ``remote``.

    Events arrive in order: waiting for a later one's effect waits for this.
    """
    await simulator.finish_call(user, remote=remote, disposition="NO ANSWER", **cdr)


async def queue_record(
    simulator: Simulator,
    queue: str,
    disposition: str,
    callerid: str = CALLER,
    agent: str | None = None,
) -> None:
    """Push a step of a queued call."""
    payload = simulator.company.queue_cdr(
        queue,
        call_guid=simulator.company.new_call_guid(),
        callerid=callerid,
        disposition=disposition,
        agent_id=agent,
    )
    await simulator.push_event("QueueCdr", payload)


async def test_missed_external_call_adds_an_item(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A missed call from outside is on the list of the user who missed it."""
    assert await items_of(hass, user_key(ANNA)) == []

    await simulator.finish_call(ANNA, remote=CALLER, disposition="NO ANSWER")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)

    [item] = await items_of(hass, user_key(ANNA))
    assert item["summary"] == CALLER_E164
    assert item["status"] == "needs_action"
    # When they called (local time, to the minute).
    assert item["description"].startswith("2")
    assert ":" in item["description"]
    # Nobody else missed it.
    assert open_count(hass, user_key(ERIK)) == 0
    assert open_count(hass, queue_key(SUPPORT)) == 0


async def test_caller_who_hung_up_in_a_queue_is_on_its_list(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await queue_record(simulator, SUPPORT, "NOANSWERED")
    await wait_for(hass, lambda: open_count(hass, queue_key(SUPPORT)) == 1)
    [item] = await items_of(hass, queue_key(SUPPORT))
    assert item["summary"] == CALLER_E164
    assert open_count(hass, queue_key(SALES)) == 0


async def test_second_call_in_another_spelling_updates_the_item(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """0701234567, +46701234567 and 0046 70-123 45 67 are one caller: one item."""
    await missed(hass, simulator, ANNA, "0701234567")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    [first] = await items_of(hass, user_key(ANNA))

    await missed(hass, simulator, ANNA, "+46701234567")
    await missed(hass, simulator, ANNA, "0046 70-123 45 67")

    async def described() -> str:
        [item] = await items_of(hass, user_key(ANNA))
        assert item["uid"] == first["uid"]
        return str(item["description"])

    async with asyncio.timeout(10):
        while not (await described()).startswith("3 x "):
            await hass.async_block_till_done()
    assert open_count(hass, user_key(ANNA)) == 1


@pytest.mark.parametrize(
    "reached_by",
    [
        (ERIK, "OUT", "+46 70 123 45 67"),  # a colleague calls back
        (LARS, "IN", "0046701234567"),  # they call again and Lars answers
    ],
)
async def test_answered_callback_completes_it_on_every_list(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    reached_by: tuple[str, str, str],
) -> None:
    """Once anyone reaches the number, it is done on every list holding it."""
    user, direction, callback = reached_by
    await missed(hass, simulator, ANNA)
    await queue_record(simulator, SUPPORT, "NOANSWERED")
    await missed(hass, simulator, ERIK, "0709999999")  # someone else
    await wait_for(
        hass,
        lambda: (
            open_count(hass, user_key(ANNA)) == 1
            and open_count(hass, queue_key(SUPPORT)) == 1
            and open_count(hass, user_key(ERIK)) == 1
        ),
    )
    # Not reached: an outgoing call nobody answered.
    await simulator.finish_call(
        ERIK, direction="OUT", remote=callback, disposition="NO ANSWER"
    )
    await simulator.finish_call(user, direction=direction, remote=callback)

    await wait_for(
        hass,
        lambda: (
            open_count(hass, user_key(ANNA)) == 0
            and open_count(hass, queue_key(SUPPORT)) == 0
        ),
    )
    [anna] = await items_of(hass, user_key(ANNA))
    [support] = await items_of(hass, queue_key(SUPPORT))
    assert anna["status"] == support["status"] == "completed"
    # Only that number.
    assert open_count(hass, user_key(ERIK)) == 1


async def test_answered_in_a_queue_completes_it(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    await queue_record(simulator, SALES, "ANSWERED", "+46701234567", LARS)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 0)


async def test_called_again_after_being_reached_opens_it_again(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await missed(hass, simulator, ANNA)
    await simulator.finish_call(ERIK, direction="OUT", remote=CALLER)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 0)
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    assert len(await items_of(hass, user_key(ANNA))) == 1


async def test_missed_leg_of_a_call_answered_elsewhere_adds_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A call that rang Anna and Erik and Erik answered: nobody to call back."""
    await simulator.finish_call(ERIK, remote=CALLER, call_guid="1.1")
    await missed(hass, simulator, ANNA, call_guid="1.1")
    await missed(hass, simulator, ANNA, "0708888888")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    [item] = await items_of(hass, user_key(ANNA))
    assert item["summary"] == "+46708888888"


async def test_colleague_missed_call_adds_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A colleague (by user id or by extension) has the call event instead."""
    by_id = simulator.company.cdr(ANNA, remote="102", disposition="NO ANSWER")
    by_id["src_pbx_user_id"] = ERIK
    await simulator.push_event("Cdr", by_id)
    # Erik's extension, without his user id.
    await missed(hass, simulator, ANNA, "102")
    # A queue caller who is a colleague.
    await queue_record(simulator, SUPPORT, "NOANSWERED", callerid="104")
    # Then an outside caller, so that we know the others were taken in.
    await missed(hass, simulator, ANNA, "0708888888")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    [item] = await items_of(hass, user_key(ANNA))
    assert item["summary"] == "+46708888888"
    assert await items_of(hass, queue_key(SUPPORT)) == []


async def test_people_add_edit_tick_and_delete(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    key = user_key(ANNA)
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, key) == 1)
    [item] = await items_of(hass, key)

    # A name for the caller is kept when they call again.
    await todo_action(hass, key, "update_item", item=item["uid"], rename="Acme, Sven")
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, key) == 1)

    async def the_item() -> dict[str, Any]:
        [only] = await items_of(hass, key)
        return only

    async with asyncio.timeout(10):
        while not (await the_item())["description"].startswith("2 x "):
            await hass.async_block_till_done()
    assert (await the_item())["summary"] == "Acme, Sven"

    # Tick and untick.
    await todo_action(hass, key, "update_item", item="Acme, Sven", status="completed")
    assert open_count(hass, key) == 0
    await todo_action(
        hass, key, "update_item", item="Acme, Sven", status="needs_action"
    )
    assert open_count(hass, key) == 1

    # Their own item, then deleting both.
    await todo_action(
        hass, key, "add_item", item="Offert till Acme", description="Senast fredag"
    )
    assert open_count(hass, key) == 2
    own = next(i for i in await items_of(hass, key) if i["summary"] != "Acme, Sven")
    assert own["summary"] == "Offert till Acme"
    assert own["description"] == "Senast fredag"
    await todo_action(hass, key, "remove_item", item=["Offert till Acme", "Acme, Sven"])
    assert await items_of(hass, key) == []


async def test_lists_survive_a_reload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    entry = init_integration
    await missed(hass, simulator, ANNA)
    await queue_record(simulator, SUPPORT, "NOANSWERED", "0708888888")
    await wait_for(
        hass,
        lambda: (
            open_count(hass, user_key(ANNA)) == 1
            and open_count(hass, queue_key(SUPPORT)) == 1
        ),
    )
    await todo_action(hass, user_key(ANNA), "add_item", item="Ring Sven")
    before = await items_of(hass, user_key(ANNA))

    # Reloaded at once: nothing waits for the debounced write.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)
    assert await items_of(hass, user_key(ANNA)) == before
    assert open_count(hass, queue_key(SUPPORT)) == 1

    # And it is on disk, as Home Assistant stopping finds it.
    stored = hass_storage[f"weblink_nguc.{entry.entry_id}.calls_to_return"]
    assert len(stored["data"]["lists"][user_key(ANNA)]) == 2

    # A later call still updates the restored item.
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 2)
    assert len(await items_of(hass, user_key(ANNA))) == 2


async def test_lists_restored_from_storage(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """What a previous run stored is shown at start; then it completes itself."""
    hass_storage[f"weblink_nguc.{mock_config_entry.entry_id}.calls_to_return"] = {
        "version": 1,
        "key": f"weblink_nguc.{mock_config_entry.entry_id}.calls_to_return",
        "data": {
            "lists": {
                user_key(LARS): [
                    {
                        "uid": "abc",
                        "summary": CALLER_E164,
                        "number": CALLER_E164,
                        "description": "2026-11-19 10:00",
                        "times": ["2026-11-19T18:00:00+00:00"],
                        "count": 1,
                        "created": "2026-11-19T18:00:00+00:00",
                        "completed": None,
                    }
                ]
            }
        },
    }
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)
    [item] = await items_of(hass, user_key(LARS))
    assert item["uid"] == "abc"
    assert item["status"] == "needs_action"

    await simulator.finish_call(ANNA, direction="OUT", remote=CALLER)
    await wait_for(hass, lambda: open_count(hass, user_key(LARS)) == 0)


@pytest.mark.freeze_time("2026-11-20 10:00:00+00:00", tick=True)
async def test_completed_items_go_after_seven_days(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    await missed(hass, simulator, ANNA)
    await missed(hass, simulator, ANNA, "0708888888")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 2)
    await simulator.finish_call(ERIK, direction="OUT", remote=CALLER)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)

    freezer.tick(timedelta(days=6))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(await items_of(hass, user_key(ANNA))) == 2

    freezer.tick(timedelta(days=1, hours=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    [left] = await items_of(hass, user_key(ANNA))
    # The open one stays, however old.
    assert left["summary"] == "+46708888888"
    assert left["status"] == "needs_action"


async def test_at_most_200_open_items(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The oldest go first, and the log says so (without numbers)."""
    numbers = [f"07011{n:05d}" for n in range(MAX_OPEN + 1)]
    caplog.set_level(logging.INFO)
    await simulator.push_events(
        [
            (
                "Cdr",
                simulator.company.cdr(ANNA, remote=number, disposition="NO ANSWER"),
            )
            for number in numbers
        ]
    )
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == MAX_OPEN)
    summaries = {item["summary"] for item in await items_of(hass, user_key(ANNA))}
    assert "+4670110000" + "0" not in summaries  # the first caller went
    assert "+467011" + f"{MAX_OPEN:05d}" in summaries
    assert "the 1 oldest were dropped" in caplog.text
    assert numbers[0] not in caplog.text


async def test_removing_the_entry_forgets_lists_and_calls(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    entry = init_integration
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    assert await hass.config_entries.async_unload(entry.entry_id)
    stored = {
        f"weblink_nguc.{entry.entry_id}.{name}"
        for name in ("call_log", "calls_to_return")
    }
    assert stored <= set(hass_storage)

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not stored & set(hass_storage)


@pytest.mark.usefixtures("short_stream_grace")
async def test_usable_while_nguc_is_out_of_reach(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The list is Home Assistant's own: shown and edited while NGUC is down."""
    await missed(hass, simulator, ANNA)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    await simulator.go_offline()
    # Past the (shortened) grace, NGUC's own entities are unavailable.
    line = entity_id_of(hass, Platform.SENSOR, user_key(ANNA), "line_status")
    assert line is not None
    await wait_for(hass, lambda: hass.states.is_state(line, STATE_UNAVAILABLE))
    [item] = await items_of(hass, user_key(ANNA))
    await todo_action(
        hass, user_key(ANNA), "update_item", item=item["uid"], status="completed"
    )
    assert open_count(hass, user_key(ANNA)) == 0
    await simulator.come_back()
    await wait_in_sync(hass, init_integration)


async def test_queue_call_answered_after_a_missed_step_leaves_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An agent who did not answer, then one who did: the caller was reached."""
    company = simulator.company
    steps = [
        company.queue_cdr(
            SUPPORT, call_guid="5.1", callerid=CALLER, disposition=disposition
        )
        for disposition in ("NOANSWERED", "ANSWERED")
    ]
    await simulator.push_event("QueueCdr", steps[0])
    await wait_for(hass, lambda: open_count(hass, queue_key(SUPPORT)) == 1)
    await simulator.push_event("QueueCdr", steps[1])
    await wait_for(hass, lambda: open_count(hass, queue_key(SUPPORT)) == 0)
    assert await items_of(hass, queue_key(SUPPORT)) == []
