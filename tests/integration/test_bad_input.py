"""Bad input (issues 6, 14): no crash, one rate-limited log line, the valid rest applied, nothing lost.

Frames and payloads come over the real websocket from the simulator; REST
answers from its HTTP server; config flow input through the real flow. Each
case sends its bad input three times: the log line is rate limited.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, PropertyMock, patch

from homeassistant.components.sensor import ATTR_LAST_RESET
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_USERNAME,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.json import json_bytes
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache_with_extra_data,
)

import custom_components.weblink_nguc
from custom_components.weblink_nguc.api import Queue, QueueCaller as CallerModel, models
from custom_components.weblink_nguc.api.ratelimit import RateLimitedLog
from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    DOMAIN,
    EVENT_NGUC,
)
from custom_components.weblink_nguc.data import device_key, queue_key, user_key
from custom_components.weblink_nguc.sensor import waiting_since
from tests.harness.convergence import (
    QUEUE_FIGURES,
    ours,
    tracebacks,
    wait_converged,
    wait_until,
)
from tests.harness.timings import Timings, applied_to_test
from tests.simulator import QueueCaller, Simulator, demo_company

from .conftest import entity_id_of

USERS = "/company/user"
STATUSES = "/company/user/status"
PHONES = "/company/device"
QUEUES = "/company/queue"
TIMES = 3  # each bad input is sent this often: logged once
ERIK, LARS = "86481", "86483"
SUPPORT = "501"

# The valid event that shares a frame with the bad one: Erik's line rings.
GOOD = ("UserStatus", {"pbx_user_id": "86481", "status": "8", "status_text": "Ringing"})


def element(name: Any, payload: Any = None, *extra: Any) -> str:
    """Return one `a[...]` element: the JSON of [name, payload, *extra]."""
    items = [name] if payload is None and not extra else [name, payload, *extra]
    return json.dumps(items)


GOOD_ELEMENT = element(*GOOD)


def listen(hass: HomeAssistant, seen: list[Event[Any]]) -> None:
    """Collect the NGUC events fired on the bus."""

    @callback
    def record(event: Event[Any]) -> None:
        seen.append(event)

    hass.bus.async_listen(EVENT_NGUC, record)


def frame(*elements: Any) -> str:
    """Return an `a[...]` frame of exactly these elements."""
    return "a" + json.dumps(list(elements))


@pytest.fixture(autouse=True)
def short_recovery(request: pytest.FixtureRequest) -> Generator[None]:
    """Retry a failed read within tenths of a second."""
    with applied_to_test(
        request, Timings(resync_retry_base=0.05, resync_retry_cap=0.5)
    ):
        yield


@pytest.fixture(autouse=True)
def fresh_range_warnings() -> Generator[None]:
    """Figures out of range are warned of afresh in each test (the limit is per process)."""
    fresh = RateLimitedLog(logging.getLogger(models.__name__))
    with patch.object(models, "out_of_range_log", fresh, create=True):
        yield


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> MockConfigEntry:
    """The demo entry, set up and showing the simulator's truth."""
    caplog.set_level(logging.INFO, logger="custom_components.weblink_nguc")
    simulator.heartbeat_interval = 1.0
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_converged(hass, mock_config_entry, simulator)
    return mock_config_entry


def warnings_since(
    caplog: pytest.LogCaptureFixture, start: int, *, stream: bool = True
) -> list[str]:
    """Our warning lines logged since record ``start`` (without ``stream``: not the stream's)."""
    return [
        r.getMessage()
        for r in ours(caplog.records[start:], logging.WARNING)
        if stream or not r.name.endswith(".api.events")
    ]


def errors_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every error line of any logger, or any traceback."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
    ] + tracebacks(caplog.records)


async def send_bad_frame(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    raw: str,
    *,
    good_inside: bool,
) -> list[str]:
    """Send ``raw`` TIMES, then a valid event of its own; return the warnings it caused.

    Asserts: the valid event of the same frame (if any) and the one after
    are applied, nothing else is lost (converged), nothing crashed.
    """
    start = len(caplog.records)
    if good_inside:
        simulator.company.apply_event(*GOOD)
    for _ in range(TIMES):
        await simulator.send_raw(raw)
    await simulator.set_user_status("86483", 1)  # a frame of its own, after
    await wait_converged(hass, entry, simulator)
    assert not errors_in(caplog)
    return warnings_since(caplog, start)


# --- frames ---------------------------------------------------------------------------

MALFORMED_FRAMES: list[tuple[str, str, bool]] = [
    # (case, frame, whether the valid event shares the frame)
    ("not_json", "a[not json", False),
    ("not_an_array", 'a{"UserStatus": 1}', False),
    ("empty_frame", "", False),
    ("unknown_frame_type", "x[1]", False),
    ("unknown_letter", "z", False),
    ("close_not_code_reason", 'c"bye"', False),
    ("element_object", frame({"x": 1}, GOOD_ELEMENT), True),
    ("element_number", frame(7, GOOD_ELEMENT), True),
    ("element_null", frame(None, GOOD_ELEMENT), True),
    ("element_not_json", frame("not json", GOOD_ELEMENT), True),
    ("element_only_name", frame(element("OnlyName"), GOOD_ELEMENT), True),
    ("element_three_items", frame(element("UserStatus", {}, 1), GOOD_ELEMENT), True),
    ("element_name_not_string", frame(element(1, {}), GOOD_ELEMENT), True),
    ("element_payload_array", frame(element("UserStatus", []), GOOD_ELEMENT), True),
    (
        "element_payload_string",
        frame(element("UserStatus", "86481"), GOOD_ELEMENT),
        True,
    ),
    (
        "element_payload_null",
        frame(json.dumps(["UserStatus", None]), GOOD_ELEMENT),
        True,
    ),
    ("element_string", frame(json.dumps("UserStatus"), GOOD_ELEMENT), True),
]


@pytest.mark.parametrize(
    ("raw", "good_inside"),
    [(raw, good) for _, raw, good in MALFORMED_FRAMES],
    ids=[case for case, _, _ in MALFORMED_FRAMES],
)
async def test_malformed_frame(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    raw: str,
    good_inside: bool,
) -> None:
    """A malformed frame or element is logged once and skipped; the rest is applied."""
    connections = simulator.connection_count
    warned = await send_bad_frame(
        hass, entry, simulator, caplog, raw, good_inside=good_inside
    )
    assert len(warned) == 1, warned
    assert simulator.connection_count == connections  # the connection stays


async def test_frame_over_one_mib(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A frame over 1 MiB: logged once; its events still delivered, the bus event too."""
    seen: list[Event[Any]] = []
    listen(hass, seen)
    blob = "x" * (1 << 20)
    raw = frame(element("CallFlow", {"blob": blob}), GOOD_ELEMENT)
    assert len(raw) > 1 << 20
    warned = await send_bad_frame(hass, entry, simulator, caplog, raw, good_inside=True)
    assert len(warned) == 1, warned
    flows = [e for e in seen if e.data["event"] == "CallFlow"]
    assert len(flows) == TIMES
    assert flows[0].data["data"]["blob"] == blob


async def test_open_frame_twice(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second `o` on an open session: logged once; whatever follows, nothing is lost."""
    start = len(caplog.records)
    await simulator.send_open_again()
    simulator.company.set_status("86480", 1)  # not sent: a resync must show it
    await simulator.set_user_status("86481", 8)
    await wait_converged(hass, entry, simulator)
    assert not errors_in(caplog)
    assert len(warnings_since(caplog, start)) == 1


async def test_unknown_event_passed_on(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event name we do not know is kept and passed on: on the bus, storable; no warning."""
    seen: list[Event[Any]] = []
    listen(hass, seen)
    payload = {"id": "31", "name": "Kontorstid \ud800", "state": "lunch", "\udfff": 1}
    raw = frame(element("CallFlow", payload), GOOD_ELEMENT)
    warned = await send_bad_frame(hass, entry, simulator, caplog, raw, good_inside=True)
    assert not warned
    flows = [e for e in seen if e.data["event"] == "CallFlow"]
    assert len(flows) == TIMES
    assert flows[0].data["data"]["id"] == "31"
    # The recorder and the logbook store the event: it must be valid JSON text.
    json.loads(json_bytes(flows[0].data))


# --- payloads of known events -----------------------------------------------------------

# The payload cannot be applied: one warning line (rate limited).
UNUSABLE_PAYLOADS: list[tuple[str, str, dict[str, Any]]] = [
    ("user_status_without_id", "UserStatus", {"status": "1", "status_text": "InUse"}),
    ("user_status_id_null", "UserStatus", {"pbx_user_id": None, "status": "1"}),
    ("user_status_id_false", "UserStatus", {"pbx_user_id": False, "status": "1"}),
    ("user_status_without_status", "UserStatus", {"pbx_user_id": "86482"}),
    ("user_status_null", "UserStatus", {"pbx_user_id": "86482", "status": None}),
    ("user_status_false", "UserStatus", {"pbx_user_id": "86482", "status": False}),
    ("user_status_text", "UserStatus", {"pbx_user_id": "86482", "status": "busy"}),
    ("user_status_array", "UserStatus", {"pbx_user_id": "86482", "status": [1]}),
    ("device_status_without_id", "DeviceStatus", {"status": "0"}),
    (
        "device_status_text",
        "DeviceStatus",
        {"pbx_device_id": "9003", "status": "maybe"},
    ),
    ("queue_without_queue", "Queue", {"members": [], "callers": []}),
    ("queue_null", "Queue", {"queue": None, "members": None, "callers": None}),
    ("queue_without_id", "Queue", {"queue": {"name": "Support", "waiting": "1"}}),
]

# Odd but usable (NGUC sends null and false for "absent"): at most one line.
ODD_PAYLOADS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "user_status_text_null",
        "UserStatus",
        {"pbx_user_id": "86482", "status": "4", "status_text": None},
    ),
    (
        "user_status_text_false",
        "UserStatus",
        {"pbx_user_id": "86482", "status": "4", "status_text": False},
    ),
    (
        "lone_surrogates",
        "UserStatus",
        {"pbx_user_id": "86482", "status": "4", "status_text": "Unavail\ud800able"},
    ),
    ("huge_status", "UserStatus", {"pbx_user_id": "86482", "status": 10**30}),
    (
        "huge_queue_figures",
        "Queue",
        {
            "queue": {
                "id": "501",
                "name": "Support",
                "waiting": 10**30,
                "completed": "1e400",
                "abandoned": "9" * 400,
                "wait_longest": -5,
            },
            "members": "everyone",
            "callers": {"a": 1},
        },
    ),
    (
        "cdr_wrong_types",
        "Cdr",
        {"id": None, "direction": ["IN"], "billsec": "long", "dst_pbx_user_id": 86481},
    ),
    (
        # orjson refuses the surrogate: the standard library decodes the frame,
        # and keeps an integer that orjson (the recorder's) cannot write.
        "huge_number_beside_lone_surrogate",
        "Cdr",
        {"call_guid": "1.7", "src": "07\ud800", "billsec": 10**30, "x": -(10**25)},
    ),
    (
        "queue_cdr_wrong_types",
        "QueueCdr",
        {"call_guid": 5, "ast_queue_id": ["501"], "disposition": {}, "wait_time": "x"},
    ),
]


async def restore_truth(simulator: Simulator) -> None:
    """Push the truth of every item the bad payloads were about."""
    company = simulator.company
    await simulator.set_user_status("86482", company.statuses["86482"])
    await simulator.set_device_registered("9003", company.devices["9003"].status != 0)
    await simulator.push_queue(company.queues["501"])


async def send_bad_payload(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    *,
    name: str,
    payload: dict[str, Any],
) -> list[str]:
    """Send the bad event beside a valid one TIMES, then the truth; return the warnings."""
    start = len(caplog.records)
    simulator.company.apply_event(*GOOD)
    for _ in range(TIMES):
        await simulator.send_raw(frame(element(name, payload), GOOD_ELEMENT))
    await restore_truth(simulator)
    await wait_converged(hass, entry, simulator)
    assert not errors_in(caplog)
    return warnings_since(caplog, start)


@pytest.mark.parametrize(
    ("name", "payload"),
    [(name, payload) for _, name, payload in UNUSABLE_PAYLOADS],
    ids=[case for case, _, _ in UNUSABLE_PAYLOADS],
)
async def test_unusable_payload(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    name: str,
    payload: dict[str, Any],
) -> None:
    """A known event whose payload cannot be used: one warning; the rest of the frame applied."""
    warned = await send_bad_payload(
        hass, entry, simulator, caplog, name=name, payload=payload
    )
    assert len(warned) == 1, warned


@pytest.mark.parametrize(
    ("name", "payload"),
    [(name, payload) for _, name, payload in ODD_PAYLOADS],
    ids=[case for case, _, _ in ODD_PAYLOADS],
)
async def test_odd_payload(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    name: str,
    payload: dict[str, Any],
) -> None:
    """Odd values (null, false, huge numbers, lone surrogates): no crash, at most one line."""
    seen: list[Event[Any]] = []
    listen(hass, seen)
    warned = await send_bad_payload(
        hass, entry, simulator, caplog, name=name, payload=payload
    )
    assert len(warned) <= 1, warned
    # Every event reaches the bus in a form the recorder can store.
    for event in seen:
        json.loads(json_bytes(event.data))
    # No state is longer than Home Assistant allows (it would log an error).
    assert all(len(state.state) <= 255 for state in hass.states.async_all())


# --- REST -------------------------------------------------------------------------------


async def resync(simulator: Simulator) -> None:
    """Make the integration read the state again: the connection drops."""
    before = simulator.authenticated_count
    await simulator.drop_connections()
    await wait_until(lambda: simulator.authenticated_count > before)


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        (USERS, {"text": "<html>Bad gateway</html>", "content_type": "text/html"}),
        (STATUSES, {"text": '[{"pbx_user_id": "86480", "sta'}),
        (QUEUES, {"text": ""}),
        (USERS, {"body": {"users": []}}),
        (PHONES, {"body": "devices"}),
        (QUEUES, {"text": "null"}),
    ],
    ids=["html", "truncated", "empty_body", "object", "string", "null"],
)
async def test_rest_unreadable_during_resync(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    path: str,
    answer: dict[str, Any],
) -> None:
    """A list that answers non-JSON or the wrong shape: retried; nothing lost or removed."""
    removed: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["action"] == "remove":
            removed.append(event.data["device_id"])

    hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, record)
    start = len(caplog.records)
    simulator.override_path(path, count=TIMES, **answer)
    simulator.company.set_status("86481", 1)  # only a successful read shows it
    await resync(simulator)
    await wait_converged(hass, entry, simulator)
    assert not removed
    assert not errors_in(caplog)
    # The dropped connection is logged too: only the read's lines count here.
    assert len(warnings_since(caplog, start, stream=False)) == 1


async def test_rest_unreadable_at_first_setup(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The very first read of a list fails: the entry still loads, and fills in once it answers."""
    simulator.heartbeat_interval = 1.0
    simulator.override_path(QUEUES, text="<html>Maintenance</html>", count=TIMES)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    await wait_converged(hass, mock_config_entry, simulator)
    assert not errors_in(caplog)


async def test_rest_items_without_ids(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Items of a list that are not items (no id, not objects): skipped, one line; the rest kept."""
    start = len(caplog.records)
    simulator.company.set_status("86481", 9)
    junk = [
        42,
        "86480",
        None,
        [],
        {"status": "1"},
        {"pbx_user_id": None, "status": "0"},
    ]
    simulator.override_path(STATUSES, junk + simulator.company.rest_statuses(), count=1)
    await resync(simulator)
    await wait_converged(hass, entry, simulator)
    assert not errors_in(caplog)
    assert len(warnings_since(caplog, start, stream=False)) == 1


async def test_rest_empty_lists_are_the_truth(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A company that has no queues any more answers []: the queues' devices go."""
    for queue_id in list(simulator.company.queues):
        simulator.company.remove_queue(queue_id)
    await resync(simulator)
    await wait_converged(hass, entry, simulator)
    assert not errors_in(caplog)


async def test_rest_duplicate_ids(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lists naming an item twice: the last of each is shown; one warning line a list.

    One device and one set of entities each, no error; the same lists at the
    next read are not warned of again.
    """
    caplog.set_level(logging.INFO, logger="custom_components.weblink_nguc")
    company = simulator.company
    simulator.heartbeat_interval = 1.0
    stale_users = [user | {"name": "Old name"} for user in company.rest_users()[:2]]
    stale_status = {"pbx_user_id": ERIK, "status": "8", "status_text": "Ringing"}
    stale_queue = company.rest_queues()[0]
    stale_queue["queue"] = stale_queue["queue"] | {"completed": "0", "name": "Old"}
    simulator.override_path(USERS, stale_users + company.rest_users())
    simulator.override_path(PHONES, company.rest_devices() * 2)
    simulator.override_path(STATUSES, [stale_status, *company.rest_statuses()])
    simulator.override_path(QUEUES, [stale_queue, *company.rest_queues()])
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_converged(hass, mock_config_entry, simulator)
    doubled = [line for line in warnings_since(caplog, 0) if "more than once" in line]
    assert sorted(line.split()[1] for line in doubled) == sorted(
        [USERS, PHONES, STATUSES, QUEUES]
    ), doubled

    await resync(simulator)
    await wait_converged(hass, mock_config_entry, simulator)
    assert not errors_in(caplog)
    assert [
        line for line in warnings_since(caplog, 0) if "more than once" in line
    ] == doubled


# --- config flow --------------------------------------------------------------------------


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Creating an entry succeeds without setting it up (the flow is what is tested)."""
    with (
        patch(
            "custom_components.weblink_nguc.async_setup_entry", return_value=True
        ) as mock_setup,
        patch("custom_components.weblink_nguc.async_unload_entry", return_value=True),
    ):
        yield mock_setup


def form(simulator: Simulator, **change: str) -> dict[str, Any]:
    """The user form aimed at the simulator, with ``change`` applied."""
    values = {
        CONF_COMPANY: simulator.company.name,
        CONF_USERNAME: "demo",
        CONF_PASSWORD: "demo",
        CONF_API_URL: simulator.api_url,
        CONF_EVENTS_URL: simulator.events_url,
    } | change
    return {
        CONF_COMPANY: values[CONF_COMPANY],
        CONF_USERNAME: values[CONF_USERNAME],
        CONF_PASSWORD: values[CONF_PASSWORD],
        "advanced": {
            CONF_API_URL: values[CONF_API_URL],
            CONF_EVENTS_URL: values[CONF_EVENTS_URL],
        },
    }


def translated_errors() -> dict[str, set[str]]:
    """The config flow's error keys, per language."""
    package = Path(custom_components.weblink_nguc.__file__).parent / "translations"
    return {
        language: set(
            json.loads((package / f"{language}.json").read_text("utf-8"))["config"][
                "error"
            ]
        )
        for language in ("en", "sv")
    }


async def submit(hass: HomeAssistant, user_input: dict[str, Any]) -> Any:
    """Open the user step and submit ``user_input``."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)


@pytest.mark.parametrize(
    "change",
    [
        {CONF_EVENTS_URL: "http://127.0.0.1:1/events"},
        {CONF_EVENTS_URL: "https://127.0.0.1:1/events"},
        {CONF_EVENTS_URL: "ftp://127.0.0.1/events"},
        {CONF_API_URL: "ws://127.0.0.1:1"},
        {CONF_API_URL: "ftp://127.0.0.1"},
        {CONF_API_URL: "file:///etc/passwd"},
        {CONF_API_URL: "javascript:alert(1)"},
        {CONF_API_URL: "gopher://127.0.0.1:70"},
    ],
    ids=[
        "events_http",
        "events_https",
        "events_ftp",
        "api_ws",
        "api_ftp",
        "api_file",
        "api_javascript",
        "api_gopher",
    ],
)
async def test_flow_url_of_another_scheme(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    change: dict[str, str],
) -> None:
    """A URL of the wrong scheme: a translated form error; the password goes nowhere."""
    result = await submit(hass, form(simulator, **change))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_url"}
    assert all("invalid_url" in keys for keys in translated_errors().values())
    assert simulator.token_requests == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({CONF_COMPANY: "  "}, CONF_COMPANY),
        ({CONF_COMPANY: ""}, CONF_COMPANY),
        ({CONF_USERNAME: "   "}, CONF_USERNAME),
        ({CONF_PASSWORD: ""}, CONF_PASSWORD),
    ],
    ids=["company_spaces", "company_empty", "username_spaces", "password_empty"],
)
async def test_flow_blank_field(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_setup_entry: AsyncMock,
    change: dict[str, str],
    field: str,
) -> None:
    """A blank field is named as such in both languages, not sent as a login attempt."""
    result = await submit(hass, form(simulator, **change))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: "blank"}
    assert all("blank" in keys for keys in translated_errors().values())
    assert simulator.token_requests == 0

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(simulator)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_flow_non_ascii_company(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """A company named "Åkerö Café" signs in (any case); a near miss is a clear form error."""
    sim = Simulator(demo_company("4790", "Åkerö Café"))
    await sim.start()
    try:
        result = await submit(hass, form(sim, company="Åkerö Cafe"))
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "invalid_auth"}
        assert all("invalid_auth" in keys for keys in translated_errors().values())

        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form(sim, company="åkerö café")
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "Åkerö Café (Anna Lindqvist)"
        assert result["data"][CONF_COMPANY] == "åkerö café"
    finally:
        await sim.stop()


# --- numbers out of any sane range (issue 14) ---------------------------------------------

HUGE = "99999999999"  # a wait of some 3,000 years
CALLER_GUID = "1725958989.77"


@pytest.fixture
def enable_all_entities() -> Generator[None]:
    """Create every entity enabled, the disabled-by-default ones too."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
async def entry_all_enabled(
    enable_all_entities: None, entry: MockConfigEntry
) -> MockConfigEntry:
    """The demo entry with every entity enabled."""
    return entry


def state_of(hass: HomeAssistant, platform: Platform, item_key: str, key: str) -> State:
    """Return the state of one of our entities, which must exist."""
    entity_id = entity_id_of(hass, platform, item_key, key)
    assert entity_id is not None, f"no {platform} {key} of {item_key}: never added"
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def then_applied(hass: HomeAssistant, simulator: Simulator) -> None:
    """Send a valid event after what was sent, and wait until it is shown.

    Events are applied in order: whatever was sent before is applied by then.
    """
    await simulator.set_user_status(LARS, 1)
    await wait_until(
        lambda: (
            state_of(hass, Platform.SENSOR, user_key(LARS), "line_status").state
            == "in_use"
        )
    )
    await hass.async_block_till_done()


def out_of_range_lines(caplog: pytest.LogCaptureFixture, start: int) -> list[str]:
    """Our warning lines since ``start`` that speak of a figure out of range."""
    return [line for line in warnings_since(caplog, start) if "out of any sane" in line]


def support_snapshot(simulator: Simulator, **queue: Any) -> dict[str, Any]:
    """The Support queue's snapshot as NGUC holds it, with ``queue`` fields changed."""
    payload = simulator.company.queues[SUPPORT].to_wire()
    payload["queue"].update(queue)
    return payload


# Queue figures out of range: (field of the snapshot, value, the sensor showing it).
FIGURES_OUT_OF_RANGE: list[tuple[str, str, str]] = [
    (field, value, sensor)
    for sensor, field in QUEUE_FIGURES.items()
    for value in (HUGE, "-1")
] + [("service_level", "101", "service_level")]


@pytest.mark.parametrize(
    ("field", "value", "sensor"),
    FIGURES_OUT_OF_RANGE,
    ids=[f"{field}={value}" for field, value, _ in FIGURES_OUT_OF_RANGE],
)
async def test_queue_figure_out_of_range(
    hass: HomeAssistant,
    *,
    entry_all_enabled: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: str,
    sensor: str,
) -> None:
    """A figure out of range shows as unknown, never as sent; one warning line; no error."""
    entry = entry_all_enabled
    start = len(caplog.records)
    for _ in range(TIMES):
        await simulator.push_event(
            "Queue", support_snapshot(simulator, **{field: value}), apply=False
        )
    await then_applied(hass, simulator)
    state = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), sensor)
    assert state.state == STATE_UNKNOWN
    # The other figures of the snapshot are still shown.
    assert state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "completed_today")
    assert len(out_of_range_lines(caplog, start)) == 1, warnings_since(caplog, start)
    assert not errors_in(caplog)

    await simulator.push_queue(simulator.company.queues[SUPPORT])
    await wait_converged(hass, entry, simulator)


def support_with_caller(simulator: Simulator, wait: str) -> dict[str, Any]:
    """The Support queue's snapshot with one caller, who has waited ``wait`` s."""
    payload = support_snapshot(simulator, waiting="1")
    payload["callers"] = [
        {
            "call_guid": CALLER_GUID,
            "pbx_queue_id": SUPPORT,
            "callerid": "0701234567",
            "wait": wait,
            "position": "1",
        }
    ]
    return payload


async def test_caller_wait_out_of_range_at_setup(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A caller's wait of 99999999999 in the first read: 'Waiting since' exists, unknown."""
    caplog.set_level(logging.INFO, logger="custom_components.weblink_nguc")
    simulator.heartbeat_interval = 1.0
    support = simulator.company.queues[SUPPORT]
    support.waiting = 1
    support.callers = [QueueCaller(CALLER_GUID, SUPPORT, "0701234567", wait=30)]
    queues = simulator.company.rest_queues()
    queues[0] = support_with_caller(simulator, HUGE)
    assert queues[0]["queue"]["id"] == SUPPORT
    simulator.override_path(QUEUES, queues)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_converged(hass, mock_config_entry, simulator)

    since = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "longest_waiting_since")
    assert since.state == STATE_UNKNOWN
    wait = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "current_longest_wait")
    assert wait.state == STATE_UNKNOWN
    waiting = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "waiting")
    assert waiting.attributes["callers"] == [
        {"position": 1, "number": "0701234567", "wait": None}
    ]
    assert not errors_in(caplog)
    assert len(out_of_range_lines(caplog, 0)) == 1

    # The next snapshot with a sane wait is shown.
    simulator.clear_path(QUEUES)
    await simulator.push_event(
        "Queue", support_with_caller(simulator, "30"), apply=False
    )
    await then_applied(hass, simulator)
    since = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "longest_waiting_since")
    shown = dt_util.parse_datetime(since.state)
    assert shown is not None
    assert abs((dt_util.utcnow() - shown).total_seconds() - 30) < 5


@pytest.mark.parametrize(
    "wait",
    [HUGE, "-30", "1e999", "9" * 5000],
    ids=["99999999999", "negative", "1e999", "5000_digits"],
)
async def test_caller_wait_out_of_range_at_runtime(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    wait: str,
) -> None:
    """A caller's wait out of range in a snapshot: the waiting sensors are unknown, not broken."""
    start = len(caplog.records)
    for _ in range(TIMES):
        await simulator.push_event(
            "Queue", support_with_caller(simulator, wait), apply=False
        )
    await then_applied(hass, simulator)
    for key in ("longest_waiting_since", "current_longest_wait"):
        assert state_of(hass, Platform.SENSOR, queue_key(SUPPORT), key).state == (
            STATE_UNKNOWN
        )
    waiting = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "waiting")
    assert waiting.state == "1"
    assert not errors_in(caplog)
    assert len(out_of_range_lines(caplog, start)) == 1, warnings_since(caplog, start)

    await simulator.push_queue(simulator.company.queues[SUPPORT])
    await wait_converged(hass, entry, simulator)


async def test_member_and_caller_figures_out_of_range(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A caller's place in line and an agent's average call out of range: unknown, one line."""
    start = len(caplog.records)
    payload = support_with_caller(simulator, "30")
    payload["callers"][0]["position"] = HUGE
    payload["members"][0]["avg_call_length"] = "-1"
    for _ in range(TIMES):
        await simulator.push_event("Queue", payload, apply=False)
    await then_applied(hass, simulator)
    waiting = state_of(hass, Platform.SENSOR, queue_key(SUPPORT), "waiting")
    # The place in line falls back on the order NGUC lists the callers in.
    assert waiting.attributes["callers"] == [
        {"position": 1, "number": "0701234567", "wait": 30}
    ]
    model = entry.runtime_data.data.queues[SUPPORT]
    assert model.members[0].avg_call_length is None
    assert not errors_in(caplog)
    assert len(out_of_range_lines(caplog, start)) == 1, warnings_since(caplog, start)


async def test_line_status_out_of_range(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A line status of 99999999999 is no status: Erik's free line is not shown offline."""
    start = len(caplog.records)
    for _ in range(TIMES):
        await simulator.push_event(
            "UserStatus", {"pbx_user_id": ERIK, "status": HUGE}, apply=False
        )
    await then_applied(hass, simulator)
    line = state_of(hass, Platform.SENSOR, user_key(ERIK), "line_status")
    assert line.state == "idle"
    assert not errors_in(caplog)
    assert len(warnings_since(caplog, start)) == 1, warnings_since(caplog, start)


async def test_phone_status_out_of_range(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A phone status of 99999999999 is no status: an unregistered phone stays so."""
    phone = "9005"  # Anna's softphone, not running
    assert simulator.company.devices[phone].status == 0
    start = len(caplog.records)
    payload = {"pbx_device_id": phone, "pbx_user_id": "86480", "status": HUGE}
    for _ in range(TIMES):
        await simulator.push_event("DeviceStatus", payload, apply=False)
    await then_applied(hass, simulator)
    registered = state_of(hass, Platform.BINARY_SENSOR, device_key(phone), "registered")
    assert registered.state == "off"
    assert not errors_in(caplog)
    assert len(warnings_since(caplog, start)) == 1, warnings_since(caplog, start)


# --- call records (issue 14) --------------------------------------------------------------


def missed_call_without_ids(calldate: str, caller: str) -> dict[str, Any]:
    """A missed call of Erik's whose record has neither id nor call_guid."""
    return {
        "id": None,
        "call_guid": None,
        "calldate": calldate,
        "direction": "IN",
        "src": caller,
        "dst": "102",
        "src_pbx_user_id": None,
        "dst_pbx_user_id": ERIK,
        "billsec": "0",
        "disposition": "NO ANSWER",
        "pbx_recording_id": False,
    }


async def test_missed_calls_without_ids_each_count(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three missed calls whose records have no id nor call_guid count as three.

    The same record sent again is the same call: it counts once.
    """
    calls = [
        missed_call_without_ids("2026-12-07 09:03:09", "0701234567"),
        missed_call_without_ids("2026-12-07 09:05:41", "0701234567"),
        missed_call_without_ids("2026-12-07 09:05:41", "0739876543"),
    ]
    for record in calls:
        await simulator.push_event("Cdr", record)
    await simulator.push_events([("Cdr", calls[0]), ("Cdr", calls[1])])
    await then_applied(hass, simulator)
    missed = state_of(hass, Platform.SENSOR, user_key(ERIK), "missed_calls_today")
    assert missed.state == "3"
    last = state_of(hass, Platform.SENSOR, user_key(ERIK), "last_missed_call")
    assert last.attributes["caller"] == "+46739876543"
    assert not errors_in(caplog)


async def test_queue_calls_without_ids_each_fire(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Queue call records without any id: each different one fires, a repeat does not."""
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    entity_id = state_of(
        hass, Platform.EVENT, queue_key(SUPPORT), "queue_call"
    ).entity_id

    def step(calldate: str, caller: str) -> dict[str, Any]:
        return {
            "ast_queue_id": SUPPORT,
            "calldate": calldate,
            "callerid": caller,
            "disposition": "NOANSWERED",
            "wait_time": "40",
            "talk_time": "0",
        }

    steps = [
        step("2026-12-07T08:03:09+00:00", "0701234567"),
        step("2026-12-07T08:04:10+00:00", "0701234567"),
        step("2026-12-07T08:04:10+00:00", "0739876543"),
    ]
    for record in [*steps, steps[0]]:
        await simulator.push_event("QueueCdr", record)
    await then_applied(hass, simulator)
    fired = [
        event.data["new_state"].attributes["caller"]
        for event in changes
        if event.data["entity_id"] == entity_id
        and event.data["new_state"].state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    ]
    assert fired == ["+46701234567", "+46701234567", "+46739876543"]
    assert not errors_in(caplog)


@pytest.mark.parametrize(
    ("name", "field", "attribute"),
    [("Cdr", "billsec", "duration"), ("QueueCdr", "wait_time", "wait_time")],
)
async def test_call_record_duration_out_of_range(
    hass: HomeAssistant,
    *,
    entry: MockConfigEntry,
    simulator: Simulator,
    caplog: pytest.LogCaptureFixture,
    name: str,
    field: str,
    attribute: str,
) -> None:
    """A call record's duration out of range: the call event fires, its duration unknown."""
    start = len(caplog.records)
    if name == "Cdr":
        record = missed_call_without_ids("2026-12-07 09:03:09", "0701234567")
        record |= {"call_guid": "1725958989.88", "disposition": "ANSWER"}
        item, key = user_key(ERIK), "call"
    else:
        record = {
            "call_guid": "1725958989.89",
            "ast_queue_id": SUPPORT,
            "callerid": "0701234567",
            "disposition": "NOANSWERED",
            "talk_time": "0",
        }
        item, key = queue_key(SUPPORT), "queue_call"
    record[field] = HUGE
    for _ in range(TIMES):
        await simulator.push_event(name, record)
    await then_applied(hass, simulator)
    event = state_of(hass, Platform.EVENT, item, key)
    assert event.state != STATE_UNKNOWN  # it fired
    assert event.attributes[attribute] is None
    assert not errors_in(caplog)
    assert len(out_of_range_lines(caplog, start)) == 1, warnings_since(caplog, start)


@pytest.mark.parametrize("stored", ["Infinity", "-Infinity", "NaN", "sNaN"])
async def test_missed_calls_restored_from_a_damaged_file(
    hass: HomeAssistant,
    simulator: Simulator,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    stored: str,
) -> None:
    """A restored count that is no number: the sensor is added all the same, at 0."""
    entity_id = "sensor.erik_johansson_missed_today"
    value = {"__type": "<class 'decimal.Decimal'>", "decimal_str": stored}
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, "3", {ATTR_LAST_RESET: dt_util.now().isoformat()}),
                {
                    "native_value": value,
                    "native_unit_of_measurement": None,
                    "attributes": {ATTR_LAST_RESET: dt_util.now().isoformat()},
                },
            )
        ],
    )
    simulator.heartbeat_interval = 1.0
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_converged(hass, mock_config_entry, simulator)
    missed = state_of(hass, Platform.SENSOR, user_key(ERIK), "missed_calls_today")
    assert missed.entity_id == entity_id
    assert missed.state == "0"
    assert not errors_in(caplog)


@pytest.mark.parametrize("wait", [10**12, 2**63 - 1])
def test_waiting_since_of_a_wait_beyond_any_date(wait: int) -> None:
    """A wait that slips past the parser (a model made elsewhere) is unknown, not an error."""
    queue = Queue.from_api({"queue": {"id": SUPPORT}})
    queue = replace(queue, callers=(CallerModel("1.2", "070", wait, 1),))
    assert waiting_since(queue, dt_util.utcnow(), None) is None
