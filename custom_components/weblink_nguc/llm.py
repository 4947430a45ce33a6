"""Assist's tools for Weblink NGUC: queues, who is on the phone, calls to return, recent calls.

Home Assistant asks this platform for its tools (``async_get_tools``) each
time a conversation agent or an MCP client uses the Assist API. Each tool is
read-only and reads the coordinator's data and the entry's call history and
lists, never entity states, so that it answers with what the entities would
show (waits aged to now).

A tool speaks only of the users and queues whose entity for it is exposed to
the assistant, as core's ``todo/llm.py`` does: the line status sensor for who
is on the phone, a queue's *Waiting* sensor for its status, the *Calls to
return* list for calls to return and the call event entity for recent calls.
Any other user or queue does not exist for that tool: it is never named, not
even in a refusal, and a tool none of whose entities is exposed is not
offered. Who is exposed, and names as a person says them, are
``assist_items.py``'s.

Live figures are never given while the entry is unavailable (they may be
stale): the tool says the phone system is unavailable. The calls to return
and the history are Home Assistant's own and are answered all the same, with
a note that calls since then are not in them yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from heapq import merge
from itertools import islice
from typing import Any, Final, override

from homeassistant.components.llm import LLMTools
from homeassistant.components.todo.const import TodoItemStatus
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.llm import (
    LLM_API_ASSIST,
    LLMContext,
    Tool,
    ToolAnnotations,
    ToolInput,
    ToolResult,
)
from homeassistant.util import dt as dt_util
import probatio as vol

from .api import Queue
from .assist_items import (
    ATTR_PERSON,
    ATTR_QUEUE,
    LINE,
    QUEUE_CALLS,
    QUEUE_FIGURES,
    QUEUE_LIST,
    UNAVAILABLE,
    USER_CALLS,
    USER_LIST,
    Aspect,
    Item,
    RefusalError,
    exposed_items,
    exposed_iter,
    fold,
    loaded_entries,
    match,
    unavailable_refusal,
    unloaded_exposed,
)
from .call_log import CALL_TYPES, Call
from .const import DOMAIN
from .coordinator import NgucConfigEntry
from .data import (
    KIND_USER,
    callers_known,
    longest_wait_now,
    snapshot_age,
    split_key,
)
from .followup import followup_of
from .numbers import display_number
from .sensor import (
    LINE_IN_USE,
    LINE_IN_USE_RINGING,
    LINE_RINGING,
    agents_on_call,
    agents_paused,
    line_state,
)

ATTR_TYPE: Final = "type"
ATTR_SINCE: Final = "since"
ATTR_HOURS: Final = "hours"
ATTR_LIMIT: Final = "limit"

DEFAULT_CALLS: Final = 10
MAX_CALLS: Final = 50
#: Open items listed per list; the count says how many there are in all.
MAX_ITEMS: Final = 20
#: How a person who is not exposed is written in a call they took part in.
COLLEAGUE: Final = "a colleague"

#: A line with a call on it or ringing: on the phone.
ON_THE_PHONE: Final = frozenset({LINE_IN_USE, LINE_RINGING, LINE_IN_USE_RINGING})

NOT_RECENT: Final = (
    "The phone system (Weblink NGUC) is unavailable right now: calls since it "
    "went away are not listed yet."
)

_READ_ONLY = ToolAnnotations(
    read_only=True, destructive=False, idempotent=True, open_world=False
)


def _available(item: Item) -> bool:
    return item.coordinator.available


def _optional_name(description: str) -> vol.Optional:
    return vol.Optional(ATTR_PERSON, description=description)


# --- The tools -------------------------------------------------------------------------


class NgucTool(Tool):
    """A read-only tool of this integration; a refusal is an error answer."""

    annotations = _READ_ONLY
    integration = DOMAIN
    #: The entities that make a user or queue known to this tool.
    aspects: tuple[Aspect, ...] = ()

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: ToolInput, llm_context: LLMContext
    ) -> ToolResult:
        """Answer, or say why not."""
        args = self.parameters(tool_input.tool_args)
        assistant = llm_context.assistant
        try:
            if next(
                exposed_iter(hass, assistant, self.aspects), None
            ) is None and self.down(hass, assistant):
                # Nothing to name while the entry is not running: rather
                # than "unknown", say why.
                raise unavailable_refusal()
            return ToolResult(data=self.answer(hass, assistant, args))
        except RefusalError as refusal:
            return ToolResult(data=refusal.data, error=True)

    def answer(
        self, hass: HomeAssistant, assistant: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        """Return the answer to ``args``; raise RefusalError when there is none."""
        raise NotImplementedError

    def items(self, hass: HomeAssistant, assistant: str, aspect: Aspect) -> list[Item]:
        """Return the items this tool may speak of, of one aspect."""
        return exposed_items(hass, assistant, (aspect,))

    def down(self, hass: HomeAssistant, assistant: str) -> list[NgucConfigEntry]:
        """Return the entries with exposed entities that are not running."""
        return unloaded_exposed(hass, assistant, self.aspects)


class QueueStatusTool(NgucTool):
    """How a queue is doing now: waiting callers, agents, service level."""

    name = f"{DOMAIN}__queue_status"
    title = "Call queue status"
    description = (
        "Get the current status of the phone system's call queues: how many "
        "callers are waiting and for how long each (seconds), the longest wait "
        "now and today, how many agents are free, on a call or paused, the "
        "service level, and the calls completed and abandoned today. Give a "
        "queue's name for one queue, or nothing for all of them. Use it for "
        "questions like 'How many callers are waiting in Support?'."
    )
    aspects = (QUEUE_FIGURES,)
    parameters = vol.Schema(
        {
            vol.Optional(
                ATTR_QUEUE, description="The queue's name; leave out for all queues"
            ): cv.string
        }
    )

    @override
    def answer(
        self, hass: HomeAssistant, assistant: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        queues = self.items(hass, assistant, QUEUE_FIGURES)
        down = self.down(hass, assistant)
        if ATTR_QUEUE in args:
            queue = match(queues, args[ATTR_QUEUE], ATTR_QUEUE)
            if not _available(queue):
                raise unavailable_refusal()
            return {"queues": [queue_status(queue, hass.config.country)]}
        up = [queue for queue in queues if _available(queue)]
        unavailable = {q.entry for q in queues if not _available(q)} | set(down)
        if not up and unavailable:
            raise unavailable_refusal()
        answer: dict[str, Any] = {
            "queues": [
                queue_status(queue, hass.config.country)
                for queue in sorted(up, key=_by_name)
            ]
        }
        if unavailable:
            answer["unavailable"] = UNAVAILABLE
        return answer


def _by_name(item: Item) -> str:
    return fold(item.name)


def queue_status(item: Item, country: str | None) -> dict[str, Any]:
    """Return one queue's figures, its callers' waits aged to now."""
    coordinator = item.coordinator
    queue: Queue = coordinator.data.queues[item.item_id]
    # The snapshot's waits aged to now, as the Longest wait sensor shows them.
    received = coordinator.queue_received.get(queue.id)
    now = dt_util.utcnow()
    aged = snapshot_age(received, now)
    callers: list[dict[str, Any]] | None = None
    if callers_known(queue):
        callers = [
            {
                "position": caller.position or place,
                # Written as the lists and the history write numbers.
                "number": display_number(caller.callerid, country),
                "wait_seconds": None if caller.wait is None else caller.wait + aged,
            }
            for place, caller in enumerate(queue.callers, start=1)
        ]
    return {
        "queue": item.name,
        "callers_waiting": queue.waiting,
        "callers": callers,
        "longest_wait_now_seconds": longest_wait_now(queue, received, now),
        "longest_wait_today_seconds": queue.wait_longest,
        "average_wait_today_seconds": queue.wait_avg,
        "agents_free": queue.member_available,
        "agents_on_a_call": agents_on_call(queue),
        "agents_paused": agents_paused(queue),
        "agents_total": queue.member_total,
        "service_level_percent": queue.service_level,
        "service_level_answered_within_seconds": queue.service_level_time,
        "completed_today": queue.completed,
        "abandoned_today": queue.abandoned,
    }


class OnThePhoneTool(NgucTool):
    """Who is on the phone now, or one person's line."""

    name = f"{DOMAIN}__on_the_phone"
    title = "Who is on the phone"
    description = (
        "Find out who is on the phone right now (a call on their line, or "
        "ringing), or give a person's name for their line status: idle, "
        "in_use (on a call), ringing, in_use_ringing (on a call with another "
        "ringing), offline, or unknown. Use it for questions like 'Is Anna on "
        "the phone?' or 'Who is on a call?'."
    )
    aspects = (LINE,)
    parameters = vol.Schema(
        {
            _optional_name(
                "The person's name (a first name is enough when it is unique); "
                "leave out for everyone on the phone"
            ): cv.string
        }
    )

    @override
    def answer(
        self, hass: HomeAssistant, assistant: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        people = self.items(hass, assistant, LINE)
        down = self.down(hass, assistant)
        if ATTR_PERSON in args:
            person = match(people, args[ATTR_PERSON], ATTR_PERSON)
            if not _available(person):
                raise unavailable_refusal()
            status = _status(person)
            return {
                "person": person.name,
                "extension": person.extension,
                "status": status,
                "on_the_phone": status in ON_THE_PHONE,
            }
        up = [person for person in people if _available(person)]
        unavailable = {p.entry for p in people if not _available(p)} | set(down)
        if not up and unavailable:
            raise unavailable_refusal()
        busy = [
            {"person": person.name, "extension": person.extension, "status": status}
            for person in sorted(up, key=_by_name)
            if (status := _status(person)) in ON_THE_PHONE
        ]
        answer: dict[str, Any] = {"on_the_phone": busy, "people_known": len(up)}
        if unavailable:
            answer["unavailable"] = UNAVAILABLE
        return answer


def _status(person: Item) -> str:
    status = person.coordinator.data.statuses.get(person.item_id)
    return (None if status is None else line_state(status)) or "unknown"


class CallsToReturnTool(NgucTool):
    """The open items of a person's or a queue's calls-to-return list."""

    name = f"{DOMAIN}__calls_to_return"
    title = "Calls to return"
    description = (
        "List the calls still to be returned: the open items of a person's or "
        "a queue's 'Calls to return' list (the number and caller, and when "
        "they called). Give a person or a queue, or neither for every list "
        "that has open items."
    )
    aspects = (USER_LIST, QUEUE_LIST)
    parameters = vol.Schema(
        {
            _optional_name("The person whose list to read"): cv.string,
            vol.Optional(ATTR_QUEUE, description="The queue whose list to read"): (
                cv.string
            ),
        }
    )

    @override
    def answer(
        self, hass: HomeAssistant, assistant: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        people = self.items(hass, assistant, USER_LIST)
        queues = self.items(hass, assistant, QUEUE_LIST)
        chosen: list[Item] = []
        if ATTR_PERSON in args:
            chosen.append(match(people, args[ATTR_PERSON], ATTR_PERSON))
        if ATTR_QUEUE in args:
            chosen.append(match(queues, args[ATTR_QUEUE], ATTR_QUEUE))
        every = not chosen
        lists = [
            answer
            for item in (
                chosen or [*sorted(people, key=_by_name), *sorted(queues, key=_by_name)]
            )
            if (answer := _open_items(hass, item)) is not None
            and (answer["open_count"] or not every)
        ]
        result: dict[str, Any] = {"lists": lists}
        if any(not _available(item) for item in chosen or [*people, *queues]):
            result["note"] = NOT_RECENT
        return result


def _open_items(hass: HomeAssistant, item: Item) -> dict[str, Any] | None:
    followup = followup_of(hass, item.entry)
    if followup is None:
        return None
    open_items = [
        todo
        for todo in followup.lists.items(item.key)
        if todo.status == TodoItemStatus.NEEDS_ACTION
    ]
    owner = ATTR_PERSON if split_key(item.key)[0] == KIND_USER else ATTR_QUEUE
    return {
        owner: item.name,
        "open_count": len(open_items),
        "open": [
            {"summary": todo.summary, "calls": todo.description}
            for todo in open_items[:MAX_ITEMS]
        ],
    }


class RecentCallsTool(NgucTool):
    """The call history, as the ``get_calls`` action answers it."""

    name = f"{DOMAIN}__recent_calls"
    title = "Recent calls"
    description = (
        "List recent calls of the phone system, newest first, from the last "
        "14 days: each call's time, type, who took it or the queue, the other "
        "party's number and name, its length in seconds and its steps (the "
        "agents rung). Filter by person, queue, type of call and time (since "
        "a date and time, or the last N hours). Types: " + ", ".join(CALL_TYPES) + "."
    )
    aspects = (USER_CALLS, QUEUE_CALLS)
    parameters = vol.Schema(
        {
            _optional_name("Only calls of this person"): cv.string,
            vol.Optional(ATTR_QUEUE, description="Only calls of this queue"): (
                cv.string
            ),
            vol.Optional(ATTR_TYPE, description="Only calls of these types"): [
                vol.In(CALL_TYPES)
            ],
            vol.Optional(
                ATTR_SINCE,
                description="Only calls since this local date and time (ISO 8601)",
            ): cv.string,
            vol.Optional(
                ATTR_HOURS, description="Only calls of the last this many hours"
            ): vol.All(vol.Coerce(float), vol.Range(min=0, max=14 * 24)),
            vol.Optional(
                ATTR_LIMIT,
                default=DEFAULT_CALLS,
                description="At most this many calls",
            ): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_CALLS)),
        }
    )

    @override
    def answer(
        self, hass: HomeAssistant, assistant: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        people = self.items(hass, assistant, USER_CALLS)
        queues = self.items(hass, assistant, QUEUE_CALLS)
        since = _since(args)
        person = (
            match(people, args[ATTR_PERSON], ATTR_PERSON)
            if ATTR_PERSON in args
            else None
        )
        queue = (
            match(queues, args[ATTR_QUEUE], ATTR_QUEUE) if ATTR_QUEUE in args else None
        )
        histories = []
        for entry in loaded_entries(hass):
            if (followup := followup_of(hass, entry)) is None:
                continue
            users = {p.item_id for p in people if p.entry is entry}
            queue_ids = {q.item_id for q in queues if q.entry is entry}
            wanted: Callable[[Call], bool] = _any
            if person is not None or queue is not None:
                users = {person.item_id} if person and person.entry is entry else set()
                queue_ids = {queue.item_id} if queue and queue.entry is entry else set()
                if (person and not users) or (queue and not queue_ids):
                    continue  # of another entry
                if users and queue_ids:
                    # Both asked: the person's calls in that queue.
                    wanted = _in_queue(next(iter(queue_ids)))
            if not users and not queue_ids:
                continue
            exposed = [p for p in people if p.entry is entry]
            histories.append(
                _shown(
                    call,
                    users_exposed={p.item_id for p in exposed},
                    names={p.name for p in exposed},
                )
                for call in followup.log.calls(
                    users=users,
                    queues=queue_ids,
                    types=args.get(ATTR_TYPE),
                    since=since,
                )
                if wanted(call)
            )
        calls = list(
            islice(
                merge(*histories, key=lambda shown: shown[0], reverse=True),
                args[ATTR_LIMIT],
            )
        )
        result: dict[str, Any] = {"calls": [answer for _time, answer in calls]}
        involved = [item for item in (person, queue) if item] or [*people, *queues]
        if any(not _available(item) for item in involved) or self.down(hass, assistant):
            result["note"] = NOT_RECENT
        return result


def _any(_call: Call) -> bool:
    return True


def _in_queue(queue_id: str) -> Callable[[Call], bool]:
    def wanted(call: Call) -> bool:
        return queue_id in call.queues()

    return wanted


def _since(args: dict[str, Any]) -> datetime | None:
    """Return the time asked for (the later of both), in UTC."""
    times: list[datetime] = []
    if (text := args.get(ATTR_SINCE)) is not None:
        since = dt_util.parse_datetime(text)
        if since is None:
            raise RefusalError(
                {
                    "error": "invalid_since",
                    "message": f"'{text}' is not a date and time (ISO 8601).",
                }
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt_util.get_default_time_zone())
        times.append(dt_util.as_utc(since))
    if (hours := args.get(ATTR_HOURS)) is not None:
        times.append(dt_util.utcnow() - timedelta(hours=hours))
    return max(times, default=None)


def _shown(
    call: Call, *, users_exposed: set[str], names: set[str]
) -> tuple[datetime, dict[str, Any]]:
    """Return a call as get_calls answers it, naming only people exposed."""
    steps = tuple(
        replace(
            step,
            user=step.user
            if step.user is None
            or step.user_id in users_exposed
            or (step.user_id is None and step.user in names)
            else COLLEAGUE,
            name=COLLEAGUE
            if step.name is not None and step.name not in names
            else step.name,
        )
        for step in call.steps
    )
    answer = Call(call.id, steps).as_response()
    answer.pop("call_guid", None)
    return call.time, answer


TOOLS: Final = (QueueStatusTool, OnThePhoneTool, CallsToReturnTool, RecentCallsTool)


@callback
def async_get_tools(
    hass: HomeAssistant, llm_context: LLMContext, api_id: str
) -> LLMTools | None:
    """Return the tools that have a user or queue exposed to the assistant."""
    if api_id != LLM_API_ASSIST:
        return None
    assistant = llm_context.assistant
    # Asked at every turn of a conversation: the first item exposed will do.
    tools: list[Tool] = [
        tool()
        for tool in TOOLS
        if next(exposed_iter(hass, assistant, tool.aspects), None) is not None
        or unloaded_exposed(hass, assistant, tool.aspects)
    ]
    return LLMTools(tools=tools) if tools else None
