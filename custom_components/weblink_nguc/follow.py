"""Whom an entry follows: every user and queue of the company, or those chosen.

The choice is the entry's options ``users`` and ``queues``: each absent (all,
also those NGUC lists later) or the NGUC ids chosen. Items not followed are
left out of the data, so that they get no device and no entity; a phone
follows its owner. Their events still reach the bus (call records), and an
event about one of them is no reason to read NGUC's lists again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

from .api import DeviceStatus, Queue, Update, User, UserStatus
from .data import KIND_QUEUE, KIND_USER, NgucData, split_key

CONF_USERS: Final = "users"
CONF_QUEUES: Final = "queues"


class Following:
    """Whom to follow, and the company as NGUC last listed it.

    :meth:`filter` keeps the whole read too (:attr:`everyone`): the options
    form lists the company from it, and calls with colleagues not followed
    still name them.
    """

    __slots__ = ("_queues", "_users", "everyone")

    def __init__(
        self, users: Iterable[str] | None = None, queues: Iterable[str] | None = None
    ) -> None:
        """Follow ``users`` and ``queues`` by NGUC id; None: all of them."""
        self._users = None if users is None else frozenset(users)
        self._queues = None if queues is None else frozenset(queues)
        #: The last read before filtering; None until the first read.
        self.everyone: NgucData | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Following:
        """Return whom an entry's options follow."""
        users = options.get(CONF_USERS)
        queues = options.get(CONF_QUEUES)
        return cls(
            None if users is None else (str(user) for user in users),
            None if queues is None else (str(queue) for queue in queues),
        )

    @property
    def everything(self) -> bool:
        """Return True when every user and queue is followed."""
        return self._users is None and self._queues is None

    def user(self, user_id: str | None) -> bool:
        """Return whether the user ``user_id`` is followed."""
        return self._users is None or user_id in self._users

    def queue(self, queue_id: str | None) -> bool:
        """Return whether the queue ``queue_id`` is followed."""
        return self._queues is None or queue_id in self._queues

    def phone(self, owner: str | None) -> bool:
        """Return whether a phone of ``owner`` is followed: as its owner is.

        A phone of nobody is followed only while every user is.
        """
        return self._users is None if owner is None else self.user(owner)

    def key(self, key: str) -> bool:
        """Return whether the item ``key`` is worth a read to learn of it.

        Phones are judged by their owner when their event comes
        (:meth:`wants`), since the key does not say whose they are.
        """
        kind, item_id = split_key(key)
        if kind == KIND_USER:
            return self.user(item_id)
        if kind == KIND_QUEUE:
            return self.queue(item_id)
        return True

    def wants(self, update: Update, data: NgucData) -> bool:
        """Return whether an event's update is applied to the (filtered) data.

        State of items not followed is dropped. Call records change no
        state: they pass, and :meth:`key` keeps those they name from being
        asked about.
        """
        if isinstance(update, UserStatus):
            return self.user(update.user_id)
        if isinstance(update, Queue):
            return self.queue(update.id)
        if isinstance(update, DeviceStatus):
            if update.device_id in data.devices:
                return True
            # A phone we do not hold: new, or one of somebody not followed
            # (perhaps handed to somebody followed just now).
            owner = update.user_id
            if owner is None and self.everyone is not None:
                known = self.everyone.devices.get(update.device_id)
                owner = None if known is None else known.user_id
            return self.phone(owner)
        return True

    def filter(self, data: NgucData) -> NgucData:
        """Return ``data`` without the items not followed; remember it whole.

        When everything is followed, ``data`` itself.
        """
        self.everyone = data
        if self.everything:
            return data
        return replace(
            data,
            users=_only(data.users, self.user),
            statuses=_only(data.statuses, self.user),
            devices={
                device_id: device
                for device_id, device in data.devices.items()
                if self.phone(device.user_id)
            },
            queues=_only(data.queues, self.queue),
        )

    def whole(self, data: NgucData) -> NgucData:
        """Return the whole company held: the last read, with ``data`` on top.

        ``data`` is the filtered data, which events keep current: its items
        are newer than the read's. The same ``data`` when everyone is followed.
        """
        everyone = self.everyone
        if everyone is None or everyone is data:
            return data
        return NgucData(
            me=data.me,
            users=everyone.users | data.users,
            statuses=everyone.statuses | data.statuses,
            devices=everyone.devices | data.devices,
            queues=everyone.queues | data.queues,
        )

    def directory(self, data: NgucData) -> Mapping[str, User]:
        """Return every user of the company, followed or not, to name them.

        The same mapping until the next read, as call naming expects.
        """
        return data.users if self.everyone is None else self.everyone.users


def _only[T](items: Mapping[str, T], follow: Callable[[str], bool]) -> dict[str, T]:
    return {item_id: item for item_id, item in items.items() if follow(item_id)}


def chosen(selected: Collection[str] | None) -> list[str] | None:
    """Return the option to store for a form's selection of ids.

    None (follow all, also those NGUC lists later) only when nothing is
    selected: the form says so. Any selection is stored as it is, sorted,
    even one of every item listed: a list read short (a restart while it
    fails, an item just removed) must never turn a subset into everyone.
    """
    if not selected:
        return None
    return sorted(set(selected))
