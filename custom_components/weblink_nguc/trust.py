"""What to believe of one list's answer, compared with what we hold.

Nothing here touches Home Assistant. A list that suddenly loses most of what
we hold is not believed: its items are kept, and only what two answers in a
row agree is gone goes. An item first seen by event, that the list has not
named yet, is kept while the list misses it, for a few answers or an hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# More than this many items gone at once, with the list down to less than
# half (or empty), is not believed at the first answer.
ORDINARY_LOSS = 2
# An item first seen by event goes after this many answers in a row without
# it, or this long (seconds) after the first of them.
EVENT_ITEM_READS = 3
EVENT_ITEM_MAX_AGE = 3600.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The items to hold after an answer, and whether to ask again soon."""

    items: dict[str, Any]
    doubted: frozenset[str]
    """Items the answer says are gone but which are kept: ask again soon."""


class ListJudge:
    """Judges the answers of one list, one after another."""

    def __init__(self) -> None:
        """Start with nothing named by the list."""
        #: Ids that an answer of this list named (or that were kept on disk).
        self.listed: set[str] = set()
        self._doubted: frozenset[str] = frozenset()
        # Ids first seen by event: answers in a row without them, since when.
        self._missed: dict[str, tuple[int, float]] = {}

    def seen_by_event(self, item_id: str) -> None:
        """Keep an item an event told of: it exists, whatever the list says."""
        self._missed.pop(item_id, None)

    def judge(
        self, held: Mapping[str, Any], answer: dict[str, Any], now: float
    ) -> Verdict:
        """Return what to hold, given what is ``held`` and what the list answered.

        ``now`` is a monotonic time in seconds.
        """
        kept: dict[str, Any] = {}
        listed_gone: set[str] = set()
        for item_id in held.keys() - answer.keys():
            if item_id in self.listed:
                listed_gone.add(item_id)
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
        # What the last answer said was gone, and this one says again.
        confirmed = listed_gone & self._doubted
        rest = listed_gone - confirmed
        before = sum(1 for item_id in held if item_id in self.listed) - len(confirmed)
        if len(rest) > ORDINARY_LOSS and (not answer or len(answer) < before / 2):
            self._doubted = frozenset(rest)
            kept.update((item_id, held[item_id]) for item_id in rest)
            gone = confirmed
        else:
            self._doubted = frozenset()
            gone = listed_gone
        self.listed -= gone
        self.listed.update(answer)
        return Verdict(items={**answer, **kept}, doubted=self._doubted)
