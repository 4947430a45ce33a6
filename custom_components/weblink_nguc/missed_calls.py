"""A user's missed calls: how many today, from local midnight, and the last one.

Unlike the other sensors, these are not read from the coordinator's data:
they are counted from the user's call events, and restored across restarts
with what they need to go on (the count's day, the last caller). Calls
missed while Home Assistant or the event stream was down are not seen, so
not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, override

from homeassistant.components.sensor import (
    ATTR_LAST_RESET,
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.core import callback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .api import UserStatus
from .calls import CALL_MISSED, CallEvent
from .coordinator import (
    KEY_AVAILABILITY,
    KEY_NEW_DAY,
    NgucCoordinator,
)
from .entity import (
    ItemKind,
    NgucItemEntity,
)

ATTR_CALLER = "caller"
ATTR_CALLER_NAME = "caller_name"

# Counted from each user's call events rather than read from the data.
MISSED_CALLS_TODAY = SensorEntityDescription(
    key="missed_calls_today",
    translation_key="missed_calls_today",
    # A daily count that starts again at local midnight, as utility_meter's.
    state_class=SensorStateClass.TOTAL,
)
LAST_MISSED_CALL = SensorEntityDescription(
    key="last_missed_call",
    translation_key="last_missed_call",
    device_class=SensorDeviceClass.TIMESTAMP,
)


@dataclass
class NgucSensorStoredData(SensorExtraStoredData):
    """A sensor's value and the attributes it needs to go on after a restart.

    Stored with the value because the last state, if it was unavailable,
    holds no attributes.
    """

    attributes: dict[str, Any]

    @override
    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "attributes": self.attributes}

    @classmethod
    @override
    def from_dict(cls, restored: dict[str, Any]) -> NgucSensorStoredData | None:
        data = SensorExtraStoredData.from_dict(restored)
        attributes = restored.get("attributes")
        if data is None or not isinstance(attributes, dict):
            return None
        return cls(data.native_value, data.native_unit_of_measurement, attributes)


class NgucMissedCallSensorBase(NgucItemEntity[UserStatus], RestoreSensor):
    """A sensor of a user's missed calls: fed by their call events, restored.

    Calls missed while Home Assistant or the event stream was down are not
    seen, so not counted.
    """

    def __init__(
        self,
        coordinator: NgucCoordinator,
        kind: ItemKind[UserStatus],
        item_id: str,
        description: SensorEntityDescription,
    ) -> None:
        """Attach to the user's device; only calls and availability concern it."""
        super().__init__(coordinator, kind, item_id, description, KEY_AVAILABILITY)

    @override
    async def async_added_to_hass(self) -> None:
        """Restore what was shown before, then listen for the user's calls."""
        # Before the base class notes what it shows: the restored value.
        await self._async_restore()
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_subscribe_calls(self.item_key, self._async_on_call)
        )

    async def _async_restore(self) -> None:
        """Take over the value and attributes of the last run."""

    def _stored_attributes(self) -> dict[str, Any]:
        """Return what, besides the value, the next run takes over."""
        return {}

    @property
    @override
    def extra_restore_state_data(self) -> NgucSensorStoredData:
        """Return the value and the attributes to restore."""
        value = self.native_value
        return NgucSensorStoredData(
            value, self.native_unit_of_measurement, self._stored_attributes()
        )

    async def _async_last_data(
        self,
    ) -> tuple[StateType | date | datetime | Decimal, dict[str, Any]] | None:
        """Return the value and the attributes the last run stored, if any.

        What an earlier version stored holds no attributes: those then come
        from the last state.
        """
        extra = await self.async_get_last_extra_data()
        if extra is None:
            return None
        restored = extra.as_dict()
        data = NgucSensorStoredData.from_dict(restored)
        if data is not None:
            return data.native_value, data.attributes
        old = SensorExtraStoredData.from_dict(restored)
        state = await self.async_get_last_state()
        if old is None or state is None:
            return None
        return old.native_value, dict(state.attributes)

    @callback
    def _async_on_call(self, event: CallEvent) -> None:
        if event.event_type == CALL_MISSED:
            self._missed(event)
            self._async_item_changed()

    def _missed(self, event: CallEvent) -> None:
        """Take a missed call into account."""


class NgucMissedCallsSensor(NgucMissedCallSensorBase):
    """How many calls a user missed today; 0 again at local midnight."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        kind: ItemKind[UserStatus],
        item_id: str,
        description: SensorEntityDescription,
    ) -> None:
        """Start the day at none missed."""
        super().__init__(coordinator, kind, item_id, description)
        self._count = 0
        self._attr_last_reset = dt_util.start_of_local_day()

    @override
    async def async_added_to_hass(self) -> None:
        """Restore today's count, and start a new day at each local midnight."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_add_listener(self._async_midnight, KEY_NEW_DAY)
        )

    @override
    async def _async_restore(self) -> None:
        last = await self._async_last_data()
        if last is None:
            return
        value, attributes = last
        if (
            not isinstance(value, (int, float, Decimal))
            or isinstance(value, bool)
            or not Decimal(value).is_finite()  # a damaged file: no count at all
        ):
            return  # unknown then: today starts at 0
        last_reset = dt_util.parse_datetime(str(attributes.get(ATTR_LAST_RESET)))
        # A count of another day is not today's.
        if last_reset is not None and last_reset >= dt_util.start_of_local_day():
            self._count = max(int(value), 0)
            self._attr_last_reset = last_reset

    @override
    def _stored_attributes(self) -> dict[str, Any]:
        reset = self._attr_last_reset
        return {ATTR_LAST_RESET: reset.isoformat() if reset is not None else None}

    @property
    @override
    def native_value(self) -> int:
        """Return the calls missed today."""
        return self._count

    @override
    def _shown(self) -> object:
        return (self._count, self._attr_last_reset)

    @override
    def _missed(self, event: CallEvent) -> None:
        self._new_day()
        self._count += 1

    @callback
    def _async_midnight(self) -> None:
        # Also called when availability flips: a new day starts only once.
        self._new_day()
        self._async_item_changed()

    def _new_day(self, today: datetime | None = None) -> None:
        """Start counting from 0 if the count is of an earlier day."""
        today = today or dt_util.start_of_local_day()
        if self._attr_last_reset is None or self._attr_last_reset < today:
            self._count = 0
            self._attr_last_reset = today


class NgucLastMissedCallSensor(NgucMissedCallSensorBase):
    """When a user last missed a call, and who called."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        kind: ItemKind[UserStatus],
        item_id: str,
        description: SensorEntityDescription,
    ) -> None:
        """Start with no missed call known."""
        super().__init__(coordinator, kind, item_id, description)
        self._attr_native_value: datetime | None = None
        self._attr_extra_state_attributes = {ATTR_CALLER: None, ATTR_CALLER_NAME: None}

    @override
    async def _async_restore(self) -> None:
        last = await self._async_last_data()
        if last is None:
            return
        value, attributes = last
        if not isinstance(value, datetime):
            return
        self._attr_native_value = value
        self._attr_extra_state_attributes = {
            key: attributes.get(key) for key in (ATTR_CALLER, ATTR_CALLER_NAME)
        }

    @override
    def _stored_attributes(self) -> dict[str, Any]:
        return dict(self._attr_extra_state_attributes)

    @override
    def _shown(self) -> object:
        return (self._attr_native_value, self._attr_extra_state_attributes)

    @override
    def _missed(self, event: CallEvent) -> None:
        self._attr_native_value = dt_util.utcnow()
        self._attr_extra_state_attributes = {
            ATTR_CALLER: event.data.get("caller"),
            ATTR_CALLER_NAME: event.data.get("caller_name"),
        }
