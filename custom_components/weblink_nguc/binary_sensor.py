"""Binary sensors of Weblink NGUC: the event stream, phones' registration, paused users."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Device
from .coordinator import KEY_ACCOUNT, KEY_STREAM, NgucConfigEntry, NgucCoordinator
from .data import Membership
from .entity import (
    PHONE,
    USER_QUEUES,
    ItemDescriptions,
    NgucEntity,
    NgucItemEntity,
    async_add_item_entities,
    item_entities,
)

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
        is_on_fn=lambda coordinator: coordinator.connected,
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


def paused(memberships: tuple[Membership, ...]) -> bool | None:
    """Return whether a user is paused in any queue; None if NGUC did not say."""
    if any(m.paused for m in memberships):
        return True
    if any(m.paused is None for m in memberships):
        return None
    return False


USER_QUEUE_BINARY_SENSORS: tuple[
    NgucBinarySensorEntityDescription[tuple[Membership, ...]], ...
] = (
    NgucBinarySensorEntityDescription(
        key="paused",
        translation_key="paused",
        is_on_fn=paused,
    ),
)


ITEM_BINARY_SENSORS: ItemDescriptions[NgucBinarySensorEntityDescription[Any]] = (
    (PHONE, PHONE_BINARY_SENSORS),
    (USER_QUEUES, USER_QUEUE_BINARY_SENSORS),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NgucConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the stream's binary sensor, and those of the items known now and later."""
    coordinator = entry.runtime_data
    # What this platform makes of each item, counted against the limit.
    coordinator.budget.expect(
        Platform.BINARY_SENSOR,
        [
            (KEY_ACCOUNT, ACCOUNT_BINARY_SENSORS),
            *((kind.kind, descriptions) for kind, descriptions in ITEM_BINARY_SENSORS),
        ],
    )
    async_add_entities(
        NgucStreamBinarySensor(coordinator, description)
        for description in ACCOUNT_BINARY_SENSORS
    )
    async_add_item_entities(
        entry, async_add_entities, item_entities(NgucBinarySensor, ITEM_BINARY_SENSORS)
    )


class NgucBinarySensor[T](NgucItemEntity[T], BinarySensorEntity):
    """A binary sensor showing ``is_on_fn`` of a phone or of a user's queues."""

    entity_description: NgucBinarySensorEntityDescription[T]

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the state read from the item."""
        if (item := self.item) is None:
            return None
        return self.entity_description.is_on_fn(item)

    @override
    def _shown(self) -> object:
        return (self.is_on, self.extra_state_attributes)


class NgucStreamBinarySensor(NgucEntity, BinarySensorEntity):
    """Whether the event stream is connected; it is about the account itself."""

    entity_description: NgucBinarySensorEntityDescription[NgucCoordinator]

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

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the state read from the account."""
        return self.entity_description.is_on_fn(self.coordinator)

    @override
    def _shown(self) -> object:
        return self.is_on
