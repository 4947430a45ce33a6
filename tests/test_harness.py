"""The shared harness finds every wait it sets (tests/harness/timings.py)."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

from custom_components.weblink_nguc import const
from custom_components.weblink_nguc.api import events
from tests.harness.timings import Timings, applied


def test_every_wait_is_found() -> None:
    """Each field of `Timings` reaches the integration; a wait moved or renamed fails here."""
    everything = Timings(**{spec.name: 1.5 for spec in fields(Timings)})
    with applied(everything):
        assert events.BACKOFF_CAP == 1.5
        # A wait the integration keeps as a timedelta is set as one.
        assert timedelta(seconds=1.5) == const.STREAM_GRACE
    assert events.BACKOFF_CAP != 1.5
