"""The logbook describes the raw NGUC bus events readably."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import DOMAIN as LOGBOOK_DOMAIN
from homeassistant.components.logbook.models import LogbookConfig
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.weblink_nguc.const import DOMAIN, EVENT_NGUC
from custom_components.weblink_nguc.logbook import describe
from tests.simulator import Simulator

from .conftest import wait_for

type Describe = Callable[[Event[dict[str, Any]]], dict[str, str]]


async def _describer(hass: HomeAssistant) -> Describe:
    """Set up the logbook and return the callback it uses for our bus event."""
    # The logbook's dependencies need the frontend and the recorder; what is
    # tested here is only how our platform describes events.
    hass.config.components.update({"recorder", "frontend"})
    assert await async_setup_component(hass, LOGBOOK_DOMAIN, {})
    await hass.async_block_till_done()
    config: LogbookConfig = hass.data[LOGBOOK_DOMAIN]
    domain, describe_event = config.external_events[EVENT_NGUC]
    assert domain == DOMAIN
    return describe_event  # type: ignore[return-value]


async def test_logbook_describes_pushed_events(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Events pushed by NGUC are described with the name of their device."""
    describe_event = await _describer(hass)
    fired = async_capture_events(hass, EVENT_NGUC)

    await simulator.set_user_status("86481", 8)
    await simulator.finish_call("86481", remote="0701234567", disposition="NO ANSWER")
    await simulator.finish_call(
        "86480", direction="OUT", remote="0731234567", billsec=125
    )
    await simulator.push_event("CallFlow", {"id": "31", "state": "lunch"})
    await wait_for(hass, lambda: len(fired) == 4)

    entries = [describe_event(event) for event in fired]
    assert entries == [
        {"name": "Erik Johansson", "message": "line is ringing"},
        {"name": "Erik Johansson", "message": "missed a call from 0701234567"},
        {"name": "Anna Lindqvist", "message": "called 0731234567 (2 min 5 s)"},
        {"name": "Weblink NGUC", "message": "NGUC event CallFlow: lunch"},
    ]

    # A name the user gave the device wins.
    device = device_registry.async_get(fired[0].data["device_id"])
    assert device is not None
    device_registry.async_update_device(device.id, name_by_user="Reception")
    assert describe_event(fired[0])["name"] == "Reception"


async def test_logbook_unknown_device(hass: HomeAssistant) -> None:
    """Without a known device the entry is named after the integration."""
    hass.config.components.add(DOMAIN)
    describe_event = await _describer(hass)
    event: Event[dict[str, Any]] = Event(
        EVENT_NGUC,
        {
            "event": "Queue",
            "data": {"queue": {"id": "501", "waiting": "2"}},
            "config_entry_id": "abc",
            "device_id": "not-a-device",
        },
    )
    assert describe_event(event) == {
        "name": "Weblink NGUC",
        "message": "queue updated: 2 waiting",
    }


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        (
            "UserStatus",
            {"status": "9", "status_text": "InUse&Ringing"},
            "line is in use and ringing",
        ),
        ("UserStatus", {"status": "0", "status_text": "Idle"}, "line is idle"),
        ("UserStatus", {"status": "17"}, "line is in use and on hold"),
        ("UserStatus", {"status": "0"}, "line is idle"),
        ("UserStatus", {"status": "32"}, "line is status 32"),
        ("UserStatus", {"status": None}, "line is unknown"),
        ("UserStatus", {"status_text": "Paused"}, "line is Paused"),
        ("DeviceStatus", {"status": "1"}, "phone registered"),
        ("DeviceStatus", {"status": "0"}, "phone unregistered"),
        ("DeviceStatus", {"status_text": "Odd"}, "phone status: Odd"),
        ("DeviceStatus", {}, "phone status changed"),
        (
            "Cdr",
            {
                "direction": "IN",
                "src": "0701234567",
                "disposition": "ANSWER",
                "billsec": "42",
            },
            "answered a call from 0701234567 (42 s)",
        ),
        (
            "Cdr",
            {
                "direction": "IN",
                "src": "0701234567",
                "disposition": "ANSWER",
                "billsec": "3725",
            },
            "answered a call from 0701234567 (1 h 2 min)",
        ),
        (
            "Cdr",
            {"direction": "IN", "src": None, "disposition": "BUSY"},
            "missed a call from an unknown number",
        ),
        (
            "Cdr",
            {"direction": "OUT", "dst": "0701234567", "disposition": "NO ANSWER"},
            "called 0701234567 (no answer)",
        ),
        (
            "Cdr",
            {
                "direction": "OUT",
                "dst": "0701234567",
                "disposition": "ANSWER",
                "billsec": "0",
            },
            "called 0701234567",
        ),
        ("Cdr", {"direction": "IN", "disposition": "INVALID"}, "call record: invalid"),
        ("Cdr", {}, "call record: unknown"),
        ("Cdr", {"direction": "OUT", "disposition": "INVALID"}, "call record: invalid"),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "ANSWERED",
                "answered_by": "Erik Johansson",
                "reason": "CONNECT",
            },
            "queue call from 0701234567 answered by Erik Johansson",
        ),
        (
            "QueueCdr",
            {"e164_src": "+46701234567", "disposition": "ANSWERED"},
            "queue call from +46701234567 answered",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "ANSWERED",
                "reason": "COMPLETECALLER",
            },
            "queue call from 0701234567 ended",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "NOANSWERED",
                "answered_by": "Erik Johansson",
            },
            "Erik Johansson did not answer a queue call from 0701234567",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "NOANSWERED",
                "reason": "ABANDON",
            },
            "queue call from 0701234567 abandoned",
        ),
        (
            "QueueCdr",
            {"callerid": "0701234567", "disposition": "NOANSWERED"},
            "queue call from 0701234567 not answered",
        ),
        (
            "QueueCdr",
            {"callerid": "0701234567", "disposition": "TRANSFER"},
            "queue call from 0701234567 transferred",
        ),
        ("QueueCdr", {}, "queue call from an unknown number: unknown"),
        (
            "Queue",
            {"queue": {"waiting": "3", "member_available": "1", "member_total": "4"}},
            "queue updated: 3 waiting, 1 of 4 agents available",
        ),
        ("Queue", {"queue": None}, "queue updated"),
        ("CallFlow", {"status_text": "Open"}, "NGUC event CallFlow: Open"),
        ("CallFlow", ["not", "a", "dict"], "NGUC event CallFlow"),
        (None, None, "NGUC event unknown"),
    ],
)
def test_describe(name: Any, payload: Any, message: str) -> None:
    """Each documented event reads as a short sentence; nothing crashes."""
    assert describe(name, payload) == message
