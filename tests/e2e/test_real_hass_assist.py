"""Assist end to end, in a real Home Assistant: our tools through its MCP server, and the README's sentences.

"Each Assist tool is listed and answers, with the demo's figures, to an MCP
client talking to Home Assistant's own MCP server": the ``mcp_server``
integration is set up as its config flow does (serving the Assist API), the
entities are exposed as the *Expose* page does, and a small MCP client
speaks Streamable HTTP at ``/api/mcp`` with a bearer token. A user whose
entities are not exposed is refused.

The README's ``custom_sentences`` examples are copied as written into the
configuration folder, with its ``intent_script``, and the built-in agent is
asked both questions in English and in Swedish over
``/api/conversation/process``.

Home Assistant is the ``hass`` of ``.venv-hass`` (the release users run)
beside the simulator's demo company, used only through its HTTP and
websocket APIs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import itertools
import json
from pathlib import Path
import re
from typing import Any

import aiohttp
import pytest

from tests.e2e.examples import README
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
    pytest.mark.timeout(300),
]

DOMAIN = "weblink_nguc"
ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
SUPPORT, SALES = "501", "502"
IN_USE = 1
TOOLS = {
    f"{DOMAIN}__queue_status",
    f"{DOMAIN}__on_the_phone",
    f"{DOMAIN}__calls_to_return",
    f"{DOMAIN}__recent_calls",
}
# The entity of each user and queue that makes it known to the tools: its
# unique id ends in "<item key>_<this>", on this platform.
USER_ENTITIES = (
    ("sensor", "line_status"),
    ("todo", "calls_to_return"),
    ("event", "call"),
)
QUEUE_ENTITIES = (
    ("sensor", "waiting"),
    ("todo", "calls_to_return"),
    ("event", "queue_call"),
)
MCP_ACCEPT = "application/json, text/event-stream"

# A README block marked as an example of a kind, as written.
_BLOCK = r"<!-- example: {kind} -->\s*```yaml\n(?P<yaml>.*?)```"


def readme_block(kind: str) -> str:
    """Return the text of the README's one example of ``kind``, exactly as written."""
    found = re.findall(
        _BLOCK.format(kind=re.escape(kind)), README.read_text("utf-8"), re.DOTALL
    )
    assert len(found) == 1, f"one <!-- example: {kind} --> block in the README"
    return str(found[0])


@pytest.fixture
async def hass(tmp_path: Path) -> AsyncIterator[RealHass]:
    """A running Home Assistant with the README's sentences and intents, as a user copies them."""
    config = tmp_path / "config"
    for language in ("en", "sv"):
        folder = config / "custom_sentences" / language
        folder.mkdir(parents=True)
        (folder / "weblink_nguc.yaml").write_text(
            readme_block(f"custom_sentences {language}"), encoding="utf-8"
        )
    real = RealHass(
        config,
        configuration=CONFIGURATION + "conversation:\n" + readme_block("intent_script"),
    )
    async with running(real, timeout=180) as started:
        yield started


class McpClient:
    """A small MCP client: JSON-RPC over Streamable HTTP, answers as JSON or SSE."""

    def __init__(self, hass: RealHass) -> None:
        """Talk to ``hass``'s ``/api/mcp`` with its owner's token."""
        self.hass = hass
        self.ids = itertools.count(1)
        self.headers = {
            "Authorization": f"Bearer {hass.token}",
            "Accept": MCP_ACCEPT,
            "Content-Type": "application/json",
        }
        self.session_id: str | None = None

    async def _post(self, message: dict[str, Any]) -> aiohttp.ClientResponse:
        headers = dict(self.headers)
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        return await self.hass.session.post(
            f"{self.hass.url}/api/mcp",
            data=json.dumps(message),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send a request; return its result (HassError on an error)."""
        msg_id = next(self.ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        async with await self._post(message) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise HassError(f"MCP {method}: HTTP {resp.status}: {text}")
            self.session_id = resp.headers.get("Mcp-Session-Id", self.session_id)
            if resp.content_type == "text/event-stream":
                answers = [
                    json.loads(line.removeprefix("data:").strip())
                    for line in text.splitlines()
                    if line.startswith("data:")
                ]
            else:
                answers = [json.loads(text)]
        answer = next(a for a in answers if a.get("id") == msg_id)
        if "error" in answer:
            raise HassError(f"MCP {method}: {answer['error']}")
        return answer["result"]

    async def notify(self, method: str) -> None:
        """Send a notification: accepted, no answer."""
        async with await self._post({"jsonrpc": "2.0", "method": method}) as resp:
            assert resp.status == 202, await resp.text()

    async def initialize(self) -> dict[str, Any]:
        """Open the session as an MCP client does; return the server's info."""
        result = await self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "weblink-nguc-e2e", "version": "1"},
            },
        )
        await self.notify("notifications/initialized")
        return dict(result)

    async def tools(self) -> dict[str, dict[str, Any]]:
        """Return the tools listed, by name."""
        result = await self.request("tools/list")
        return {tool["name"]: tool for tool in result["tools"]}

    async def call(self, name: str, **arguments: Any) -> tuple[bool, dict[str, Any]]:
        """Call a tool; return whether it is an error, and its JSON answer."""
        result = await self.request(
            "tools/call", {"name": name, "arguments": arguments}
        )
        [content] = result["content"]
        return bool(result.get("isError")), json.loads(content["text"])

    async def answer(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Return a tool's answer, which must not be an error."""
        error, data = await self.call(name, **arguments)
        assert not error, data
        return data


async def add_integration(hass: RealHass, simulator: Simulator) -> dict[str, str]:
    """Add the demo account; return our entities' ids by unique id, once all are there."""
    await hass.add_demo_entry(simulator.api_url, simulator.events_url)

    async def ours() -> dict[str, str]:
        entities = await hass.ws_command("config/entity_registry/list")
        found = {
            entity["unique_id"]: entity["entity_id"]
            for entity in entities
            if entity["platform"] == DOMAIN
        }
        wanted = [
            unique_id(f"user_{user}", suffix)
            for user in (ANNA, ERIK, MAJA, LARS)
            for _platform, suffix in USER_ENTITIES
        ] + [
            unique_id(f"queue_{queue}", suffix)
            for queue in (SUPPORT, SALES)
            for _platform, suffix in QUEUE_ENTITIES
        ]
        return found if all(key in found for key in wanted) else {}

    return await until(ours, "the demo's entities", timeout=60)


def unique_id(key: str, suffix: str) -> str:
    """Return the unique id of an entity of the demo company (4711)."""
    return f"4711_{key}_{suffix}"


async def expose(hass: RealHass, entity_ids: list[str], exposed: bool) -> None:
    """Expose or hide entities from Assist, as the Expose page does."""
    await hass.ws_command(
        "homeassistant/expose_entity",
        assistants=["conversation"],
        entity_ids=entity_ids,
        should_expose=exposed,
    )


async def add_mcp_server(hass: RealHass) -> None:
    """Set up the Model Context Protocol Server serving the Assist API, as its flows do."""
    flow = await hass.request(
        "POST",
        "/api/config/config_entries/flow",
        json_body={"handler": "mcp_server", "show_advanced_options": False},
    )
    if flow["type"] == "form":
        flow = await hass.request(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", json_body={}
        )
    assert flow["type"] == "create_entry", flow
    entry_id = flow["result"]["entry_id"]
    options = await hass.request(
        "POST",
        "/api/config/config_entries/options/flow",
        json_body={"handler": entry_id},
    )
    assert options["type"] == "form", options
    done = await hass.request(
        "POST",
        f"/api/config/config_entries/options/flow/{options['flow_id']}",
        json_body={
            "all_llm_apis": False,
            "llm_hass_api": ["assist"],
            "require_admin": True,
            "read_only": False,
        },
    )
    assert done["type"] == "create_entry", done

    async def loaded() -> bool:
        entries = await hass.request("GET", "/api/config/config_entries/entry")
        return any(
            e["domain"] == "mcp_server" and e["state"] == "loaded" for e in entries
        )

    await until(loaded, "the MCP server loaded")


async def ask(hass: RealHass, text: str, language: str) -> str:
    """Ask the built-in agent; return what it says."""
    answer = await hass.request(
        "POST",
        "/api/conversation/process",
        json_body={
            "text": text,
            "language": language,
            "agent_id": "conversation.home_assistant",
        },
    )
    response = answer["response"]
    assert response["response_type"] == "action_done", answer
    return str(response["speech"]["plain"]["speech"])


async def test_assist_tools_over_mcp_and_readme_sentences(
    simulator: Simulator, hass: RealHass
) -> None:
    """Every tool answers an MCP client with the demo's figures; an unexposed person is refused."""
    entities = await add_integration(hass, simulator)

    def ids(
        kind: str, items: tuple[str, ...], which: tuple[tuple[str, str], ...]
    ) -> list[str]:
        return [
            entities[unique_id(f"{kind}_{item}", suffix)]
            for item in items
            for _platform, suffix in which
        ]

    # Everyone but Maja; her to-do list is exposed by default, as every list.
    await expose(
        hass,
        ids("user", (ANNA, ERIK, LARS), USER_ENTITIES)
        + ids("queue", (SUPPORT, SALES), QUEUE_ENTITIES),
        True,
    )
    await expose(hass, ids("user", (MAJA,), USER_ENTITIES), False)
    await add_mcp_server(hass)

    # The demo's day: two callers in Support, Anna on a call, a caller who
    # gave up in Support and a call Anna missed.
    # (Anna's line first: the queue's next report counts her busy.)
    await simulator.set_user_status(ANNA, IN_USE)
    await simulator.add_caller(SUPPORT, "0701111111", wait=30)
    await simulator.add_caller(SUPPORT, "0702222222", wait=75)
    await simulator.finish_call(ERIK, remote="0703333333", disposition="NO ANSWER")
    await simulator.push_event(
        "QueueCdr",
        simulator.company.queue_cdr(
            SUPPORT,
            call_guid=simulator.company.new_call_guid(),
            callerid="0709876543",
            disposition="NOANSWERED",
            reason="ABANDON",
        ),
    )
    support_waiting = entities[unique_id(f"queue_{SUPPORT}", "waiting")]
    anna_line = entities[unique_id(f"user_{ANNA}", "line_status")]
    await hass.wait_state(
        support_waiting, lambda s: s["state"] == "2", what="2 waiting"
    )
    await hass.wait_state(anna_line, lambda s: s["state"] == "in_use", what="in use")

    mcp = McpClient(hass)
    info = await mcp.initialize()
    assert info["serverInfo"]["name"] == "home-assistant"
    tools = await mcp.tools()
    assert set(tools) >= TOOLS, sorted(tools)
    for name in TOOLS:
        assert tools[name]["annotations"]["readOnlyHint"] is True, tools[name]

    # Queue status, with the demo's figures.
    status = await mcp.answer(f"{DOMAIN}__queue_status", queue="Support")
    [support] = status["queues"]
    waits = [caller["wait_seconds"] for caller in support["callers"]]
    assert [caller["number"] for caller in support["callers"]] == [
        "+46701111111",
        "+46702222222",
    ]
    # Aged to now: a few seconds more than when they were sent.
    assert 30 <= waits[0] <= 60, waits
    assert 75 <= waits[1] <= 105, waits
    assert support | {"callers": None, "longest_wait_now_seconds": None} == {
        "queue": "Support",
        "callers_waiting": 2,
        "callers": None,
        "longest_wait_now_seconds": None,
        "longest_wait_today_seconds": 95,
        "average_wait_today_seconds": 32,
        # Erik is free; Anna is on a call (no longer free); Maja is paused.
        "agents_free": 1,
        "agents_on_a_call": 0,
        "agents_paused": 1,
        "agents_total": 3,
        "service_level_percent": 92,
        "service_level_answered_within_seconds": 60,
        "completed_today": 12,
        "abandoned_today": 1,
    }
    assert support["longest_wait_now_seconds"] == waits[1]
    every = await mcp.answer(f"{DOMAIN}__queue_status")
    assert [queue["queue"] for queue in every["queues"]] == ["Sales", "Support"]

    # Who is on the phone.
    assert await mcp.answer(f"{DOMAIN}__on_the_phone") == {
        "on_the_phone": [
            {"person": "Anna Lindqvist", "extension": "101", "status": "in_use"}
        ],
        "people_known": 3,
    }
    lars = await mcp.answer(f"{DOMAIN}__on_the_phone", person="lars oberg")
    assert lars == {
        "person": "Lars Öberg",
        "extension": "104",
        "status": "idle",
        "on_the_phone": False,
    }
    # Maja is not exposed: she does not exist for the tools.
    error, refused = await mcp.call(f"{DOMAIN}__on_the_phone", person="Maja")
    assert error
    assert refused["error"] == "unknown_person"
    assert "Maja" not in json.dumps(refused).replace("'Maja'", "")
    error, refused = await mcp.call(f"{DOMAIN}__calls_to_return", person="Maja")
    assert error
    assert refused["error"] == "unknown_person"

    # Calls to return.
    lists = await mcp.answer(f"{DOMAIN}__calls_to_return")
    assert [
        (lst.get("person") or lst.get("queue"), [i["summary"] for i in lst["open"]])
        for lst in lists["lists"]
    ] == [("Erik Johansson", ["+46703333333"]), ("Support", ["+46709876543"])]

    # Recent calls.
    recent = await mcp.answer(f"{DOMAIN}__recent_calls")
    assert [(call["type"], call["number"]) for call in recent["calls"]] == [
        ("queue_not_answered", "+46709876543"),
        ("missed", "+46703333333"),
    ]
    erik = await mcp.answer(f"{DOMAIN}__recent_calls", person="Erik", type=["missed"])
    assert [call["user"] for call in erik["calls"]] == ["Erik Johansson"]

    # The README's sentences for the built-in agent, in English and Swedish.
    assert await ask(hass, "How many callers are waiting in Support?", "en") == (
        "2 callers are waiting in Support."
    )
    assert await ask(hass, "Is Anna on the phone?", "en") == (
        "Yes, Anna Lindqvist is on a call."
    )
    assert await ask(hass, "Is Lars busy?", "en") == (
        "No, Lars Öberg is not on the phone."
    )
    assert await ask(hass, "Hur många väntar i kön Support?", "sv") == (
        "2 uppringare väntar i Support."
    )
    assert await ask(hass, "Pratar Anna i telefon?", "sv") == (
        "Ja, Anna Lindqvist pratar i telefon."
    )
    assert await ask(hass, "Hur många uppringare väntar i Sales?", "sv") == (
        "Ingen väntar i Sales."
    )
