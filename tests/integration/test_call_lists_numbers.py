"""One number, one spelling: the lists, get_calls, call events and Activity (issue 18).

Case 9: an international number without + (46701234567) is the national
0701234567, and a display name ("Room 12" <0701234567>) lends no digits; a
callback in either spelling ticks the item. Section 5b: every place writes
the number the same way (E.164 where it can be).
"""

from __future__ import annotations

from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.weblink_nguc.calls import Names
from custom_components.weblink_nguc.const import DOMAIN, EVENT_NGUC
from custom_components.weblink_nguc.coordinator import user_key
from custom_components.weblink_nguc.logbook import describe
from tests.simulator import Simulator

from .conftest import entity_id_of, wait_for
from .test_calls_to_return import items_of, open_count

ANNA, ERIK = "86480", "86481"
E164 = "+46701234567"


@pytest.mark.parametrize(
    ("missed_from", "reached_at"),
    [
        ("0701234567", "46701234567"),  # international without +
        ("46701234567", "070-123 45 67"),
        ('"Room 12" <0701234567>', "+46701234567"),  # a display name
        ("0701234567", '"Room 12" <sip:0046701234567@pbx.example>'),
    ],
)
async def test_a_callback_in_another_spelling_ticks_the_item(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    missed_from: str,
    reached_at: str,
) -> None:
    """Case 9: the callback matches whatever spelling either record used."""
    await simulator.finish_call(ANNA, remote=missed_from, disposition="NO ANSWER")
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)
    [item] = await items_of(hass, user_key(ANNA))
    assert item["summary"] == E164
    await simulator.finish_call(ERIK, direction="OUT", remote=reached_at)
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 0)


async def test_every_place_writes_a_number_alike(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The list, get_calls, the call event and Activity all write +46701234567."""
    fired = async_capture_events(hass, EVENT_NGUC)
    await simulator.finish_call(
        ANNA, remote='"Room 12" <0046 70-123 45 67>', disposition="NO ANSWER"
    )
    await wait_for(hass, lambda: open_count(hass, user_key(ANNA)) == 1)

    [item] = await items_of(hass, user_key(ANNA))
    answer: Any = await hass.services.async_call(
        DOMAIN, "get_calls", {}, blocking=True, return_response=True
    )
    [call] = answer["calls"]
    event = entity_id_of(hass, Platform.EVENT, user_key(ANNA), "call")
    assert event is not None
    state = hass.states.get(event)
    assert state is not None
    [bus] = [e for e in fired if e.data.get("event") == "Cdr"]
    message, _icon = describe(
        bus.data["event"], bus.data["data"], Names({}, hass.config.country)
    )

    assert item["summary"] == E164
    assert call["number"] == E164
    assert state.attributes["caller"] == E164
    assert message == f"missed a call from {E164}"
