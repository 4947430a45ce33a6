"""Diagnostics: the whole picture, with credentials, tokens and numbers redacted."""

from __future__ import annotations

import json
import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import slugify
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
)
from tests.simulator import Simulator
from tests.simulator.model import Account

from .conftest import ENTRY_UNIQUE_ID, wait_for, wait_in_sync

# A password that appears nowhere else (the demo account's is "demo", which is
# also the company's name and the username).
PASSWORD = "Hemligt-L0senord!"
USERNAME = "diag.user"
# Numbers of the outside world that the pushed events carry.
MISSED_FROM = "0701234567"
QUEUE_CALLER = "0709876543"
QUEUE_CALLER_E164 = "+46709876543"
QUEUE_DID = "0812345600"
QUEUE_DID_E164 = "+46812345600"
OTHER_PHONE = "+46731112233"
WAITING_CALLER = "+46735550101"
EMAIL = "anna@demo.example"

EVENTS: list[tuple[str, Any]] = [
    ("UserStatus", {"pbx_user_id": "86481", "status": "8", "status_text": "Ringing"}),
    ("UserStatus", {"pbx_user_id": "86481", "status": "0", "status_text": "Idle"}),
    (
        "Cdr",
        {
            "id": "7001",
            "call_guid": "1725958989.101",
            "calldate": "2024-09-10 09:03:09",
            "direction": "IN",
            "src": MISSED_FROM,
            "dst": "102",
            "src_pbx_user_id": None,
            "dst_pbx_user_id": "86481",
            "remote_pbx_contact_id": None,
            "billsec": "0",
            "disposition": "NO ANSWER",
            "pbx_recording_id": False,
        },
    ),
    (
        "QueueCdr",
        {
            "id": "7002",
            "call_guid": "1725958999.102",
            "ast_queue_id": "501",
            "calldate": "2024-09-10T07:03:19+00:00",
            "callerid": QUEUE_CALLER,
            "did": QUEUE_DID,
            "e164_src": QUEUE_CALLER_E164,
            "e164_did": QUEUE_DID_E164,
            "disposition": "ANSWERED",
            "answered_by": "Erik Johansson",
            "pbx_user_id": "86481",
            "wait_time": "12",
            "talk_time": "0",
            "reason": "CONNECT",
            "handled": "1",
        },
    ),
    # A caller waits in Support; Erik is on a call, Maja paused.
    (
        "Queue",
        {
            "queue": {"id": "501", "name": "Support", "waiting": "1"},
            "members": [
                {"pbx_user_id": "86480", "paused": "0", "call_guid": None},
                {"pbx_user_id": "86481", "paused": "0", "call_guid": "g-8"},
                {"pbx_user_id": "86482", "paused": "1", "call_guid": None},
            ],
            "callers": [
                {
                    "call_guid": "g-9",
                    "pbx_queue_id": "501",
                    "callerid": WAITING_CALLER,
                    "wait": "25",
                    "position": "1",
                }
            ],
        },
    ),
    # Anna calls Lars: an internal call, both ends named.
    (
        "Cdr",
        {
            "id": "7003",
            "call_guid": "1725959999.103",
            "calldate": "2024-09-10 09:20:00",
            "direction": "IN",
            "src": "101",
            "dst": "104",
            "src_pbx_user_id": "86480",
            "dst_pbx_user_id": "86483",
            "billsec": "30",
            "disposition": "ANSWER",
            "pbx_recording_id": False,
        },
    ),
    # An undocumented event, with a number nested where nobody expects it.
    (
        "CallFlow",
        {
            "id": "31",
            "name": "Kontorstid",
            "state": "open",
            "changed_by": {"name": "Anna Lindqvist", "phone": OTHER_PHONE},
        },
    ),
]

# Values that change from run to run: times, ids and the simulator's port.
VOLATILE = props(
    "entry_id",
    "created_at",
    "modified_at",
    "api_url",
    "events_url",
    "time",
    "last_event",
)
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def entity_times(*, data: Any, path: Any) -> Any:
    """Replace the times entities show (calls, last reset) by a placeholder."""
    if (
        isinstance(data, str)
        and ISO_TIME.match(data)
        and any(part == "entities" for part, _ in path)
    ):
        return "<time>"
    return data


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: Simulator,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show entry, state, stream and events, and leak no secret."""
    simulator.company.add_account(Account(USERNAME, PASSWORD, "86480"))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="demo (Anna Lindqvist)",
        unique_id=ENTRY_UNIQUE_ID,
        minor_version=2,
        data={
            CONF_COMPANY: "demo",
            CONF_USERNAME: USERNAME,
            CONF_USER_ID: "86480",
            CONF_PASSWORD: PASSWORD,
            CONF_API_URL: simulator.api_url,
            CONF_EVENTS_URL: simulator.events_url,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)
    coordinator = entry.runtime_data

    for name, payload in EVENTS:
        await simulator.push_event(name, payload)
    await wait_for(hass, lambda: len(coordinator.recent_events) == len(EVENTS))

    tokens = coordinator.client.auth.tokens
    assert tokens is not None
    assert tokens.refresh_token is not None

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics == snapshot(exclude=VOLATILE, matcher=entity_times)

    # What the snapshot cannot show: the volatile values are there and sane.
    assert diagnostics["stream"]["last_event"] is not None
    assert [e["event"] for e in diagnostics["recent_events"]] == [
        name for name, _ in EVENTS
    ]

    # Credentials, tokens and personal data are nowhere in the text.
    text = json.dumps(diagnostics)
    for secret in (
        PASSWORD,
        USERNAME,
        tokens.access_token,
        tokens.refresh_token,
        MISSED_FROM,
        QUEUE_CALLER,
        QUEUE_CALLER_E164,
        QUEUE_DID,
        QUEUE_DID_E164,
        OTHER_PHONE,
        WAITING_CALLER,
        EMAIL,
    ):
        assert secret not in text, f"{secret!r} leaked into the diagnostics"
    # Nor are the names of people and of their phones, anywhere.
    people = [user.name for user in simulator.company.users.values()]
    phones = [device.name for device in simulator.company.devices.values()]
    assert "Lars Öberg" in people
    for name in (*people, *phones):
        assert name not in text, f"{name!r} leaked into the diagnostics"
        # Nor in entity ids, which are made of them.
        assert slugify(name) not in text, f"{slugify(name)!r} leaked"
    # Queue names say which queue a figure is of; they name no one.
    assert diagnostics["state"]["queues"]["501"]["name"] == "Support"
    # What the entities show of people on calls: no name, no number.
    registry = er.async_get(hass)
    entities = {
        entity_id: next(
            e
            for e in diagnostics["entities"]
            if e["unique_id"] == registry.async_get(entity_id).unique_id
        )
        for entity_id in hass.states.async_entity_ids()
        if registry.async_get(entity_id) is not None
    }
    assert entities["sensor.support_waiting"]["attributes"] == {
        "callers": [{"position": 1, "number": REDACTED, "wait": 25}]
    }
    lars_call = entities["event.lars_oberg_call"]["attributes"]
    assert lars_call["caller_name"] == lars_call["callee_name"] == REDACTED
    assert entities["sensor.erik_johansson_last_missed"]["attributes"] == {
        "caller": REDACTED,
        "caller_name": None,  # an outside number has no name
    }
    assert entities["sensor.erik_johansson_missed_today"]["state"] == "1"
    assert entities["sensor.support_agents_on_call"]["state"] == "1"
    assert entities["sensor.support_paused_agents"]["state"] == "1"
    assert entities["sensor.support_longest_wait"]["state"] == "25"
    assert entities["sensor.maja_karlsson_queues"]["attributes"] == {
        "queues": [{"name": "Support", "paused": True}]
    }
    assert entities["binary_sensor.maja_karlsson_paused"]["state"] == "on"
    # ... and were redacted, not dropped.
    data = diagnostics["entry"]["data"]
    assert data[CONF_PASSWORD] == REDACTED
    assert data["token"] == REDACTED
    cdr = diagnostics["recent_events"][2]["data"]
    assert cdr["src"] == REDACTED

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_diagnostics_say_which_list_fails_and_whom_the_entry_follows(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A refused list and a chosen subset are in the diagnostics, by count."""
    simulator.fail_path("/company/queue", 403)
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={"users": ["86480", "86481"]}
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, mock_config_entry
    )

    assert diagnostics["failing_lists"] == {"/company/queue": 1}
    assert diagnostics["following"] == {"users": 2, "queues": "all"}
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
