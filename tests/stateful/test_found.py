"""What the state machine found, kept as explicit examples: each replays the rules of one failure.

Each test runs the machine's rules in the order Hypothesis found (shrunk by
hand to what matters), with the machine's invariants checked after every
step, as in the fast set. Draws that a rule makes (which user, which
queue) are given in the order the rule asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .machine import CALLERS, NgucMachine

PHONES = "/company/device"
USERS = "/company/user"
QUEUES = "/company/queue"
STATUSES = "/company/user/status"


class Draws:
    """Stands for Hypothesis's data object: hands out the given values in order."""

    def __init__(self, *values: Any) -> None:
        """Hand out ``values``."""
        self._values = iter(values)

    def draw(self, _strategy: Any, label: str | None = None) -> Any:
        """Return the next value."""
        del label
        return next(self._values)


def replay(*steps: Callable[[NgucMachine], None]) -> None:
    """Run ``steps`` on a fresh machine, checking every invariant after each."""
    machine = NgucMachine()
    try:
        machine.in_sync_at_start()
        machine.check_all()
        for step in steps:
            step(machine)
            machine.check_all()
    finally:
        machine.teardown()


@pytest.fixture(autouse=True)
def sockets(socket_enabled: None) -> None:
    """The simulator listens on 127.0.0.1."""


def test_two_empty_answers_read_closer_than_the_re_read_delay() -> None:
    """A failing list's pending retry must not be the second answer that removes items.

    The phones list is refused (403), then answers empty: the 403's retry,
    due a few seconds later, was taken as the confirming second answer,
    8 s after the first rather than the re-read delay (10 s).
    """
    replay(
        lambda m: m.list_answers(PHONES, "403", once=False, reconnect=True),
        lambda m: m.list_answers(PHONES, "empty", once=False, reconnect=False),
        lambda m: m.time_passes(300.0),
    )


def test_phones_believed_gone_come_back_within_a_minute() -> None:
    """A list that said twice it was empty, then answers in full again, is in sync within a minute.

    Two empty answers the re-read delay apart are believed (rule 2): the
    phones go. When the list answers in full again, nothing read it: the
    phones came back only with the hourly read, or an event about them.
    """
    replay(
        lambda m: m.list_answers(PHONES, "empty", once=False, reconnect=True),
        lambda m: m.time_passes(60.0),
        lambda m: m.heal(),
    )


def test_queue_caller_answered_after_two_agents_leaves_nothing() -> None:
    """Case 4 of issue 18: a caller who rang two agents, then was answered, has no open item."""
    replay(
        lambda m: m.queue_call(Draws("501"), CALLERS[0], 0, rung=2, answered=True),
        lambda m: m.queue_call(Draws("501"), CALLERS[0], 0, rung=2, answered=False),
    )
