"""Where features meet, end to end: the four seams of issue 18 in a real Home Assistant.

"In a real Home Assistant, a token hiccup with 401 lists ends in sync within
a minute; a restart during a REST outage keeps every device; a truncated
answer while following a subset keeps the followed devices; a queue caller
who rang two agents and was answered leaves no open item."

Home Assistant is the ``hass`` of ``.venv-hass``, one process for all four
(restarted only where the seam is a restart), used only through its HTTP and
websocket APIs. NGUC is ``tests.api.nguc_sockjs_server`` (PyPI ``sockjs``),
a fresh one per seam, each with an entry of its own that is deleted after
it. The integration runs with the timings it ships with: the minute of the
token hiccup is the shipped retry's. Each seam is checked even when another
fails; the test then fails naming every seam that did, with what a person
would see and the integration's log lines of that seam.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass
import json
from pathlib import Path
import re
import time
from typing import Any

import pytest

from tests.api.nguc_sockjs_server import NgucSockJsServer
from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import RealHass, running, until
from tests.e2e.test_real_hass import (
    DOMAIN,
    ENTITIES,
    QUEUE_FIGURES,
    add_integration,
    cdr,
    push,
    queue_payload,
    set_rest_device,
    set_rest_queue,
    set_rest_status,
    user_status,
)
from tests.e2e.test_real_hass_reliability import devices, next_connection

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(600),
]

# Warnings the faults cause on purpose: the server's closes, lists that fail
# or are not believed, a token endpoint that is down.
EXPECTED_WARNINGS = (
    "Event stream",
    "lacks",
    "Cannot read the NGUC list",
    "Cannot read the NGUC state",
)
USERS = "/company/user"
STATUSES = "/company/user/status"
DEVICES = "/company/device"
QUEUES = "/company/queue"
LISTS = (USERS, STATUSES, DEVICES, QUEUES)
# Six colleagues more than the server's two: a company of eight.
COLLEAGUES = [
    {"id": f"100{n}", "name": name, "extension": f"20{n}", "email": f"{n}@acme.test"}
    for n, name in (
        (3, "Anna Berg"),
        (4, "Bo Dahl"),
        (5, "Cecilia Ek"),
        (6, "David Fors"),
        (7, "Eva Grön"),
        (8, "Filip Holm"),
    )
]
SEAM_ENTITIES = {
    **ENTITIES,
    "queue_call": ("event", "queue_7_queue_call"),
    "queue_list": ("todo", "queue_7_calls_to_return"),
}
# What 1001's line shows for a status pushed as an event, alternately.
PUSHED = ((8, "Ringing", "ringing"), (0, "Idle", "idle"))
# The token hiccup: how long the lists refuse and the token endpoint is
# down, and how soon after both recover Home Assistant must be in sync.
HICCUP = 5.0
IN_SYNC_WITHIN = 60.0
# Past the re-read of a doubted list (10 s as shipped), with a margin.
SECOND_READ_WITHIN = 25.0
# After a reconnect, with a margin over the integration's 25 s.
USER_LIST_WITHIN = 60.0


@dataclass
class Seam:
    """One seam's Home Assistant, NGUC server and entry."""

    hass: RealHass
    server: NgucSockJsServer
    entry_id: str
    ids: dict[str, str]
    pushed: int = 0


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant; its last run's log and exit are checked."""
    async with running(RealHass(tmp_path / "config"), EXPECTED_WARNINGS) as real:
        yield real


async def test_where_features_meet(hass: RealHass) -> None:
    """The four seams of issue 18's "Done when", one after the other."""
    # The restarts last, so that the others share one run; the quickest first.
    seams: list[
        tuple[str, Callable[[Seam], Awaitable[None]], Callable[[], NgucSockJsServer]]
    ] = [
        ("4. queue caller answered after two agents", queue_caller, company_of_two),
        ("1. token hiccup with 401 lists", token_hiccup, company_of_two),
        ("3. truncated answer while following", truncated_follow, company_of_eight),
        ("2. restart during a REST outage", restart_in_outage, company_of_five),
    ]
    failures: dict[str, str] = {}
    for name, check, company in seams:
        started = time.monotonic()
        try:
            await run_seam(hass, company(), check)
        except Exception as err:  # noqa: BLE001 - every seam is reported
            failures[name] = f"{type(err).__name__}: {err}"
        print(
            f"seam {name}: {'FAILED' if name in failures else 'passed'}"
            f" in {time.monotonic() - started:.1f} s"
        )
    assert not failures, "\n\n".join(
        f"=== {name} ===\n{text}" for name, text in failures.items()
    )


async def run_seam(
    hass: RealHass,
    server: NgucSockJsServer,
    check: Callable[[Seam], Awaitable[None]],
) -> None:
    """Run ``check`` on an entry of its own, against ``server``; delete both after.

    A failure carries the integration's log lines of this seam.
    """
    log_from = len(hass.log())
    log_path = hass.log_path
    await server.start()
    try:
        ids = await add_integration(hass, server, SEAM_ENTITIES)
        entries = await hass.request(
            "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
        )
        seam = Seam(hass, server, entries[0]["entry_id"], ids)
        try:
            await check(seam)
        except Exception as err:
            since = log_from if hass.log_path == log_path else 0
            raise AssertionError(f"{err}\n{evidence(hass, since)}") from err
        finally:
            if hass.process is not None:
                await delete_entry(hass, seam.entry_id)
    finally:
        await server.stop()
    assert server.errors == []


def evidence(hass: RealHass, since: int) -> str:
    """Return the integration's log lines of a seam: warnings, errors, reads."""
    wanted = re.compile(
        r"(WARNING|ERROR|CRITICAL) .*weblink_nguc|\[custom_components\.weblink_nguc\]"
        r"|weblink_nguc.*(answered 401|renew)"
    )
    lines = [
        line[:300]
        for line in hass.log()[since:].splitlines()
        if wanted.search(line) and "has not been tested" not in line
    ]
    return "hass log of this seam (integration, last 25):\n" + "\n".join(lines[-25:])


async def delete_entry(hass: RealHass, entry_id: str) -> None:
    """Delete the entry as its menu's *Delete* does; wait until it is gone."""
    await hass.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    async def gone() -> bool:
        entries = await hass.request(
            "GET", f"/api/config/config_entries/entry?domain={DOMAIN}"
        )
        return not entries

    await until(gone, "the entry deleted")


# --- Companies -------------------------------------------------------------------------


def company_of_two() -> NgucSockJsServer:
    """The server's own company: users 1001 and 1002, phone 9101, queue 7."""
    return NgucSockJsServer()


def company_of_five() -> NgucSockJsServer:
    """Three colleagues more: an empty user list loses more than a day's change."""
    return with_colleagues(NgucSockJsServer(), COLLEAGUES[1:4])


def company_of_eight() -> NgucSockJsServer:
    """Six colleagues more, the last one with a phone of his own."""
    server = with_colleagues(NgucSockJsServer(), COLLEAGUES)
    server.rest[DEVICES].append(
        {
            "id": "9108",
            "pbx_user_id": "1008",
            "name": "Filips mobil",
            "model": "Softphone",
            "status": "1",
            "status_text": "Registered",
        }
    )
    return server


def with_colleagues(
    server: NgucSockJsServer, colleagues: list[dict[str, str]]
) -> NgucSockJsServer:
    """Add ``colleagues`` (idle) to the server's users."""
    server.rest[USERS].extend(dict(user) for user in colleagues)
    server.rest[STATUSES].extend(
        user_status(user["id"], 0, "Idle") for user in colleagues
    )
    return server


# --- Seam 4: a queue caller answered after two agents ----------------------------------


def queue_step(
    guid: str,
    step: int,
    number: str,
    disposition: str,
    *,
    agent: str | None,
    reason: str,
    talk: int = 0,
) -> dict[str, Any]:
    """Return one ``QueueCdr`` step of a call in queue 7, as NGUC sends each."""
    names = {"1001": "Ulla Åkesson", "1002": "Örjan Ek"}
    return {
        "id": f"qcdr-{guid}-{step}",
        "call_guid": guid,
        "ast_queue_id": "7",
        "calldate": "2026-12-07 09:12:00",
        "callerid": number,
        "did": "0812345600",
        "e164_src": "+46" + number[1:],
        "e164_did": "+46812345600",
        "disposition": disposition,
        "answered_by": names.get(agent or ""),
        "pbx_user_id": agent,
        "wait_time": str(15 * step),
        "talk_time": str(talk),
        "reason": reason,
        "handled": "1" if disposition == "ANSWERED" else "0",
    }


async def queue_caller(seam: Seam) -> None:
    """A caller rang two agents and was answered: nothing to return.

    A second caller rang the same two agents and hung up: one missed call,
    counted once.
    """
    hass, server = seam.hass, seam.server
    answered, hung_up = "0701111111", "0702222222"
    no, yes = "NOANSWERED", "ANSWERED"
    steps = [
        # Rang Ulla, then Örjan, neither answered; Ulla took it on the next round.
        queue_step("g-ans", 1, answered, no, agent="1001", reason="RINGNOANSWER"),
        queue_step("g-ans", 2, answered, no, agent="1002", reason="RINGNOANSWER"),
        queue_step("g-ans", 3, answered, yes, agent="1001", reason="CONNECT"),
        queue_step(
            "g-ans", 4, answered, yes, agent="1001", reason="COMPLETECALLER", talk=80
        ),
        # Rang Ulla, then Örjan, then hung up.
        queue_step("g-hup", 1, hung_up, no, agent="1001", reason="RINGNOANSWER"),
        queue_step("g-hup", 2, hung_up, no, agent="1002", reason="RINGNOANSWER"),
        queue_step("g-hup", 3, hung_up, no, agent=None, reason="ABANDON"),
    ]
    for step in steps:
        push(server, "QueueCdr", step)
        if step["id"] == "qcdr-g-ans-4":
            # Ulla's own record of the call she answered.
            push(
                server,
                "Cdr",
                cdr("g-ans", "ANSWER", 80) | {"src": answered, "id": "cdr-g-ans"},
            )
    # Events are applied in order: once a later one shows, these are in.
    await prove(seam)
    items = await todo_items(hass, seam.ids["queue_list"])
    shown = [
        f"{item['summary']} [{item['status']}] {item.get('description', '')}"
        for item in items
    ]
    of_answered = [item for item in items if "701111111" in item["summary"]]
    of_hung_up = [item for item in items if "702222222" in item["summary"]]
    wrong = []
    if of_answered:
        wrong.append(
            "it still lists the caller who rang two agents and was then answered"
            " (the README: an answered caller leaves no item)"
        )
    if [item["status"] for item in of_hung_up] != ["needs_action"]:
        wrong.append("the caller who rang two agents and hung up is not one open item")
    elif re.match(r"\d+ x ", of_hung_up[0].get("description") or ""):
        wrong.append(
            "the caller who rang two agents and hung up is counted once per"
            " agent who did not answer"
        )
    assert not wrong, f"The queue's Calls to return: {'; '.join(wrong)}: {shown}"


async def todo_items(hass: RealHass, entity_id: str) -> list[dict[str, Any]]:
    """Return the list's items as ``todo.get_items`` answers through the REST API."""
    answer = await hass.request(
        "POST",
        "/api/services/todo/get_items?return_response",
        json_body={"entity_id": entity_id},
    )
    items: list[dict[str, Any]] = answer["service_response"][entity_id]["items"]
    return items


# --- Seam 1: a token hiccup with 401 lists ---------------------------------------------


async def token_hiccup(seam: Seam) -> None:
    """Every list answers 401 while the token endpoint is down; both recover.

    Meanwhile NGUC changed in every list: 1002's line and name, the phone's
    registration, the queue's figures. Within a minute of the recovery Home
    Assistant shows all of it, and no entity of ours is unavailable.
    """
    hass, server, ids = seam.hass, seam.server, seam.ids
    await prove(seam)
    set_rest_status(server, user_status("1002", 4, "Unavailable"))
    next(u for u in server.rest[USERS] if u["id"] == "1002")["name"] = "Örjan Ekholm"
    set_rest_device(server, registered=False)
    set_rest_queue(server, queue_payload(QUEUE_FIGURES))
    expected = {
        ids["line_1002"]: "offline",
        ids["registered_9101"]: "off",
        ids["waiting"]: "2",
        ids["available_agents"]: "1",
        ids["stream"]: "on",
    }
    reads = len(server.rest_reads)
    for path in LISTS:
        server.rest_status[path] = 401
    server.token_down = True
    live = server.live_connections[0]
    live.close(3000, "Go away!")
    await next_connection(server, live.number + 1)
    # The reconnect's read was refused (which lists it reads is the
    # integration's choice).
    await server.wait_until(lambda: len(server.rest_reads) > reads, timeout=30)
    await asyncio.sleep(HICCUP)
    for path in LISTS:
        del server.rest_status[path]
    server.token_down = False
    recovered = time.monotonic()
    reads = len(server.rest_reads)

    async def shown() -> dict[str, str | None]:
        states = {entity_id: await hass.state(entity_id) for entity_id in expected}
        return {k: (v or {}).get("state") for k, v in states.items()}

    async def in_sync() -> bool:
        names = await device_names(seam)
        return (
            await shown() == expected
            and names.get("user_1002") == "Örjan Ekholm"
            and not await unavailable(seam)
        )

    try:
        await until(in_sync, "in sync", timeout=IN_SYNC_WITHIN)
    except AssertionError:
        now = await shown()
        wrong = {
            entity_id: f"shows {now[entity_id]}, NGUC says {value}"
            for entity_id, value in expected.items()
            if now[entity_id] != value
        }
        raise AssertionError(
            f"{IN_SYNC_WITHIN:.0f} s after the token endpoint and the lists"
            f" recovered from a {HICCUP:.0f} s hiccup, Home Assistant is not in"
            f" sync: {wrong}; unavailable entities: {await unavailable(seam)};"
            f" user 1002's device is named"
            f" {(await device_names(seam)).get('user_1002')!r} (NGUC: 'Örjan Ekholm');"
            f" lists read since the recovery: {server.rest_reads[reads:]}"
        ) from None
    print(f"in sync {time.monotonic() - recovered:.1f} s after the hiccup")


# --- Seam 3: a truncated answer while following a subset -------------------------------


async def truncated_follow(seam: Seam) -> None:
    """Following 2 of 8 users, one answer of the first 3 users keeps both."""
    hass, server = seam.hass, seam.server
    connections = len(server.connections)
    await follow(seam, ["1007", "1008"])
    wanted = {"user_1007", "user_1008", "device_9108"}

    async def followed_only() -> dict[str, str]:
        found = await devices(hass, seam.entry_id)
        users = {key for key in found if key.startswith(("user_", "device_"))}
        return found if users == wanted else {}

    before = await until(followed_only, "only the followed users' devices")
    await wait_stream(seam, connections)
    line_1007 = await entity_of(seam, "user_1007_line_status")
    line_1008 = await entity_of(seam, "user_1008_line_status")
    phone_9108 = await entity_of(seam, "device_9108_registered")
    watched = {line_1007, line_1008, phone_9108}
    # An event on this connection: its close is no refused sign-in.
    ringing = user_status("1007", 8, "Ringing")
    set_rest_status(server, ringing)
    push(server, "UserStatus", ringing)
    await hass.wait_state(line_1007, lambda s: s["state"] == "ringing", what="ringing")
    async with hass.subscribe("state_changed") as changes:
        # Changed in REST only: shows once a read is applied.
        set_rest_status(server, user_status("1008", 1, "InUse"))
        server.truncate_once[USERS] = 3
        reads = len(server.rest_reads)
        live = server.live_connections[0]
        live.close(3000, "Go away!")
        await next_connection(server, live.number + 1)
        # The user list is read at once or once the connection has lasted
        # (25 s as shipped): events do not tell of renames and removals.
        try:
            await server.wait_until(
                lambda: USERS not in server.truncate_once, timeout=USER_LIST_WITHIN
            )
        except TimeoutError:
            raise AssertionError(
                f"the user list was not read within {USER_LIST_WITHIN:.0f} s"
                " of the reconnect"
            ) from None
        # The answer is doubted and read again; a believed one is not.
        with contextlib.suppress(TimeoutError):
            await server.wait_until(
                lambda: server.rest_reads[reads:].count(USERS) >= 2,
                timeout=SECOND_READ_WITHIN,
            )
        await asyncio.sleep(1)
        after = await devices(hass, seam.entry_id)
    gaps = [
        (c["data"]["entity_id"], (c["data"]["new_state"] or {}).get("state", "removed"))
        for c in changes
        if c["data"]["entity_id"] in watched
        and (c["data"]["new_state"] or {}).get("state") in (None, "unavailable")
    ]
    lost = {key: before[key] for key in wanted if after.get(key) != before[key]}
    assert (not lost, not gaps) == (True, True), (
        "Following users 1007 and 1008 of 8, one user list truncated to the"
        f" first 3 users removed or replaced the followed devices {sorted(lost)}"
        f" (devices before {before}, after {after}); entities gone or"
        f" unavailable meanwhile: {gaps}; user list reads since:"
        f" {server.rest_reads[reads:].count(USERS)}"
    )
    line = await hass.state(line_1008)
    assert (line or {}).get("state") == "in_use", f"1008's line after the read: {line}"


async def follow(seam: Seam, users: list[str]) -> None:
    """Follow only ``users`` in the options flow, as its form does."""
    hass = seam.hass
    form = await hass.request(
        "POST",
        "/api/config/config_entries/options/flow",
        json_body={"handler": seam.entry_id, "show_advanced_options": False},
    )
    assert form["type"] == "form", form
    done = await hass.request(
        "POST",
        f"/api/config/config_entries/options/flow/{form['flow_id']}",
        json_body={"users": users},
    )
    assert done["type"] == "create_entry", done


# --- Seam 2: a restart during a REST outage --------------------------------------------


async def restart_in_outage(seam: Seam) -> None:
    """Lists fail (500) across a restart, a Queue event arrives, a restart again.

    Every device is kept throughout, and after the next start one empty
    user list does not remove the users' devices.
    """
    hass, server = seam.hass, seam.server
    before = await devices(hass, seam.entry_id)
    assert {"user_1002", "user_1004", "user_1006", "device_9101", "queue_7"} <= set(
        before
    ), before
    # The outage begins; Home Assistant restarts into it.
    for path in LISTS:
        server.rest_status[path] = 500
    connections = len(server.connections)
    first = await restart(seam)
    await wait_stream(seam, connections)
    during = await devices(hass, seam.entry_id)
    assert during == before, (
        "Restarted during a REST outage, Home Assistant lost devices:"
        f" {sorted(set(before) - set(during))}"
    )
    queue = queue_payload(QUEUE_FIGURES)
    set_rest_queue(server, queue)
    push(server, "Queue", queue)
    await asyncio.sleep(2)
    # Home Assistant restarts; NGUC answers again, the user list empty once.
    connections = len(server.connections)
    store = await restart(seam, before_start=lambda: recover(server))
    kept = [
        {part: len(items) for part, items in stored.items()}
        for stored in (first, store)
    ]
    await wait_stream(seam, connections)
    with contextlib.suppress(TimeoutError):
        await server.wait_until(
            lambda: server.rest_reads.count(USERS) >= 2, timeout=SECOND_READ_WITHIN
        )
    await asyncio.sleep(1)
    after = await devices(hass, seam.entry_id)
    lost = sorted(key for key in before if after.get(key) != before[key])
    assert not lost, (
        "After a restart during a REST outage (lists 500, a Queue event, a"
        f" restart), one empty user list removed or replaced the devices {lost};"
        f" Home Assistant's copy on disk held {kept[0]} at the restart into the"
        f" outage and {kept[1]} at the next one"
        f" (NGUC: {len(server.rest[USERS])} users, {len(server.rest[DEVICES])}"
        f" phones, {len(server.rest[QUEUES])} queue)"
    )


def recover(server: NgucSockJsServer) -> None:
    """End the outage; the user list's first answer is empty."""
    server.rest_status.clear()
    server.rest_reads.clear()
    server.empty_once.add(USERS)


async def restart(
    seam: Seam, before_start: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Stop Home Assistant cleanly and start it again; return the entry's store.

    The store is read while Home Assistant is stopped (what the next start
    reads). A warning or error of the integration in the stopped run's log
    that is not expected fails the seam.
    """
    hass = seam.hass
    code = await hass.stop()
    assert code == 0, f"hass exited with {code}:\n{hass.log_tail()}"
    problems = hass.problems(EXPECTED_WARNINGS)
    path = hass.config_dir / ".storage" / f"{DOMAIN}.{seam.entry_id}"
    stored: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, ValueError):
        stored = json.loads(path.read_text("utf-8")).get("data") or {}
    if before_start is not None:
        before_start()
    runs = len(list(hass.config_dir.glob("hass-output*.log")))
    hass.log_path = hass.config_dir / f"hass-output-{runs + 1}.log"
    await hass.start()
    await hass.wait_http(path="/auth/providers")
    await hass.confirm_http_config()
    await hass.wait_running()
    assert problems == [], "the integration in the hass log:\n" + "\n".join(problems)
    return stored


async def wait_stream(seam: Seam, connections: int) -> None:
    """Wait until a connection after the first ``connections`` is the only live one."""
    await next_connection(seam.server, connections + 1)


# --- Shared steps ----------------------------------------------------------------------


async def prove(seam: Seam) -> None:
    """Push a status of 1001 and wait until it shows.

    Events are applied in order, so every event sent before has been too;
    and the server has proven that it took the token, so that a close of
    this connection is no refused sign-in.
    """
    status, text, shown = PUSHED[seam.pushed % 2]
    seam.pushed += 1
    pushed = user_status("1001", status, text)
    set_rest_status(seam.server, pushed)
    push(seam.server, "UserStatus", pushed)
    await seam.hass.wait_state(
        seam.ids["line_1001"], lambda s: s["state"] == shown, what=shown
    )


async def entity_of(seam: Seam, unique_id_end: str) -> str:
    """Return the entry's entity whose unique id ends with ``unique_id_end``."""

    async def find() -> str:
        registry = await seam.hass.ws_command("config/entity_registry/list")
        found = [
            e["entity_id"]
            for e in registry
            if e["config_entry_id"] == seam.entry_id
            and e["unique_id"].endswith(f"_{unique_id_end}")
        ]
        return str(found[0]) if len(found) == 1 else ""

    return await until(find, f"the entity {unique_id_end}")


async def unavailable(seam: Seam) -> list[str]:
    """Return the entry's entities that are unavailable."""
    registry = await seam.hass.ws_command("config/entity_registry/list")
    ours = {
        e["entity_id"]
        for e in registry
        if e["config_entry_id"] == seam.entry_id and e["disabled_by"] is None
    }
    states = await seam.hass.request("GET", "/api/states")
    return sorted(
        s["entity_id"]
        for s in states
        if s["entity_id"] in ours and s["state"] == "unavailable"
    )


async def device_names(seam: Seam) -> dict[str, str]:
    """Return the name of each of the entry's devices, by item key."""
    keys = {
        device_id: key
        for key, device_id in (await devices(seam.hass, seam.entry_id)).items()
    }
    registry = await seam.hass.ws_command("config/device_registry/list")
    return {keys[d["id"]]: d["name"] for d in registry if d["id"] in keys}
