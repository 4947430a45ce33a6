"""The acceptance criterion, end to end, in a real Home Assistant.

"A real Home Assistant 2026.11 with this integration, added through Home
Assistant's own config-flow API against an NGUC-compatible server that the
project has never seen, shows line statuses, queue figures, phone
registration and call events that match what that server sent, and survives
that server closing the connection."

The server is not our simulator: it is ``tests.api.nguc_sockjs_server``, on
the PyPI ``sockjs`` package (websocket pings rather than ``h`` frames, several
events packed into one ``a[...]`` frame). Home Assistant is the ``hass`` of
``.venv-hass`` (``script/setup``), run as a process of its own and used only
through its HTTP and websocket APIs, as the frontend does. (What a person
does in the frontend, with the simulator's demo company, is in
``test_first_hour``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
import time
from typing import Any

import pytest

from tests.api.nguc_sockjs_server import COMPANY, PASSWORD, USERNAME, NgucSockJsServer
from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import RealHass, running

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(180),
]

DOMAIN = "weblink_nguc"
CALLER = "+46701234567"
# The server closes the connection on purpose: a warning about that is fine.
EXPECTED_WARNINGS = ("Event stream",)

# The server's fixed data: user 1001 (Ulla Åkesson, ext. 201) and 1002, queue 7
# (Kundtjänst), phone 9101 of user 1001; the account is user 1001 of company 77.
ENTITIES = {
    # name in this test: (platform, the end of its unique id: item and key)
    "stream": ("binary_sensor", "account_event_stream"),
    "line_1001": ("sensor", "user_1001_line_status"),
    "line_1002": ("sensor", "user_1002_line_status"),
    "call_1001": ("event", "user_1001_call"),
    "registered_9101": ("binary_sensor", "device_9101_registered"),
    "waiting": ("sensor", "queue_7_waiting"),
    "available_agents": ("sensor", "queue_7_available_agents"),
    "total_agents": ("sensor", "queue_7_total_agents"),
    "longest_wait": ("sensor", "queue_7_longest_wait"),
    "average_wait": ("sensor", "queue_7_average_wait"),
    "service_level": ("sensor", "queue_7_service_level"),
    "completed_today": ("sensor", "queue_7_completed_today"),
    "abandoned_today": ("sensor", "queue_7_abandoned_today"),
}
# What a call centre looks at (test_call_centre).
CALL_CENTRE_ENTITIES = {
    **ENTITIES,
    "call_1002": ("event", "user_1002_call"),
    "queue_call": ("event", "queue_7_queue_call"),
    "agents_on_call": ("sensor", "queue_7_agents_on_call"),
    "agents_paused": ("sensor", "queue_7_agents_paused"),
    "current_longest_wait": ("sensor", "queue_7_current_longest_wait"),
    "longest_waiting_since": ("sensor", "queue_7_longest_waiting_since"),
    "queues_1001": ("sensor", "user_1001_queues"),
    "queues_1002": ("sensor", "user_1002_queues"),
    "paused_1001": ("binary_sensor", "user_1001_paused"),
    "paused_1002": ("binary_sensor", "user_1002_paused"),
    "missed_today_1001": ("sensor", "user_1001_missed_calls_today"),
    "last_missed_1001": ("sensor", "user_1001_last_missed_call"),
}
# What goes on the bus: call records and undocumented events, not states.
CALL_RECORDS = ("Cdr", "QueueCdr")

QUEUE_FIGURES = {
    # Queue field: (sensor in ENTITIES, value sent)
    "waiting": ("waiting", 2),
    "member_available": ("available_agents", 1),
    "member_total": ("total_agents", 3),
    "wait_longest": ("longest_wait", 95),
    "wait_avg": ("average_wait", 41),
    "service_level": ("service_level", 87),
    "completed": ("completed_today", 12),
    "abandoned": ("abandoned_today", 1),
}
# What the server's REST API says after the reconnect (changed while the
# client was away, and never pushed as events).
QUEUE_FIGURES_LATER = {
    **QUEUE_FIGURES,
    "waiting": ("waiting", 0),
    "member_available": ("available_agents", 2),
    "completed": ("completed_today", 13),
}


def queue_payload(figures: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """Return a ``Queue`` snapshot of queue 7, numbers as strings as NGUC sends."""
    waiting = figures["waiting"][1]
    return {
        "queue": {
            "id": "7",
            "name": "Kundtjänst",
            **{field: str(value) for field, (_, value) in figures.items()},
            "service_level_time": "20",
            "total": "15",
            "talktime": "3600",
            "holdtime": "120",
        },
        "members": [
            {
                "pbx_user_id": "1001",
                "name": "Ulla Åkesson",
                "avg_call_length": "61",
                "call_guid": None,
                "paused": "0",
            },
            {
                "pbx_user_id": "1002",
                "name": "Örjan Ek",
                "avg_call_length": "75",
                "call_guid": "g-talk",
                "paused": "0",
            },
        ],
        "callers": [
            {
                "call_guid": f"g-wait-{i}",
                "pbx_queue_id": "7",
                "callerid": f"+4670000000{i}",
                "wait": str(30 * (i + 1)),
                "position": str(i + 1),
            }
            for i in range(waiting)
        ],
    }


def user_status(user_id: str, status: int, text: str) -> dict[str, str]:
    """Return a ``UserStatus`` payload (and ``/company/user/status`` item)."""
    return {"pbx_user_id": user_id, "status": str(status), "status_text": text}


def device_status(registered: bool) -> dict[str, Any]:
    """Return a ``DeviceStatus`` payload of phone 9101."""
    return {
        "pbx_device_id": "9101",
        "pbx_user_id": "1001",
        "status": "1" if registered else "0",
        "status_text": "Registered" if registered else "Unregistered",
    }


def cdr(call_guid: str, disposition: str, billsec: int) -> dict[str, Any]:
    """Return a ``Cdr`` of an incoming call from CALLER to user 1001."""
    return {
        "id": f"cdr-{call_guid}",
        "call_guid": call_guid,
        "calldate": "2026-11-20 09:03:09",
        "direction": "IN",
        "src": CALLER,
        "dst": "201",
        "src_pbx_user_id": None,
        "dst_pbx_user_id": "1001",
        "remote_pbx_contact_id": None,
        "billsec": str(billsec),
        "disposition": disposition,
        "pbx_recording_id": False,
    }


def set_rest_status(server: NgucSockJsServer, status: dict[str, str]) -> None:
    """Make ``status`` the REST truth of its user."""
    statuses = server.rest["/company/user/status"]
    statuses[:] = [s for s in statuses if s["pbx_user_id"] != status["pbx_user_id"]]
    statuses.append(status)


def set_rest_device(server: NgucSockJsServer, registered: bool) -> None:
    """Make the registration of phone 9101 the REST truth."""
    for device in server.rest["/company/device"]:
        if device["id"] == "9101":
            device["status"] = "1" if registered else "0"
            device["status_text"] = "Registered" if registered else "Unregistered"


def set_rest_queue(server: NgucSockJsServer, payload: dict[str, Any]) -> None:
    """Make ``payload`` the REST truth of queue 7."""
    server.rest["/company/queue"][:] = [payload]


def push(server: NgucSockJsServer, name: str, payload: Any) -> None:
    """Send one event on the live connection (there must be exactly one)."""
    assert server.broadcast(name, payload) == 1, f"{name} not sent"


def number_is(value: float) -> Callable[[dict[str, Any]], bool]:
    """Return a check that a state is the number ``value``."""

    def check(state: dict[str, Any]) -> bool:
        try:
            return float(state["state"]) == value
        except ValueError:
            return False  # unknown, unavailable

    return check


def recent(timestamp: str, since: datetime) -> bool:
    """Return True for an ISO timestamp at or after ``since`` (and not in the future)."""
    value = datetime.fromisoformat(timestamp)
    return (
        since - timedelta(seconds=1)
        <= value
        <= datetime.now(UTC) + timedelta(seconds=5)
    )


@pytest.fixture
async def server() -> AsyncIterator[NgucSockJsServer]:
    """The NGUC-compatible PyPI-sockjs server, on a free port of 127.0.0.1."""
    nguc = NgucSockJsServer()
    await nguc.start()
    try:
        yield nguc
    finally:
        await nguc.stop()


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant, stopped with SIGTERM afterwards.

    Its log is printed when anything fails; a warning or an error about the
    integration in it fails the test, as does an unclean exit.
    """
    async with running(RealHass(tmp_path / "config"), EXPECTED_WARNINGS) as real:
        yield real


async def test_real_home_assistant_against_a_foreign_server(
    server: NgucSockJsServer, hass: RealHass
) -> None:
    """Add the integration over the config-flow API, then follow the server."""
    try:
        ids = await add_integration(hass, server)
        async with (
            hass.subscribe(f"{DOMAIN}_event") as bus,
            hass.subscribe("state_changed") as changes,
        ):
            sent = await follow_the_server(hass, server, ids)
            calls = [(name, data) for name, data in sent if name in CALL_RECORDS]
            await server.wait_until(lambda: len(bus) >= len(calls), timeout=10)
        # Every call record the server sent, on the bus once, in order, with
        # its device; line statuses, the queue and the phone are not on it.
        assert [(e["data"]["event"], e["data"]["data"]) for e in bus] == calls
        assert all(e["data"]["device_id"] for e in bus), bus
        # No entity went unavailable: the client reconnected within the grace
        # period and resynced; the event stream is connected again.
        ours = set(ids.values())
        states = [
            (c["data"]["entity_id"], (c["data"]["new_state"] or {}).get("state"))
            for c in changes
            if c["data"]["entity_id"] in ours
        ]
        assert not [(e, s) for e, s in states if s in ("unavailable", None)], states
        assert (await hass.state(ids["stream"]) or {}).get("state") == "on"
    except BaseException:
        print(f"\n--- hass log (tail) ---\n{hass.log_tail()}")
        raise


async def add_integration(
    hass: RealHass,
    server: NgucSockJsServer,
    entities: dict[str, tuple[str, str]] = ENTITIES,
) -> dict[str, str]:
    """Add the integration as the frontend does; return the ids of ``entities``."""
    # --- Added through Home Assistant's own config-flow API --------------------
    flow = await hass.request(
        "POST",
        "/api/config/config_entries/flow",
        json_body={"handler": DOMAIN, "show_advanced_options": False},
    )
    assert flow["type"] == "form", flow
    assert flow["step_id"] == "user", flow
    result = await hass.request(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        json_body={
            "company": COMPANY,
            "username": USERNAME,
            "password": PASSWORD,
            "advanced": {"api_url": server.api_url, "events_url": server.events_url},
        },
    )
    assert result["type"] == "create_entry", result
    assert result["title"] == "acme (Ulla Åkesson)"
    entry_id = result["result"]["entry_id"]
    entries = await hass.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    assert [(e["entry_id"], e["state"]) for e in entries] == [(entry_id, "loaded")]

    # Entity ids as Home Assistant named them, found by unique id; the items'
    # entities come once the integration has read the server's state.
    deadline = time.monotonic() + 20
    while True:
        registry = await hass.ws_command("config/entity_registry/list")
        ours = {
            e["unique_id"]: e
            for e in registry
            if e["platform"] == DOMAIN and e["config_entry_id"] == entry_id
        }
        found = {
            name: [e for uid, e in ours.items() if uid.endswith(f"_{suffix}")]
            for name, (_, suffix) in entities.items()
        }
        if all(len(entities) == 1 for entities in found.values()):
            break
        assert time.monotonic() < deadline, f"entities missing; have {sorted(ours)}"
        await asyncio.sleep(0.2)
    ids: dict[str, str] = {}
    for name, (platform, _) in entities.items():
        entity = found[name][0]
        assert entity["entity_id"].startswith(f"{platform}.")
        assert entity["disabled_by"] is None, entity
        ids[name] = entity["entity_id"]
    print(f"entities: {ids}")
    assert ids["line_1001"] == "sensor.ulla_akesson_line_status"
    assert ids["call_1001"] == "event.ulla_akesson_call"

    # The event stream is up: the server saw it authenticate, Home Assistant
    # shows it connected.
    await server.wait_until(lambda: len(server.live_connections) == 1, timeout=15)
    await hass.wait_state(ids["stream"], lambda s: s["state"] == "on", what="on")
    return ids


async def follow_the_server(
    hass: RealHass, server: NgucSockJsServer, ids: dict[str, str]
) -> list[tuple[str, Any]]:
    """Push events, close the connection, push again; return what was sent."""
    # --- The REST seed is shown --------------------------------------------------
    await hass.wait_state(ids["line_1001"], lambda s: s["state"] == "idle", what="idle")
    await hass.wait_state(
        ids["line_1002"], lambda s: s["state"] == "in_use", what="in_use"
    )
    await hass.wait_state(
        ids["registered_9101"], lambda s: s["state"] == "on", what="on"
    )
    await hass.wait_state(ids["waiting"], lambda s: s["state"] == "0", what="0")
    call_state = await hass.state(ids["call_1001"])
    assert call_state is not None
    assert call_state["state"] == "unknown"  # no call yet
    assert "missed" in call_state["attributes"]["event_types"]

    # --- Events pushed by the server reach Home Assistant ----------------------
    pushed_at = datetime.now(UTC)
    ringing = user_status("1001", 8, "Ringing")
    set_rest_status(server, ringing)
    push(server, "UserStatus", ringing)
    await hass.wait_state(
        ids["line_1001"], lambda s: s["state"] == "ringing", what="ringing"
    )
    await hass.wait_state(
        ids["call_1001"],
        lambda s: s["attributes"].get("event_type") == "ringing",
        what="a ringing event",
    )

    queue = queue_payload(QUEUE_FIGURES)
    set_rest_queue(server, queue)
    push(server, "Queue", queue)
    for sensor, value in QUEUE_FIGURES.values():
        await hass.wait_state(
            ids[sensor],
            number_is(value),
            what=str(value),
        )

    set_rest_device(server, registered=False)
    push(server, "DeviceStatus", device_status(registered=False))
    await hass.wait_state(
        ids["registered_9101"], lambda s: s["state"] == "off", what="off"
    )

    push(server, "Cdr", cdr("g-missed", "NO ANSWER", 0))
    missed = await hass.wait_state(
        ids["call_1001"],
        lambda s: s["attributes"].get("event_type") == "missed",
        what="a missed call",
    )
    assert recent(missed["state"], pushed_at), missed
    attributes = missed["attributes"]
    assert attributes["caller"] == CALLER
    assert attributes["callee"] == "201"
    assert attributes["call_id"] == "g-missed"
    assert attributes["direction"] == "in"
    assert attributes["disposition"] == "NO ANSWER"
    assert attributes["recording"] is False
    # The line still rings as far as NGUC said.
    assert (await hass.state(ids["line_1001"]) or {}).get("state") == "ringing"

    # --- The server closes the connection; the truth changes meanwhile --------
    first = server.live_connections[0]
    reads_before = len(server.rest_reads)
    # Changed on the server only, never pushed: as if the events were sent
    # while Home Assistant was away. No await before the close: nothing of it
    # can reach the open connection.
    set_rest_status(server, user_status("1001", 1, "InUse"))
    set_rest_status(server, user_status("1002", 4, "Unavailable"))
    set_rest_device(server, registered=True)
    set_rest_queue(server, queue_payload(QUEUE_FIGURES_LATER))
    first.close(3000, "Go away!")

    await server.wait_until(
        lambda: len(server.connections) >= 2 and len(server.live_connections) == 1,
        timeout=20,
    )
    assert first.closed
    second = server.live_connections[0]
    assert second is not first
    print(f"reconnected: {len(server.connections)} connections")

    # Home Assistant read the REST state again and shows it.
    await hass.wait_state(
        ids["line_1001"], lambda s: s["state"] == "in_use", what="in_use (REST)"
    )
    await hass.wait_state(
        ids["line_1002"], lambda s: s["state"] == "offline", what="offline (REST)"
    )
    # After a quick reconnect the phones' list is read once the connection
    # has lasted 25 s (a proxy closing connections every 20 s costs no read
    # of every phone); the lines and queues above were read at once.
    await hass.wait_state(
        ids["registered_9101"],
        lambda s: s["state"] == "on",
        what="on (REST)",
        timeout=45,
    )
    for sensor, value in QUEUE_FIGURES_LATER.values():
        await hass.wait_state(
            ids[sensor],
            number_is(value),
            what=f"{value} (REST)",
        )
    await hass.wait_state(ids["stream"], lambda s: s["state"] == "on", what="on")
    assert "/company/user/status" in server.rest_reads[reads_before:]
    # The missed call was not announced a second time by the resync.
    again = await hass.state(ids["call_1001"])
    assert again is not None
    assert again["state"] == missed["state"]
    assert again["attributes"]["event_type"] == "missed"

    # --- Later events arrive over the new connection ----------------------------
    later_at = datetime.now(UTC)
    idle = user_status("1001", 0, "Idle")
    set_rest_status(server, idle)
    push(server, "UserStatus", idle)
    push(server, "Cdr", cdr("g-answered", "ANSWER", 42))
    await hass.wait_state(ids["line_1001"], lambda s: s["state"] == "idle", what="idle")
    answered = await hass.wait_state(
        ids["call_1001"],
        lambda s: s["attributes"].get("event_type") == "answered",
        what="an answered call",
    )
    assert recent(answered["state"], later_at), answered
    assert answered["state"] != missed["state"]
    assert answered["attributes"]["caller"] == CALLER
    assert answered["attributes"]["call_id"] == "g-answered"
    assert float(answered["attributes"]["duration"]) == 42
    assert server.errors == []
    return list(server.sent)


async def test_call_centre_in_real_home_assistant(
    server: NgucSockJsServer, hass: RealHass
) -> None:
    """Queue agents and callers, missed and internal calls, a pickup; calls on the bus.

    "A Queue snapshot with members and callers, Cdr events for missed and
    internal calls, and a pickup_queue_caller action show, per queue, the
    agents on call and paused and the current longest wait; per user, the
    queues, paused state, missed calls today and last missed call; names on
    the internal call's event; the pickup request reaching the server for
    the caller waiting longest; and no weblink_nguc_event for UserStatus or
    Queue."
    """
    try:
        ids = await add_integration(hass, server, CALL_CENTRE_ENTITIES)
        async with hass.subscribe(f"{DOMAIN}_event") as bus:
            sent = await run_the_call_centre(hass, server, ids)
            calls = [(name, data) for name, data in sent if name in CALL_RECORDS]
            await server.wait_until(lambda: len(bus) >= len(calls), timeout=10)
        # The call records, once each, with the device and call entity of
        # their user; nothing of the line statuses or the queue.
        assert [(e["data"]["event"], e["data"]["data"]) for e in bus] == calls
        assert {name for name, _ in sent} >= {"UserStatus", "Queue", "Cdr"}
        assert [e["data"].get("entity_id") for e in bus] == [
            ids["call_1001"],
            ids["call_1002"],
            ids["call_1001"],
        ]
        assert all(e["data"]["device_id"] for e in bus), bus
    except BaseException:
        print(f"\n--- hass log (tail) ---\n{hass.log_tail()}")
        raise


def internal_call(direction: str, disposition: str = "ANSWER") -> dict[str, Any]:
    """Return the Cdr of Örjan Ek (1002, ext. 202) calling Ulla Åkesson (1001, 201).

    NGUC sends one for each end: ``OUT`` for the caller, ``IN`` for the callee.
    """
    return {
        "id": f"cdr-internal-{direction}",
        "call_guid": "g-internal",
        "calldate": "2026-11-20 09:10:00",
        "direction": direction,
        "src": "202",
        "dst": "201",
        "src_pbx_user_id": "1002",
        "dst_pbx_user_id": "1001",
        "remote_pbx_contact_id": None,
        "billsec": "65",
        "disposition": disposition,
        "pbx_recording_id": False,
    }


async def run_the_call_centre(
    hass: RealHass, server: NgucSockJsServer, ids: dict[str, str]
) -> list[tuple[str, Any]]:
    """Queue, calls and a pickup, each seen in Home Assistant; return what was sent."""
    # --- The REST seed: members without a pause flag -----------------------------
    # The server's queue lists Ulla without "paused": whether she (or anyone)
    # is paused is unknown, not "no".
    await hass.wait_state(ids["queues_1001"], number_is(1), what="1")
    assert (await hass.state(ids["agents_paused"]) or {})["state"] == "unknown"
    assert (await hass.state(ids["paused_1001"]) or {})["state"] == "unknown"
    assert (await hass.state(ids["queues_1002"]) or {})["state"] == "0"
    assert (await hass.state(ids["paused_1002"]) or {})["state"] == "off"
    assert (await hass.state(ids["missed_today_1001"]) or {})["state"] == "0"
    assert (await hass.state(ids["last_missed_1001"]) or {})["state"] == "unknown"

    # --- A Queue snapshot with members and callers ---------------------------------
    queue = queue_payload(QUEUE_FIGURES)  # 2 callers, waiting 30 s and 60 s
    queue["members"][0]["paused"] = "1"  # Ulla takes a break
    set_rest_queue(server, queue)
    pushed_at = datetime.now(UTC)
    push(server, "Queue", queue)
    await hass.wait_state(ids["agents_paused"], number_is(1), what="1 paused")
    await hass.wait_state(ids["agents_on_call"], number_is(1), what="1 on a call")
    # 60 s at the snapshot, counting up every 5 s after it.
    longest = await hass.wait_state(
        ids["current_longest_wait"],
        lambda s: s["state"].isdigit() and 60 <= int(s["state"]) < 90,
        what="60 s",
    )
    assert longest["attributes"]["unit_of_measurement"] == "s"
    # ... and when that caller started waiting: a time that stays true.
    since = await hass.wait_state(
        ids["longest_waiting_since"], lambda s: s["state"] != "unknown", what="a time"
    )
    started = datetime.fromisoformat(since["state"])
    assert abs(started - (pushed_at - timedelta(seconds=60))) < timedelta(seconds=5)
    # Today's longest wait is NGUC's own figure, not the callers' now.
    assert (await hass.state(ids["longest_wait"]) or {})["state"] == "95"
    waiting = await hass.wait_state(ids["waiting"], number_is(2), what="2")
    assert waiting["attributes"]["callers"] == [
        {"position": 1, "number": "+46700000000", "wait": 30},
        {"position": 2, "number": "+46700000001", "wait": 60},
    ]
    await hass.wait_state(ids["paused_1001"], lambda s: s["state"] == "on", what="on")
    ulla = await hass.wait_state(ids["queues_1001"], number_is(1), what="1")
    assert ulla["attributes"]["queues"] == [{"name": "Kundtjänst", "paused": True}]
    orjan = await hass.wait_state(ids["queues_1002"], number_is(1), what="1")
    assert orjan["attributes"]["queues"] == [{"name": "Kundtjänst", "paused": False}]
    assert (await hass.state(ids["paused_1002"]) or {})["state"] == "off"

    # --- A missed call from outside ------------------------------------------------
    missed_at = datetime.now(UTC)
    push(server, "Cdr", cdr("g-missed", "NO ANSWER", 0))
    await hass.wait_state(ids["missed_today_1001"], number_is(1), what="1 missed")
    last = await hass.wait_state(
        ids["last_missed_1001"], lambda s: s["state"] != "unknown", what="a time"
    )
    assert recent(last["state"], missed_at), last
    assert last["attributes"]["caller"] == CALLER
    assert last["attributes"]["device_class"] == "timestamp"

    # --- An internal call: Örjan calls Ulla ------------------------------------------
    ringing = user_status("1001", 8, "Ringing")
    set_rest_status(server, ringing)
    push(server, "UserStatus", ringing)
    await hass.wait_state(
        ids["line_1001"], lambda s: s["state"] == "ringing", what="ringing"
    )
    push(server, "Cdr", internal_call("OUT"))
    push(server, "Cdr", internal_call("IN"))
    outgoing = await hass.wait_state(
        ids["call_1002"],
        lambda s: s["attributes"].get("event_type") == "outgoing",
        what="Örjan's outgoing call",
    )
    answered = await hass.wait_state(
        ids["call_1001"],
        lambda s: s["attributes"].get("event_type") == "answered",
        what="Ulla's answered call",
    )
    for call in (outgoing, answered):
        assert call["attributes"]["caller_name"] == "Örjan Ek"
        assert call["attributes"]["callee_name"] == "Ulla Åkesson"
        assert call["attributes"]["caller"] == "202"
    # Answered, not missed: still one missed call.
    assert (await hass.state(ids["missed_today_1001"]) or {})["state"] == "1"

    # --- Pick up the caller waiting longest ------------------------------------------
    await hass.request(
        "POST",
        f"/api/services/{DOMAIN}/pickup_queue_caller",
        json_body={"entity_id": ids["waiting"]},
    )
    assert server.pickups == [("7", "g-wait-1", "application/x-www-form-urlencoded")]
    assert server.errors == []
    return list(server.sent)
