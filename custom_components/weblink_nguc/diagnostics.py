"""Diagnostics of Weblink NGUC: secrets, phone numbers and people's names redacted."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.components.event import ATTR_EVENT_TYPES
from homeassistant.components.sensor import ATTR_OPTIONS, ATTR_STATE_CLASS
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_ICON,
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_PASSWORD,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .api import contract as c
from .const import CONF_TOKEN
from .coordinator import NgucConfigEntry
from .follow import CONF_QUEUES, CONF_USERS
from .followup import followup_counts

# Redacted wherever they appear: in the entry, the state and the raw events.
TO_REDACT = {
    # Credentials and tokens (the whole stored token dict, and its parts
    # wherever else they might turn up).
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_TOKEN,
    c.TOKEN_ACCESS,
    c.TOKEN_REFRESH,
    c.AUTHORIZATION,
    # The entry's title names the account's holder.
    "title",
    # Personal data: e-mail addresses and public phone numbers.
    c.USER_EMAIL,
    c.CDR_SRC,
    c.CDR_DST,
    c.CALLER_ID,
    c.QCDR_CALLERID,
    c.QCDR_E164_SRC,
    "e164_did",
    "did",
    "phone",
    "phone_number",
    "mobile",
    # Names the integration itself gives caller numbers (call event data,
    # the waiting callers, the last missed call).
    "caller",
    "callee",
    "number",
    # Names of people on calls: the agent NGUC names, and those we give.
    c.QCDR_ANSWERED_BY,
    "agent",
    "agent_name",
    "caller_name",
    "callee_name",
}

# The name of a person, or of their phone (often a person's name too), in
# the state's models and in the raw events. Queue names stay in the state:
# they name a team, not a person, and say which queue a figure is of.
NAME = "name"

# State attributes that every entity of a kind has: left out of the entities.
_STANDARD_ATTRIBUTES = {
    ATTR_DEVICE_CLASS,
    ATTR_EVENT_TYPES,
    ATTR_FRIENDLY_NAME,
    ATTR_ICON,
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
}


def _plain(value: Any) -> Any:
    """Return ``value`` with dataclasses, enums and tuples as JSON-friendly types."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: NgucConfigEntry
) -> dict[str, Any]:
    """Return the entry, state, stream health, last raw events and entities."""
    coordinator = entry.runtime_data
    data = coordinator.data
    tokens = coordinator.client.auth.tokens
    diagnostics = {
        "entry": entry.as_dict(),
        "state": {
            "me": _without_names(data.me),
            "users": _without_names(data.users),
            "statuses": _plain(data.statuses),
            "devices": _without_names(data.devices),
            "queues": {
                queue_id: {**queue, "members": _without_names(queue["members"])}
                for queue_id, queue in _plain(data.queues).items()
            },
        },
        "missing_endpoints": coordinator.reader.missing_endpoints,
        "failing_lists": coordinator.reader.failing_lists,
        "following": {
            "users": "all"
            if (users := entry.options.get(CONF_USERS)) is None
            else len(users),
            "queues": "all"
            if (queues := entry.options.get(CONF_QUEUES)) is None
            else len(queues),
        },
        "stream": {
            "connected": coordinator.stream.connected,
            "in_sync": coordinator.in_sync,
            "available": coordinator.available,
            "connections": coordinator.stream.connections,
            "rejected_in_a_row": coordinator.stream.rejected_in_a_row,
            "last_fault": coordinator.stream.last_fault,
            "events": coordinator.stream.events,
            "last_event": coordinator.last_event.isoformat()
            if coordinator.last_event is not None
            else None,
        },
        "auth": {
            "logged_in": tokens is not None,
            "has_refresh_token": tokens is not None
            and tokens.refresh_token is not None,
        },
        "recent_events": _without_names(list(coordinator.recent_events)),
        "entities": _entities(hass, entry),
        "call_history": followup_counts(hass, entry),
    }
    return async_redact_data(diagnostics, TO_REDACT)


def _without_names(value: Any) -> Any:
    """Return ``value`` made plain, with every name in it redacted."""
    return async_redact_data(_plain(value), {NAME})


def _entities(hass: HomeAssistant, entry: NgucConfigEntry) -> list[dict[str, Any]]:
    """Return what each entity of the entry shows: its state and own attributes.

    Named by unique id (NGUC's ids) rather than entity id, which is made of
    the names of people and phones.
    """
    entities = []
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        state = hass.states.get(entity.entity_id)
        entities.append(
            {
                "domain": entity.domain,
                "unique_id": entity.unique_id,
                "disabled": entity.disabled_by is not None,
                "state": None if state is None else state.state,
                "attributes": None
                if state is None
                else _plain(
                    {
                        key: value
                        for key, value in state.attributes.items()
                        if key not in _STANDARD_ATTRIBUTES
                    }
                ),
            }
        )
    return sorted(entities, key=lambda entity: (entity["domain"], entity["unique_id"]))
