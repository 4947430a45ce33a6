"""Hypothesis profiles of the stateful tests: the fast set of script/test, and script/fuzz's long run.

The fast set is the same every run: a fixed seed (set by the test), with
the example database read but never written, so that what script/fuzz
found on this machine is replayed first until it passes. script/fuzz runs
random examples for as long as asked and saves what fails into that
database. The database is not committed: Hypothesis keys it by the
machine's source, so any edit makes it stale. What the machine found is
kept as explicit examples in test_found.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

EXAMPLES = Path(__file__).parent / "examples"
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "fast",
    database=ReadOnlyDatabase(DirectoryBasedExampleDatabase(EXAMPLES)),
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
settings.load_profile(os.environ.get("NGUC_HYPOTHESIS_PROFILE", "fast"))
