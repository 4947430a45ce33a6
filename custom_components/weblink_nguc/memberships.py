"""Every user's queues, kept up to date queue by queue.

A user's entities read their queues here without looking at every queue of
the company; nothing here touches Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .api import Queue


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's place in a queue."""

    queue_id: str
    queue_name: str | None
    paused: bool | None  # None: NGUC did not say


def members_known(queue: Queue) -> bool:
    """Return whether a queue's members are known: listed, or truly none.

    A queue read back from disk, or from an answer without ``members``,
    lists none although it has some.
    """
    return bool(queue.members) or queue.member_total == 0


class Memberships:
    """Every user's queues, kept up to date queue by queue.

    So that a user's entities read their queues without looking at every
    queue of the company: an event about one queue updates that queue's
    members alone, and the tuple of a user whose queues did not change is
    the same object as before.
    """

    __slots__ = ("_by_user", "_order", "_tuples", "unknown")

    def __init__(self, queues: Iterable[Queue]) -> None:
        """Index ``queues``, in their order."""
        self._by_user: dict[str, dict[str, Membership]] = {}
        self._order: dict[str, int] = {}  # queue id -> its place among queues
        self._tuples: dict[str, tuple[Membership, ...]] = {}
        #: Queues whose members, or some members' users, are not known.
        self.unknown: set[str] = set()
        for queue in queues:
            self.replace(None, queue)

    def replace(self, old: Queue | None, new: Queue) -> None:
        """Take ``new`` in place of ``old``, the same queue as it was before."""
        queue_id = new.id
        self._order.setdefault(queue_id, len(self._order))
        fresh: dict[str, Membership] = {}
        complete = members_known(new)
        for member in new.members:
            if member.user_id is None:
                complete = False
            elif member.user_id not in fresh:
                fresh[member.user_id] = Membership(queue_id, new.name, member.paused)
        if complete:
            self.unknown.discard(queue_id)
        else:
            self.unknown.add(queue_id)
        if old is not None:
            for member in old.members:
                user_id = member.user_id
                if user_id is None or user_id in fresh:
                    continue
                places = self._by_user.get(user_id)
                if places is not None and places.pop(queue_id, None) is not None:
                    self._tuples.pop(user_id, None)
        for user_id, membership in fresh.items():
            places = self._by_user.setdefault(user_id, {})
            if places.get(queue_id) != membership:
                places[queue_id] = membership
                self._tuples.pop(user_id, None)

    def of(self, user_id: str) -> tuple[Membership, ...]:
        """Return the queues of a user, in the order of the queues."""
        if (found := self._tuples.get(user_id)) is None:
            places = self._by_user.get(user_id)
            found = tuple(sorted(places.values(), key=self._place)) if places else ()
            self._tuples[user_id] = found
        return found

    def _place(self, membership: Membership) -> int:
        return self._order[membership.queue_id]
