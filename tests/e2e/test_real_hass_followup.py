"""Calls to return, get_calls, the README's examples and whom to follow, end to end.

A real Home Assistant (the ``hass`` of ``.venv-hass``, the release users run)
beside the simulator's demo company, used only through its REST and websocket
APIs, as the frontend and the README's readers use it:

- a missed call from outside appears on the *Calls to return* lists
  (``todo.get_items`` through the REST API), whatever spelling of the number
  NGUC used, and an answered callback by another colleague completes it on
  every list; a colleague's missed call adds nothing;
- ``weblink_nguc.get_calls`` answers through the REST API with the call
  records of the run, filtered, and refuses a limit out of range;
- the README's script (``get_calls`` with ``response_variable``), its
  ``caller_waiting`` automation and its dashboard card run as written (the
  automation's example device id replaced by the queue's, as the README
  tells its readers to);
- the options flow (``/api/config/config_entries/options/flow``) leaves a
  user out: his device goes, the lists of the others survive the reload,
  and the lists and the history survive a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
import re
from typing import Any

import pytest

from tests.e2e.examples import readme_examples
from tests.e2e.marks import NEEDS_HASS
from tests.e2e.real_hass import (
    CONFIGURATION,
    HassError,
    RealHass,
    running,
    until,
)
from tests.simulator import Simulator

pytestmark = [
    NEEDS_HASS,
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.timeout(400),
]

DOMAIN = "weblink_nguc"
# The simulator's demo company (tests/simulator/model.py); the account
# "demo" is Anna Lindqvist's.
ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
SUPPORT = "501"
ERIK_EXTENSION = "102"
# One number in three spellings, and the callback in a fourth.
NATIONAL, E164, INTERNATIONAL = "0701234567", "+46701234567", "0046701234567"
DIALLED_BACK = "070-123 45 67"
LISTS = {
    "todo.anna_lindqvist_call_back": "Anna Lindqvist",
    "todo.erik_johansson_call_back": "Erik Johansson",
    "todo.support_call_back": "Support",
}
LARS_LIST = "todo.lars_oberg_call_back"


# The simulator (set up first) stops last, after Home Assistant: no warning
# of a lost connection is expected.
@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running, onboarded Home Assistant that loads the editors' files."""
    real = RealHass(
        tmp_path / "config",
        configuration=CONFIGURATION
        + "automation: !include automations.yaml\nscript: !include scripts.yaml\n",
        files={"automations.yaml": "[]\n", "scripts.yaml": "{}\n"},
    )
    async with running(real, timeout=180) as started:
        yield started


async def test_calls_to_return_get_calls_and_whom_to_follow(
    simulator: Simulator, hass: RealHass
) -> None:
    """From missed calls to a list ticked off by a callback, a history, and a choice."""
    entry_id = await add_integration(hass, simulator)
    devices = await until(lambda: _devices(hass), "the devices of users and queues")

    # --- Missed calls: one outside number in three spellings, on three lists;
    # a colleague's missed call goes on none.
    await simulator.finish_call(ANNA, remote=NATIONAL, disposition="NO ANSWER")
    await simulator.finish_call(ERIK, remote=INTERNATIONAL, disposition="BUSY")
    # A queue caller rings Erik and Maja, neither answers, and hangs up: one
    # call, with its steps, in the history and on the list (issue 18).
    queued = simulator.company.new_call_guid()
    for agent, reason in (
        (ERIK, "RINGNOANSWER"),
        (MAJA, "RINGNOANSWER"),
        (None, "ABANDON"),
    ):
        await simulator.push_event(
            "QueueCdr",
            simulator.company.queue_cdr(
                SUPPORT,
                call_guid=queued,
                callerid=E164,
                disposition="NOANSWERED",
                agent_id=agent,
                wait_time=75,
                reason=reason,
            ),
        )
    await simulator.finish_call(MAJA, remote=ERIK_EXTENSION, disposition="NO ANSWER")

    # The four records arrived (in order: Maja's last).
    async def four_calls() -> list[dict[str, Any]]:
        calls = await get_calls(hass, {})
        return calls if len(calls) == 4 else []

    history = await until(four_calls, "the four calls in the history")
    open_items = {entity_id: [(E164, "needs_action")] for entity_id in LISTS}
    assert await todo_items(hass, *LISTS) == open_items
    assert await todo_items(hass, "todo.maja_karlsson_call_back") == {
        "todo.maja_karlsson_call_back": []
    }
    # The README's card shows a list that exists, holding the missed call.
    for card in readme_examples("card"):
        assert card["type"] == "todo-list"
        assert (await todo_items(hass, card["entity"]))[card["entity"]] == [
            (E164, "needs_action")
        ]

    # --- The history: every call record of the run, newest first.
    assert [
        (c["type"], c.get("user"), c.get("queue"), c["number"]) for c in history
    ] == [
        ("missed", "Maja Karlsson", None, ERIK_EXTENSION),
        ("queue_not_answered", None, "Support", E164),
        ("missed", "Erik Johansson", None, E164),
        ("missed", "Anna Lindqvist", None, E164),
    ]
    assert history[0]["name"] == "Erik Johansson"  # a colleague, by name
    assert [(s["type"], s["user"]) for s in history[1]["steps"]] == [
        ("queue_not_answered", "Erik Johansson"),
        ("queue_not_answered", "Maja Karlsson"),
        ("queue_not_answered", None),
    ]
    assert all(call["time"].endswith("+00:00") for call in history)  # zoned
    anna_missed = await get_calls(
        hass, {"device_id": [devices["Anna Lindqvist"]], "type": ["missed"]}
    )
    assert [(c["user"], c["number"]) for c in anna_missed] == [("Anna Lindqvist", E164)]
    assert len(await get_calls(hass, {"limit": 2})) == 2
    with pytest.raises(HassError, match="must be from 1 to 500"):
        await get_calls(hass, {"limit": 501})

    # --- The README's script: the last missed calls in a notification.
    await run_readme_script(hass)

    # --- A callback: Lars reaches the number (dialled in yet another way);
    # the item is ticked off on every list.
    await simulator.finish_call(
        LARS, direction="OUT", remote=DIALLED_BACK, billsec=95, disposition="ANSWER"
    )
    done = {entity_id: [(E164, "completed")] for entity_id in LISTS}
    await until(lambda: _lists_are(hass, done), f"the calls to return {done}")

    # --- The README's caller_waiting automation, for two callers already
    # past its minute: each has their run (mode parallel).
    await run_readme_caller_waiting(hass, simulator, devices["Support"])

    # --- Whom to follow: every user but Lars. His device goes; the lists of
    # the others are still there after the reload.
    await follow_all_but_lars(hass, entry_id)

    async def lars_gone() -> bool:
        return "Lars Öberg" not in await _devices(hass, wait_all=False)

    await until(lars_gone, "Lars's device removed")
    await until(
        lambda: _state_is_gone(hass, LARS_LIST), "Lars's calls to return removed"
    )
    await until(
        lambda: _lists_are(hass, done), f"the calls to return {done} after the reload"
    )
    assert set(await _devices(hass, wait_all=False)) >= {
        "Anna Lindqvist",
        "Erik Johansson",
        "Maja Karlsson",
        "Support",
        "Sales",
    }

    # --- A restart: the lists and the history are as they were.
    calls_before = await get_calls(hass, {})
    await restart(hass)
    await until(
        lambda: _lists_are(hass, done), f"the calls to return {done} after a restart"
    )
    assert await get_calls(hass, {}) == calls_before


# --- Steps ---------------------------------------------------------------------------


async def add_integration(hass: RealHass, simulator: Simulator) -> str:
    """Add the demo account as the frontend does; return the entry's id."""
    return await hass.add_demo_entry(simulator.api_url, simulator.events_url)


async def get_calls(hass: RealHass, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Ask weblink_nguc.get_calls through the REST API; return its calls."""
    answer = await hass.request(
        "POST",
        f"/api/services/{DOMAIN}/get_calls?return_response",
        json_body=data,
    )
    calls: list[dict[str, Any]] = answer["service_response"]["calls"]
    return calls


async def todo_items(
    hass: RealHass, *entity_ids: str
) -> dict[str, list[tuple[str, str]]]:
    """Return each list's items (summary, status) as todo.get_items answers."""
    answer = await hass.request(
        "POST",
        "/api/services/todo/get_items?return_response",
        json_body={"entity_id": list(entity_ids)},
    )
    return {
        entity_id: [(item["summary"], item["status"]) for item in found["items"]]
        for entity_id, found in answer["service_response"].items()
    }


async def run_readme_script(hass: RealHass) -> None:
    """Save the README's script as the script editor does and run it."""
    (script,) = readme_examples("script")
    await hass.request(
        "POST", "/api/config/script/config/last_missed_calls", json_body=script
    )
    await until(
        lambda: hass.state("script.last_missed_calls"), "the README's script loaded"
    )
    # A script run as an action returns when it has run.
    await hass.request("POST", "/api/services/script/last_missed_calls", json_body={})
    notes = await _notifications(hass, "Last missed calls")
    assert len(notes) == 1, notes
    # The missed calls, newest first, each an item of a Markdown list: when,
    # then who (a colleague by name) for whom.
    items = _items(notes[0]["message"])
    assert [who for _, who in items] == [
        "Erik Johansson for Maja Karlsson",
        f"{E164} for Support",
        f"{E164} for Erik Johansson",
        f"{E164} for Anna Lindqvist",
    ], notes[0]["message"]
    assert all(re.fullmatch(r"\d\d \w{3} \d\d:\d\d:", when) for when, _ in items)


def _items(message: str) -> list[tuple[str, str]]:
    """Return a Markdown list's items: each first line, and the lines that follow it."""
    items: list[tuple[str, str]] = []
    for line in message.splitlines():
        if line.startswith("- "):
            items.append((line[2:].strip(), ""))
        elif items:
            first, rest = items[-1]
            items[-1] = (first, f"{rest} {line.strip()}".strip())
    return items


async def run_readme_caller_waiting(
    hass: RealHass, simulator: Simulator, support: str
) -> None:
    """Save the README's caller_waiting automation for Support; two callers past it."""
    (automation,) = readme_examples("caller_waiting automation")
    for trigger in automation["triggers"]:
        # As the README says: the queue picked again in the editor.
        trigger["target"]["device_id"] = [support]
    await hass.request(
        "POST", "/api/config/automation/config/caller_waiting", json_body=automation
    )

    async def loaded() -> bool:
        states = await hass.request("GET", "/api/states")
        return any(
            state["attributes"].get("id") == "caller_waiting" and state["state"] == "on"
            for state in states
        )

    await until(loaded, "the README's automation loaded and on")
    seconds = automation["triggers"][0]["options"]["seconds"]
    callers = ("0731111111", "0732222222")
    for number in callers:
        await simulator.add_caller(SUPPORT, number, wait=seconds + 30)
    title = "Caller waiting in Support"

    async def both() -> list[dict[str, Any]]:
        notes = await _notifications(hass, title)
        return notes if len(notes) >= len(callers) else []

    notes = await until(both, "a notification for each caller")
    await asyncio.sleep(2)  # and no more
    notes = await _notifications(hass, title)
    assert sorted(note["message"].split()[0] for note in notes) == list(callers)
    assert all("seconds in Support" in note["message"] for note in notes)


async def follow_all_but_lars(hass: RealHass, entry_id: str) -> None:
    """Leave Lars out in the options flow, as its form in the frontend does."""
    form = await hass.request(
        "POST",
        "/api/config/config_entries/options/flow",
        json_body={"handler": entry_id, "show_advanced_options": False},
    )
    assert form["type"] == "form", form
    assert {field["name"] for field in form["data_schema"]} == {"users", "queues"}
    done = await hass.request(
        "POST",
        f"/api/config/config_entries/options/flow/{form['flow_id']}",
        json_body={"users": [ANNA, ERIK, MAJA]},
    )
    assert done["type"] == "create_entry", done


async def restart(hass: RealHass) -> None:
    """Stop Home Assistant cleanly and start it again, with the same configuration."""
    code = await hass.stop()
    assert code == 0, f"hass exited with {code}:\n{hass.log_tail()}"
    problems = hass.problems()
    assert problems == [], "the integration in the hass log:\n" + "\n".join(problems)
    hass.log_path = hass.config_dir / "hass-output-2.log"
    await hass.start()
    await hass.wait_http(path="/auth/providers")
    await hass.confirm_http_config()
    await hass.wait_running()


# --- Reading Home Assistant's state ----------------------------------------------------


async def _devices(hass: RealHass, *, wait_all: bool = True) -> dict[str, str]:
    """Return the integration's devices by name; with ``wait_all``, {} until all are there."""
    listed = await hass.ws_command("config/device_registry/list")
    devices = {
        device["name"]: device["id"]
        for device in listed
        if any(domain == DOMAIN for domain, _ in device["identifiers"])
    }
    wanted = {*LISTS.values(), "Maja Karlsson", "Lars Öberg", "Sales"}
    return devices if not wait_all or wanted <= set(devices) else {}


async def _lists_are(
    hass: RealHass, expected: dict[str, list[tuple[str, str]]]
) -> bool:
    try:
        return await todo_items(hass, *expected) == expected
    except HassError:  # not there yet, e.g. while the entry is set up again
        return False


async def _state_is_gone(hass: RealHass, entity_id: str) -> bool:
    return await hass.state(entity_id) is None


async def _notifications(hass: RealHass, title: str) -> list[dict[str, Any]]:
    """Return the sidebar's notifications titled ``title``, oldest first."""
    shown: list[dict[str, Any]] = await hass.ws_command("persistent_notification/get")
    return sorted(
        (note for note in shown if note["title"] == title),
        key=lambda note: note["created_at"],
    )
