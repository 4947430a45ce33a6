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
from .coordinator import KEY_ACCOUNT, KEY_LAST_EVENT, NgucConfigEntry, NgucCoordinator
from .entity import (
    QUEUE,
    USER_LINE,
    ItemDescriptions,
    NgucEntity,
    NgucItemEntity,
    async_add_item_entities,
    item_entities,
)

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


ITEM_SENSORS: ItemDescriptions[NgucSensorEntityDescription[Any]] = (
    (USER_LINE, USER_SENSORS),
    (QUEUE, QUEUE_SENSORS),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's sensors, and those of the items known now and later."""
    coordinator = entry.runtime_data
    async_add_entities(
        NgucAccountSensor(coordinator, description) for description in ACCOUNT_SENSORS
    )
    async_add_item_entities(
        entry, async_add_entities, item_entities(NgucSensor, ITEM_SENSORS)
    )


class NgucSensor[T](NgucItemEntity[T], SensorEntity):
    """A sensor showing ``value_fn`` of a user's line or of a queue."""

    entity_description: NgucSensorEntityDescription[T]

    @property
    @override
    def native_value(self) -> StateType | datetime:
        """Return the value read from the item."""
        if (item := self.item) is None:
            return None
        return self.entity_description.value_fn(item)

    @override
    def _shown(self) -> object:
        return (self.native_value, self.extra_state_attributes)


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
