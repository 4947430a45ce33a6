"""The calls to return: per user and per queue, the outside callers nobody reached.

A missed call from outside the company puts its number on the list of the
user who missed it, or of the queue the caller hung up in; one item per
number and list, which a further missed call updates. The item completes
itself, on every list that holds it, once the number is reached: a user's
answered call to it, or an answered call from it. People tick, untick, edit,
delete and add items too. The lists are stored across restarts.
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

from .call_log import CALL_MISSED, CALL_QUEUE_NOT_ANSWERED, REACHED_TYPES, Call
from .const import DOMAIN, LOGGER
from .coordinator import queue_key, user_key
from .numbers import number_key

KEEP_COMPLETED: Final = timedelta(days=7)
MAX_OPEN: Final = 200
TIMES_SHOWN: Final = 5
STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 10  # seconds
# Calls answered lately, by call id: a leg of one that rang elsewhere
# unanswered is no call to return.
ANSWERED_KEPT: Final = 1024


@dataclass(slots=True)
class ToReturn:
    """One item of a list: a number to call back, or a person's own item."""

    uid: str
    summary: str
    number: str | None  # as compared (numbers.number_key); None: a person's own
    description: str | None = None
    times: list[datetime] = field(default_factory=list)  # the last missed calls
    count: int = 0
    created: datetime = field(default_factory=dt_util.utcnow)
    completed: datetime | None = None
    summary_edited: bool = False
    description_edited: bool = False
    last_call: str | None = None  # the call id of the last missed call

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
            "last_call": self.last_call,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToReturn | None:
        """Return a stored item; None if it cannot be read."""
        if not isinstance(uid := data.get("uid"), str) or not isinstance(
            summary := data.get("summary"), str
        ):
            return None
        times = [
            time
            for text in data.get("times") or ()
            if (time := dt_util.parse_datetime(str(text))) is not None
        ]
        created = dt_util.parse_datetime(str(data.get("created")))
        completed = (
            None
            if data.get("completed") is None
            else dt_util.parse_datetime(str(data["completed"]))
        )
        number, description = data.get("number"), data.get("description")
        last_call = data.get("last_call")
        count = data.get("count")
        return cls(
            uid=uid,
            summary=summary,
            number=number if isinstance(number, str) else None,
            description=description if isinstance(description, str) else None,
            times=times,
            count=count if isinstance(count, int) else len(times),
            created=created or dt_util.utcnow(),
            completed=completed,
            summary_edited=bool(data.get("summary_edited")),
            description_edited=bool(data.get("description_edited")),
            last_call=last_call if isinstance(last_call, str) else None,
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

    def __init__(self, hass: HomeAssistant, entry_id: str, country: str | None) -> None:
        """Keep the lists of ``entry_id``; numbers are read in ``country``."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.calls_to_return"
        )
        self._country = country
        self._lists: dict[str, dict[str, ToReturn]] = {}
        self._listeners: dict[str, dict[Callable[[], None], None]] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._dirty = False

    # --- Storage ---------------------------------------------------------------------

    async def async_load(self) -> None:
        """Read the lists stored before a restart or reload."""
        stored = await self._store.async_load() or {}
        lists = stored.get("lists")
        for key, items in (lists if isinstance(lists, dict) else {}).items():
            kept = self._lists.setdefault(str(key), {})
            for data in items if isinstance(items, list) else ():
                if isinstance(data, dict) and (item := ToReturn.from_dict(data)):
                    kept[item.uid] = item
        self.prune()

    def _data(self) -> dict[str, Any]:
        self._dirty = False
        return {
            "lists": {
                key: [item.as_dict() for item in items.values()]
                for key, items in self._lists.items()
                if items
            }
        }

    async def async_save(self) -> None:
        """Write what is not written yet (on unload: a reload reads it at once)."""
        if self._dirty:
            await self._store.async_save(self._data())

    def _changed(self, keys: Iterable[str]) -> None:
        """Store the lists soon, and tell the entities of those that changed."""
        self._dirty = True
        self._store.async_delay_save(self._data, SAVE_DELAY)
        for key in keys:
            for listener in tuple(self._listeners.get(key, ())):
                listener()

    # --- Reading ----------------------------------------------------------------------

    @callback
    def async_listen(self, key: str, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` when the list ``key`` changed; returns a remover."""
        listeners = self._listeners.setdefault(key, {})
        listeners[listener] = None

        def remove() -> None:
            listeners.pop(listener, None)

        return remove

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

    @callback
    def add_call(self, call: Call) -> None:
        """Take in a call: a missed one from outside is to be returned, a reached one done."""
        number = number_key(call.number, self._country)
        if call.type in REACHED_TYPES:
            if call.call_guid is not None:
                self._answered[call.call_guid] = None
                if len(self._answered) > ANSWERED_KEPT:
                    self._answered.popitem(last=False)
            if number is not None:
                self._reached(number, call)
            return
        if call.type == CALL_MISSED and call.user_id is not None:
            key = user_key(call.user_id)
        elif call.type == CALL_QUEUE_NOT_ANSWERED and call.queue_id is not None:
            key = queue_key(call.queue_id)
        else:
            return
        # A colleague's missed call is on their call event; a leg of a call
        # answered elsewhere was no missed caller.
        if call.colleague or number is None or call.call_guid in self._answered:
            return
        self._missed(key, number, call)

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
            item.count = 0
            item.description_edited = False
        item.times = [*item.times[-(TIMES_SHOWN - 1) :], call.time]
        item.count += 1
        item.last_call = call.call_guid
        if not item.summary_edited:
            item.summary = f"{shown} ({call.name})" if call.name else shown
        if not item.description_edited:
            item.description = describe(item.times, item.count)
        self._cap(key, items)
        self._changed((key,))

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

    def _reached(self, number: str, call: Call) -> None:
        changed = []
        for key, items in self._lists.items():
            for item in list(items.values()):
                if item.number != number or item.completed is not None:
                    continue
                if item.count == 1 and item.last_call == call.call_guid:
                    # Its one missed call was answered after all (by another
                    # agent of the queue, another phone): nothing to return.
                    del items[item.uid]
                else:
                    item.completed = call.time
                changed.append(key)
        if changed:
            self._changed(dict.fromkeys(changed))

    @callback
    def prune(self) -> None:
        """Drop the items completed more than 7 days ago."""
        oldest = dt_util.utcnow() - KEEP_COMPLETED
        changed = []
        for key, items in self._lists.items():
            gone = [
                uid
                for uid, item in items.items()
                if item.completed is not None and item.completed < oldest
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
