"""Binary sensors of Weblink NGUC: the event stream, and each phone's registration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Device
from .coordinator import (
    KEY_ACCOUNT,
    KEY_STREAM,
    NgucConfigEntry,
    NgucCoordinator,
    device_key,
)
from .entity import NgucEntity, async_add_item_entities

# Push only: nothing is polled or sent.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NgucBinarySensorEntityDescription[T](BinarySensorEntityDescription):
    """A binary sensor whose state is read from one item of type ``T``."""

    is_on_fn: Callable[[T], bool | None]


ACCOUNT_BINARY_SENSORS: tuple[
    NgucBinarySensorEntityDescription[NgucCoordinator], ...
] = (
    NgucBinarySensorEntityDescription(
        key="event_stream",
        translation_key="event_stream",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda coordinator: coordinator.stream.connected,
    ),
)

PHONE_BINARY_SENSORS: tuple[NgucBinarySensorEntityDescription[Device], ...] = (
    NgucBinarySensorEntityDescription(
        key="registered",
        translation_key="registered",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        is_on_fn=lambda device: device.registered,
    ),
)


def _entities(coordinator: NgucCoordinator) -> list[NgucBinarySensor[Any]]:
    """Return a binary sensor for every description of every item known now."""
    entities: list[NgucBinarySensor[Any]] = [
        NgucStreamBinarySensor(coordinator, description)
        for description in ACCOUNT_BINARY_SENSORS
    ]
    entities.extend(
        NgucPhoneBinarySensor(coordinator, device_id, description)
        for device_id in coordinator.data.devices
        for description in PHONE_BINARY_SENSORS
    )
    return entities


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of the items known now, and of those that appear later."""
    async_add_item_entities(entry, async_add_entities, _entities)


class NgucBinarySensor[T](NgucEntity, BinarySensorEntity):
    """A binary sensor showing ``is_on_fn`` of its item."""

    entity_description: NgucBinarySensorEntityDescription[T]

    def _item(self) -> T | None:
        """Return the item the state is read from, None when it is not known."""
        raise NotImplementedError

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the state read from the item."""
        if (item := self._item()) is None:
            return None
        return self.entity_description.is_on_fn(item)


class NgucStreamBinarySensor(NgucBinarySensor[NgucCoordinator]):
    """Whether the event stream is connected; it is about the account itself."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        description: NgucBinarySensorEntityDescription[NgucCoordinator],
    ) -> None:
        """Attach to the account's device and follow the stream."""
        super().__init__(coordinator, KEY_ACCOUNT, description, KEY_STREAM)

    @property
    @override
    def available(self) -> bool:
        """Return True always: this entity reports the connection itself."""
        return True

    @override
    def _item(self) -> NgucCoordinator:
        return self.coordinator


class NgucPhoneBinarySensor(NgucBinarySensor[Device]):
    """A binary sensor of one phone."""

    def __init__(
        self,
        coordinator: NgucCoordinator,
        device_id: str,
        description: NgucBinarySensorEntityDescription[Device],
    ) -> None:
        """Attach to the phone's device."""
        super().__init__(coordinator, device_key(device_id), description)
        self.device_id = device_id

    @property
    @override
    def available(self) -> bool:
        """Return False while the stream is down or the phone is gone."""
        return super().available and self.device_id in self.coordinator.data.devices

    @override
    def _item(self) -> Device | None:
        return self.coordinator.data.devices.get(self.device_id)
