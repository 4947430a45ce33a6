"""Sensors of Weblink NGUC: each user's line state, queue figures, the last event.

Every value is read from the coordinator's data, which the event stream keeps
current; an entity writes its state only when its own item changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api import LineState, Queue, UserStatus
from .coordinator import (
    KEY_ACCOUNT,
    KEY_LAST_EVENT,
    NgucConfigEntry,
    NgucCoordinator,
    queue_key,
    user_key,
)
from .entity import NgucEntity, async_add_item_entities

# Push only: nothing is polled or sent.
PARALLEL_UPDATES = 0

LINE_IDLE = "idle"
LINE_IN_USE = "in_use"
LINE_RINGING = "ringing"
LINE_IN_USE_RINGING = "in_use_ringing"
LINE_OFFLINE = "offline"
LINE_STATES = [LINE_IDLE, LINE_IN_USE, LINE_RINGING, LINE_IN_USE_RINGING, LINE_OFFLINE]

# A line with a call on it, whether talking, busy or holding.
_BUSY = LineState.IN_USE | LineState.BUSY | LineState.ON_HOLD


def line_state(status: UserStatus) -> str | None:
    """Return what a UserStatus bit field means, as one of ``LINE_STATES``.

    Unavailable wins over everything; a line that rings while a call is on it
    is ``in_use_ringing``. A value with only bits we do not know is unknown
    (None), never idle: do not claim a line is free when we cannot tell.
    """
    flags = status.status
    if flags & LineState.UNAVAILABLE:
        return LINE_OFFLINE
    busy = bool(flags & _BUSY)
    if flags & LineState.RINGING:
        return LINE_IN_USE_RINGING if busy else LINE_RINGING
    if busy:
        return LINE_IN_USE
    return LINE_IDLE if flags == LineState.IDLE else None


@dataclass(frozen=True, kw_only=True)
class NgucSensorEntityDescription[T](SensorEntityDescription):
    """A sensor whose value is read from one item of type ``T``."""

    value_fn: Callable[[T], StateType | datetime]


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

QUEUE_SENSORS: tuple[NgucSensorEntityDescription[Queue], ...] = (
    NgucSensorEntityDescription(
        key="waiting",
        translation_key="waiting",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda queue: queue.waiting,
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


def _entities(coordinator: NgucCoordinator) -> list[NgucSensor[Any]]:
    """Return a sensor for every description of every item known now."""
    data = coordinator.data
    entities: list[NgucSensor[Any]] = [
        NgucAccountSensor(coordinator, description) for description in ACCOUNT_SENSORS
    ]
    entities.extend(
        NgucLineSensor(coordinator, user_id, description)
        for user_id in data.users
        for description in USER_SENSORS
    )
    entities.extend(
        NgucQueueSensor(coordinator, queue_id, description)
        for queue_id in data.queues
        for description in QUEUE_SENSORS
    )
    return entities


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of the items known now, and of those that appear later."""
    async_add_item_entities(entry, async_add_entities, _entities)


class NgucSensor[T](NgucEntity, SensorEntity):
    """A sensor showing ``value_fn`` of its item."""

    entity_description: NgucSensorEntityDescription[T]

    def _item(self) -> T | None:
        """Return the item the value is read from, None when it is not known."""
        raise NotImplementedError

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the value read from the item."""
        if (item := self._item()) is None:
            return None
        return self.entity_description.value_fn(item)


class NgucAccountSensor(NgucSensor[NgucCoordinator]):
    """A sensor of the account itself, told of every event."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        description: NgucSensorEntityDescription[NgucCoordinator],
    ) -> None:
        """Attach to the account's device."""
        super().__init__(coordinator, KEY_ACCOUNT, description, KEY_LAST_EVENT)

    @override
    def _item(self) -> NgucCoordinator:
        return self.coordinator


class NgucLineSensor(NgucSensor[UserStatus]):
    """A sensor of one user's line."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        user_id: str,
        description: NgucSensorEntityDescription[UserStatus],
    ) -> None:
        """Attach to the user's device."""
        super().__init__(coordinator, user_key(user_id), description)
        self.user_id = user_id

    @property
    @override
    def available(self) -> bool:
        """Return False while the stream is down or the user is gone."""
        return super().available and self.user_id in self.coordinator.data.users

    @override
    def _item(self) -> UserStatus | None:
        return self.coordinator.data.statuses.get(self.user_id)


class NgucQueueSensor(NgucSensor[Queue]):
    """A figure of one call queue."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        queue_id: str,
        description: NgucSensorEntityDescription[Queue],
    ) -> None:
        """Attach to the queue's device."""
        super().__init__(coordinator, queue_key(queue_id), description)
        self.queue_id = queue_id

    @property
    @override
    def available(self) -> bool:
        """Return False while the stream is down or the queue is gone."""
        return super().available and self.queue_id in self.coordinator.data.queues

    @override
    def _item(self) -> Queue | None:
        return self.coordinator.data.queues.get(self.queue_id)
