"""The actions of the Weblink NGUC integration: picking up a queued caller, the call history."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, SupportsResponse, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.target import (
    TargetSelection,
    async_extract_referenced_entity_ids,
)
import probatio as vol

from .actions import GET_CALLS_SCHEMA, SERVICE_GET_CALLS, async_get_calls
from .api import NgucNotFoundError, QueueCaller
from .const import DOMAIN
from .coordinator import NgucConfigEntry, queue_key
from .errors import action_errors
from .numbers import number_key

SERVICE_PICKUP_QUEUE_CALLER = "pickup_queue_caller"
ATTR_CALLER = "caller"
ATTR_POSITION = "position"

PICKUP_QUEUE_CALLER_SCHEMA = vol.Schema(
    {
        **cv.TARGET_SERVICE_FIELDS,
        vol.Exclusive(ATTR_CALLER, "which caller"): cv.string,
        vol.Exclusive(ATTR_POSITION, "which caller"): vol.All(
            vol.Coerce(int), vol.Range(min=1)
        ),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_PICKUP_QUEUE_CALLER,
        _async_pickup_queue_caller,
        schema=PICKUP_QUEUE_CALLER_SCHEMA,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CALLS,
        async_get_calls,
        schema=GET_CALLS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


async def _async_pickup_queue_caller(call: ServiceCall) -> None:
    """Answer a waiting caller of the targeted queue on the account's phone."""
    entry, queue_id = _target_queue(call)
    queue = entry.runtime_data.data.queues[queue_id]
    queue_name = queue.name or queue_id
    call_guid, caller = _choose_caller(call, queue.callers, queue_name)
    number = caller.callerid or "?"
    with action_errors(call.hass, entry, refused_key="pickup_refused"):
        try:
            await entry.runtime_data.client.pickup_queue_caller(queue_id, call_guid)
        except NgucNotFoundError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="caller_gone",
                translation_placeholders={"caller": number, "queue": queue_name},
            ) from err


def _target_queue(call: ServiceCall) -> tuple[NgucConfigEntry, str]:
    """Return the one queue the call targets: its config entry and NGUC id.

    The target may name the queue's device or any of its entities (or an area
    holding it); anything that is not an NGUC queue is passed over.
    """
    hass = call.hass
    selected = async_extract_referenced_entity_ids(
        hass, TargetSelection(call.data), expand_group=False
    )
    ent_reg = er.async_get(hass)
    device_ids = set(selected.referenced_devices)
    for entity_id in selected.referenced | selected.indirectly_referenced:
        if (entity := ent_reg.async_get(entity_id)) and entity.device_id:
            device_ids.add(entity.device_id)
    dev_reg = dr.async_get(hass)
    found: dict[tuple[str, str], NgucConfigEntry] = {}
    for device_id in device_ids:
        if (device := dev_reg.async_get(device_id)) is None:
            continue
        entry = hass.config_entries.async_get_entry(device.config_entry_id)
        if entry is None or entry.domain != DOMAIN:
            continue
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_loaded",
                translation_placeholders={"account": entry.title},
            )
        if (queue_id := _queue_of(entry, device.identifiers)) is not None:
            found[entry.entry_id, queue_id] = entry
    if not found:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="not_a_queue"
        )
    if len(found) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="several_queues",
            translation_placeholders={"count": str(len(found))},
        )
    ((_, queue_id), entry) = found.popitem()
    return entry, queue_id


def _queue_of(entry: NgucConfigEntry, identifiers: set[tuple[str, str]]) -> str | None:
    """Return the NGUC id of the queue a device stands for, if it is one."""
    coordinator = entry.runtime_data
    for queue_id in coordinator.data.queues:
        if (DOMAIN, coordinator.identifier(queue_key(queue_id))) in identifiers:
            return queue_id
    return None


def _choose_caller(
    call: ServiceCall, callers: tuple[QueueCaller, ...], queue_name: str
) -> tuple[str, QueueCaller]:
    """Return the call id of the caller asked for; by default the longest waiting."""
    # Only a caller with a call id can be picked up; a missing position is
    # the caller's place in the list.
    waiting = [
        (caller.position or place, caller.call_guid, caller)
        for place, caller in enumerate(callers, start=1)
        if caller.call_guid
    ]
    if not waiting:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_caller_waiting",
            translation_placeholders={"queue": queue_name},
        )
    if (number := call.data.get(ATTR_CALLER)) is not None:
        country = call.hass.config.country
        wanted = number_key(number, country)
        for _, call_guid, caller in waiting:
            if wanted is not None and number_key(caller.callerid, country) == wanted:
                return call_guid, caller
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="caller_not_waiting",
            translation_placeholders={"caller": number, "queue": queue_name},
        )
    if (position := call.data.get(ATTR_POSITION)) is not None:
        for place, call_guid, caller in waiting:
            if place == position:
                return call_guid, caller
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="position_not_waiting",
            translation_placeholders={"position": str(position), "queue": queue_name},
        )
    # The longest wait; without waits (or on a tie), the first in line.
    _, call_guid, caller = max(
        waiting,
        key=lambda item: (
            item[2].wait if item[2].wait is not None else -1,
            -item[0],
        ),
    )
    return call_guid, caller
