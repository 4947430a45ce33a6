"""Issue 14 section 2 end to end: the token endpoint down, and a load balancer.

Rows of the fault matrix's kind (its harness and convergence check), for the
token endpoint and connection faults: every device stays, the entities that
can be current are available, and no person is asked for anything.
"""

from __future__ import annotations

import asyncio
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import CONF_TOKEN
from tests.harness.clock import advance
from tests.harness.convergence import (
    issues_naming,
    reauth_flows,
    tracebacks,
    wait_converged,
    wait_until,
)
from tests.simulator import Simulator

from .test_fault_matrix import (  # noqa: F401 - fixtures, used by name
    add_two_factor_entry,
    log,
    reconnected,
    removed_devices,
    settled,
    short_delays_of_recovery,
    start,
)


def devices_of(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    return {
        device.id
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
    }


async def test_early_close_while_the_token_endpoint_is_down(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,  # noqa: F811
    removed_devices: list[str],  # noqa: F811
) -> None:
    """A close right after authenticate, and no token endpoint: the stream is back.

    The access token is good for an hour: the stream connects with it and
    reads the state again; before, nothing connected until the token
    endpoint came back.
    """
    entry = await start(hass, mock_config_entry, simulator)
    devices = devices_of(hass, entry)
    before = simulator.authenticated_count
    simulator.token_down()  # for good
    simulator.company.set_status("86481", 1)  # unseen: only a read shows it
    simulator.close_after_auth(1)
    await simulator.close_connections(3000, "Go away!")
    await wait_until(lambda: simulator.closed_after_auth == 1)
    await reconnected(simulator, before + 1)
    await settled(hass, entry, simulator, log)
    assert simulator.token_requests >= 1  # the renewal was tried, and failed
    assert devices_of(hass, entry) == devices
    assert removed_devices == []


async def test_ping_only_server_behind_a_load_balancer(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    """Websocket pings, never ``h``; every connection closed after 1.5 s.

    Healthy connections, closed by a proxy: no rejected-stream repair issue
    (before, three such closes raised it), no token renewal, no reauth.
    """
    entry = await start(hass, mock_config_entry, simulator)
    tokens = simulator.token_requests
    simulator.ping_keepalive = True
    simulator.heartbeat_interval = 0.2
    simulator.connection_lifetime = 1.5
    await simulator.close_connections(3000, "Go away!")
    await wait_until(lambda: simulator.closed_by_lifetime >= 4, timeout=20)
    await reconnected(simulator, simulator.authenticated_count - 1)
    await settled(hass, entry, simulator, log)
    assert issues_naming(hass, "stream_rejected") == []
    assert not reauth_flows(hass)
    assert simulator.token_requests == tokens


async def test_invalid_grant_asks_a_two_factor_user_to_sign_in_again(
    hass: HomeAssistant,
    simulator: Simulator,
    log: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    """The refresh answered 400 invalid_grant, no password stored: one reauth.

    Before, the answer was taken for a glitch and retried for ever.
    """
    simulator.heartbeat_interval = 1.0
    entry = await add_two_factor_entry(hass, simulator)
    assert CONF_PASSWORD not in entry.data
    await hass.async_block_till_done()
    await wait_converged(hass, entry, simulator)

    before = len(simulator.oauth_grants)
    simulator.refuse_refresh(400)
    simulator.expire_access_tokens()
    await simulator.drop_connections()
    await wait_until(lambda: len(reauth_flows(hass, entry)) == 1)
    # Refused once; no password to try; nothing more asked of the endpoint.
    assert simulator.oauth_grants[before:] == ["refresh_token"]
    assert not tracebacks(log.records)


# A token answer later than unloading may take (5 s), but soon enough to wait for.
LATE_ANSWER_S = 6.5
UNLOAD_LIMIT_S = 5.0


@pytest.mark.parametrize("restart", ["reload", "unload, then set up"])
async def test_unload_does_not_wait_for_a_slow_token_answer_and_keeps_it(
    hass: HomeAssistant,
    simulator: Simulator,
    log: pytest.LogCaptureFixture,  # noqa: F811
    restart: str,
) -> None:
    """Issue 18 §6: a renewal under way costs an unload no more than 5 s, and is kept.

    The token endpoint spends the refresh token at once and answers 6.5 s
    later. Before, unloading waited for that answer (up to 80 s). The entry
    has no password: had the late answer been lost, the next start would
    refresh with the spent token and ask a person to sign in again.
    """
    simulator.heartbeat_interval = 1.0
    entry = await add_two_factor_entry(hass, simulator)
    await hass.async_block_till_done()
    await wait_converged(hass, entry, simulator)
    stored = entry.data[CONF_TOKEN]["refresh_token"]
    before = len(simulator.oauth_grants)
    simulator.slow_token(LATE_ANSWER_S)
    simulator.expire_access_tokens()
    await simulator.drop_connections()
    await wait_until(lambda: len(simulator.oauth_grants) > before)  # spent now

    started = time.monotonic()
    if restart == "reload":
        await asyncio.wait_for(
            hass.config_entries.async_reload(entry.entry_id), UNLOAD_LIMIT_S
        )
    else:
        await asyncio.wait_for(
            hass.config_entries.async_unload(entry.entry_id), UNLOAD_LIMIT_S
        )
    assert time.monotonic() - started < UNLOAD_LIMIT_S
    # The late answer is stored when it lands, loaded or not.
    await wait_until(
        lambda: entry.data[CONF_TOKEN]["refresh_token"] != stored, LATE_ANSWER_S + 5
    )
    if restart == "reload":
        # Its setup could not wait for the answer: it is retried.
        if entry.state is ConfigEntryState.SETUP_RETRY:
            await advance(hass, 60)
    else:
        assert entry.state is ConfigEntryState.NOT_LOADED
        assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_converged(hass, entry, simulator, 15)
    # One refresh, no second one with the spent token, nobody asked to sign in.
    assert simulator.oauth_grants[before:] == ["refresh_token"]
    assert not reauth_flows(hass)
    assert not tracebacks(log.records)


@pytest.mark.parametrize("status", [503, None], ids=["answers 503", "cuts"])
async def test_unload_is_quick_while_the_token_endpoint_is_down(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,  # noqa: F811
    status: int | None,
) -> None:
    """Issue 18 §6: the token endpoint down, a renewal due: unload within 5 s, then start again."""
    entry = await start(hass, mock_config_entry, simulator)
    before = len(simulator.oauth_grants)
    simulator.token_down(status=status)
    simulator.expire_access_tokens()
    await simulator.drop_connections()
    await wait_until(lambda: len(simulator.oauth_grants) > before)
    await asyncio.wait_for(
        hass.config_entries.async_unload(entry.entry_id), UNLOAD_LIMIT_S
    )
    simulator.token_down(0)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_converged(hass, entry, simulator, 15)
    assert not reauth_flows(hass)
    assert not tracebacks(log.records)
