"""The whole integration under rules Hypothesis draws: the invariants of `machine` after every step.

In script/test this is the fast set: a fixed seed, a few short examples.
script/fuzz runs it with random seeds for as many minutes as asked.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
import time

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
import pytest

from .machine import NgucMachine

#: The fast set's seed: the same examples on every run (script/fuzz draws its own).
FAST_SEED = 20261207
FUZZING = os.environ.get("NGUC_HYPOTHESIS_PROFILE") == "fuzz"
# Examples per batch of the long run: between batches, the clock is looked at.
FUZZ_BATCH = 20


@pytest.fixture
def fixed_seed() -> Iterator[None]:
    """Seed the machine as @seed would, unless script/fuzz runs it."""
    if FUZZING:
        yield
        return
    NgucMachine._hypothesis_internal_use_seed = FAST_SEED  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del NgucMachine._hypothesis_internal_use_seed  # type: ignore[attr-defined]


# Each example starts a Home Assistant: the fast set takes longer than a
# test; script/fuzz runs as long as asked.
@pytest.mark.timeout(0 if FUZZING else 240)
def test_the_whole(socket_enabled: None, fixed_seed: None) -> None:
    """Every invariant holds after every step of every example (see machine's docstring)."""
    if not FUZZING:
        run_state_machine_as_test(NgucMachine, settings=settings.get_profile("fast"))
        return
    deadline = time.monotonic() + float(os.environ.get("NGUC_FUZZ_MINUTES", "10")) * 60
    batches = 0
    while time.monotonic() < deadline:
        run_state_machine_as_test(
            NgucMachine,
            settings=settings(settings.get_profile("fuzz"), max_examples=FUZZ_BATCH),
        )
        batches += 1
    print(f"{batches * FUZZ_BATCH} examples without a failure")
