"""Sensors of Weblink NGUC: each user's line, queues and missed calls; queue figures.

Every value but the missed calls is read from the coordinator's data, which
the event stream keeps current; an entity writes its state only when what it
shows changed. A queue's *Longest wait* also grows with the clock while
callers wait, since NGUC sends a snapshot only when the queue changes. The
missed calls are counted from the user's call events and restored across
restarts (``missed_calls.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, Platform, UnitOfTime
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .api import LineState, Queue, UserStatus
from .coordinator import (
    KEY_ACCOUNT,
    KEY_LAST_EVENT,
    NgucConfigEntry,
    NgucCoordinator,
)
from .data import Membership, callers_known, longest_wait_now, members_known
from .entity import (
    QUEUE,
    USER_LINE,
    USER_QUEUES,
    BuildEntities,
    ItemDescriptions,
    ItemKind,
    NgucEntity,
    NgucItemEntity,
    async_add_item_entities,
    item_entities,
)
from .missed_calls import (
    LAST_MISSED_CALL,
    MISSED_CALLS_TODAY,
    NgucLastMissedCallSensor,
    NgucMissedCallsSensor,
)

# Push only: nothing is polled or sent.
PARALLEL_UPDATES = 0

LINE_IDLE = "idle"
LINE_IN_USE = "in_use"
LINE_RINGING = "ringing"
LINE_IN_USE_RINGING = "in_use_ringing"
LINE_OFFLINE = "offline"
LINE_STATES = [LINE_IDLE, LINE_IN_USE, LINE_RINGING, LINE_IN_USE_RINGING, LINE_OFFLINE]

# As plain ints: the bit operations of IntFlag cost a call each, per event.
# A line with a call on it, whether talking, busy or holding.
_BUSY = int(LineState.IN_USE | LineState.BUSY | LineState.ON_HOLD)
_UNAVAILABLE = int(LineState.UNAVAILABLE)
_RINGING = int(LineState.RINGING)


def line_state(status: UserStatus) -> str | None:
    """Return what a UserStatus bit field means, as one of ``LINE_STATES``.

    Unavailable wins over everything; a line that rings while a call is on it
    is ``in_use_ringing``. A value with only bits we do not know is unknown
    (None), never idle: do not claim a line is free when we cannot tell.
    """
    flags = int(status.status)
    if flags & _UNAVAILABLE:
        return LINE_OFFLINE
    busy = flags & _BUSY
    if flags & _RINGING:
        return LINE_IN_USE_RINGING if busy else LINE_RINGING
    if busy:
        return LINE_IN_USE
    return LINE_IDLE if flags == 0 else None


# Attributes of the queue and user sensors.
ATTR_CALLERS = "callers"
ATTR_QUEUES = "queues"


def agents_on_call(queue: Queue) -> int | None:
    """Return how many of a queue's agents are in a call; None if unknown."""
    if not members_known(queue):
        return None
    return sum(member.call_guid is not None for member in queue.members)


def agents_paused(queue: Queue) -> int | None:
    """Return how many of a queue's agents are paused; None if NGUC did not say."""
    if not members_known(queue) or any(m.paused is None for m in queue.members):
        return None
    return sum(bool(member.paused) for member in queue.members)


# How often a queue's Longest wait is written while callers wait: a wall
# screen's colours and an automation on the sensor are at most this late,
# and a queue with callers adds 12 states a minute to the recorder (every
# second would be 60, for a figure nobody reads to the second).
LONGEST_WAIT_TICK = timedelta(seconds=5)


# Two snapshots of one caller whose start times differ by at most this much
# tell the same story: waits are whole seconds, and events take a moment.
WAITING_SINCE_JITTER = timedelta(seconds=5)


def waiting_since(
    queue: Queue, now: datetime, last: tuple[str | None, datetime] | None
) -> tuple[str | None, datetime] | None:
    """Return the longest-waiting caller's call and when they started waiting.

    ``now`` is when the snapshot arrived; ``last`` is the previous answer,
    kept while it tells the same story, so that a snapshot that only ages
    the waits changes nothing. None when nobody waits or a wait is unknown.
    """
    if not queue.callers or any(c.wait is None for c in queue.callers):
        return None
    caller = max(queue.callers, key=lambda caller: caller.wait or 0)
    try:
        since = (now - timedelta(seconds=caller.wait or 0)).replace(microsecond=0)
    except OverflowError:
        # The parser leaves out waits beyond a day; one that slips past
        # would reach before year 1, which no entity can show.
        return None
    if (
        last is not None
        and last[0] == caller.call_guid
        and abs(last[1] - since) <= WAITING_SINCE_JITTER
    ):
        return last
    return caller.call_guid, since


def waiting_callers(queue: Queue) -> dict[str, Any]:
    """Return the callers waiting at the snapshot: place in line, number, wait (s)."""
    if not callers_known(queue):
        return {ATTR_CALLERS: None}
    return {
        ATTR_CALLERS: [
            {
                "position": caller.position or place,
                "number": caller.callerid,
                "wait": caller.wait,
            }
            for place, caller in enumerate(queue.callers, start=1)
        ]
    }


def queues_of(memberships: Iterable[Membership]) -> dict[str, Any]:
    """Return the queues a user is a member of: name, and whether paused there."""
    return {
        ATTR_QUEUES: [
            {"name": m.queue_name or m.queue_id, "paused": m.paused}
            for m in memberships
        ]
    }


@dataclass(frozen=True, kw_only=True)
class NgucSensorEntityDescription[T](SensorEntityDescription):
    """A sensor whose value is read from one item of type ``T``."""

    value_fn: Callable[[T], StateType | datetime]
    attributes_fn: Callable[[T], Mapping[str, Any]] | None = None


# The wait of the caller waiting longest now (0: nobody); distinct from
# ``longest_wait``, today's longest wait, callers gone included. Shown by
# NgucLongestWaitSensor, which ages it to now; ``value_fn`` is its figure as
# the snapshot arrived.
CURRENT_LONGEST_WAIT: NgucSensorEntityDescription[Queue] = NgucSensorEntityDescription(
    key="current_longest_wait",
    translation_key="current_longest_wait",
    device_class=SensorDeviceClass.DURATION,
    native_unit_of_measurement=UnitOfTime.SECONDS,
    suggested_display_precision=0,
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda queue: longest_wait_now(queue, None, dt_util.utcnow()),
)

ACCOUNT_SENSORS: tuple[NgucSensorEntityDescription[NgucCoordinator], ...] = (
    NgucSensorEntityDescription(
        key="last_event",
        translation_key="last_event",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda coordinator: coordinator.last_event,
    ),
)

USER_SENSORS: tuple[NgucSensorEntityDescription[UserStatus], ...] = (
    NgucSensorEntityDescription(
        key="line_status",
        translation_key="line_status",
        device_class=SensorDeviceClass.ENUM,
        options=LINE_STATES,
        value_fn=line_state,
    ),
)

USER_QUEUE_SENSORS: tuple[NgucSensorEntityDescription[tuple[Membership, ...]], ...] = (
    NgucSensorEntityDescription(
        key="queues",
        translation_key="queues",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=len,
        attributes_fn=queues_of,
    ),
)

QUEUE_SENSORS: tuple[NgucSensorEntityDescription[Queue], ...] = (
    NgucSensorEntityDescription(
        key="waiting",
        translation_key="waiting",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.waiting,
        attributes_fn=waiting_callers,
    ),
    CURRENT_LONGEST_WAIT,
    NgucSensorEntityDescription(
        key="agents_on_call",
        translation_key="agents_on_call",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=agents_on_call,
    ),
    NgucSensorEntityDescription(
        key="agents_paused",
        translation_key="agents_paused",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=agents_paused,
    ),
    NgucSensorEntityDescription(
        key="available_agents",
        translation_key="available_agents",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.member_available,
    ),
    NgucSensorEntityDescription(
        key="total_agents",
        translation_key="total_agents",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.member_total,
    ),
    NgucSensorEntityDescription(
        key="longest_wait",
        translation_key="longest_wait",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.wait_longest,
    ),
    NgucSensorEntityDescription(
        key="average_wait",
        translation_key="average_wait",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.wait_avg,
    ),
    NgucSensorEntityDescription(
        key="service_level",
        translation_key="service_level",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.service_level,
    ),
    # The daily counters start again at 0 every day: TOTAL_INCREASING.
    NgucSensorEntityDescription(
        key="completed_today",
        translation_key="completed_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda queue: queue.completed,
    ),
    NgucSensorEntityDescription(
        key="abandoned_today",
        translation_key="abandoned_today",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda queue: queue.abandoned,
    ),
    NgucSensorEntityDescription(
        key="talk_time_today",
        translation_key="talk_time_today",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=False,
        value_fn=lambda queue: queue.talktime,
    ),
    NgucSensorEntityDescription(
        key="hold_time_today",
        translation_key="hold_time_today",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=False,
        value_fn=lambda queue: queue.holdtime,
    ),
)


ITEM_SENSORS: ItemDescriptions[NgucSensorEntityDescription[Any]] = (
    (USER_LINE, USER_SENSORS),
    (USER_QUEUES, USER_QUEUE_SENSORS),
    # The longest wait now is made by a class of its own (ITEM_BUILDS).
    (QUEUE, tuple(d for d in QUEUE_SENSORS if d is not CURRENT_LONGEST_WAIT)),
)

# Worked out from each queue's snapshots as they arrive.
LONGEST_WAITING_SINCE = SensorEntityDescription(
    key="longest_waiting_since",
    translation_key="longest_waiting_since",
    device_class=SensorDeviceClass.TIMESTAMP,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's sensors, and those of the items known now and later."""
    coordinator = entry.runtime_data
    # What this platform makes of each item, counted against the limit.
    coordinator.budget.expect(
        Platform.SENSOR,
        [
            (KEY_ACCOUNT, ACCOUNT_SENSORS),
            *(
                (kind.kind, descriptions)
                for _, items in ITEM_BUILDS
                for kind, descriptions in items
            ),
        ],
    )
    async_add_entities(
        NgucAccountSensor(coordinator, description) for description in ACCOUNT_SENSORS
    )
    builds: tuple[BuildEntities[SensorEntity], ...] = tuple(
        item_entities(entity_class, items) for entity_class, items in ITEM_BUILDS
    )

    def build(coordinator: NgucCoordinator, keys: Iterable[str]) -> list[SensorEntity]:
        keys = list(keys)
        return [entity for each in builds for entity in each(coordinator, keys)]

    async_add_item_entities(entry, async_add_entities, build)


class NgucSensor[T](NgucItemEntity[T], SensorEntity):
    """A sensor showing ``value_fn`` of a user's line or queues, or of a queue."""

    entity_description: NgucSensorEntityDescription[T]
    # The waiting callers change all day long and name outside numbers.
    _unrecorded_attributes = frozenset({ATTR_CALLERS})

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the value read from the item."""
        if (item := self.item) is None:
            return None
        return self.entity_description.value_fn(item)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the attributes read from the item, if the sensor has any."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        if (item := self.item) is None:
            return None
        return attributes_fn(item)

    @override
    def _shown(self) -> object:
        return (self.native_value, self.extra_state_attributes)


class NgucLongestWaitSensor(NgucSensor[Queue]):
    """How long the caller waiting longest in a queue has waited: now, not at the snapshot.

    The snapshot's longest wait plus the time since it arrived
    (``data.longest_wait_now``, as the ``callers_waiting`` condition and
    Assist reckon it). While callers wait, a timer writes it every
    ``LONGEST_WAIT_TICK``, timed from the snapshot's arrival: a new snapshot
    starts it again. No timer while nobody waits, a wait is unknown or the
    entity is unavailable: then the value does not change with the clock.
    """

    _clock: CALLBACK_TYPE | None = None

    @property
    @override
    def native_value(self) -> int | None:
        """Return the longest wait by now, in seconds."""
        if (queue := self.item) is None:
            return None
        received = self.coordinator.queue_received.get(self.item_id)
        return longest_wait_now(queue, received, dt_util.utcnow())

    @override
    async def async_added_to_hass(self) -> None:
        """Listen for the queue; time the wait if callers already wait."""
        await super().async_added_to_hass()
        self.async_on_remove(self._async_stop_clock)
        self._async_start_clock()

    @callback
    @override
    def _async_item_changed(self) -> None:
        """Write the state if it changed; time the wait again from this snapshot."""
        super()._async_item_changed()
        self._async_start_clock()

    @callback
    def _async_start_clock(self) -> None:
        """Time the wait from now if it grows: callers wait, their waits known."""
        self._async_stop_clock()
        queue = self.item
        if (
            queue is not None
            and queue.callers
            and self.available
            and self.native_value is not None
        ):
            # Not async_track_time_interval: its job's name is the entity's
            # repr, which works the state out, at every snapshot.
            self._clock = async_call_later(
                self.hass, LONGEST_WAIT_TICK, self._async_tick
            )

    @callback
    def _async_stop_clock(self) -> None:
        if self._clock is not None:
            self._clock()
            self._clock = None

    @callback
    def _async_tick(self, _now: datetime) -> None:
        # The same snapshot, a later moment: only the value moved.
        self._clock = async_call_later(self.hass, LONGEST_WAIT_TICK, self._async_tick)
        super()._async_item_changed()


class NgucWaitingSinceSensor(NgucItemEntity[Queue], SensorEntity):
    """Since when the caller waiting longest in a queue has waited.

    A snapshot gives each caller's wait when it was sent: as a duration it
    would be stale until the next snapshot; as a start time it stays true,
    and the frontend shows it counting up.
    """

    _queue: Queue | None = None
    _waiting: tuple[str | None, datetime] | None = None

    @property
    @override
    def native_value(self) -> datetime | None:
        """Return when the longest-waiting caller started waiting."""
        return None if self._waiting is None else self._waiting[1]

    @override
    def _shown(self) -> object:
        # Called whenever the queue may have changed (and before the first
        # write): the one place the start time is worked out again.
        queue = self.item
        if queue is not self._queue:
            self._queue = queue
            self._waiting = (
                None
                if queue is None
                else waiting_since(queue, dt_util.utcnow(), self._waiting)
            )
        return self._waiting


class NgucAccountSensor(NgucEntity, SensorEntity):
    """A sensor of the account itself, told of every event."""

    entity_description: NgucSensorEntityDescription[NgucCoordinator]

    def __init__(
        self,
        coordinator: NgucCoordinator,
        description: NgucSensorEntityDescription[NgucCoordinator],
    ) -> None:
        """Attach to the account's device."""
        super().__init__(coordinator, KEY_ACCOUNT, description, KEY_LAST_EVENT)

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the value read from the account."""
        return self.entity_description.value_fn(self.coordinator)

    @override
    def _shown(self) -> object:
        return self.native_value


# Each entity class with the items it is made for and their descriptions
# (after the classes).
ITEM_BUILDS: tuple[
    tuple[
        Callable[[NgucCoordinator, ItemKind[Any], str, Any], SensorEntity],
        ItemDescriptions[Any],
    ],
    ...,
] = (
    (NgucSensor, ITEM_SENSORS),
    (NgucLongestWaitSensor, ((QUEUE, (CURRENT_LONGEST_WAIT,)),)),
    (NgucMissedCallsSensor, ((USER_LINE, (MISSED_CALLS_TODAY,)),)),
    (NgucLastMissedCallSensor, ((USER_LINE, (LAST_MISSED_CALL,)),)),
    (NgucWaitingSinceSensor, ((QUEUE, (LONGEST_WAITING_SINCE,)),)),
)
