"""How long the integration waits, for what: every wait of an entry in one place.

Entries run with :data:`DEFAULT_TIMINGS`. Tests, the soak and the benchmark
put other timings in ``hass.data[TIMINGS]``, so that an hour of faults fits
in seconds without patching any module. The NGUC client's waits (``auth``,
``stream``, ``heartbeat``, ``request_timeout``) are taken when an entry is set
up; the others whenever a wait starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .api import AuthTimings, StreamTimings
from .const import DOMAIN


@dataclass(frozen=True, kw_only=True)
class Timings:
    """The waits of one entry, in seconds."""

    stream_grace: float = 30.0
    """Entities stay available this long after the event stream drops, so
    that a quick reconnect does not flap every entity."""
    resync_interval: float = 3600.0
    """A full read this often on a healthy stream, for what no event tells
    (renames, removals)."""
    resync_retry_base: float = 5.0
    resync_retry_cap: float = 300.0
    """A list that fails is read again with backoff from base to cap."""
    missing_retry_min: float = 30.0
    missing_retry_base: float = 60.0
    """A list that answers 404 (its path is assumed) is read again after at
    least ``missing_retry_min``, then up to twice as long each time, at
    least hourly."""
    shrink_recheck_delay: float = 10.0
    """A list that suddenly lost most of what we hold is read again this
    soon, before anything is removed."""
    reconnect_quiet: float = 25.0
    """After a reconnect, users and phones (which events do not list) are
    read again once the connection has lasted this long; 0: at once.
    Line statuses and queues are read at every reconnect."""
    failing_issue_after: float = 600.0
    """A list failing this long (or three reads) raises its repair issue."""
    unknown_item_delay: float = 5.0
    """An event about an item we do not know reads the lists this long
    after (such events come in bursts), and longer for each read that did
    not name it."""
    heartbeat: float = 25.0
    """NGUC's heartbeat: the stream pings this often and counts silence in it."""
    request_timeout: float = 20.0
    """One REST request's timeout."""
    auth: AuthTimings = field(default_factory=AuthTimings.defaults)
    """The token renewal's waits (the NGUC client's)."""
    stream: StreamTimings = field(default_factory=StreamTimings.defaults)
    """The event stream's waits (the NGUC client's)."""


DEFAULT_TIMINGS = Timings()
TIMINGS: HassKey[Timings] = HassKey(f"{DOMAIN}_timings")


def timings_of(hass: HomeAssistant) -> Timings:
    """Return the timings entries run with."""
    return hass.data.get(TIMINGS, DEFAULT_TIMINGS)
