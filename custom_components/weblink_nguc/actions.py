"""The ``get_calls`` action: the call history, asked by device, kind and time."""

from __future__ import annotations

from datetime import datetime
from heapq import merge
from itertools import islice
from typing import Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import probatio as vol

from .call_log import CALL_TYPES, Call
from .const import DOMAIN
from .coordinator import NgucConfigEntry, queue_key, user_key
from .followup import followup_of

SERVICE_GET_CALLS: Final = "get_calls"
ATTR_TYPE: Final = "type"
ATTR_SINCE: Final = "since"
ATTR_LIMIT: Final = "limit"
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500

GET_CALLS_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_DEVICE_ID): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_TYPE): vol.All(cv.ensure_list, [vol.In(CALL_TYPES)]),
        vol.Optional(ATTR_SINCE): cv.datetime,
        # Its range is checked by the action, to say so in the person's language.
        vol.Optional(ATTR_LIMIT, default=DEFAULT_LIMIT): vol.Coerce(int),
    }
)

# What to ask of each entry's history: its users and queues, or everything.
type _Wanted = dict[str, tuple[set[str], set[str]] | None]


async def async_get_calls(call: ServiceCall) -> ServiceResponse:
    """Answer the calls asked for, newest first."""
    hass = call.hass
    limit: int = call.data[ATTR_LIMIT]
    if not 1 <= limit <= MAX_LIMIT:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="limit_out_of_range",
            translation_placeholders={"limit": str(limit), "max": str(MAX_LIMIT)},
        )
    # An empty choice (as the UI may send) is no choice: everything.
    types: list[str] | None = call.data.get(ATTR_TYPE) or None
    since: datetime | None = call.data.get(ATTR_SINCE)
    if since is not None:
        since = dt_util.as_utc(
            since
            if since.tzinfo
            else since.replace(tzinfo=dt_util.get_default_time_zone())
        )
    if call.data.get(ATTR_DEVICE_ID):
        wanted = _wanted_of_devices(hass, call.data[ATTR_DEVICE_ID])
    else:
        wanted = dict.fromkeys(entry.entry_id for entry in _loaded_entries(hass))
    histories = []
    for entry in _loaded_entries(hass):
        if (
            entry.entry_id not in wanted
            or (followup := followup_of(hass, entry)) is None
        ):
            continue
        items = wanted[entry.entry_id]
        histories.append(
            followup.log.calls(
                users=None if items is None else items[0],
                queues=None if items is None else items[1],
                types=types,
                since=since,
            )
        )
    calls: list[Call] = list(
        islice(merge(*histories, key=lambda c: c.time, reverse=True), limit)
    )
    return {"calls": [c.as_response() for c in calls]}


def _loaded_entries(hass: HomeAssistant) -> list[NgucConfigEntry]:
    return hass.config_entries.async_loaded_entries(DOMAIN)


def _wanted_of_devices(hass: HomeAssistant, device_ids: list[str]) -> _Wanted:
    """Return the users and queues the devices stand for, by entry."""
    dev_reg = dr.async_get(hass)
    wanted: dict[str, tuple[set[str], set[str]]] = {}
    for device_id in device_ids:
        device = dev_reg.async_get(device_id)
        entries = [
            entry
            for entry_id in (device.config_entries if device else ())
            if (entry := hass.config_entries.async_get_entry(entry_id)) is not None
            and entry.domain == DOMAIN
        ]
        if device is None or not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_nguc_device",
                translation_placeholders={"device": device_id},
            )
        found = False
        for entry in entries:
            if entry.state is not ConfigEntryState.LOADED:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="not_loaded",
                    translation_placeholders={"account": entry.title},
                )
            users, queues = wanted.setdefault(entry.entry_id, (set(), set()))
            found |= _add_item(entry, device.identifiers, users, queues)
        if not found:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_user_or_queue",
                translation_placeholders={
                    "device": device.name_by_user or device.name or device_id
                },
            )
    return dict(wanted)


def _add_item(
    entry: NgucConfigEntry,
    device_identifiers: set[tuple[str, str]],
    users: set[str],
    queues: set[str],
) -> bool:
    """Add the user or queue a device stands for; False if it is neither."""
    coordinator = entry.runtime_data
    identifiers = {
        identifier for domain, identifier in device_identifiers if domain == DOMAIN
    }
    for user_id in coordinator.data.users:
        if coordinator.identifier(user_key(user_id)) in identifiers:
            users.add(user_id)
            return True
    for queue_id in coordinator.data.queues:
        if coordinator.identifier(queue_key(queue_id)) in identifiers:
            queues.add(queue_id)
            return True
    return False
