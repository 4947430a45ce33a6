"""The logbook (the UI's Activity) tells of calls, each on its call entity.

Call records read as a sentence with the caller, an icon and a link to the
call event entity of the user or queue; line statuses, phones and queue
figures are left to Home Assistant's own lines of their state changes.
"""

from __future__ import annotations

from datetime import datetime
import json
from pathlib import Path
import string
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.weblink_nguc.api.models import User
from custom_components.weblink_nguc.calls import NO_NAMES, Names
from custom_components.weblink_nguc.const import DOMAIN, EVENT_NGUC
from custom_components.weblink_nguc.logbook import SENTENCES, describe
from tests.simulator import Simulator

from .conftest import ENTRY_UNIQUE_ID, entity_id_of, wait_for, wait_in_sync

SHOWN = ("name", "message", "icon", "entity_id")
UNDOCUMENTED = {
    "name": "Weblink NGUC",
    "message": "NGUC event CallFlow: lunch",
    "icon": "mdi:phone-settings",
    "entity_id": None,
}


async def _logbook(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    start: datetime,
    **filters: Any,
) -> list[dict[str, Any]]:
    """Return what the Activity page shows of this integration since ``start``."""
    await async_wait_recording_done(hass)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "logbook/get_events", "start_time": start.isoformat(), **filters}
    )
    answer = await client.receive_json()
    assert answer["success"], answer
    return [
        {key: entry.get(key) for key in SHOWN}
        for entry in answer["result"]
        if entry.get("domain") == DOMAIN
    ]


async def _calls_and_more(hass: HomeAssistant, simulator: Simulator) -> None:
    """Let NGUC send a busy few seconds: calls, lines, a phone and a queue."""
    fired = async_capture_events(hass, EVENT_NGUC)
    company = simulator.company
    await simulator.set_user_status("86481", 8)  # Erik's phone rings
    await simulator.set_user_status("86481", 0)
    await simulator.finish_call("86481", remote="0701234567", disposition="NO ANSWER")
    await simulator.finish_call(
        "86480", direction="OUT", remote="0731234567", billsec=125
    )
    await simulator.set_device_registered("9002", False)
    guid = await simulator.add_caller("501", "0709876543")
    await simulator.push_event(
        "QueueCdr",
        company.queue_cdr(
            "501",
            call_guid=guid,
            callerid="0709876543",
            disposition="NOANSWERED",
            reason="ABANDON",
            wait_time=41,
        ),
    )
    await simulator.push_event("CallFlow", {"id": "31", "state": "lunch"})
    # The call records and the undocumented event at least are on the bus.
    await wait_for(hass, lambda: len(fired) >= 4)


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """Prepare the recorder's database before Home Assistant starts, as it must be."""


@pytest.fixture
async def logbook(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """Home Assistant's logbook, on a recorder in memory."""
    assert await async_setup_component(hass, "logbook", {})
    await hass.async_block_till_done()


@pytest.mark.usefixtures("logbook")
async def test_logbook_tells_of_calls(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each call record is a line with its caller, icon and call entity."""
    start = dt_util.utcnow()
    await _calls_and_more(hass, simulator)

    erik_call = entity_id_of(hass, Platform.EVENT, "user_86481", "call")
    anna_call = entity_id_of(hass, Platform.EVENT, "user_86480", "call")
    support_call = entity_id_of(hass, Platform.EVENT, "queue_501", "queue_call")
    assert erik_call == "event.erik_johansson_call"
    calls = [
        {
            "name": "Erik Johansson",
            "message": "missed a call from +46701234567",
            "icon": "mdi:phone-missed",
            "entity_id": erik_call,
        },
        {
            "name": "Anna Lindqvist",
            "message": "called +46731234567 (2 min 5 s)",
            "icon": "mdi:phone-outgoing",
            "entity_id": anna_call,
        },
        {
            "name": "Support",
            "message": "queue call from +46709876543 abandoned",
            "icon": "mdi:phone-remove",
            "entity_id": support_call,
        },
    ]
    shown = await _logbook(hass, hass_ws_client, start)
    assert [entry for entry in shown if entry["entity_id"]] == calls
    # An event NGUC does not document is passed on as it came.
    assert shown[-1] == UNDOCUMENTED

    # The Activity card of Erik's device page shows his missed call.
    erik = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_user_86481"), init_integration.entry_id
    )
    assert erik is not None
    shown = await _logbook(hass, hass_ws_client, start, device_ids=[erik.id])
    assert [entry for entry in shown if entry["entity_id"]] == [calls[0]]

    # A name the user gave the device wins.
    device_registry.async_update_device(erik.id, name_by_user="Reception")
    shown = await _logbook(hass, hass_ws_client, start, device_ids=[erik.id])
    assert [entry["name"] for entry in shown if entry["entity_id"]] == ["Reception"]


@pytest.mark.usefixtures("logbook")
async def test_logbook_leaves_states_to_home_assistant(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """No line of ours for a line status, a phone or a queue snapshot."""
    start = dt_util.utcnow()
    await _calls_and_more(hass, simulator)
    shown = await _logbook(hass, hass_ws_client, start)
    assert [entry["message"] for entry in shown] == [
        "missed a call from +46701234567",
        "called +46731234567 (2 min 5 s)",
        "queue call from +46709876543 abandoned",
        UNDOCUMENTED["message"],
    ]


@pytest.mark.usefixtures("logbook")
async def test_logbook_names_colleagues(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """A colleague's call reads with the colleague's name, not only the extension."""
    start = dt_util.utcnow()
    fired = async_capture_events(hass, EVENT_NGUC)
    # Erik (extension 102) calls Anna, who does not answer.
    missed = simulator.company.cdr("86480", remote="102", disposition="NO ANSWER")
    missed["src_pbx_user_id"] = "86481"
    await simulator.push_event("Cdr", missed)
    # Anna calls Erik's extension back.
    back = simulator.company.cdr("86480", direction="OUT", remote="102", billsec=30)
    back["dst_pbx_user_id"] = "86481"
    await simulator.push_event("Cdr", back)
    await wait_for(hass, lambda: len(fired) == 2)
    shown = await _logbook(hass, hass_ws_client, start)
    assert [entry["message"] for entry in shown] == [
        "missed a call from Erik Johansson (102)",
        "called Erik Johansson (102) (30 s)",
    ]


@pytest.mark.usefixtures("logbook")
async def test_call_entity_activity(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """A call's lines on its Call entity: ours, and Home Assistant's own.

    Home Assistant writes a line for every state change of an event entity
    and offers an integration no way to leave it out (only measurements are
    left out): the README says so. Should that change, this test tells.
    """
    anna_call = entity_id_of(hass, Platform.EVENT, "user_86480", "call")
    assert anna_call is not None
    start = dt_util.utcnow()
    fired = async_capture_events(hass, EVENT_NGUC)
    await simulator.finish_call("86480", remote="0701234567", billsec=42)
    await wait_for(hass, lambda: len(fired) == 1)
    await async_wait_recording_done(hass)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "entity_ids": [anna_call],
        }
    )
    answer = await client.receive_json()
    assert answer["success"], answer
    lines = sorted(
        (entry.get("domain") or "state", entry.get("message") or entry.get("state"))
        for entry in answer["result"]
    )
    state = hass.states.get(anna_call)
    assert state is not None
    assert lines == sorted(
        [
            (DOMAIN, "answered a call from +46701234567 (42 s)"),
            ("state", state.state),
        ]
    )


@pytest.mark.usefixtures("logbook")
async def test_queue_activity_leaves_figures_out(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A queue's Activity: its calls and since when the first caller waits, no figures.

    The figures (waiting callers, waits, agents) are measurements, which Home
    Assistant leaves out; *Waiting since* is a time, which it shows.
    """
    support = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_queue_501"), init_integration.entry_id
    )
    assert support is not None
    start = dt_util.utcnow()
    await simulator.add_caller("501", "0709876543", wait=5)
    waiting = "sensor.support_waiting"
    await wait_for(hass, lambda: hass.states.is_state(waiting, "1"))
    await async_wait_recording_done(hass)
    # As the device page's Activity card asks: the device and its entities.
    entity_ids = [
        entry.entity_id
        for entry in er.async_entries_for_device(er.async_get(hass), support.id)
    ]
    assert waiting in entity_ids
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "device_ids": [support.id],
            "entity_ids": entity_ids,
        }
    )
    answer = await client.receive_json()
    assert answer["success"], answer
    shown = {entry.get("entity_id") for entry in answer["result"]}
    assert shown == {"sensor.support_waiting_since"}


@pytest.mark.usefixtures("logbook")
async def test_logbook_call_entity_disabled(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """Without its call entity, a call record is still told, with no link."""
    ent_reg = er.async_get(hass)
    erik_call = entity_id_of(hass, Platform.EVENT, "user_86481", "call")
    assert erik_call is not None
    ent_reg.async_update_entity(erik_call, disabled_by=er.RegistryEntryDisabler.USER)
    start = dt_util.utcnow()
    fired = async_capture_events(hass, EVENT_NGUC)
    await simulator.finish_call("86481", remote="0701234567", billsec=42)
    await wait_for(hass, lambda: len(fired) == 1)
    assert await _logbook(hass, hass_ws_client, start) == [
        {
            "name": "Erik Johansson",
            "message": "answered a call from +46701234567 (42 s)",
            "icon": "mdi:phone-incoming",
            "entity_id": None,
        }
    ]


@pytest.mark.parametrize(
    ("name", "payload", "message", "icon"),
    [
        (
            "Cdr",
            {
                "direction": "IN",
                "src": "0701234567",
                "disposition": "ANSWER",
                "billsec": "42",
            },
            "answered a call from +46701234567 (42 s)",
            "mdi:phone-incoming",
        ),
        (
            "Cdr",
            {
                "direction": "IN",
                "src": "0701234567",
                "disposition": "ANSWER",
                "billsec": "3725",
            },
            "answered a call from +46701234567 (1 h 2 min)",
            "mdi:phone-incoming",
        ),
        (
            "Cdr",
            {"direction": "IN", "src": None, "disposition": "BUSY"},
            "missed a call from an unknown number",
            "mdi:phone-missed",
        ),
        (
            "Cdr",
            {"direction": "OUT", "dst": "0701234567", "disposition": "NO ANSWER"},
            "called +46701234567 (no answer)",
            "mdi:phone-cancel",
        ),
        (
            "Cdr",
            {
                "direction": "OUT",
                "dst": "0701234567",
                "disposition": "ANSWER",
                "billsec": "0",
            },
            "called +46701234567",
            "mdi:phone-outgoing",
        ),
        (
            "Cdr",
            {"direction": "IN", "disposition": "INVALID"},
            "call record: invalid",
            "mdi:phone",
        ),
        ("Cdr", {}, "call record: unknown", "mdi:phone"),
        (
            "Cdr",
            {"direction": "OUT", "disposition": "INVALID"},
            "call record: invalid",
            "mdi:phone",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "ANSWERED",
                "answered_by": "Erik Johansson",
                "reason": "CONNECT",
            },
            "queue call from +46701234567 answered by Erik Johansson",
            "mdi:phone-check",
        ),
        (
            "QueueCdr",
            {"e164_src": "+46701234567", "disposition": "ANSWERED"},
            "queue call from +46701234567 answered",
            "mdi:phone-check",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "ANSWERED",
                "reason": "COMPLETECALLER",
            },
            "queue call from +46701234567 ended",
            "mdi:phone-hangup",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "NOANSWERED",
                "answered_by": "Erik Johansson",
            },
            "Erik Johansson did not answer a queue call from +46701234567",
            "mdi:phone-missed",
        ),
        (
            "QueueCdr",
            {"callerid": "0701234567", "disposition": "NOANSWERED"},
            "queue call from +46701234567 not answered",
            "mdi:phone-missed",
        ),
        (
            "QueueCdr",
            {"callerid": "0701234567", "disposition": "TRANSFER"},
            "queue call from +46701234567 transferred",
            "mdi:phone-forward",
        ),
        (
            "QueueCdr",
            {},
            "queue call from an unknown number: unknown",
            "mdi:phone-classic",
        ),
        (
            "CallFlow",
            {"status_text": "Open"},
            "NGUC event CallFlow: Open",
            "mdi:phone-settings",
        ),
        (
            "CallFlow",
            ["not", "a", "dict"],
            "NGUC event CallFlow",
            "mdi:phone-settings",
        ),
        (None, None, "NGUC event unknown", "mdi:phone-settings"),
    ],
)
def test_describe(name: Any, payload: Any, message: str, icon: str) -> None:
    """Each call record reads as a short sentence with its icon; nothing crashes."""
    assert describe(name, payload) == (message, icon)


ERIK = Names({"86481": User("86481", "Erik Johansson", "102", None)})


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        # By the user id NGUC gives.
        (
            "Cdr",
            {
                "direction": "IN",
                "src": "102",
                "src_pbx_user_id": "86481",
                "disposition": "NO ANSWER",
            },
            "missed a call from Erik Johansson (102)",
        ),
        # By the extension alone.
        (
            "Cdr",
            {"direction": "IN", "src": "102", "disposition": "ANSWER", "billsec": 5},
            "answered a call from Erik Johansson (102) (5 s)",
        ),
        (
            "Cdr",
            {"direction": "OUT", "dst_pbx_user_id": "86481", "disposition": "BUSY"},
            "called Erik Johansson (busy)",
        ),
        (
            "QueueCdr",
            {"callerid": "102", "disposition": "NOANSWERED", "reason": "ABANDON"},
            "queue call from Erik Johansson (102) abandoned",
        ),
        # An outside number stays a number.
        (
            "Cdr",
            {"direction": "IN", "src": "0701234567", "disposition": "NO ANSWER"},
            "missed a call from +46701234567",
        ),
    ],
)
def test_describe_names_colleagues(name: str, payload: Any, message: str) -> None:
    """A colleague is named, with the number; others read as their number."""
    assert describe(name, payload, ERIK)[0] == message


# --- In the server's language -------------------------------------------------

TRANSLATIONS = Path(__file__).parents[2] / "custom_components" / DOMAIN / "translations"


def _common(language: str) -> dict[str, str]:
    """Return the ``common`` section (the logbook's sentences) of a language."""
    data = json.loads((TRANSLATIONS / f"{language}.json").read_text("utf-8"))
    texts: dict[str, str] = data["common"]
    return texts


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_sentences_are_translated() -> None:
    """English is the code's; Swedish has every sentence, with the same blanks."""
    assert _common("en") == dict(SENTENCES)
    swedish = _common("sv")
    assert swedish.keys() == SENTENCES.keys()
    for key, text in SENTENCES.items():
        assert _placeholders(swedish[key]) == _placeholders(text), key
        assert swedish[key] != text, f"{key} is not translated"


@pytest.mark.usefixtures("logbook")
async def test_logbook_in_swedish(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """A Swedish server writes Activity in Swedish; a change of language follows."""
    await hass.config.async_update(language="sv")
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, mock_config_entry)
    start = dt_util.utcnow()
    await _calls_and_more(hass, simulator)
    swedish = [
        "missade ett samtal från +46701234567",
        "ringde +46731234567 (2 min 5 s)",
        "kösamtal från +46709876543 avbrutet",
        "NGUC-händelse CallFlow: lunch",
    ]
    shown = await _logbook(hass, hass_ws_client, start)
    assert [entry["message"] for entry in shown] == swedish

    # Sentences are written when Activity is read: in the language of now.
    await hass.config.async_update(language="en")
    await hass.async_block_till_done()
    shown = await _logbook(hass, hass_ws_client, start)
    assert [entry["message"] for entry in shown] == [
        "missed a call from +46701234567",
        "called +46731234567 (2 min 5 s)",
        "queue call from +46709876543 abandoned",
        UNDOCUMENTED["message"],
    ]


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        (
            "Cdr",
            {"direction": "IN", "src": "102", "disposition": "ANSWER", "billsec": 5},
            "besvarade ett samtal från Erik Johansson (102) (5 s)",
        ),
        (
            "Cdr",
            {"direction": "OUT", "dst_pbx_user_id": "86481", "disposition": "BUSY"},
            "ringde Erik Johansson (upptaget)",
        ),
        (
            "QueueCdr",
            {
                "callerid": "0701234567",
                "disposition": "NOANSWERED",
                "answered_by": "Erik Johansson",
            },
            "Erik Johansson svarade inte på ett kösamtal från +46701234567",
        ),
        (
            "QueueCdr",
            {"disposition": "ANSWERED", "answered_by": "Anna Lindqvist"},
            "kösamtal från ett okänt nummer besvarat av Anna Lindqvist",
        ),
    ],
)
def test_describe_in_swedish(name: str, payload: Any, message: str) -> None:
    """Each kind of sentence reads in Swedish, names and numbers in place."""
    assert describe(name, payload, ERIK, _common("sv"))[0] == message


def test_describe_a_translation_that_does_not_fit() -> None:
    """A translation with a blank the sentence lacks reads in English, not a crash."""
    wrong = {**_common("sv"), "call_missed": "missade {number}"}
    payload = {"direction": "IN", "src": "0701234567", "disposition": "NO ANSWER"}
    assert describe("Cdr", payload, NO_NAMES, wrong)[0] == (
        "missed a call from +46701234567"
    )
