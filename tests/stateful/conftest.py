"""Hypothesis profiles of the stateful tests: the fast set of script/test, and script/fuzz's long run.

Registered, not loaded: the tests of this package use them by name, and
other tests keep Hypothesis's defaults.

The fast set is the same every run, on every machine: a fixed seed (set by
the test) and no example database. script/fuzz runs random examples for as
long as asked, replays first what it saved in examples/ before, and saves
there what fails. That database is not committed: Hypothesis keys it by the
machine's source, so any edit makes it stale. What the machine found is
kept as explicit examples in test_found.py.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

EXAMPLES = Path(__file__).parent / "examples"
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "fast",
    database=None,
    # A failure is reported as found: shrinking it is script/fuzz's work.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=_SLOW,
    print_blob=True,
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    database=DirectoryBasedExampleDatabase(EXAMPLES),
    max_examples=1_000_000,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=_SLOW,
    print_blob=True,
)
