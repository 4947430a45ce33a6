"""The integration's waits, as a test, the soak or the benchmark wants them.

A `Timings` names each wait by what it is for; `applied` is the one function
that knows where in the integration each one lives. When a wait moves (a
module split, a rename), only `_WHERE` changes. A field left at None keeps
the integration's own value.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
import importlib
from typing import Any
from unittest.mock import patch

from custom_components.weblink_nguc.api.events import NgucEventStream

_PACKAGE = "custom_components.weblink_nguc"


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
    #: Debounce of reads asked for in a row, where the integration has one.
    resync_debounce: float | None = None
    #: The periodic full read.
    resync_interval: float | None = None
    #: A list that lost most of what we hold is read again after this long.
    shrink_recheck_delay: float | None = None
    #: A list failing this long raises its repair issue.
    failing_issue_after: float | None = None

    def but(self, **changes: float | None) -> Timings:
        """Return these timings with ``changes``."""
        return replace(self, **changes)


# Where each wait lives: every `module.NAME` that exists is patched (a name
# imported into another module is patched there too). A field whose names
# are all gone fails loudly, unless it is optional: those the issue leaves
# to the implementation.
_WHERE: dict[str, tuple[str, ...]] = {
    "auth_grace": ("api.events.AUTH_GRACE",),
    "backoff_base": ("api.events.BACKOFF_BASE",),
    "backoff_cap": ("api.events.BACKOFF_CAP",),
    "renew_retry_min": ("api.auth.RENEW_RETRY_MIN",),
    "renew_retry_base": ("api.auth.RENEW_RETRY_BASE",),
    "renew_retry_cap": ("api.auth.RENEW_RETRY_CAP",),
    "min_token_lifetime": ("api.auth.MIN_LIFETIME",),
    "request_timeout": ("api.client.REQUEST_TIMEOUT",),
    "resync_retry_base": ("coordinator.RESYNC_RETRY_BASE", "sync.RESYNC_RETRY_BASE"),
    "resync_retry_cap": ("coordinator.RESYNC_RETRY_CAP", "sync.RESYNC_RETRY_CAP"),
    "missing_retry_min": ("coordinator.MISSING_RETRY_MIN", "sync.MISSING_RETRY_MIN"),
    "missing_retry_base": (
        "coordinator.MISSING_RETRY_BASE",
        "sync.MISSING_RETRY_BASE",
    ),
    "stream_grace": (
        "const.STREAM_GRACE",
        "coordinator.STREAM_GRACE",
        "health.STREAM_GRACE",
    ),
    "unknown_item_delay": (
        "const.UNKNOWN_ITEM_RESYNC_DELAY",
        "coordinator.UNKNOWN_ITEM_RESYNC_DELAY",
        "sync.UNKNOWN_ITEM_RESYNC_DELAY",
        "unknown.UNKNOWN_ITEM_RESYNC_DELAY",
    ),
    "resync_debounce": (
        "const.RESYNC_DEBOUNCE",
        "coordinator.RESYNC_DEBOUNCE",
        "sync.RESYNC_DEBOUNCE",
    ),
    "resync_interval": (
        "const.RESYNC_INTERVAL",
        "coordinator.RESYNC_INTERVAL",
        "sync.RESYNC_INTERVAL",
    ),
    "shrink_recheck_delay": ("sync.SHRINK_RECHECK_DELAY",),
    "failing_issue_after": ("reader.FAILING_ISSUE_AFTER", "sync.FAILING_ISSUE_AFTER"),
}
_OPTIONAL = frozenset({"resync_debounce"})


def _targets(name: str) -> list[tuple[Any, str]]:
    found = []
    for where in _WHERE[name]:
        module_name, attribute = f"{_PACKAGE}.{where}".rsplit(".", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, attribute):
            found.append((module, attribute))
    return found


@contextlib.contextmanager
def applied(timings: Timings) -> Iterator[None]:
    """Run the integration with ``timings`` while entered."""
    with contextlib.ExitStack() as stack:
        for spec in fields(timings):
            seconds = getattr(timings, spec.name)
            if seconds is None or spec.name == "heartbeat":
                continue
            targets = _targets(spec.name)
            if not targets and spec.name not in _OPTIONAL:
                raise LookupError(
                    f"no wait named {' or '.join(_WHERE[spec.name])} in the "
                    f"integration: tests/harness/timings.py must say where "
                    f"{spec.name} went"
                )
            for module, attribute in targets:
                current = getattr(module, attribute)
                value: Any = (
                    timedelta(seconds=seconds)
                    if isinstance(current, timedelta)
                    else seconds
                )
                stack.enter_context(patch.object(module, attribute, value))
        if timings.heartbeat is not None:
            stack.enter_context(_heartbeat(timings.heartbeat))
        yield


@contextlib.contextmanager
def _heartbeat(seconds: float) -> Iterator[None]:
    """Every event stream made while entered uses a heartbeat of ``seconds``."""
    original = NgucEventStream.__init__

    def init(self: NgucEventStream, *args: Any, **kwargs: Any) -> None:
        kwargs["heartbeat"] = seconds
        original(self, *args, **kwargs)

    with patch.object(NgucEventStream, "__init__", init):
        yield


#: Every test of the integration: accepted after 50 ms, first reconnect within 50 ms.
TESTS = Timings(auth_grace=0.05, backoff_base=0.05)

#: The fault matrix: an hour's backoff, retries and timeouts in a fraction of a second.
FAULT_MATRIX = TESTS.but(
    backoff_cap=0.5,
    renew_retry_min=0.05,
    renew_retry_base=0.05,
    renew_retry_cap=0.5,
    request_timeout=1.0,
    resync_retry_base=0.05,
    resync_retry_cap=0.5,
    resync_debounce=0.3,
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
)
#: How many times faster than a real day the soak's waits run (backoff cap 300 s -> 2 s).
SOAK_COMPRESSION = 150.0
