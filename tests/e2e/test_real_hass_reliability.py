"""Reliability, end to end, in a real Home Assistant.

"In a real Home Assistant 2026.11, the same kind of server's maintenance
closes, a 404 from a list endpoint during a resync, a user who appears only by
event, and a user removed while Home Assistant was stopped leave no
reauthentication prompt, no lost device, the new user's device within a
minute, and no stale device."

The server is ``tests.api.nguc_sockjs_server`` (PyPI ``sockjs``), not our
simulator; Home Assistant is the ``hass`` of ``.venv-hass``, run twice on one
configuration directory and used only through its HTTP and websocket APIs.
A resync is forced as NGUC would cause one: by closing the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
import re
import time
from typing import Any

import pytest

from tests.api.nguc_sockjs_server import NgucSockJsServer
from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import RealHass, running
from tests.e2e.test_real_hass import (
    DOMAIN,
    add_integration,
    device_status,
    push,
    set_rest_device,
    set_rest_status,
    user_status,
)

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(240),
]

# Warnings the faults of this test cause on purpose: the server's closes, and
# the list endpoint that answers 404 for a while.
EXPECTED_WARNINGS = ("Event stream", "NGUC has no such endpoint")
MISSING = "/company/device"
# The user who appears by event only, and their phone.
NEW_USER = {
    "id": "1003",
    "name": "Nils Nyberg",
    "extension": "203",
    "email": "n@acme.test",
}
NEW_PHONE = {
    "id": "9103",
    "pbx_user_id": "1003",
    "name": "Nils mobil",
    "model": "Softphone",
    "status": "1",
    "status_text": "Registered",
}
NEW_USER_WITHIN = 60.0  # seconds, from its first event to its device
# A device identifier is "<entry unique id>_<key>", the key as in data.py.
_KEY = re.compile(r"_(account|(?:user|device|queue)_[^_]+)$")


@pytest.fixture
async def server() -> AsyncIterator[NgucSockJsServer]:
    """The NGUC-compatible PyPI-sockjs server, on a free port of 127.0.0.1."""
    nguc = NgucSockJsServer()
    await nguc.start()
    try:
        yield nguc
    finally:
        await nguc.stop()
    assert nguc.errors == []


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant, stopped with SIGTERM afterwards.

    The test may stop and start it again; the run that is going at the end
    is checked: a clean exit, and no unexpected warning or error about the
    integration in its log.
    """
    async with running(RealHass(tmp_path / "config"), EXPECTED_WARNINGS) as real:
        yield real


async def wait_for[T](
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    what: str,
    timeout: float = 20.0,
) -> T:
    """Poll ``probe()`` until ``check`` holds for its answer; return that answer."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {what} within {timeout} s; last: {value}")
        await asyncio.sleep(0.2)


async def devices(hass: RealHass, entry_id: str) -> dict[str, str]:
    """Return the entry's devices: item key ("user_1001", ...) to device id."""
    registry = await hass.ws_command("config/device_registry/list")
    found: dict[str, str] = {}
    for device in registry:
        if entry_id not in device["config_entries"]:
            continue
        for domain, identifier in device["identifiers"]:
            if domain == DOMAIN and (key := _KEY.search(identifier)):
                found[key[1]] = device["id"]
    return found


async def issues(hass: RealHass) -> list[dict[str, Any]]:
    """Return the integration's active repair issues."""
    answer = await hass.ws_command("repairs/list_issues")
    return [issue for issue in answer["issues"] if issue["domain"] == DOMAIN]


async def assert_no_reauth(hass: RealHass, entry_id: str) -> None:
    """Assert that the entry is loaded and that nothing asks for the password."""
    entries = await hass.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    assert [(e["entry_id"], e["state"]) for e in entries] == [(entry_id, "loaded")]
    flows = await hass.ws_command("config_entries/flow/progress")
    assert [f for f in flows if f["handler"] == DOMAIN] == [], flows
    assert not [i for i in await issues(hass) if "rejected" in i["issue_id"]]


async def next_connection(server: NgucSockJsServer, number: int) -> None:
    """Wait until connection ``number`` (or a later one) is the only live one."""
    await server.wait_until(
        lambda: [c.number >= number for c in server.live_connections] == [True],
        timeout=45,
    )


async def test_faults_leave_nothing_for_a_person(
    server: NgucSockJsServer, hass: RealHass
) -> None:
    """Maintenance closes, a 404, a user by event, a user removed while stopped."""
    try:
        await run_faults(server, hass)
    except BaseException:
        print(f"\n--- hass log (tail) ---\n{hass.log_tail()}")
        raise


async def run_faults(server: NgucSockJsServer, hass: RealHass) -> None:
    """The whole scenario (the fixture checks the last run's log and exit)."""
    ids = await add_integration(hass, server)
    entries = await hass.request(
        "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
    )
    entry_id = entries[0]["entry_id"]
    before = await devices(hass, entry_id)
    assert set(before) == {
        "account",
        "user_1001",
        "user_1002",
        "device_9101",
        "queue_7",
    }

    async with hass.subscribe("state_changed") as changes:
        # --- Maintenance: every connection, then the next two, closed -------
        # An event first: the server has proven that it took the token (a
        # reference SockJS server sends no h frames while idle).
        ringing = user_status("1001", 8, "Ringing")
        set_rest_status(server, ringing)
        push(server, "UserStatus", ringing)
        await hass.wait_state(
            ids["line_1001"], lambda s: s["state"] == "ringing", what="ringing"
        )
        first = server.live_connections[0].number
        password_logins = server.grants.count("password")
        # Changed while the server restarts: only a resync can tell.
        set_rest_status(server, user_status("1001", 1, "InUse"))
        assert server.maintenance(connections=2) == 1
        await next_connection(server, first + 3)
        third = server.live_connections[0]
        assert third.number == first + 3, [c.number for c in server.connections]
        assert server.go_away_after_auth == 0
        await hass.wait_state(
            ids["line_1001"], lambda s: s["state"] == "in_use", what="in_use (REST)"
        )
        await hass.wait_state(ids["stream"], lambda s: s["state"] == "on", what="on")
        # The token endpoint kept accepting the credentials: no password was
        # asked for, and the pusher never refused a token.
        assert server.grants.count("password") == password_logins
        assert server.rejections == 0
        await assert_no_reauth(hass, entry_id)
        assert await devices(hass, entry_id) == before
        # The close's code and reason are logged (rate limited: once here).
        assert "closed the session with c[3000, 'Go away!']" in hass.log()
        idle = user_status("1001", 0, "Idle")
        set_rest_status(server, idle)
        push(server, "UserStatus", idle)
        await hass.wait_state(
            ids["line_1001"], lambda s: s["state"] == "idle", what="idle"
        )

        # --- A 404 from the phones' list during a resync ---------------------
        server.not_found.add(MISSING)
        set_rest_status(server, user_status("1002", 4, "Unavailable"))
        reads = len(server.rest_reads)
        third.close(3000, "Go away!")
        await next_connection(server, third.number + 1)
        fourth = server.live_connections[0]
        # The resync read the other lists (1002's new status shows) ...
        await hass.wait_state(
            ids["line_1002"], lambda s: s["state"] == "offline", what="offline"
        )
        # The phones' list is read once the new connection has lasted 25 s
        # (the lists events keep current are read at once).
        await wait_for(
            lambda: _value(server.rest_reads[reads:]),
            lambda read: MISSING in read,
            what=f"a read of {MISSING}",
            timeout=45,
        )
        # ... and kept the phone, its device and its entity.
        assert await devices(hass, entry_id) == before
        registered = await hass.state(ids["registered_9101"])
        assert registered is not None
        assert registered["state"] == "on", registered
        found = await wait_for(
            lambda: issues(hass),
            lambda found: len(found) == 1,
            what="a repair issue",
        )
        assert found[0]["translation_key"] == "missing_endpoint", found
        assert found[0]["translation_placeholders"]["endpoint"] == MISSING, found
        # The kept phone still follows its events.
        set_rest_device(server, registered=False)
        push(server, "DeviceStatus", device_status(registered=False))
        await hass.wait_state(
            ids["registered_9101"], lambda s: s["state"] == "off", what="off"
        )
        await assert_no_reauth(hass, entry_id)

        # --- The endpoint answers again: the next resync clears the issue ----
        server.not_found.clear()
        fourth.close(3000, "Go away!")
        await next_connection(server, fourth.number + 1)
        # A list that answered 404 is asked again on its own backoff (30 s
        # to a minute at first), not at the reconnect.
        await wait_for(
            lambda: issues(hass),
            lambda found: found == [],
            what="no repair issue",
            timeout=90,
        )
        assert await devices(hass, entry_id) == before
        await hass.wait_state(
            ids["registered_9101"], lambda s: s["state"] == "off", what="off (REST)"
        )

        # --- A user who appears only by event --------------------------------
        # NGUC lists the user (and their phone) from now on; nothing
        # reconnects: the event alone must bring the device.
        server.rest["/company/user"].append(dict(NEW_USER))
        server.rest["/company/device"].append(dict(NEW_PHONE))
        talking = user_status("1003", 1, "InUse")
        set_rest_status(server, talking)
        live = server.live_connections[0]
        pushed = time.monotonic()
        push(server, "UserStatus", talking)
        grown = await wait_for(
            lambda: devices(hass, entry_id),
            lambda found: {"user_1003", "device_9103"} <= found.keys(),
            what="the new user's devices",
            timeout=NEW_USER_WITHIN,
        )
        took = time.monotonic() - pushed
        print(f"the new user's device after {took:.1f} s")
        assert took < NEW_USER_WITHIN
        assert server.live_connections == [live]  # no reconnect needed
        assert {k: v for k, v in grown.items() if k in before} == before
        registry = await hass.ws_command("config/entity_registry/list")
        line_1003 = [
            e["entity_id"]
            for e in registry
            if e["platform"] == DOMAIN
            and e["unique_id"].endswith("_user_1003_line_status")
        ]
        assert len(line_1003) == 1, line_1003
        await hass.wait_state(
            line_1003[0], lambda s: s["state"] == "in_use", what="in_use"
        )
        await assert_no_reauth(hass, entry_id)

    # No entity of ours went unavailable or away through all of it.
    ours = {
        e["entity_id"]
        for e in await hass.ws_command("config/entity_registry/list")
        if e["platform"] == DOMAIN
    }
    gaps = [
        (c["data"]["entity_id"], (c["data"]["new_state"] or {}).get("state"))
        for c in changes
        if c["data"]["entity_id"] in ours
        and (c["data"]["new_state"] or {}).get("state") in (None, "unavailable")
    ]
    assert gaps == [], gaps

    # --- The user and their phone removed while Home Assistant is stopped ---
    code = await hass.stop()
    assert code == 0, f"hass exited with {code}:\n{hass.log_tail()}"
    problems = hass.problems(EXPECTED_WARNINGS)
    assert problems == [], "the integration in the hass log:\n" + "\n".join(problems)
    assert not server.live_connections
    server.rest["/company/user"][:] = [
        u for u in server.rest["/company/user"] if u["id"] != "1003"
    ]
    server.rest["/company/user/status"][:] = [
        s for s in server.rest["/company/user/status"] if s["pbx_user_id"] != "1003"
    ]
    server.rest["/company/device"][:] = [
        d for d in server.rest["/company/device"] if d["id"] != "9103"
    ]
    connections = len(server.connections)
    hass.log_path = hass.config_dir / "hass-output-2.log"
    await hass.start()
    await hass.wait_http(path="/auth/providers")
    await hass.confirm_http_config()
    await hass.wait_running()
    await server.wait_until(
        lambda: (
            len(server.connections) > connections and len(server.live_connections) == 1
        ),
        timeout=30,
    )
    after = await wait_for(
        lambda: devices(hass, entry_id),
        lambda found: found.keys() == before.keys(),
        what="the removed user's devices gone",
    )
    # Gone are the removed user's devices; the others are the same devices.
    assert after == before
    await hass.wait_state(ids["stream"], lambda s: s["state"] == "on", what="on")
    await hass.wait_state(ids["line_1001"], lambda s: s["state"] == "idle", what="idle")
    registry = await hass.ws_command("config/entity_registry/list")
    assert not [e for e in registry if e["entity_id"] == line_1003[0]]
    await assert_no_reauth(hass, entry_id)
    assert await issues(hass) == []


async def _value[T](value: T) -> T:
    return value
