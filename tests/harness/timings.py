"""The integration's waits, as a test, the soak or the benchmark wants them.

A `Timings` names each wait by what it is for, None keeping the
integration's own; `applied` hands them to the integration the way it takes
them, in ``hass.data`` (custom_components/weblink_nguc/timings.py), on top
of what was applied before. The stream's and the token renewal's waits are
taken when an entry is set up; the others whenever a wait starts.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, fields, replace
from typing import Any

from homeassistant.core import HomeAssistant

from custom_components.weblink_nguc.timings import (
    DEFAULT_TIMINGS,
    TIMINGS,
    Timings as IntegrationTimings,
)


@dataclass(frozen=True)
class Timings:
    """Durations in seconds; None: as the integration ships them."""

    #: An authenticated connection neither closed nor proven this long counts as accepted.
    auth_grace: float | None = None
    #: The event stream's reconnect backoff: first delay and cap.
    backoff_base: float | None = None
    backoff_cap: float | None = None
    #: The event stream's heartbeat (NGUC's is 25 s): pings, and silence detection.
    heartbeat: float | None = None
    #: Retries of a failed token renewal.
    renew_retry_min: float | None = None
    renew_retry_base: float | None = None
    renew_retry_cap: float | None = None
    #: The shortest token lifetime believed (renewal margin included).
    min_token_lifetime: float | None = None
    #: A REST request's timeout.
    request_timeout: float | None = None
    #: Retries of a failed read of the state.
    resync_retry_base: float | None = None
    resync_retry_cap: float | None = None
    #: Retries of a list that answered 404.
    missing_retry_min: float | None = None
    missing_retry_base: float | None = None
    #: Entities turn unavailable this long after the stream went down.
    stream_grace: float | None = None
    #: An unknown id in an event is looked up after this long.
    unknown_item_delay: float | None = None
    #: The periodic full read.
    resync_interval: float | None = None
    #: A list that lost most of what we hold is read again after this long.
    shrink_recheck_delay: float | None = None
    #: Users and phones are read again once a new connection lasted this long (0: at once).
    reconnect_quiet: float | None = None
    #: A list failing this long raises its repair issue.
    failing_issue_after: float | None = None

    def but(self, **changes: float | None) -> Timings:
        """Return these timings with ``changes``."""
        return replace(self, **changes)

    def over(self, base: IntegrationTimings) -> IntegrationTimings:
        """Return ``base`` with the waits these timings name."""
        given = {
            spec.name: value
            for spec in fields(self)
            if (value := getattr(self, spec.name)) is not None
        }
        auth = {
            field: given.pop(name) for name, field in _AUTH.items() if name in given
        }
        stream = {
            field: given.pop(name) for name, field in _STREAM.items() if name in given
        }
        return replace(
            base,
            auth=replace(base.auth, **auth),
            stream=replace(base.stream, **stream),
            **given,
        )


# The harness's names of the NGUC client's waits, and theirs.
_AUTH = {
    "renew_retry_min": "retry_min",
    "renew_retry_base": "retry_base",
    "renew_retry_cap": "retry_cap",
    "min_token_lifetime": "min_lifetime",
}
_STREAM = {
    "auth_grace": "auth_grace",
    "backoff_base": "backoff_base",
    "backoff_cap": "backoff_cap",
}


def use(hass: HomeAssistant, timings: Timings) -> None:
    """Run the integration in ``hass`` with ``timings`` from now on."""
    hass.data[TIMINGS] = timings.over(hass.data.get(TIMINGS, DEFAULT_TIMINGS))


@contextlib.contextmanager
def applied_to_test(request: Any, timings: Timings) -> Iterator[None]:
    """Apply ``timings`` to a test's Home Assistant, if it has one (a fixture's helper)."""
    if "hass" not in request.fixturenames:
        yield
        return
    with applied(request.getfixturevalue("hass"), timings):
        yield


@contextlib.contextmanager
def applied(hass: HomeAssistant, timings: Timings) -> Iterator[None]:
    """Run the integration in ``hass`` with ``timings`` while entered."""
    before: Any = hass.data.get(TIMINGS)
    use(hass, timings)
    try:
        yield
    finally:
        if before is None:
            hass.data.pop(TIMINGS, None)
        else:
            hass.data[TIMINGS] = before


#: Every test of the integration: accepted after 50 ms, first reconnect within 50 ms,
#: users and phones read at every reconnect (as the tests of one feature expect),
#: an item gone confirmed by a second read 0.2 s after the first.
TESTS = Timings(
    auth_grace=0.05, backoff_base=0.05, reconnect_quiet=0.0, shrink_recheck_delay=0.2
)

#: The fault matrix: an hour's backoff, retries and timeouts in a fraction of a second.
FAULT_MATRIX = TESTS.but(
    backoff_cap=0.5,
    renew_retry_min=0.05,
    renew_retry_base=0.05,
    renew_retry_cap=0.5,
    request_timeout=1.0,
    resync_retry_base=0.05,
    resync_retry_cap=0.5,
    unknown_item_delay=0.3,
    shrink_recheck_delay=0.3,
)

#: The soak: an hour of faults in minutes.
SOAK = Timings(
    auth_grace=0.3,
    backoff_base=0.1,
    backoff_cap=2.0,
    heartbeat=2.0,
    renew_retry_min=0.1,
    renew_retry_base=0.2,
    renew_retry_cap=2.0,
    request_timeout=2.0,
    resync_retry_base=0.1,
    resync_retry_cap=2.0,
    stream_grace=3.0,
    unknown_item_delay=0.5,
    resync_interval=10.0,
    shrink_recheck_delay=0.5,
    reconnect_quiet=0.5,
)
#: How many times faster than a real day the soak's waits run (backoff cap 300 s -> 2 s).
SOAK_COMPRESSION = 150.0
