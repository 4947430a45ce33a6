"""Assist's tools (llm.py), as the Assist API offers them, against the simulator's demo.

The tools are asked through Home Assistant's own Assist API
(``llm.async_get_api``), as a conversation agent or the MCP server asks
them; what is exposed is set as the "Expose" page sets it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
)
from homeassistant.const import Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er, llm
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc import llm as nguc_llm
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from custom_components.weblink_nguc.followup import DATA_FOLLOWUP
from custom_components.weblink_nguc.llm import fold
from tests.simulator import Simulator
from tests.simulator.model import User

from .conftest import entity_id_of, wait_for, wait_in_sync

ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
SUPPORT, SALES = "501", "502"
IN_USE, RINGING = 1, 8
ASSISTANT = "conversation"

QUEUE_STATUS = f"{DOMAIN}__queue_status"
ON_THE_PHONE = f"{DOMAIN}__on_the_phone"
CALLS_TO_RETURN = f"{DOMAIN}__calls_to_return"
RECENT_CALLS = f"{DOMAIN}__recent_calls"
ALL_TOOLS = {QUEUE_STATUS, ON_THE_PHONE, CALLS_TO_RETURN, RECENT_CALLS}

# The entity that makes a user or queue known to each tool.
LINE = (Platform.SENSOR, "line_status")
WAITING = (Platform.SENSOR, "waiting")
LIST = (Platform.TODO, "calls_to_return")
USER_CALLS = (Platform.EVENT, "call")
QUEUE_CALLS = (Platform.EVENT, "queue_call")


@pytest.fixture
async def assist(hass: HomeAssistant) -> None:
    """Set up what the Assist API needs: exposure settings and the llm integration."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "llm", {})


def entity(hass: HomeAssistant, key: str, which: tuple[Platform, str]) -> str:
    """Return the entity id of one of a user's or queue's entities."""
    entity_id = entity_id_of(hass, which[0], key, which[1])
    assert entity_id is not None, (key, which)
    return entity_id


def expose_only(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    *exposed: tuple[str, tuple[Platform, str]],
) -> None:
    """Expose to Assist the entities named (item key, kind) and none other of ours."""
    wanted = {entity(hass, key, which) for key, which in exposed}
    for registry_entry in er.async_entries_for_config_entry(
        er.async_get(hass), entry.entry_id
    ):
        entity_id = registry_entry.entity_id
        async_expose_entity(hass, ASSISTANT, entity_id, entity_id in wanted)


def context() -> llm.LLMContext:
    """Return the context of an Assist conversation."""
    return llm.LLMContext(
        platform="test",
        context=Context(),
        language="en",
        assistant=ASSISTANT,
        device_id=None,
    )


async def our_tools(hass: HomeAssistant) -> dict[str, llm.Tool]:
    """Return our tools as the Assist API offers them."""
    api = await llm.async_get_api(hass, llm.LLM_API_ASSIST, context())
    return {tool.name: tool for tool in api.tools if tool.name.startswith(DOMAIN)}


async def ask(hass: HomeAssistant, tool: str, **args: Any) -> llm.ToolResult:
    """Call one of our tools as the Assist API offers it.

    Not through ``APIInstance.async_call_tool``: it traces the call with the
    conversation integration, whose requirements the test venv lacks (the
    end-to-end test goes that way, through the MCP server).
    """
    offered = await our_tools(hass)
    assert tool in offered, f"{tool} not offered"
    result = await offered[tool].async_call(
        hass, llm.ToolInput(tool_name=tool, tool_args=args), context()
    )
    assert isinstance(result, llm.ToolResult)
    return result


async def answer(hass: HomeAssistant, tool: str, **args: Any) -> dict[str, Any]:
    """Return a tool's answer, which must not be a refusal."""
    result = await ask(hass, tool, **args)
    assert not result.error, result.data
    return dict(result.data)


async def refusal(hass: HomeAssistant, tool: str, **args: Any) -> dict[str, Any]:
    """Return a tool's refusal."""
    result = await ask(hass, tool, **args)
    assert result.error, result.data
    return dict(result.data)


def expose_everyone(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Expose every entity the tools read, of every demo user and queue but Maja."""
    people = [user_key(user) for user in (ANNA, ERIK, LARS)]
    queues = [queue_key(queue) for queue in (SUPPORT, SALES)]
    expose_only(
        hass,
        entry,
        *((key, which) for key in people for which in (LINE, LIST, USER_CALLS)),
        *((key, which) for key in queues for which in (WAITING, LIST, QUEUE_CALLS)),
    )


# --- What is offered ----------------------------------------------------------------------


@pytest.mark.usefixtures("assist")
async def test_only_tools_with_something_exposed_are_offered(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Nothing exposed, no tool; each tool comes with its own entity exposed."""
    expose_only(hass, init_integration)
    assert await our_tools(hass) == {}
    assert nguc_llm.async_get_tools(hass, context(), llm.LLM_API_ASSIST) is None

    expose_only(hass, init_integration, (user_key(ANNA), LINE))
    assert set(await our_tools(hass)) == {ON_THE_PHONE}

    expose_only(hass, init_integration, (queue_key(SUPPORT), WAITING))
    assert set(await our_tools(hass)) == {QUEUE_STATUS}

    expose_everyone(hass, init_integration)
    tools = await our_tools(hass)
    assert set(tools) == ALL_TOOLS
    for tool in tools.values():
        assert tool.integration == DOMAIN
        assert tool.annotations.read_only
        assert not tool.annotations.destructive
    # Only for the Assist API.
    assert nguc_llm.async_get_tools(hass, context(), "another_api") is None


# --- Queue status -------------------------------------------------------------------------


@pytest.mark.usefixtures("assist")
@pytest.mark.freeze_time("2026-12-07 10:00:00+00:00", tick=True)
async def test_queue_status_with_the_demo_figures(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Waiting callers with their waits (aged to now), agents and the day's figures."""
    expose_everyone(hass, init_integration)
    await simulator.add_caller(SUPPORT, "0701111111", wait=30)
    await simulator.add_caller(SUPPORT, "0702222222", wait=75)
    queues = init_integration.runtime_data.data.queues
    await wait_for(hass, lambda: queues[SUPPORT].waiting == 2)
    # The waits were sent 10 s ago: they are 10 s longer now.
    sent = init_integration.runtime_data.queue_received[SUPPORT]
    freezer.move_to(sent + timedelta(seconds=10))

    support = {
        "queue": "Support",
        "callers_waiting": 2,
        "callers": [
            {"position": 1, "number": "+46701111111", "wait_seconds": 40},
            {"position": 2, "number": "+46702222222", "wait_seconds": 85},
        ],
        "longest_wait_now_seconds": 85,
        "longest_wait_today_seconds": 95,
        "average_wait_today_seconds": 32,
        # Anna and Erik are free; Maja is paused (and offline).
        "agents_free": 2,
        "agents_on_a_call": 0,
        "agents_paused": 1,
        "agents_total": 3,
        "service_level_percent": 92,
        "service_level_answered_within_seconds": 60,
        "completed_today": 12,
        "abandoned_today": 1,
    }
    assert await answer(hass, QUEUE_STATUS, queue="support") == {"queues": [support]}

    every = await answer(hass, QUEUE_STATUS)
    assert [queue["queue"] for queue in every["queues"]] == ["Sales", "Support"]
    sales, support_again = every["queues"]
    assert support_again == support
    assert sales | {"callers": None} == {
        "queue": "Sales",
        "callers_waiting": 0,
        "callers": None,
        "longest_wait_now_seconds": 0,
        "longest_wait_today_seconds": 40,
        "average_wait_today_seconds": 18,
        "agents_free": 2,
        "agents_on_a_call": 0,
        "agents_paused": 0,
        "agents_total": 2,
        "service_level_percent": 100,
        "service_level_answered_within_seconds": 30,
        "completed_today": 5,
        "abandoned_today": 0,
    }
    assert sales["callers"] == []


@pytest.mark.usefixtures("assist")
async def test_queue_not_exposed_does_not_exist(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Sales is not exposed: never listed, and asked by name, unknown."""
    expose_only(hass, init_integration, (queue_key(SUPPORT), WAITING))
    every = await answer(hass, QUEUE_STATUS)
    assert [queue["queue"] for queue in every["queues"]] == ["Support"]

    assert await refusal(hass, QUEUE_STATUS, queue="Sales") == {
        "error": "unknown_queue",
        "message": "No queue called 'Sales' is known to Assist.",
        "known_queues": ["Support"],
    }
    # "the Support queue" is Support.
    assert (await answer(hass, QUEUE_STATUS, queue="Support queue"))["queues"][0][
        "queue"
    ] == "Support"


# --- Who is on the phone ------------------------------------------------------------------


@pytest.mark.usefixtures("assist")
async def test_who_is_on_the_phone(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Those in use or ringing, by name; one person's line by name."""
    expose_everyone(hass, init_integration)
    assert await answer(hass, ON_THE_PHONE) == {"on_the_phone": [], "people_known": 3}

    await simulator.set_user_status(ANNA, IN_USE)
    await simulator.set_user_status(ERIK, RINGING)
    # Maja is on a call too, but not exposed: never named.
    await simulator.set_user_status(MAJA, IN_USE)
    statuses = init_integration.runtime_data.data.statuses
    await wait_for(hass, lambda: int(statuses[MAJA].status) == IN_USE)

    assert await answer(hass, ON_THE_PHONE) == {
        "on_the_phone": [
            {"person": "Anna Lindqvist", "extension": "101", "status": "in_use"},
            {"person": "Erik Johansson", "extension": "102", "status": "ringing"},
        ],
        "people_known": 3,
    }
    assert await answer(hass, ON_THE_PHONE, person="Anna") == {
        "person": "Anna Lindqvist",
        "extension": "101",
        "status": "in_use",
        "on_the_phone": True,
    }
    assert await answer(hass, ON_THE_PHONE, person="lars oberg") == {
        "person": "Lars Öberg",
        "extension": "104",
        "status": "idle",
        "on_the_phone": False,
    }


@pytest.mark.usefixtures("assist")
@pytest.mark.parametrize(
    "said",
    [
        "Lars Öberg",
        "lars öberg",
        "LARS OBERG",
        "  Lars   Oberg ",
        "Lars",
        "lärs",
        "104",
    ],
)
async def test_names_as_a_person_says_them(
    hass: HomeAssistant, init_integration: MockConfigEntry, said: str
) -> None:
    """Case, diacritics and spacing aside; a unique first name; an extension."""
    expose_everyone(hass, init_integration)
    assert (await answer(hass, ON_THE_PHONE, person=said))["person"] == "Lars Öberg"


def test_fold() -> None:
    """Names compare without case or diacritics (Åsa is asa)."""
    assert fold("Åsa") == fold("asa") == "asa"
    assert fold("Öberg") == "oberg"
    assert fold("Søren Ærø") == "soren aero"
    assert fold("Anna-Lena  Lindqvist") == "anna lena lindqvist"


@pytest.mark.usefixtures("assist")
async def test_unknown_and_unexposed_person_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Unknown, or known to NGUC but not exposed: the same refusal, naming only the exposed."""
    expose_only(
        hass,
        init_integration,
        (user_key(ANNA), LINE),
        (user_key(ERIK), LINE),
    )
    for said in ("Bertil", "Maja", "Maja Karlsson", "Lars Öberg"):
        refused = await refusal(hass, ON_THE_PHONE, person=said)
        assert refused == {
            "error": "unknown_person",
            "message": f"No person called '{said}' is known to Assist.",
            "known_persons": ["Anna Lindqvist", "Erik Johansson"],
        }


@pytest.mark.usefixtures("assist")
async def test_ambiguous_first_name_is_refused(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Two exposed Annas: "Anna" asks which one; the full name answers."""
    simulator.company.add_user(User("86490", "Anna Berg", "105", "berg@demo.example"))
    simulator.company.add_user(User("86491", "Anna Ek", "106", "ek@demo.example"))
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_in_sync(hass, mock_config_entry)
    # Anna Ek is not exposed: not offered as a candidate.
    expose_only(
        hass,
        mock_config_entry,
        (user_key(ANNA), LINE),
        (user_key("86490"), LINE),
    )

    refused = await refusal(hass, ON_THE_PHONE, person="anna")
    assert refused["error"] == "ambiguous_person"
    assert refused["candidates"] == ["Anna Berg (105)", "Anna Lindqvist (101)"]
    assert (await answer(hass, ON_THE_PHONE, person="Anna Berg"))["extension"] == "105"
    assert (await answer(hass, ON_THE_PHONE, person="101"))["person"] == (
        "Anna Lindqvist"
    )


# --- Calls to return and recent calls -------------------------------------------------------


async def some_calls(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Anna misses a call; a caller gives up in Support; Erik calls Maja, who misses it."""
    company = simulator.company
    await simulator.finish_call(
        ANNA, remote="0701234567", disposition="NO ANSWER", call_guid="1.1"
    )
    await simulator.push_event(
        "QueueCdr",
        company.queue_cdr(
            SUPPORT,
            call_guid="1.2",
            callerid="0709876543",
            disposition="NOANSWERED",
            reason="ABANDON",
        ),
    )
    # Both legs of a colleague's call, as NGUC sends them.
    await simulator.push_events(
        [
            (
                "Cdr",
                {
                    **company.cdr(
                        own,
                        direction=direction,
                        remote=remote,
                        disposition="NO ANSWER",
                        call_guid="1.3",
                    ),
                    "src_pbx_user_id": ERIK,
                    "dst_pbx_user_id": MAJA,
                },
            )
            for own, direction, remote in ((ERIK, "OUT", "103"), (MAJA, "IN", "102"))
        ]
    )
    followup = hass.data[DATA_FOLLOWUP][entry.entry_id]
    await wait_for(hass, lambda: len(followup.log) == 3)


@pytest.mark.usefixtures("assist")
async def test_calls_to_return(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The open items of a person's or a queue's list; all lists with open items."""
    expose_everyone(hass, init_integration)
    await some_calls(hass, init_integration, simulator)

    anna = await answer(hass, CALLS_TO_RETURN, person="anna")
    assert anna["lists"] == [
        {
            "person": "Anna Lindqvist",
            "open_count": 1,
            "open": [
                {
                    "summary": "+46701234567",
                    "calls": anna["lists"][0]["open"][0]["calls"],
                }
            ],
        }
    ]
    assert anna["lists"][0]["open"][0]["calls"]  # when they called
    support = await answer(hass, CALLS_TO_RETURN, queue="Support")
    assert [item["summary"] for item in support["lists"][0]["open"]] == ["+46709876543"]
    every = await answer(hass, CALLS_TO_RETURN)
    assert [
        (lst.get("person") or lst.get("queue"), lst["open_count"])
        for lst in every["lists"]
    ] == [("Anna Lindqvist", 1), ("Support", 1)]
    # Erik's list is exposed and empty: asked for, it is there.
    assert (await answer(hass, CALLS_TO_RETURN, person="Erik"))["lists"] == [
        {"person": "Erik Johansson", "open_count": 0, "open": []}
    ]
    assert (await refusal(hass, CALLS_TO_RETURN, person="Maja"))[
        "error"
    ] == "unknown_person"


@pytest.mark.usefixtures("assist")
@pytest.mark.freeze_time("2026-12-07 10:00:00+00:00", tick=True)
async def test_recent_calls(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The history get_calls answers, by person, queue, type and time; only the exposed named."""
    expose_everyone(hass, init_integration)
    await some_calls(hass, init_integration, simulator)

    every = await answer(hass, RECENT_CALLS)
    # Maja is not exposed: her call is not listed, as she is the only one in it
    # besides Erik... who is exposed: listed, Maja written as a colleague.
    assert [
        (call["type"], call.get("user"), call.get("queue")) for call in every["calls"]
    ] == [
        ("missed", COLLEAGUE, None),
        ("queue_not_answered", None, "Support"),
        ("missed", "Anna Lindqvist", None),
    ]
    maja_missed = every["calls"][0]
    assert maja_missed["name"] == "Erik Johansson"
    assert "Maja" not in str(every)
    assert "call_guid" not in maja_missed

    anna = await answer(hass, RECENT_CALLS, person="Anna Lindqvist")
    assert [call["number"] for call in anna["calls"]] == ["+46701234567"]
    support = await answer(
        hass, RECENT_CALLS, queue="support", type=["queue_not_answered"]
    )
    assert [call["number"] for call in support["calls"]] == ["+46709876543"]
    assert (await answer(hass, RECENT_CALLS, type=["answered"]))["calls"] == []
    assert len((await answer(hass, RECENT_CALLS, limit=1))["calls"]) == 1

    freezer.tick(timedelta(hours=2))
    assert (await answer(hass, RECENT_CALLS, hours=1))["calls"] == []
    assert len((await answer(hass, RECENT_CALLS, hours=3))["calls"]) == 3
    refused = await refusal(hass, RECENT_CALLS, since="yesterday-ish")
    assert refused["error"] == "invalid_since"


COLLEAGUE = nguc_llm.COLLEAGUE


# --- Unavailable --------------------------------------------------------------------------


@pytest.mark.usefixtures("assist", "short_stream_grace")
async def test_unavailable_entry_says_so(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """No stale figures while unavailable; the lists and the history, with a note."""
    expose_everyone(hass, init_integration)
    await some_calls(hass, init_integration, simulator)
    coordinator = init_integration.runtime_data
    await simulator.go_offline()
    await wait_for(hass, lambda: not coordinator.available)

    for tool, args in (
        (QUEUE_STATUS, {}),
        (QUEUE_STATUS, {"queue": "Support"}),
        (ON_THE_PHONE, {}),
        (ON_THE_PHONE, {"person": "Anna"}),
    ):
        refused = await refusal(hass, tool, **args)
        assert refused["error"] == "unavailable", (tool, args)
        assert "unavailable" in refused["message"]
        assert "queues" not in refused
        assert "status" not in refused
    # Unknown names are still unknown.
    assert (await refusal(hass, ON_THE_PHONE, person="Maja"))[
        "error"
    ] == "unknown_person"

    lists = await answer(hass, CALLS_TO_RETURN, person="Anna")
    assert lists["lists"][0]["open_count"] == 1
    assert "unavailable" in lists["note"]
    calls = await answer(hass, RECENT_CALLS)
    assert len(calls["calls"]) == 3
    assert "unavailable" in calls["note"]


@pytest.mark.usefixtures("assist")
async def test_entry_not_loaded_says_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An entry that is not running: its exposed tools say the phone system is unavailable."""
    expose_everyone(hass, init_integration)
    await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    # Still offered: a question gets an answer saying why there is none.
    assert set(await our_tools(hass)) == ALL_TOOLS
    for tool, args in (
        (QUEUE_STATUS, {"queue": "Support"}),
        (ON_THE_PHONE, {}),
        (CALLS_TO_RETURN, {"person": "Anna"}),
        (RECENT_CALLS, {}),
    ):
        assert await refusal(hass, tool, **args) == {
            "error": "unavailable",
            "message": nguc_llm.UNAVAILABLE,
        }
