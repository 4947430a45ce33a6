"""Issue 14 section 2 end to end: the token endpoint down, and a load balancer.

Rows of the fault matrix's kind (its harness and convergence check), for the
token endpoint and connection faults: every device stays, the entities that
can be current are available, and no person is asked for anything.
"""

from __future__ import annotations

from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

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
