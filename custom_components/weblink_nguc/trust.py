"""What to believe of one list's answer, compared with what we hold.

Nothing here touches Home Assistant. This module holds the one rule for
what the state may lose; every path that changes what an entry holds (the
sync, the store, whom to follow, restarts, the options) obeys it:

1. A followed item that NGUC still has is never removed.
2. An item goes only when two answers of its own list, read at least the
   re-read delay apart, both lack it, and no event named it in between.
3. An empty answer is always doubted, however few items are held (it is
   rule 2 for every item at once).
4. A list whose items cannot be read is a failed list, not an empty one: it
   keeps its part, is read again on its own backoff, and a repair issue
   appears if that lasts.
5. The decision is taken on the whole company's answer, compared with the
   whole company held, before filtering for whom to follow.
6. The store never loses what was not read in this run: a part whose list
   has not answered since start keeps what is on disk.
7. A list refused (401) while the token cannot be renewed is read again on
   its own backoff, never on the token's renewal schedule.
8. A repair issue always says the latest reason.

:class:`ListJudge` is rules 2 and 3. An item first seen by event, that the
list has not named yet, is kept while the list misses it, for a few answers
or an hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# An item first seen by event goes after this many answers in a row without
# it, or this long (seconds) after the first of them.
EVENT_ITEM_READS = 3
EVENT_ITEM_MAX_AGE = 3600.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The items to hold after an answer, and whether to ask again soon."""

    items: dict[str, Any]
    doubted: frozenset[str]
    """Items the answer says are gone but which are kept: ask again."""
    recheck_at: float | None = None
    """When the earliest of them may be confirmed gone (monotonic seconds)."""
    newly_doubted: frozenset[str] = frozenset()
    """Those of ``doubted`` that this answer was the first to miss."""


class ListJudge:
    """Judges the answers of one list, one after another."""

    def __init__(self) -> None:
        """Start with nothing named by the list."""
        #: Ids that an answer of this list named (or that were kept on disk).
        self.listed: set[str] = set()
        # Listed ids that an answer missed, and when the first such answer came.
        self._doubted: dict[str, float] = {}
        # Ids first seen by event: answers in a row without them, since when.
        self._missed: dict[str, tuple[int, float]] = {}

    def seen_by_event(self, item_id: str) -> None:
        """Keep an item an event told of: it exists, whatever the list says.

        An answer that missed it before the event counts no more.
        """
        self._missed.pop(item_id, None)
        self._doubted.pop(item_id, None)

    def judge(
        self,
        held: Mapping[str, Any],
        answer: dict[str, Any],
        now: float,
        recheck_delay: float = 0.0,
    ) -> Verdict:
        """Return what to hold, given what is ``held`` and what the list answered.

        ``now`` is a monotonic time in seconds; an item listed before goes
        only when an answer at least ``recheck_delay`` after the first that
        missed it misses it too.
        """
        kept: dict[str, Any] = {}
        gone: set[str] = set()
        new_doubts: set[str] = set()
        for item_id in held.keys() - answer.keys():
            if item_id in self.listed:
                since = self._doubted.get(item_id)
                if since is None:
                    self._doubted[item_id] = now
                    new_doubts.add(item_id)
                elif now - since >= recheck_delay:
                    gone.add(item_id)
                    del self._doubted[item_id]
                    continue
                kept[item_id] = held[item_id]
                continue
            misses, since = self._missed.get(item_id, (0, now))
            misses += 1
            if misses >= EVENT_ITEM_READS or now - since >= EVENT_ITEM_MAX_AGE:
                self._missed.pop(item_id, None)
            else:
                self._missed[item_id] = (misses, since)
                kept[item_id] = held[item_id]
        for item_id in answer:
            self._missed.pop(item_id, None)
        # Doubts about items no longer held (or listed again) are over.
        self._doubted = {
            item_id: since
            for item_id, since in self._doubted.items()
            if item_id in kept
        }
        self.listed -= gone
        self.listed.update(answer)
        recheck_at = (
            min(self._doubted.values()) + recheck_delay if self._doubted else None
        )
        return Verdict(
            items={**answer, **kept},
            doubted=frozenset(self._doubted),
            recheck_at=recheck_at,
            newly_doubted=frozenset(new_doubts),
        )
