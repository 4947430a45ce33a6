"""The calls to return: per user and per queue, the outside callers nobody reached.

A missed call from outside the company puts its number on the list of the
user who missed it, or of the queue the caller hung up in; one item per
number and list, which a further missed call updates. A call counts once,
as a whole (call_log.Call): a queue's caller who rang several agents is one
missed call, and one who was answered in the end none, whatever order its
records came in. The item completes itself, on every list that holds it,
once the number is reached: a user's answered call to it, or an answered
call from it. People tick, untick, edit, delete and add items too.

Only the users and queues the entry follows have lists; a list goes with its
entity. Open items of calls go 30 days after the last call, completed ones 7
days after. The lists are stored across restarts, each read on its own, and
written off the event loop from a snapshot kept per list.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
import uuid

from homeassistant.components.todo.const import TodoItemStatus
from homeassistant.components.todo.entity import TodoItem
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .call_log import CALL_MISSED, REACHED_TYPES, Call, Step, stored_time
from .const import DOMAIN, LOGGER
from .data import queue_key, user_key
from .listeners import Listeners, subscribe
from .numbers import number_key

KEEP_COMPLETED: Final = timedelta(days=7)
#: An open item of calls nobody ticked goes this long after the last call.
KEEP_OPEN: Final = timedelta(days=30)
#: The calls an item counts, by id, kept to tell a call again from a new one.
CALLS_KEPT: Final = 20
MAX_OPEN: Final = 200
TIMES_SHOWN: Final = 5
STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 10  # seconds
# The lists each call is on, by call id, for as many calls as the history.
CALLS_INDEXED: Final = 5000


@dataclass(slots=True)
class ToReturn:
    """One item of a list: a number to call back, or a person's own item."""

    uid: str
    summary: str
    number: str | None  # as compared (numbers.number_key); None: a person's own
    description: str | None = None
    times: list[datetime] = field(default_factory=list)  # the last missed calls
    count: int = 0
    calls: list[str] = field(default_factory=list)  # their ids, as times
    created: datetime = field(default_factory=dt_util.utcnow)
    completed: datetime | None = None
    summary_edited: bool = False
    description_edited: bool = False

    @property
    def last(self) -> datetime:
        """Return when they last called (when added, for a person's own item)."""
        return self.times[-1] if self.times else self.created

    def todo_item(self) -> TodoItem:
        """Return the item as the to-do list shows it."""
        return TodoItem(
            uid=self.uid,
            summary=self.summary,
            description=self.description,
            status=TodoItemStatus.NEEDS_ACTION
            if self.completed is None
            else TodoItemStatus.COMPLETED,
            completed=None
            if self.completed is None
            else dt_util.as_local(self.completed),
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the item as stored."""
        return {
            "uid": self.uid,
            "summary": self.summary,
            "number": self.number,
            "description": self.description,
            "times": [time.isoformat() for time in self.times],
            "count": self.count,
            "created": self.created.isoformat(),
            "completed": None if self.completed is None else self.completed.isoformat(),
            "summary_edited": self.summary_edited,
            "description_edited": self.description_edited,
            "calls": list(self.calls),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToReturn | None:
        """Return a stored item; None if it cannot be read (a wrong shape)."""
        uid, summary = data.get("uid"), data.get("summary")
        if not isinstance(uid, str) or not isinstance(summary, str):
            return None
        raw_times = data.get("times")
        if raw_times is None:
            raw_times = []
        if not isinstance(raw_times, list):
            return None
        times = [stored_time(text) for text in raw_times]
        created = stored_time(data.get("created"))
        completed = stored_time(data.get("completed"))
        if None in times or (data.get("completed") is not None and completed is None):
            return None  # an impossible date
        number, description = data.get("number"), data.get("description")
        count = data.get("count")
        calls = data.get("calls")
        if isinstance(calls, list):
            call_ids = [str(call_id) for call_id in calls]
        elif isinstance(last_call := data.get("last_call"), str):
            call_ids = [last_call]  # stored before items kept their calls
        else:
            call_ids = []
        # The calls of the last times, as many as there are times.
        call_ids = ["" for _ in range(len(times) - len(call_ids))] + call_ids
        return cls(
            uid=uid,
            summary=summary,
            number=number if isinstance(number, str) else None,
            description=description if isinstance(description, str) else None,
            times=[time for time in times if time is not None],
            count=count
            if isinstance(count, int) and not isinstance(count, bool)
            else len(times),
            calls=call_ids,
            created=created or dt_util.utcnow(),
            completed=completed,
            summary_edited=bool(data.get("summary_edited")),
            description_edited=bool(data.get("description_edited")),
        )


def describe(times: list[datetime], count: int) -> str:
    """Say when and how often they called: "3 x 2026-12-07 14:03, ...", newest first.

    Dates and a count, read alike in every language.
    """
    shown = [
        dt_util.as_local(time).strftime("%Y-%m-%d %H:%M")
        for time in reversed(times[-TIMES_SHOWN:])
    ]
    text = ", ".join(shown) + (", …" if count > len(shown) else "")
    return text if count == 1 else f"{count} x {text}"


class CallbackLists:
    """The calls-to-return lists of one entry, by the user's or queue's key."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        country: str | None,
        follows: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        """Keep the lists of ``entry_id``; numbers are read in ``country``.

        ``follows`` tells whether a user's or queue's key is followed: only
        those have lists.
        """
        # What a write is handed is a snapshot that is never changed after
        # (each list's items as stored, replaced whole on a change): it is
        # serialised off the event loop.
        self._store: Store[dict[str, Any]] = Store(
            hass,
            STORAGE_VERSION,
            f"{DOMAIN}.{entry_id}.calls_to_return",
            serialize_in_event_loop=False,
        )
        self._country = country
        self._follows = follows
        self._lists: dict[str, dict[str, ToReturn]] = {}
        self._stored: dict[str, list[dict[str, Any]]] = {}
        self._listeners: dict[str, Listeners[Callable[[], None]]] = {}
        # The lists holding each call, by call id (those it was missed on).
        self._by_call: OrderedDict[str, set[str]] = OrderedDict()
        self._dirty = False

    # --- Storage ---------------------------------------------------------------------

    async def async_load(self) -> None:
        """Read the lists stored before a restart or reload.

        Each list is read on its own, and each item of it: what does not
        read is set aside, with one warning naming it; the rest loads.
        """
        stored = await self._store.async_load()
        if stored is None:
            return
        lists = stored.get("lists") if isinstance(stored, Mapping) else None
        if not isinstance(lists, Mapping):
            LOGGER.warning(
                "The stored calls to return (%s) have no lists; they are set"
                " aside and the lists start empty",
                self._store.key,
            )
            return
        for key, items in lists.items():
            if not isinstance(items, list):
                LOGGER.warning(
                    "The stored calls to return of %s (%s) are not a list of"
                    " items; that list is set aside",
                    key,
                    self._store.key,
                )
                continue
            kept: dict[str, ToReturn] = {}
            unread = 0
            for data in items:
                item = ToReturn.from_dict(data) if isinstance(data, Mapping) else None
                if item is None:
                    unread += 1
                    continue
                kept[item.uid] = item
            if unread:
                LOGGER.warning(
                    "%s stored calls to return of %s (%s) could not be read;"
                    " they are set aside",
                    unread,
                    key,
                    self._store.key,
                )
            if kept:
                self._lists[str(key)] = kept
                self._stored[str(key)] = [item.as_dict() for item in kept.values()]
                for item in kept.values():
                    self._index(str(key), item)
        self.forget_unfollowed()
        self.prune()

    def _snapshot(self) -> dict[str, Any]:
        """Return what to store, as of now; never changed after."""
        return {"lists": {key: items for key, items in self._stored.items() if items}}

    async def async_save(self) -> None:
        """Write what is not written yet (on unload: a reload reads it at once)."""
        if self._dirty:
            self._dirty = False
            await self._store.async_save(self._snapshot())

    def _changed(self, keys: Iterable[str]) -> None:
        """Store the lists soon, and tell the entities of those that changed."""
        keys = list(dict.fromkeys(keys))
        # Copy on write: a snapshot handed to a write keeps the old mapping.
        stored = dict(self._stored)
        for key in keys:
            items = self._lists.get(key)
            if items:
                stored[key] = [item.as_dict() for item in items.values()]
            else:
                stored.pop(key, None)
                self._lists.pop(key, None)
        self._stored = stored
        self._dirty = True
        snapshot = self._snapshot()
        self._store.async_delay_save(lambda: snapshot, SAVE_DELAY)
        for key in keys:
            for listener in tuple(self._listeners.get(key, ())):
                listener()

    def _index(self, key: str, item: ToReturn) -> None:
        for call_id in filter(None, item.calls):
            self._by_call.setdefault(call_id, set()).add(key)
            self._by_call.move_to_end(call_id)
        while len(self._by_call) > CALLS_INDEXED:
            self._by_call.popitem(last=False)

    # --- Whom the lists are of --------------------------------------------------------

    @callback
    def forget(self, key: str) -> None:
        """Drop the list of a user or queue that went, or is no longer followed."""
        if key in self._lists:
            LOGGER.debug("Calls to return of %s dropped with their entity", key)
            self._lists[key].clear()
            self._changed((key,))

    @callback
    def forget_unfollowed(self) -> None:
        """Drop the lists of users and queues the entry does not follow."""
        if gone := [key for key in self._lists if not self._follows(key)]:
            for key in gone:
                self._lists[key].clear()
            self._changed(gone)

    # --- Reading ----------------------------------------------------------------------

    @callback
    def async_listen(self, key: str, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` when the list ``key`` changed; returns a remover."""
        return subscribe(self._listeners, key, listener)

    def keys(self) -> set[str]:
        """Return the keys of the lists that hold items."""
        return {key for key, items in self._lists.items() if items}

    def items(self, key: str) -> list[TodoItem]:
        """Return a list's items: open ones by the last call, newest first; then done."""
        items = self._lists.get(key, {}).values()
        open_items = sorted(
            (item for item in items if item.completed is None),
            key=lambda item: item.last,
            reverse=True,
        )
        done = sorted(
            (item for item in items if item.completed is not None),
            key=lambda item: item.completed or item.created,
            reverse=True,
        )
        return [item.todo_item() for item in (*open_items, *done)]

    def counts(self) -> dict[str, int]:
        """Return how many lists and items there are (diagnostics: no numbers)."""
        items = [item for items in self._lists.values() for item in items.values()]
        completed = sum(item.completed is not None for item in items)
        return {
            "lists": sum(bool(items) for items in self._lists.values()),
            "open": len(items) - completed,
            "completed": completed,
        }

    # --- What calls do ----------------------------------------------------------------

    def _missed_on(self, call: Call) -> set[str]:
        """Return the lists a call is a call to return on, as far as it is known.

        None once it reached the other party. A call that waited in a queue
        is its queue's, once the caller left unanswered (an agent rung who
        did not answer is no missed call: the caller still waits); else the
        list of each user who missed it. A colleague's call is on none.
        """
        if call.reached:
            return set()
        steps = call.steps
        if any(step.queue_id is not None for step in steps):
            keys = {
                queue_key(step.queue_id)
                for step in steps
                if step.left_queue and step.queue_id is not None and not step.colleague
            }
        else:
            keys = {
                user_key(step.user_id)
                for step in steps
                if step.type == CALL_MISSED
                and step.user_id is not None
                and not step.colleague
            }
        return {key for key in keys if self._follows(key)}

    @callback
    def add_call(self, call: Call, step: Step) -> None:
        """Take in a call that ``step`` just joined: a missed one is to return, a reached one done.

        The call is judged whole each time, so that the order its records
        come in does not matter.
        """
        number = number_key(call.number, self._country)
        if number is None:
            return
        wanted = self._missed_on(call)
        held = {
            key
            for key in self._by_call.get(call.id, ())
            if self._holding(key, call.id) is not None
        }
        changed: list[str] = []
        for key in held - wanted:
            self._withdraw(key, call.id)
            changed.append(key)
        for key in sorted(wanted - held):
            self._missed(key, number, call)
            changed.append(key)
        if step.type in REACHED_TYPES:
            changed.extend(self._reached(number, step.time))
        if changed:
            self._changed(changed)

    def _holding(self, key: str, call_id: str) -> ToReturn | None:
        return next(
            (
                item
                for item in self._lists.get(key, {}).values()
                if call_id in item.calls
            ),
            None,
        )

    def _withdraw(self, key: str, call_id: str) -> None:
        """Take back a call counted on a list: it was answered after all."""
        item = self._holding(key, call_id)
        if item is None:
            return
        index = item.calls.index(call_id)
        del item.calls[index]
        if index < len(item.times):
            del item.times[index]
        item.count -= 1
        if item.count <= 0:
            # Its one missed call was answered after all (by another agent
            # of the queue, another phone): nothing to return.
            del self._lists[key][item.uid]
            return
        if not item.description_edited:
            item.description = describe(item.times, item.count)

    def _missed(self, key: str, number: str, call: Call) -> None:
        items = self._lists.setdefault(key, {})
        item = next((item for item in items.values() if item.number == number), None)
        shown = call.number or number
        if item is None:
            item = ToReturn(uid=uuid.uuid4().hex, summary=shown, number=number)
            items[item.uid] = item
        elif item.completed is not None:
            # Called again after being reached: a new round.
            item.completed = None
            item.times.clear()
            item.calls.clear()
            item.count = 0
            item.description_edited = False
        item.times = [*item.times, call.time][-CALLS_KEPT:]
        item.calls = [*item.calls, call.id][-CALLS_KEPT:]
        item.count += 1
        self._index(key, item)
        name = call.main.name
        if not item.summary_edited:
            item.summary = f"{shown} ({name})" if name else shown
        if not item.description_edited:
            item.description = describe(item.times, item.count)
        self._cap(key, items)

    def _cap(self, key: str, items: dict[str, ToReturn]) -> None:
        open_items = [item for item in items.values() if item.completed is None]
        if (extra := len(open_items) - MAX_OPEN) <= 0:
            return
        open_items.sort(key=lambda item: item.last)
        for item in open_items[:extra]:
            del items[item.uid]
        LOGGER.info(
            "The calls to return of %s hold more than %s open items;"
            " the %s oldest were dropped",
            key,
            MAX_OPEN,
            extra,
        )

    def _reached(self, number: str, time: datetime) -> list[str]:
        """Complete the items of ``number`` on every list; return those changed."""
        changed = []
        for key, items in self._lists.items():
            for item in items.values():
                if item.number == number and item.completed is None:
                    item.completed = time
                    changed.append(key)
        return changed

    @callback
    def prune(self) -> None:
        """Drop the items completed over 7 days ago, and open ones of calls over 30."""
        now = dt_util.utcnow()
        done_before, called_before = now - KEEP_COMPLETED, now - KEEP_OPEN
        changed = []
        for key, items in self._lists.items():
            gone = [
                uid
                for uid, item in items.items()
                if (item.completed is not None and item.completed < done_before)
                or (
                    item.completed is None
                    and item.number is not None
                    and item.last < called_before
                )
            ]
            for uid in gone:
                del items[uid]
            if gone:
                changed.append(key)
        if changed:
            self._changed(changed)

    # --- What people do ---------------------------------------------------------------

    @callback
    def create(self, key: str, item: TodoItem) -> None:
        """Add a person's own item."""
        own = ToReturn(
            uid=uuid.uuid4().hex,
            summary=item.summary or "",
            number=None,
            description=item.description,
            summary_edited=True,
            description_edited=True,
        )
        if item.status == TodoItemStatus.COMPLETED:
            own.completed = dt_util.utcnow()
        self._lists.setdefault(key, {})[own.uid] = own
        self._changed((key,))

    @callback
    def update(self, key: str, item: TodoItem) -> bool:
        """Change an item as a person edited it; False if the list has no such item."""
        kept = self._lists.get(key, {}).get(item.uid or "")
        if kept is None:
            return False
        if item.summary is not None and item.summary != kept.summary:
            kept.summary = item.summary
            kept.summary_edited = True
        if item.description != kept.description:
            kept.description = item.description
            kept.description_edited = True
        if item.status == TodoItemStatus.COMPLETED and kept.completed is None:
            kept.completed = dt_util.utcnow()
        elif item.status == TodoItemStatus.NEEDS_ACTION:
            kept.completed = None
        self._changed((key,))
        return True

    @callback
    def delete(self, key: str, uids: Iterable[str]) -> None:
        """Delete items of a list."""
        items = self._lists.get(key, {})
        for uid in uids:
            items.pop(uid, None)
        self._changed((key,))
