"""The wallboard strategy's ``generate``, run under Node.js on fake companies.

What a person would see on the wall: every queue and every followed user
appear; no card names an entity that is not there (a disabled entity is
left out); the longest wait is green, amber past the amber threshold and
red past the red one, as the strategy's options set them; a large company
gets an overview and a view per queue.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.frontend.company import FakeHass, company
from tests.frontend.node import (
    NODE,
    WallboardError,
    cards,
    generate,
    referenced,
    run_strategy,
    shown,
)

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not installed")

WALLBOARD = {"type": "custom:weblink-nguc-wallboard"}


def assert_only_existing(dashboard: dict[str, Any], hass: FakeHass) -> None:
    """No card, condition or target names an entity the frontend does not have."""
    names = referenced(dashboard)
    assert names, "no entity at all"
    missing = names - (hass.entities.keys() & hass.states.keys())
    assert not missing, f"cards name missing entities: {sorted(missing)[:5]}"
    assert "light.desk_lamp" not in names


def tiles_of(dashboard: dict[str, Any], entity_id: str) -> list[dict[str, Any]]:
    """Return the tiles of an entity."""
    return [
        card
        for card in cards(dashboard)
        if card.get("type") == "tile" and card.get("entity") == entity_id
    ]


def colour_shown(
    dashboard: dict[str, Any], entity_id: str, states: dict[str, str]
) -> str | None:
    """Return the colour of the one tile of ``entity_id`` shown with ``states``."""
    visible = [card for card in tiles_of(dashboard, entity_id) if shown(card, states)]
    assert len(visible) == 1, f"{len(visible)} tiles of {entity_id} shown for {states}"
    colour: str | None = visible[0].get("color")
    return colour


def states_of(hass: FakeHass, **changed: str) -> dict[str, str]:
    """Return every entity's state, with ``changed`` ones (entity id: state)."""
    return {
        entity_id: value["state"] for entity_id, value in hass.states.items()
    } | changed


def test_registers_the_strategy() -> None:
    """The module defines the strategy's element and offers it in Add dashboard."""
    answer = run_strategy(WALLBOARD, company(1, 3).as_json())
    assert answer["elements"] == [
        "ll-strategy-dashboard-weblink-nguc-wallboard",
        "weblink-nguc-wallboard-editor",  # its options' form
    ]
    [strategy] = answer["strategies"]
    assert strategy["type"] == "weblink-nguc-wallboard"
    assert strategy["strategyType"] == "dashboard"
    assert strategy["name"]
    assert strategy["description"]


def test_small_company_in_one_view() -> None:
    """1 queue and 3 users: one view with the queue, the people and recent calls."""
    hass = company(1, 3)
    dashboard = generate(WALLBOARD, hass.as_json())
    assert_only_existing(dashboard, hass)
    [view] = dashboard["views"]
    assert view["type"] == "sections"
    headings = [c["heading"] for c in cards(view) if c.get("type") == "heading"]
    assert headings == ["Queue 000", "Who is on the phone", "Call back", "Recent calls"]

    queue = hass.roles["queue_0"]
    # Each figure of the queue is on it.
    for role in (
        "waiting",
        "current_longest_wait",
        "available_agents",
        "agents_on_call",
        "agents_paused",
        "service_level",
        "completed_today",
        "abandoned_today",
    ):
        assert tiles_of(dashboard, queue[role]), role
    todo_lists = [
        (c["entity"], c["title"]) for c in cards(view) if c.get("type") == "todo-list"
    ]
    assert todo_lists == [(queue["calls_to_return"], "Queue 000")]
    # Every user's line, coloured by its status.
    for n in range(3):
        line = hass.roles[f"user_{n}"]["line_status"]
        colours = {
            status: colour_shown(dashboard, line, states_of(hass, **{line: status}))
            for status in ("idle", "ringing", "in_use", "in_use_ringing", "offline")
        }
        assert colours == {
            "idle": "green",
            "ringing": "amber",
            "in_use": "red",
            "in_use_ringing": "red",
            "offline": "disabled",
        }
        assert colour_shown(dashboard, line, states_of(hass, **{line: "unavailable"}))
    # Recent calls: every call event entity, users' and the queue's.
    [logbook] = [c for c in cards(view) if c.get("type") == "logbook"]
    assert set(logbook["target"]["entity_id"]) == {
        queue["queue_call"],
        *(hass.roles[f"user_{n}"]["call"] for n in range(3)),
    }
    # The event stream's connection, so that a stale board says so.
    assert [b["entity"] for b in view["badges"]] == [
        hass.roles["account"]["event_stream"]
    ]


@pytest.mark.parametrize(
    ("config", "waits"),
    [
        # Defaults: amber past 60 s, red past 180 s.
        (
            {},
            {"0": "green", "60": "green", "61": "amber", "180": "amber", "181": "red"},
        ),
        # Emptied in the form: the defaults.
        (
            {"wait_amber": None, "wait_red": ""},
            {"60": "green", "61": "amber", "181": "red"},
        ),
        (
            {"wait_amber": 5, "wait_red": 10},
            {"5": "green", "6": "amber", "10": "amber", "11": "red", "900": "red"},
        ),
    ],
)
def test_longest_wait_turns_amber_then_red(
    config: dict[str, Any], waits: dict[str, str]
) -> None:
    """The longest wait, and the waiting callers with it, by the thresholds set."""
    hass = company(1, 3)
    dashboard = generate(WALLBOARD | config, hass.as_json())
    queue = hass.roles["queue_0"]
    wait = queue["current_longest_wait"]
    for seconds, colour in waits.items():
        states = states_of(hass, **{wait: seconds})
        assert colour_shown(dashboard, wait, states) == colour, seconds
        assert colour_shown(dashboard, queue["waiting"], states) == colour, seconds
    # Unknown: shown, uncoloured.
    assert colour_shown(dashboard, wait, states_of(hass, **{wait: "unknown"})) is None


@pytest.mark.parametrize(
    "config",
    [{"wait_amber": 200, "wait_red": 100}, {"wait_red": "soon"}, {"layout": "grid"}],
)
def test_bad_options_are_said(config: dict[str, Any]) -> None:
    """Options that make no sense are an error the dashboard shows, naming the option."""
    with pytest.raises(WallboardError, match=r"wait_red|layout"):
        generate(WALLBOARD | config, company(1, 3).as_json())


def test_disabled_entities_left_out() -> None:
    """A disabled entity is named by no card; its queue and user still appear."""
    hass = company(1, 3)
    queue = hass.roles["queue_0"]
    anna = hass.roles["user_0"]
    for entity_id in (
        queue["current_longest_wait"],
        queue["service_level"],
        queue["calls_to_return"],
        anna["call"],
    ):
        hass.disable(entity_id)
    # Hidden by its user: left out too, as Home Assistant's own dashboards do.
    hass.entities[queue["abandoned_today"]]["hidden"] = True
    dashboard = generate(WALLBOARD, hass.as_json())
    assert_only_existing(dashboard, hass)
    names = referenced(dashboard)
    assert queue["abandoned_today"] not in names
    # Disabled by default (talk time, hold time, last event): never named.
    for role in ("talk_time_today", "hold_time_today"):
        assert queue[role] not in names
    assert hass.roles["account"]["last_event"] not in names
    # The queue is still there, its waiting callers uncoloured (no wait to
    # colour them by); Anna is still on the board.
    assert [card.get("color") for card in tiles_of(dashboard, queue["waiting"])] == [
        None
    ]
    assert tiles_of(dashboard, anna["line_status"])
    assert not [c for c in cards(dashboard) if c.get("type") == "todo-list"]


def test_user_without_line_status_and_nothing_to_show() -> None:
    """Without its line status a user has no tile; with nothing at all, a hint, no error."""
    hass = company(1, 3)
    hass.disable(hass.roles["user_0"]["line_status"])
    dashboard = generate(WALLBOARD, hass.as_json())
    assert_only_existing(dashboard, hass)
    assert len(tiles_of(dashboard, hass.roles["user_1"]["line_status"])) == 4

    empty = generate(WALLBOARD, company(0, 0).as_json())
    assert referenced(empty) == set()
    [markdown] = [c for c in cards(empty) if c.get("type") == "markdown"]
    assert "No Weblink NGUC queue or user" in markdown["content"]


def test_large_company_gets_a_view_per_queue() -> None:
    """100 queues and 1,000 users: an overview, a view per queue, people in groups."""
    hass = company(100, 1000)
    dashboard = generate(WALLBOARD, hass.as_json())
    assert_only_existing(dashboard, hass)
    views = dashboard["views"]
    overview, rest = views[0], views[1:]
    queue_views = [v for v in rest if v["path"].startswith("queue-")]
    people_views = [v for v in rest if v["path"].startswith("people-")]
    assert len(queue_views) == 100
    assert len(views) == 1 + len(queue_views) + len(people_views)
    paths = [view["path"] for view in views]
    assert len(set(paths)) == len(paths)

    # Every queue on the overview, opening its own view; every queue's view
    # shows that queue's figures and its agents.
    navigations = {
        card["tap_action"]["navigation_path"]
        for card in cards(overview)
        if card.get("tap_action", {}).get("action") == "navigate"
    }
    assert {v["path"] for v in queue_views} | {v["path"] for v in people_views} == (
        navigations
    )
    for n, view in enumerate(queue_views):
        queue = hass.roles[f"queue_{n}"]
        assert view["title"] == f"Queue {n:03d}"
        assert tiles_of(overview, queue["waiting"])
        assert tiles_of(view, queue["current_longest_wait"])
        agents = {
            card["entity"]
            for card in cards(view)
            if card.get("type") == "tile" and card["entity"].endswith("_line_status")
        }
        assert agents == {
            hass.roles[f"user_{u}"]["line_status"] for u in range(n, 1000, 100)
        }
    # Too many for the tab bar: the queues' views are reached from the overview.
    assert all(v.get("subview") and v["back_path"] == "overview" for v in queue_views)

    # Every user in exactly one people view, none of them too long to use.
    seen: list[str] = []
    for view in people_views:
        lines = {c["entity"] for c in cards(view) if c.get("type") == "tile"}
        assert 0 < len(lines) <= 48
        seen.extend(lines)
    assert sorted(seen) == sorted(
        hass.roles[f"user_{n}"]["line_status"] for n in range(1000)
    )
    # No view too large to draw: at most 48 people or one queue.
    assert max(len(list(cards(view))) for view in views) < 500


def test_layout_option() -> None:
    """``layout`` forces one view, or a view per queue, whatever the size."""
    small = company(1, 3)
    per_queue = generate(WALLBOARD | {"layout": "per_queue"}, small.as_json())
    assert [v["path"] for v in per_queue["views"]] == [
        "overview",
        "queue-queue-000",
        "people-u",
    ]
    # Few queues: their views are tabs.
    assert not any(v.get("subview") for v in per_queue["views"])
    big = company(6, 50)
    single = generate(WALLBOARD | {"layout": "single"}, big.as_json())
    assert len(single["views"]) == 1
    assert_only_existing(single, big)
    auto = generate(WALLBOARD, big.as_json())
    assert len(auto["views"]) > 6
    # 6 queues and 2 views of people: all in the tab bar.
    assert not any(v.get("subview") for v in auto["views"])
    # 6 queues and 21 views of people: the queues in the tab bar, the
    # people reached from the overview.
    crowd = generate(WALLBOARD, company(6, 1000).as_json())
    tabs = [v["path"] for v in crowd["views"] if not v.get("subview")]
    assert tabs == ["overview", *(f"queue-queue-00{n}" for n in range(6))]


def test_in_swedish_and_without_activity() -> None:
    """The wallboard's own texts follow the language; no logbook, no recent calls."""
    hass = company(1, 3)
    hass.language = "sv"
    hass.config["components"].remove("logbook")
    dashboard = generate(WALLBOARD, hass.as_json())
    headings = [c["heading"] for c in cards(dashboard) if c.get("type") == "heading"]
    assert headings == ["Queue 000", "Vem pratar i telefon", "Ring tillbaka"]
    assert not [c for c in cards(dashboard) if c.get("type") == "logbook"]


def test_names_and_entries() -> None:
    """A device renamed by its user is shown so; ``entry_id`` keeps one company's devices."""
    hass = company(2, 3)
    hass.devices["queue_1"]["name_by_user"] = "Växel"
    dashboard = generate(WALLBOARD, hass.as_json())
    headings = [c["heading"] for c in cards(dashboard) if c.get("type") == "heading"]
    assert headings[:2] == ["Queue 000", "Växel"]
    other = generate(WALLBOARD | {"entry_id": "another"}, hass.as_json())
    assert referenced(other) == set()
    # Devices as Home Assistant listed them before config_entry_id.
    for device in hass.devices.values():
        device["config_entries"] = [device.pop("config_entry_id", None)]
    again = generate(WALLBOARD | {"entry_id": "entry1"}, hass.as_json())
    assert referenced(again) == referenced(dashboard)
