"""Setup, unload, resync after reconnects, availability, reauth and devices."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc import async_remove_config_entry_device
from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.const import CONF_TOKEN, DOMAIN, EVENT_NGUC
from tests.harness.timings import Timings, applied
from tests.simulator import Account, Device, Simulator, User

from .conftest import ENTRY_UNIQUE_ID, wait_for, wait_in_sync

LIST_PATHS = (
    c.PATH_USERS,
    c.PATH_USER_STATUSES,
    c.PATH_DEVICES,
    c.PATH_QUEUES,
)
ANNA_LINE = "sensor.anna_lindqvist_line_status"
ERIK_LINE = "sensor.erik_johansson_line_status"


def _reauth_flows(hass: HomeAssistant) -> list[Any]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Setup reads the state and connects the event stream; unload closes it."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert simulator.open_connections == 1
    assert hass.states.get(ANNA_LINE).state == "idle"
    # The tokens of the login were stored in the entry, refresh token included.
    assert init_integration.data[CONF_TOKEN]["refresh_token"]

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    await wait_for(hass, lambda: simulator.open_connections == 0)
    assert hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE


async def test_setup_not_ready_when_nguc_fails(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A server error at setup retries later instead of failing for good."""
    simulator.fail_rest(500)
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not _reauth_flows(hass)


async def test_setup_not_ready_when_unreachable(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """An unreachable NGUC at setup retries later."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=ENTRY_UNIQUE_ID,
        data={
            "company": "demo",
            "username": "demo",
            "password": "demo",
            "api_url": "http://127.0.0.1:1",
            "events_url": "ws://127.0.0.1:1/events",
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_auth_failed_starts_reauth(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Rejected credentials at setup ask the user to log in again."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=ENTRY_UNIQUE_ID,
        data={**mock_config_entry.data, CONF_PASSWORD: "wrong"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(_reauth_flows(hass)) == 1


async def test_stored_tokens_used_without_password_login(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """After a restart the stored tokens are used: no new password login."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    logins = simulator.oauth_grants.count("password")
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, init_integration)
    assert simulator.oauth_grants.count("password") == logins


async def test_resync_after_reconnect(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Changes missed while disconnected show after the reconnect's REST read."""
    coordinator = init_integration.runtime_data
    connections = simulator.connection_count
    # NGUC's state changes while no event reaches us (they would be lost).
    simulator.company.statuses["86481"] = 1
    await simulator.drop_connections()
    await wait_for(hass, lambda: simulator.connection_count > connections)
    await wait_in_sync(hass, init_integration)
    assert coordinator.stream.connected
    assert hass.states.get(ERIK_LINE).state == "in_use"


async def test_events_during_resync_are_applied_after_it(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An event that arrives while the state is re-read is not overwritten."""
    coordinator = init_integration.runtime_data
    simulator.rest_delay = 0.5
    await simulator.close_connections()
    await wait_for(hass, lambda: coordinator.stream.connected)
    assert not coordinator.in_sync
    # The REST read is slow; this event arrives during it. The model is not
    # changed, so the REST answer still says idle: the event must win.
    await simulator.push_event(
        "UserStatus",
        {"pbx_user_id": "86480", "status": "8", "status_text": "Ringing"},
        apply=False,
    )
    await wait_in_sync(hass, init_integration)
    assert hass.states.get(ANNA_LINE).state == "ringing"


async def test_unavailable_while_stream_down(
    hass: HomeAssistant,
    short_stream_grace: None,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past the grace period entities are unavailable; they return after resync."""
    caplog.set_level(logging.INFO, logger="custom_components.weblink_nguc")
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE)
    assert (
        hass.states.get("binary_sensor.demo_anna_lindqvist_event_stream").state == "off"
    )
    # Still down a while later: logged once, not at every attempt.
    await asyncio.sleep(0.5)
    lost = [r for r in caplog.records if "Lost the NGUC event stream" in r.message]
    assert len(lost) == 1
    assert lost[0].levelno == logging.INFO
    # It says why, with the code: the refused handshake's HTTP status.
    assert "(websocket refused (HTTP " in lost[0].message

    simulator.company.statuses["86480"] = 1
    simulator.refuse_events = False
    await wait_for(hass, lambda: hass.states.get(ANNA_LINE).state == "in_use")
    restored = [r for r in caplog.records if "event stream restored" in r.message]
    assert len(restored) == 1
    assert (
        hass.states.get("binary_sensor.demo_anna_lindqvist_event_stream").state == "on"
    )


async def test_flapping_stream_that_never_syncs_goes_unavailable(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Reconnects that never get back in sync do not stretch the grace period.

    The stream drops every 0.2 s and the REST API fails, so the state can no
    longer be read: a second after the first drop (the grace here) the
    entities are unavailable rather than stale.
    """
    with (
        applied(hass, Timings(stream_grace=1.0)),
        patch("custom_components.weblink_nguc.api.events.BACKOFF_CAP", 0.05),
    ):
        entry = mock_config_entry
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_in_sync(hass, entry)
        simulator.fail_rest(500)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while hass.states.get(ANNA_LINE).state != STATE_UNAVAILABLE:
            assert loop.time() - start < 2, "stale state still shown as current"
            connections = simulator.connection_count
            await simulator.drop_connections()
            await wait_for(hass, lambda n=connections: simulator.connection_count > n)
            await asyncio.sleep(0.2)
        assert not entry.runtime_data.in_sync
        simulator.clear_faults()
        await wait_in_sync(hass, entry)
        assert hass.states.get(ANNA_LINE).state != STATE_UNAVAILABLE


async def test_reload_during_a_renewal_keeps_the_rotated_refresh_token(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The entry starts again with the tokens of a renewal that was under way.

    The token endpoint spent the old refresh token: started again with it,
    a two-factor account (no password kept) would need a person.
    """
    entry = init_integration
    data = {k: v for k, v in entry.data.items() if k != CONF_PASSWORD}
    hass.config_entries.async_update_entry(entry, data=data)
    await hass.config_entries.async_reload(entry.entry_id)
    await wait_in_sync(hass, entry)
    simulator.token_answer_delay = 0.5
    grants = len(simulator.oauth_grants)
    renewal = asyncio.create_task(
        entry.runtime_data.client.auth.async_get_access_token(force_refresh=True)
    )
    await wait_for(hass, lambda: len(simulator.oauth_grants) > grants)
    await hass.config_entries.async_reload(entry.entry_id)
    await renewal
    await wait_in_sync(hass, entry)
    simulator.token_answer_delay = 0.0

    auth = entry.runtime_data.client.auth
    assert auth.tokens is not None
    assert entry.data[CONF_TOKEN]["refresh_token"] == auth.tokens.refresh_token
    # The live refresh token: the next renewal works, nobody is asked.
    await auth.async_get_access_token(force_refresh=True)
    await hass.async_block_till_done()
    assert not _reauth_flows(hass)
    assert simulator.oauth_grants[grants:] == ["refresh_token", "refresh_token"]


async def test_quick_reconnect_keeps_entities_available(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A reconnect within the grace period does not flap the entities."""
    states: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["entity_id"] == ANNA_LINE and event.data["new_state"]:
            states.append(event.data["new_state"].state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    connections = simulator.connection_count
    await simulator.drop_connections()
    await wait_for(hass, lambda: simulator.connection_count > connections)
    await wait_in_sync(hass, init_integration)
    assert STATE_UNAVAILABLE not in states


async def test_revoked_credentials_start_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """When neither the tokens nor the password work any more, reauth starts."""
    simulator.company.accounts["demo"].password = "changed"
    simulator.revoke_tokens()
    await simulator.drop_connections()
    await wait_for(hass, lambda: len(_reauth_flows(hass)) == 1)
    assert hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE


async def test_new_tokens_stored_without_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A renewed token is written to the entry at once; the entry is not reloaded."""
    old = init_integration.data[CONF_TOKEN]["access_token"]
    coordinator = init_integration.runtime_data
    await coordinator.client.auth.async_get_access_token(force_refresh=True)
    await hass.async_block_till_done()
    assert init_integration.data[CONF_TOKEN]["access_token"] != old
    assert init_integration.runtime_data is coordinator
    assert init_integration.state is ConfigEntryState.LOADED


async def test_calls_and_undocumented_events_on_the_bus(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Call records, once each, and undocumented events go on the bus with their device.

    Line statuses, queue snapshots and phone registrations do not: entities
    record them. All of them stay in the diagnostics' recent events.
    """
    events: list[Event[Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        events.append(event)

    hass.bus.async_listen(EVENT_NGUC, record)
    coordinator = init_integration.runtime_data
    company = simulator.company
    missed = company.cdr("86481", remote="0701234567", disposition="NO ANSWER")
    queue_cdr = company.queue_cdr(
        "501", call_guid="g-1", callerid="0709876543", disposition="NOANSWERED"
    )
    flow = {"step": "ivr", "number": "5", "pbx_user_id": "86480"}
    await simulator.push_events(
        [
            ("UserStatus", {"pbx_user_id": "86481", "status": "8"}),
            ("Queue", company.queues["502"].to_wire()),
            ("DeviceStatus", {"pbx_device_id": "9002", "status": "0"}),
            ("Cdr", missed),
            ("Cdr", missed),  # sent again: the same call
            ("QueueCdr", queue_cdr),
            ("CallFlow", flow),
            ("CallFlow", flow),  # not a call record: each one goes
        ]
    )
    await wait_for(hass, lambda: len(coordinator.recent_events) >= 8)
    devices = dr.async_get(hass)
    ent_reg = er.async_get(hass)

    def device_of(key: str) -> str:
        device = devices.async_get_device_by_identifier(
            (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), init_integration.entry_id
        )
        assert device is not None
        return device.id

    def call_entity(key: str, name: str) -> str | None:
        return ent_reg.async_get_entity_id(
            "event", DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}_{name}"
        )

    assert [event.data for event in events] == [
        {
            "event": "Cdr",
            "data": missed,
            "config_entry_id": init_integration.entry_id,
            "device_id": device_of("user_86481"),
            "entity_id": call_entity("user_86481", "call"),
        },
        {
            "event": "QueueCdr",
            "data": queue_cdr,
            "config_entry_id": init_integration.entry_id,
            "device_id": device_of("queue_501"),
            "entity_id": call_entity("queue_501", "queue_call"),
        },
        *[
            {
                "event": "CallFlow",
                "data": flow,
                "config_entry_id": init_integration.entry_id,
                "device_id": device_of("user_86480"),
            }
        ]
        * 2,
    ]
    assert events[0].data["entity_id"] == "event.erik_johansson_call"
    # What stayed off the bus is still in the diagnostics.
    assert [e["event"] for e in coordinator.recent_events][-8:] == [
        "UserStatus",
        "Queue",
        "DeviceStatus",
        "Cdr",
        "Cdr",
        "QueueCdr",
        "CallFlow",
        "CallFlow",
    ]


async def test_event_touches_only_its_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A user's status event writes that user's line only."""
    changed: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        changed.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    await simulator.set_user_status("86481", 8)
    await wait_for(hass, lambda: hass.states.get(ERIK_LINE).state == "ringing")
    # The line and the ringing call event; nothing of the other users or queues.
    assert set(changed) <= {ERIK_LINE, "event.erik_johansson_call"}
    assert ERIK_LINE in changed


async def test_devices_appear_and_disappear(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Users and phones that appear get devices; those gone are removed."""
    dev_reg = dr.async_get(hass)
    ent_reg = er.async_get(hass)
    entry_id = init_integration.entry_id

    def device(key: str) -> dr.DeviceEntry | None:
        return dev_reg.async_get_device_by_identifier(
            (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), entry_id
        )

    assert device("device_9004") is not None
    simulator.company.add_user(User("86490", "Nils Holm", "110", "nils@demo.example"))
    simulator.company.add_device(
        Device("9010", "86490", "Nils bordstelefon", "Snom D785")
    )
    del simulator.company.devices["9004"]
    await simulator.drop_connections()
    await wait_for(hass, lambda: device("user_86490") is not None)
    await wait_in_sync(hass, init_integration)

    nils = device("user_86490")
    phone = device("device_9010")
    assert nils is not None
    assert phone is not None
    assert phone.via_device_id == nils.id
    assert hass.states.get("sensor.nils_holm_line_status").state == "idle"
    assert hass.states.get("binary_sensor.nils_bordstelefon_registered") is not None
    # Gone once a second read agrees (issue 18 §1).
    await wait_for(hass, lambda: device("device_9004") is None)
    assert not [
        e
        for e in er.async_entries_for_config_entry(ent_reg, entry_id)
        if e.unique_id.startswith(f"{ENTRY_UNIQUE_ID}_device_9004")
    ]


async def test_remove_stale_device_by_hand(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A device NGUC no longer reports may be deleted; a current one may not."""
    dev_reg = dr.async_get(hass)
    entry_id = init_integration.entry_id
    current = dev_reg.async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_user_86480"), entry_id
    )
    stale = dev_reg.async_get_or_create(
        config_entry_id=entry_id, identifiers={(DOMAIN, f"{ENTRY_UNIQUE_ID}_user_1")}
    )
    assert current is not None
    assert not await async_remove_config_entry_device(hass, init_integration, current)
    assert await async_remove_config_entry_device(hass, init_integration, stale)


async def test_ringing_during_resync_fires(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A line that starts ringing while the state is re-read still fires once."""
    coordinator = init_integration.runtime_data
    simulator.rest_delay = 0.5
    await simulator.close_connections()
    await wait_for(hass, lambda: coordinator.stream.connected)
    assert not coordinator.in_sync
    # The model changes too: the slow REST read already shows the ringing.
    await simulator.set_user_status("86480", 8)
    await wait_in_sync(hass, init_integration)
    call = hass.states.get("event.anna_lindqvist_call")
    assert call.attributes["event_type"] == "ringing"
    assert hass.states.get(ANNA_LINE).state == "ringing"


async def test_failed_resync_is_retried(
    hass: HomeAssistant,
    short_stream_grace: None,
    init_integration: MockConfigEntry,
    simulator: Simulator,
) -> None:
    """REST failing after a reconnect keeps entities unavailable, then retries."""
    coordinator = init_integration.runtime_data
    simulator.company.statuses["86481"] = 1
    for path in LIST_PATHS:
        simulator.fail_path(path, 500)
    with applied(hass, Timings(resync_retry_base=0.05)):
        await simulator.drop_connections()
        await wait_for(hass, lambda: coordinator.stream.connected)
        # Connected, but the state cannot be read: it may be stale.
        await wait_for(
            hass, lambda: hass.states.get(ERIK_LINE).state == STATE_UNAVAILABLE
        )
        for path in LIST_PATHS:
            simulator.clear_path(path)
        await wait_in_sync(hass, init_integration)
        # A read under way may have had its statuses refused a moment
        # before: that list alone is read again, soon.
        await wait_for(hass, lambda: hass.states.get(ERIK_LINE).state == "in_use")


async def test_credentials_rejected_during_resync_start_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A 401 that no renewal cures during a resync starts reauthentication."""
    coordinator = init_integration.runtime_data
    simulator.rest_delay = 0.3
    await simulator.drop_connections()
    await wait_for(hass, lambda: coordinator.stream.connected)
    # The REST read is under way: now nothing is accepted any more.
    simulator.company.accounts["demo"].password = "changed"
    simulator.revoke_tokens()
    await wait_for(hass, lambda: len(_reauth_flows(hass)) == 1)
    assert hass.states.get(ANNA_LINE).state == STATE_UNAVAILABLE


async def test_no_secret_in_the_debug_log(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Login, renewals, reconnects and reauth leave no password or token in the log."""
    caplog.set_level(logging.DEBUG)
    password = "Hemligt-lösen-4711"
    simulator.company.add_account(Account("anna.l", password, "86480"))
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=ENTRY_UNIQUE_ID,
        data={**mock_config_entry.data, "username": "anna.l", CONF_PASSWORD: password},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, entry)
    auth = entry.runtime_data.client.auth
    tokens = [auth.tokens]
    simulator.expire_access_tokens()
    await simulator.close_connections()
    await wait_for(hass, lambda: auth.tokens is not tokens[0])
    await wait_in_sync(hass, entry)
    tokens.append(auth.tokens)
    simulator.company.accounts["anna.l"].password = "changed"
    simulator.revoke_tokens()
    await simulator.drop_connections()
    await wait_for(hass, lambda: len(_reauth_flows(hass)) == 1)

    secrets = [password]
    for token_set in tokens:
        assert token_set is not None
        secrets.append(token_set.access_token)
        assert token_set.refresh_token is not None
        secrets.append(token_set.refresh_token)
    assert "Event stream" in caplog.text  # the debug log was captured
    for secret in secrets:
        assert secret not in caplog.text
