"""The device registry, kept in step with NGUC: one device per account, user, phone and queue.

Devices are made, renamed and removed item by item, for the items a change
names; only :meth:`NgucDevices.async_remove_stale` looks at every device, once
per setup. Removing a device removes its entities with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .api import contract as c
from .const import DOMAIN, LOGGER, MANUFACTURER
from .data import (
    KIND_DEVICE,
    KIND_QUEUE,
    KIND_USER,
    NgucData,
    device_key,
    queue_key,
    split_key,
    user_key,
)

# The key of the account's own device.
KEY_ACCOUNT = "account"

# Users first: a phone names its user's device as the one it is reached through.
_ORDER = {KIND_USER: 0, KIND_QUEUE: 1, KIND_DEVICE: 2}


def in_device_order(keys: Iterable[str]) -> list[str]:
    """Return item keys in the order their devices are to be made."""
    return sorted(keys, key=lambda key: _ORDER.get(split_key(key)[0], 3))


class NgucDevices:
    """The devices of one config entry, by item key."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        identifier: Callable[[str], str],
    ) -> None:
        """Bind to an entry; ``identifier`` makes a device identifier of a key."""
        self._registry = dr.async_get(hass)
        self._entry = entry
        self._identifier = identifier
        self._ids: dict[str, str] = {}  # item key -> device id

    @callback
    def async_register_account(self) -> None:
        """Create or update the account's own device."""
        self._ids[KEY_ACCOUNT] = self._registry.async_get_or_create(
            config_entry_id=self._entry.entry_id,
            identifiers={(DOMAIN, self._identifier(KEY_ACCOUNT))},
            name=self._entry.title,
            manufacturer=MANUFACTURER,
            model="NGUC account",
            entry_type=dr.DeviceEntryType.SERVICE,
        ).id

    @callback
    def async_update(self, data: NgucData, keys: Collection[str]) -> list[str]:
        """Create the devices of ``keys``, or update them from ``data``.

        Returns the keys whose item ``data`` holds, in the order their
        devices were made: users before the phones reached through them.
        """
        done: list[str] = []
        for key in in_device_order(keys):
            kind, item_id = split_key(key)
            if kind == KIND_USER and (user := data.users.get(item_id)) is not None:
                self._set(
                    key,
                    name=user.name or user.extension or user.id,
                    model="PBX user",
                    serial_number=user.extension,
                )
            elif kind == KIND_DEVICE and (phone := data.devices.get(item_id)):
                via = self._ids.get(user_key(phone.user_id)) if phone.user_id else None
                self._set(
                    key,
                    name=phone.name or phone.model or phone.id,
                    model=phone.model,
                    via_device_id=via,
                )
            elif kind == KIND_QUEUE and (queue := data.queues.get(item_id)):
                self._set(key, name=queue.name or queue.id, model="Call queue")
            else:
                continue
            done.append(key)
        return done

    def _set(
        self,
        key: str,
        *,
        name: str,
        model: str | None,
        serial_number: str | None = None,
        via_device_id: str | None = None,
    ) -> None:
        self._ids[key] = self._registry.async_get_or_create(
            config_entry_id=self._entry.entry_id,
            identifiers={(DOMAIN, self._identifier(key))},
            name=name,
            # Users and queues are Weblink's service; a phone is its maker's,
            # and NGUC names no maker (its model reads "Yealink T54W").
            manufacturer=None if split_key(key)[0] == KIND_DEVICE else MANUFACTURER,
            model=model,
            serial_number=serial_number,
            via_device_id=via_device_id,
        ).id

    @callback
    def async_remove(self, keys: Iterable[str]) -> None:
        """Remove the devices of items that are gone, with their entities."""
        for key in keys:
            device_id = self._ids.pop(key, None) or self._lookup(key)
            if device_id is not None:
                LOGGER.debug("Removing the device of %s: gone from NGUC", key)
                self._registry.async_remove_device(device_id)

    @callback
    def async_remove_stale(self, data: NgucData, kinds: Collection[str]) -> None:
        """Remove every device of ``kinds`` whose item ``data`` does not hold.

        Only kinds whose list NGUC answered are given: an item is gone only
        when a list that answered no longer names it.
        """
        prefix = self._identifier("")
        for device in dr.async_entries_for_config_entry(
            self._registry, self._entry.entry_id
        ):
            keys = [
                identifier.removeprefix(prefix)
                for domain, identifier in device.identifiers
                if domain == DOMAIN and identifier.startswith(prefix)
            ]
            if keys and all(
                split_key(key)[0] in kinds and not data.has(key) for key in keys
            ):
                LOGGER.debug("Removing %s: gone from NGUC", device.name)
                for key in keys:
                    self._ids.pop(key, None)
                self._registry.async_remove_device(device.id)

    def device_id(self, key: str) -> str | None:
        """Return the Home Assistant device id of an item, None if it has none."""
        if (device_id := self._ids.get(key)) is not None:
            return device_id
        if (device_id := self._lookup(key)) is not None:
            self._ids[key] = device_id
        return device_id

    def event_data(
        self, name: str, payload: Any, entity_ids: Mapping[str, str] | None
    ) -> dict[str, Any]:
        """Return the bus event of an NGUC event, with the device it concerns.

        With ``entity_ids`` (a call record's), the entity of that device's
        calls too, so that the logbook of that entity shows it.
        """
        key = key_for_event(name, payload)
        data = {
            "event": name,
            "data": payload,
            "config_entry_id": self._entry.entry_id,
            "device_id": None if key is None else self.device_id(key),
        }
        if entity_ids is not None and key is not None and key in entity_ids:
            data[ATTR_ENTITY_ID] = entity_ids[key]
        return data

    def _lookup(self, key: str) -> str | None:
        device = self._registry.async_get_device_by_identifier(
            (DOMAIN, self._identifier(key)), self._entry.entry_id
        )
        return None if device is None else device.id


def item_of_device(entry: ConfigEntry, device: dr.DeviceEntry, kind: str) -> str | None:
    """Return the NGUC id of the item of ``kind`` that ``device`` of ``entry`` stands for.

    None when it stands for no item of that kind (the account, a phone, a
    queue where a user is wanted). The inverse of the identifier that
    ``NgucCoordinator.identifier`` makes from an item's key.
    """
    prefix = f"{entry.unique_id}_{kind}_"
    for domain, identifier in device.identifiers:
        if (
            domain == DOMAIN
            and identifier.startswith(prefix)
            and (item_id := identifier.removeprefix(prefix))
        ):
            return item_id
    return None


def key_for_event(name: str, payload: Any) -> str | None:
    """Return the key of the item a raw event is about, if any.

    Read from the payload as it came, so that undocumented events are
    placed too: a phone, a queue, or the user of a call or a line.
    """
    if not isinstance(payload, dict):
        return None
    key: str | None = None
    if (device := payload.get(c.DEVICE_EVENT_ID)) is not None:
        key = device_key(str(device))
    elif name == c.EVENT_QUEUE and isinstance(queue := payload.get(c.QUEUE), dict):
        key = queue_key(str(queue.get(c.QUEUE_ID)))
    elif (queue_id := payload.get(c.QCDR_QUEUE_ID)) is not None:
        key = queue_key(str(queue_id))
    elif name == c.EVENT_CDR:
        direction = str(payload.get(c.CDR_DIRECTION, "")).upper()
        user = payload.get(
            c.CDR_SRC_USER_ID if direction == c.DIRECTION_OUT else c.CDR_DST_USER_ID
        )
        key = user_key(str(user)) if user not in (None, False) else None
    elif (user := payload.get(c.STATUS_USER_ID)) not in (None, False):
        key = user_key(str(user))
    return key


async def async_migrate_identifiers(
    hass: HomeAssistant, entry: ConfigEntry, old: str, new: str
) -> None:
    """Move devices and entities from identifiers "<old>_..." to "<new>_...".

    Their ids, names, areas and history stay: only the identifiers and the
    unique ids that were made from the entry's old unique id change.
    """
    old_prefix, new_prefix = f"{old}_", f"{new}_"

    def renamed(identifier: str) -> str:
        if identifier.startswith(old_prefix):
            return new_prefix + identifier.removeprefix(old_prefix)
        return identifier

    dev_reg = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(dev_reg, entry.entry_id):
        identifiers = {
            (domain, renamed(identifier) if domain == DOMAIN else identifier)
            for domain, identifier in device.identifiers
        }
        if identifiers != device.identifiers:
            dev_reg.async_update_device(device.id, new_identifiers=identifiers)

    @callback
    def migrate_entity(entity: er.RegistryEntry) -> dict[str, str] | None:
        unique_id = renamed(entity.unique_id)
        return None if unique_id == entity.unique_id else {"new_unique_id": unique_id}

    await er.async_migrate_entries(hass, entry.entry_id, migrate_entity)
