"""The fault matrix of issue 6: after every fault, Home Assistant converges on NGUC's truth.

Each test is one row: the integration in the test harness against the
simulator, a fault, then the convergence check: every entity and device as the
simulator holds it, at most one websocket, no traceback, "lost" and "restored"
logged once each where the row has an outage (never one without the other),
and no reauthentication unless the row says so. The faults are the shared
harness's (tests/harness/faults.py), as the soak inflicts them. Long waits
are shortened through the harness's timings (tests/harness/timings.py), or
passed on a fake clock (tests/harness/clock.py), never by assuming how the
integration works inside.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util.async_ import get_scheduled_timer_handles
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.weblink_nguc
from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    DOMAIN,
)
from tests.harness.clock import advance
from tests.harness.convergence import (
    count_logged,
    issues_naming,
    ours,
    reauth_flows,
    tracebacks,
    wait_converged,
    wait_until,
)
from tests.harness.faults import (
    ODD_EXPIRES_IN,
    PHONES,
    QUEUES,
    STATUSES,
    USERS,
    Faults,
)
from tests.harness.timings import FAULT_MATRIX, Timings, applied
from tests.simulator import Device, Queue, QueueMember, Simulator, User, demo_company
from tests.simulator.model import Company

# The reconnect backoff's cap in these rows: "an hour" of outage is many caps.
BACKOFF_CAP = FAULT_MATRIX.backoff_cap or 0.0
# NGUC's as the integration ships it, for the rows on the fake clock.
SHIPPED_BACKOFF_CAP = 300.0
SHIPPED_STREAM_GRACE = 30.0
SHIPPED_UNKNOWN_ITEM_DELAY = 5.0
PACKAGE = str(Path(custom_components.weblink_nguc.__file__).parent)


@pytest.fixture(autouse=True)
def short_delays_of_recovery(hass: HomeAssistant) -> Generator[None]:
    """Shorten the integration's waits: backoff caps, retries, request timeouts."""
    with applied(hass, FAULT_MATRIX):
        yield


@pytest.fixture
def faults(simulator: Simulator) -> Faults:
    """The simulator's faults."""
    return Faults(simulator)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture our INFO lines too ("lost", "restored")."""
    caplog.set_level(logging.INFO, logger="custom_components.weblink_nguc")
    return caplog


@pytest.fixture
def removed_devices(hass: HomeAssistant) -> list[str]:
    """Every device removed from the registry during the test."""
    removed: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["action"] == "remove":
            removed.append(event.data["device_id"])

    hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, record)
    return removed


@pytest.fixture
async def other_simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """A second NGUC company, "other" (4712), on a server of its own."""
    sim = Simulator(demo_company("4712", "other"))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def entry_like(
    template: MockConfigEntry, simulator: Simulator, unique_id: str
) -> MockConfigEntry:
    """Return an entry like ``template`` (same account and version) on another simulator."""
    company = simulator.company.name
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{company} (Anna Lindqvist)",
        unique_id=unique_id,
        version=template.version,
        minor_version=template.minor_version,
        data={
            **template.data,
            CONF_COMPANY: company,
            CONF_API_URL: simulator.api_url,
            CONF_EVENTS_URL: simulator.events_url,
        },
    )


async def start(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> MockConfigEntry:
    """Set the entry up and wait until it shows the simulator's truth."""
    # The server proves it accepted a token with its first h: one a second.
    simulator.heartbeat_interval = min(simulator.heartbeat_interval, 1.0)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_converged(hass, entry, simulator)
    await accepted(simulator)
    return entry


async def accepted(simulator: Simulator) -> None:
    """Wait until the connection is proven accepted (an h or a frame went out)."""
    await wait_until(lambda: simulator.proven_connections == 1)


async def settled(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    log: pytest.LogCaptureFixture,
    *,
    outage: bool = False,
    timeout: float = 15.0,
) -> None:
    """The row's verdict: converged, no reauth, no traceback, lost/restored balanced."""
    await wait_converged(hass, entry, simulator, timeout)
    assert not reauth_flows(hass)
    assert not tracebacks(log.records)
    lost = count_logged(log.records, "lost")
    restored = count_logged(log.records, "restored")
    if outage:
        assert (lost, restored) == (1, 1)
    else:
        assert lost == restored <= 1


def entity_id(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, item: str, key: str
) -> str:
    """Return the entity id of an item's entity, found by the end of its unique id."""
    suffix = f"_{kind}_{item}_{key}"
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if entity.unique_id.endswith(suffix):
            return entity.entity_id
    raise AssertionError(f"no entity ends with {suffix}")


def state_of(hass: HomeAssistant, entity: str) -> str | None:
    """Return an entity's state, None when it has none."""
    state = hass.states.get(entity)
    return state.state if state is not None else None


async def reconnected(simulator: Simulator, before: int, timeout: float = 10) -> float:
    """Wait until a connection after the ``before``-th was authenticated."""
    return await wait_until(
        lambda: (
            simulator.authenticated_count > before
            and simulator.authenticated_connections == 1
        ),
        timeout,
    )


async def an_hour_passes(hass: HomeAssistant) -> None:
    """Run on the fake clock what an hour of the shipped backoff would run: twelve caps."""
    for _ in range(12):
        await advance(hass, SHIPPED_BACKOFF_CAP)


def _ours(obj: Any) -> bool:
    return PACKAGE in repr(obj) or "weblink_nguc" in repr(obj)


def our_tasks() -> list[asyncio.Task[Any]]:
    """Return the unfinished tasks running code of the integration."""
    found = []
    for task in asyncio.all_tasks():
        if task.done() or task is asyncio.current_task():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and code.co_filename.startswith(PACKAGE):
            found.append(task)
    return found


def our_timers(hass: HomeAssistant) -> list[asyncio.TimerHandle]:
    """Return the scheduled timers that call into the integration."""
    found = []
    for handle in get_scheduled_timer_handles(hass.loop):
        if handle.cancelled():
            continue
        parts = [
            getattr(handle, "_callback", None),
            *(getattr(handle, "_args", None) or ()),
        ]
        parts += [getattr(part, "target", None) for part in parts]
        if any(_ours(part) for part in parts if part is not None):
            found.append(handle)
    return found


# --- 1 ---------------------------------------------------------------------------------


async def test_01_go_away_right_after_authentication(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
) -> None:
    """Three connections in a row closed with c[3000,"Go away!"] at once: no reauth; converges.

    The token endpoint accepts the credentials all along: a close is a fault
    to retry (and log with its code), never a verdict on the credentials.
    """
    entry = await start(hass, mock_config_entry, simulator)
    tokens, before = simulator.token_requests, simulator.authenticated_count
    simulator.company.set_status("86481", 1)  # unseen: only a resync shows it
    await faults.go_away(closes=3)
    await wait_until(lambda: simulator.closed_after_auth == 3)
    await reconnected(simulator, before + 3)
    await settled(hass, entry, simulator, log)

    # One token renewal for the streak of rejected connections, no more.
    assert simulator.token_requests - tokens <= 1
    # The close's code and reason are logged at warning level, rate limited.
    closes = [
        r
        for r in ours(log.records, logging.WARNING)
        if "3000" in r.getMessage() and "Go away!" in r.getMessage()
    ]
    assert len(closes) == 1
    assert not removed_devices


# --- 2 ---------------------------------------------------------------------------------


async def test_02_tcp_drop_without_close_frame(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
) -> None:
    """The TCP connection vanishes (no c[...], no close frame): reconnect and resync."""
    entry = await start(hass, mock_config_entry, simulator)
    before = simulator.authenticated_count
    simulator.company.set_status("86481", 1)
    simulator.company.devices["9001"].status = 0
    await faults.tcp_drop()
    await reconnected(simulator, before)
    await simulator.set_user_status("86483", 8)  # events flow on the new connection
    await settled(hass, entry, simulator, log)
    assert not removed_devices


# --- 3 ---------------------------------------------------------------------------------


async def test_03_half_open_connection(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """Silence at both levels (no h, no pong; socket open): detected within about 2.5 heartbeats."""
    beat = 0.4
    simulator.heartbeat_interval = beat
    with applied(hass, Timings(heartbeat=beat)):
        entry = await start(hass, mock_config_entry, simulator)
        before = simulator.authenticated_count
        faults.half_open()
        simulator.company.set_status("86480", 1)  # sent nowhere: the line is dead
        took = await reconnected(simulator, before)
        # 2.5 heartbeats of silence, then a reconnect within the first backoff.
        assert took < 4 * beat + BACKOFF_CAP
        await settled(hass, entry, simulator, log)
    assert simulator.state()["silenced_connections"] == 0


# --- 4 ---------------------------------------------------------------------------------


async def test_04_access_token_expires_mid_connection(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
) -> None:
    """A token of 2 s: renewed before expiry and re-sent on the open connection; no reconnect.

    The server closes a connection whose token expired without a new
    `authenticate`, so a late renewal would show as a reconnect.
    """
    simulator.token_lifetime = 2.0
    simulator.close_on_token_expiry = True
    with applied(hass, Timings(min_token_lifetime=0.5)):
        entry = await start(hass, mock_config_entry, simulator)
        connections = simulator.connection_count
        for status in (1, 0, 8, 0, 1):
            await asyncio.sleep(1.0)
            await simulator.set_user_status("86481", status)
        await settled(hass, entry, simulator, log)
    assert simulator.reauth_on_open_count >= 2
    assert simulator.connection_count == connections


async def add_two_factor_entry(
    hass: HomeAssistant, simulator: Simulator
) -> ConfigEntry:
    """Add the demo company's two-factor account through the config flow."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_COMPANY: "demo",
            CONF_USERNAME: "secure",
            CONF_PASSWORD: "secure",
            "advanced": {
                CONF_API_URL: simulator.api_url,
                CONF_EVENTS_URL: simulator.events_url,
            },
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    return result["result"]


# --- 5 ---------------------------------------------------------------------------------


async def test_05_refresh_token_revoked_password_account(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """Every token revoked, the account has a stored password: it logs in again; no reauth."""
    entry = await start(hass, mock_config_entry, simulator)
    grants = len(simulator.oauth_grants)
    before = simulator.authenticated_count
    simulator.company.set_status("86482", 0)
    await faults.tokens_revoked()
    await reconnected(simulator, before)
    await settled(hass, entry, simulator, log)
    assert "password" in simulator.oauth_grants[grants:]
    assert entry.state is ConfigEntryState.LOADED


async def test_05_refresh_token_revoked_two_factor_account(
    hass: HomeAssistant,
    simulator: Simulator,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """Every token revoked, the account has two-factor: reauthentication; unavailable meanwhile."""
    simulator.heartbeat_interval = 1.0
    entry = await add_two_factor_entry(hass, simulator)
    await hass.async_block_till_done()
    await wait_converged(hass, entry, simulator)

    await faults.tokens_revoked()
    await wait_until(lambda: len(reauth_flows(hass, entry)) == 1)
    line = entity_id(hass, entry, "user", "86481", "line_status")
    await wait_until(lambda: state_of(hass, line) == STATE_UNAVAILABLE)
    await an_hour_passes(hass)
    assert len(reauth_flows(hass)) == 1

    # The user signs in again; everything comes back.
    flow = reauth_flows(hass, entry)[0]
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_PASSWORD: "secure"}
    )
    assert result["step_id"] == "two_factor"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"code": "123456"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await wait_converged(hass, entry, simulator)
    assert not reauth_flows(hass)
    assert not tracebacks(log.records)


# --- 6 ---------------------------------------------------------------------------------


async def test_06_token_endpoint_refuses_everything(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """The token endpoint answers 401 to everything: reauthentication, once; then quiet."""
    entry = await start(hass, mock_config_entry, simulator)
    faults.refuse_credentials()
    await faults.token_expired()
    await wait_until(lambda: len(reauth_flows(hass, entry)) == 1)
    line = entity_id(hass, entry, "user", "86480", "line_status")
    await wait_until(lambda: state_of(hass, line) == STATE_UNAVAILABLE)

    # The stream stopped: no more logins, no more connections, one flow.
    tokens, connections = simulator.token_requests, simulator.connection_count
    await an_hour_passes(hass)
    assert simulator.token_requests == tokens
    assert simulator.connection_count == connections
    assert simulator.open_connections == 0
    assert len(reauth_flows(hass)) == 1
    assert not tracebacks(log.records)


# --- 7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "429", "timeout", "404"])
async def test_07_rest_fails_during_resync(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
    fault: str,
) -> None:
    """REST fails while the state is re-read: retried with backoff; no device lost."""
    # A 404 is asked again with backoff, at least 30 s apart and long before
    # the hourly read: a fraction of a second here (the hourly read is not
    # shortened).
    missing = Timings(missing_retry_min=0.2, missing_retry_base=0.5)
    with applied(hass, missing if fault == "404" else Timings()):
        await _rest_fails_during_resync(
            hass,
            simulator=simulator,
            mock_config_entry=mock_config_entry,
            log=log,
            removed_devices=removed_devices,
            faults=faults,
            fault=fault,
        )


async def _rest_fails_during_resync(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
    fault: str,
) -> None:
    entry = await start(hass, mock_config_entry, simulator)
    before = simulator.authenticated_count
    statuses_read = len(simulator.request_times(STATUSES))
    simulator.company.set_status("86481", 1)
    match fault:
        case "5xx":
            faults.rest_error(USERS, 503, count=3)
            faults.rest_error(STATUSES, 500, count=2)
        case "429":
            faults.rest_error(STATUSES, 429, count=1, retry_after=1)
        case "timeout":
            faults.rest_timeout(STATUSES, 5.0)
        case "404":
            faults.rest_error(PHONES, 404)
    await faults.force_read()
    await reconnected(simulator, before)

    if fault == "404":
        # The phones stay as they were, named in a repair issue, until the
        # endpoint answers again; the rest converges meanwhile.
        await wait_until(lambda: bool(issues_naming(hass, PHONES)))
        await wait_converged(hass, entry, simulator, issues=False)
        assert not removed_devices
        faults.list_back(PHONES)
    await settled(hass, entry, simulator, log)
    assert not removed_devices

    reads = simulator.request_times(STATUSES)[statuses_read:]
    if fault == "5xx":
        assert len(reads) >= 3
    if fault == "429":
        # Retried, but not before the server's Retry-After.
        assert len(reads) >= 2
        assert reads[1] - reads[0] >= 0.9


# --- 8 ---------------------------------------------------------------------------------


async def test_08_events_during_resync(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """Events that arrive while the state is re-read: none lost; older REST data never wins.

    The REST answers are made when asked and sent a second later: the events
    pushed in between are newer than they are.
    """
    entry = await start(hass, mock_config_entry, simulator)
    coordinator = entry.runtime_data
    received = coordinator.stream.events
    before = simulator.authenticated_count
    asked = {
        path: len(simulator.request_times(path)) for path in (STATUSES, QUEUES, PHONES)
    }
    faults.stale_lists(tuple(asked), 1.0)
    await faults.force_read()
    await reconnected(simulator, before)
    await wait_until(
        lambda: all(len(simulator.request_times(p)) > n for p, n in asked.items())
    )
    await simulator.set_user_status("86480", 8)
    await simulator.set_user_status("86481", 1)
    await simulator.add_caller("501", "0701234567")
    await simulator.set_device_registered("9001", False)
    await settled(hass, entry, simulator, log)
    assert coordinator.stream.events - received == 4
    assert [e["event"] for e in coordinator.recent_events][-4:] == [
        "UserStatus",
        "UserStatus",
        "Queue",
        "DeviceStatus",
    ]


# --- 9 ---------------------------------------------------------------------------------


def everything_changed(company: Company) -> None:
    """Users, phones and queues added, removed and renamed; statuses changed."""
    company.add_user(User("86490", "Nils Holm", "110", "nils@demo.example"), 1)
    company.add_device(Device("9010", "86490", "Nils bordstelefon", "Snom D785"))
    company.remove_user("86483")  # Lars, with his phone 9004
    company.rename_user("86481", "Erik Johansson-Berg")
    company.remove_device("9005")
    company.rename_device("9001", "Anna skrivbord", "Yealink T57W")
    company.remove_queue("502")
    company.rename_queue("501", "Kundtjänst")
    company.add_queue(
        Queue(id="503", name="Växel", members=[QueueMember("86480", "Anna Lindqvist")])
    )
    company.set_status("86480", 9)
    company.set_status("86482", 0)
    company.devices["9002"].status = 0
    company.queues["501"].completed += 4
    company.queues["501"].wait_longest = 180


async def test_09_server_restarts_with_everything_changed(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
) -> None:
    """NGUC comes back from a restart with another company: devices and states match it."""
    entry = await start(hass, mock_config_entry, simulator)
    before = simulator.authenticated_count
    await simulator.restart(everything_changed)
    await reconnected(simulator, before)
    await settled(hass, entry, simulator, log)


# --- 10 --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_10_user_appears_by_event_only(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """A new user's first sign is an event about an unknown id: device and entities within a minute.

    No reconnect happens: the stream is healthy, so only the event can tell.
    On the fake clock, with the lookup's delay as shipped.
    """
    with applied(hass, Timings(unknown_item_delay=SHIPPED_UNKNOWN_ITEM_DELAY)):
        entry = await start(hass, mock_config_entry, simulator)
        connections = simulator.connection_count
        stream = entry.runtime_data.stream
        received = stream.events
        await faults.user_by_event(
            User("86490", "Nils Holm", "110", "nils@demo.example"),
            1,
            Device("9010", "86490", "Nils bordstelefon", "Snom D785"),
        )
        await wait_until(lambda: stream.events > received)
        await advance(hass, 60)
        await settled(hass, entry, simulator, log, timeout=5)
    assert simulator.connection_count == connections


# --- 11 --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["backoff", "connect", "resync"])
@pytest.mark.parametrize("action", ["unload", "stop"])
async def test_11_stop_or_unload_midway(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
    phase: str,
    action: str,
) -> None:
    """Unload the entry, or stop Home Assistant, in backoff, connecting or resyncing.

    Nothing of ours lingers: no task, no timer, no websocket (the harness
    also fails a test that leaves any task or timer behind).
    """
    entry = await start(hass, mock_config_entry, simulator)
    match phase:
        case "backoff":
            simulator.refuse_events = True
            with applied(hass, Timings(backoff_cap=60.0)):
                await simulator.drop_connections()
                await wait_until(lambda: simulator.events_refused >= 2)
        case "connect":
            simulator.events_delay = 30.0
            await simulator.drop_connections()
            await wait_until(lambda: simulator.events_held == 1)
        case "resync":
            before = len(simulator.request_times(USERS))
            faults.rest_timeout(USERS, 30.0, count=None)
            await faults.force_read()
            await wait_until(lambda: len(simulator.request_times(USERS)) > before)

    started = time.monotonic()
    if action == "unload":
        assert await hass.config_entries.async_unload(entry.entry_id)
        assert entry.state is ConfigEntryState.NOT_LOADED
    else:
        await hass.async_stop()
    await hass.async_block_till_done()
    assert time.monotonic() - started < 5  # not held up by the pending wait
    # The websocket, and the handshake or request under way, are closed.
    await wait_until(
        lambda: simulator.open_connections == 0 and simulator.pending_requests == 0, 5
    )
    assert not our_tasks()
    if action == "unload":
        assert not our_timers(hass)
    assert not tracebacks(log.records)


# --- 12 --------------------------------------------------------------------------------


async def test_12_server_unreachable_for_an_hour(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
) -> None:
    """NGUC unreachable for an hour: unavailable after the grace, backoff capped, "lost" and "restored" once.

    On the fake clock, with the stream's grace and the backoff's cap as shipped.
    """
    shipped = Timings(
        backoff_cap=SHIPPED_BACKOFF_CAP, stream_grace=SHIPPED_STREAM_GRACE
    )
    with applied(hass, shipped):
        entry = await start(hass, mock_config_entry, simulator)
        line = entity_id(hass, entry, "user", "86480", "line_status")
        stream = entry.runtime_data.stream
        await faults.unreachable()
        simulator.company.set_status("86480", 1)
        simulator.company.set_status("86481", 8)
        await wait_until(lambda: not stream.connected)
        # A short outage is not shown: the entities wait out the grace.
        await advance(hass, SHIPPED_STREAM_GRACE / 2)
        assert state_of(hass, line) != STATE_UNAVAILABLE
        await advance(hass, SHIPPED_STREAM_GRACE)
        assert state_of(hass, line) == STATE_UNAVAILABLE
        await an_hour_passes(hass)

        await faults.reachable()
        # The next attempt is at most a cap away.
        await advance(hass, SHIPPED_BACKOFF_CAP)
        await reconnected(simulator, 0, timeout=2.0)
        await settled(hass, entry, simulator, log, outage=True)
    assert not removed_devices


# --- 13 --------------------------------------------------------------------------------


async def test_13_two_companies_isolated(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    other_simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """Two entries, two companies: the faults of one never touch the other."""
    first = await start(hass, mock_config_entry, simulator)
    other = await start(
        hass,
        entry_like(mock_config_entry, other_simulator, other_simulator.company.id),
        other_simulator,
    )
    other_line = entity_id(hass, other, "user", "86481", "line_status")
    other_states: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["entity_id"] == other_line and event.data["new_state"]:
            other_states.append(event.data["new_state"].state)

    hass.bus.async_listen("state_changed", record)
    other_connections = other_simulator.connection_count

    # The first company's server misbehaves every way it can, short of credentials.
    faults.close_next(3)
    faults.rest_error(USERS, 500, count=3)
    simulator.company.set_status("86481", 1)
    await faults.tcp_drop()
    for status, shown in ((8, "ringing"), (1, "in_use"), (0, "idle")):
        await other_simulator.set_user_status("86481", status)
        await wait_until(lambda shown=shown: state_of(hass, other_line) == shown)
    await wait_converged(hass, first, simulator)
    await wait_converged(hass, other, other_simulator)
    await accepted(simulator)

    # Its credentials are refused: only its entry asks for them.
    faults.refuse_credentials()
    await faults.token_expired()
    await wait_until(lambda: len(reauth_flows(hass, first)) == 1)
    await other_simulator.set_user_status("86481", 9)
    await wait_until(lambda: state_of(hass, other_line) == "in_use_ringing")
    await wait_converged(hass, other, other_simulator)
    assert not reauth_flows(hass, other)
    assert other_simulator.connection_count == other_connections
    assert STATE_UNAVAILABLE not in other_states
    assert not tracebacks(log.records)


# --- 14 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_in",
    ODD_EXPIRES_IN,
    ids=["zero", "negative", "missing", "string_zero", "string"],
)
async def test_14_odd_expires_in(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
    expires_in: Any,
) -> None:
    """Token answers with an `expires_in` of 0, negative, missing or a string: requests stay bounded."""
    faults.odd_expires_in(expires_in)
    entry = await start(hass, mock_config_entry, simulator)
    for user_id in ("86480", "86481", "86483"):
        before = simulator.authenticated_count
        simulator.company.set_status(user_id, 1)
        await faults.tcp_drop()
        await reconnected(simulator, before)
        await asyncio.sleep(0.3)
    await settled(hass, entry, simulator, log)
    # The login, and at most a renewal or two: never a renewal loop.
    assert simulator.token_requests <= 3


# --- 15 --------------------------------------------------------------------------------


async def test_15_user_removed_while_home_assistant_stopped(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
) -> None:
    """NGUC removed a user (and a queue) while Home Assistant was stopped: their devices are gone."""
    entry = await start(hass, mock_config_entry, simulator)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    simulator.company.remove_user("86483")  # with his phone 9004
    simulator.company.remove_queue("502")

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await settled(hass, entry, simulator, log)
    dev_reg = dr.async_get(hass)
    names = {d.name for d in dr.async_entries_for_config_entry(dev_reg, entry.entry_id)}
    assert "Lars Öberg" not in names
    assert "Sales" not in names


# --- 16-18: issue 14 -------------------------------------------------------------------
# Rows for the faults issue 14 adds (the soak draws them too).


async def test_16_empty_list_once(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
) -> None:
    """One read answers 200 [] for the users: no device goes, and the state converges."""
    entry = await start(hass, mock_config_entry, simulator)
    before = simulator.authenticated_count
    asked = len(simulator.request_times(USERS))
    simulator.company.set_status("86481", 1)
    faults.empty_list_once(USERS)
    await faults.force_read()
    await reconnected(simulator, before)
    await wait_until(lambda: len(simulator.request_times(USERS)) > asked)
    # The empty answer is doubted and read again after a short delay (issue
    # 14 §1; when that delay has a name, FAULT_MATRIX shortens it).
    await wait_converged(hass, entry, simulator, 5)
    assert not removed_devices
    await settled(hass, entry, simulator, log)


async def test_17_list_refused(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    removed_devices: list[str],
    faults: Faults,
) -> None:
    """The queue list refused (403) for good: the rest is current and available, a repair issue names it.

    The issue goes when the list answers again.
    """
    entry = await start(hass, mock_config_entry, simulator)
    before = simulator.authenticated_count
    # Unseen: only a read of the phones shows it (a status would change the
    # queues' available agents, which only the refused list shows).
    simulator.company.devices["9001"].status = 0
    faults.refuse_list(QUEUES)
    await faults.force_read()
    await reconnected(simulator, before)
    await wait_converged(hass, entry, simulator, 3, issues=False)
    await wait_until(lambda: bool(issues_naming(hass, QUEUES)), 15)
    assert not removed_devices

    faults.list_back(QUEUES)
    await settled(hass, entry, simulator, log)
    assert not removed_devices


async def test_18_token_endpoint_down_at_an_early_close(
    hass: HomeAssistant,
    *,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    log: pytest.LogCaptureFixture,
    faults: Faults,
) -> None:
    """The token endpoint is down when a connection is closed early: the stream comes back on the valid token."""
    entry = await start(hass, mock_config_entry, simulator)
    faults.token_endpoint_down()
    before = simulator.authenticated_count
    simulator.company.set_status("86481", 1)
    await faults.go_away(1)
    # Both the connection closed at authenticate and the one after it.
    await reconnected(simulator, before + 1, timeout=3)
    await wait_converged(hass, entry, simulator, 3)
    faults.token_endpoint_back()
    await settled(hass, entry, simulator, log)
