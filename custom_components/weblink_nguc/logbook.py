"""Describe the raw NGUC bus events in the logbook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .api import LineState, contract as c
from .api.models import as_int, as_str
from .const import DOMAIN, EVENT_NGUC

DEFAULT_NAME = "Weblink NGUC"
UNKNOWN_NUMBER = "an unknown number"

_LINE_STATES = {
    "idle": "idle",
    "inuse": "in use",
    "unavailable": "unavailable",
    "ringing": "ringing",
    "inuse&ringing": "in use and ringing",
}
_MISSED = {c.DISPOSITION_NO_ANSWER, c.DISPOSITION_BUSY, c.DISPOSITION_CANCEL}
_NOT_REACHED = {
    c.DISPOSITION_NO_ANSWER: "no answer",
    c.DISPOSITION_BUSY: "busy",
    c.DISPOSITION_CANCEL: "cancelled",
}

type DescribeCallback = Callable[[Event[Mapping[str, Any]]], dict[str, str]]


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, DescribeCallback], None],
) -> None:
    """Describe ``weblink_nguc_event`` for the logbook."""
    dev_reg = dr.async_get(hass)

    @callback
    def async_describe_nguc_event(event: Event[Mapping[str, Any]]) -> dict[str, str]:
        """Name the device the event is about and say what happened."""
        data = event.data
        name = DEFAULT_NAME
        device_id = data.get(ATTR_DEVICE_ID)
        if isinstance(device_id, str) and (device := dev_reg.async_get(device_id)):
            name = device.name_by_user or device.name or DEFAULT_NAME
        return {
            LOGBOOK_ENTRY_NAME: name,
            LOGBOOK_ENTRY_MESSAGE: describe(data.get("event"), data.get("data")),
        }

    async_describe_event(DOMAIN, EVENT_NGUC, async_describe_nguc_event)


def describe(name: Any, payload: Any) -> str:
    """Return a short, readable description of one NGUC event."""
    event = as_str(name) or "unknown"
    data: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    if event == c.EVENT_USER_STATUS:
        return f"line is {_line_state(data)}"
    if event == c.EVENT_DEVICE_STATUS:
        return _device_status(data)
    if event == c.EVENT_CDR:
        return _cdr(data)
    if event == c.EVENT_QUEUE_CDR:
        return _queue_cdr(data)
    if event == c.EVENT_QUEUE:
        return _queue(data)
    detail = as_str(data.get(c.STATUS_TEXT)) or as_str(data.get("state"))
    return f"NGUC event {event}: {detail}" if detail else f"NGUC event {event}"


def _line_state(data: Mapping[str, Any]) -> str:
    text = as_str(data.get(c.STATUS_TEXT))
    if text is not None:
        return _LINE_STATES.get(text.lower(), text)
    value = as_int(data.get(c.STATUS_VALUE))
    if value is None or value < 0:
        return "unknown"
    state = LineState(value)
    if not state:
        return "idle"
    names = [(flag.name or "").lower().replace("_", " ") for flag in state]
    return " and ".join(names) if names else f"status {value}"


def _device_status(data: Mapping[str, Any]) -> str:
    status = as_int(data.get(c.DEVICE_STATUS))
    if status is not None:
        return "phone registered" if status else "phone unregistered"
    text = as_str(data.get(c.DEVICE_STATUS_TEXT))
    return f"phone status: {text}" if text else "phone status changed"


def _cdr(data: Mapping[str, Any]) -> str:
    direction = (as_str(data.get(c.CDR_DIRECTION)) or "").upper()
    disposition = (as_str(data.get(c.CDR_DISPOSITION)) or "").upper()
    billsec = as_int(data.get(c.CDR_BILLSEC))
    if direction == c.DIRECTION_IN:
        caller = as_str(data.get(c.CDR_SRC)) or UNKNOWN_NUMBER
        if disposition == c.DISPOSITION_ANSWER:
            return f"answered a call from {caller}{_duration(billsec)}"
        if disposition in _MISSED:
            return f"missed a call from {caller}"
    elif direction == c.DIRECTION_OUT:
        callee = as_str(data.get(c.CDR_DST)) or UNKNOWN_NUMBER
        if disposition == c.DISPOSITION_ANSWER:
            return f"called {callee}{_duration(billsec)}"
        if disposition in _MISSED:
            return f"called {callee} ({_NOT_REACHED[disposition]})"
    return f"call record: {disposition.lower() or 'unknown'}"


def _queue_cdr(data: Mapping[str, Any]) -> str:
    caller = (
        as_str(data.get(c.QCDR_CALLERID))
        or as_str(data.get(c.QCDR_E164_SRC))
        or UNKNOWN_NUMBER
    )
    disposition = (as_str(data.get(c.QCDR_DISPOSITION)) or "").upper()
    agent = as_str(data.get(c.QCDR_ANSWERED_BY))
    reason = (as_str(data.get("reason")) or "").upper()
    if disposition == c.QDISPOSITION_ANSWERED:
        if reason.startswith("COMPLETE"):
            return f"queue call from {caller} ended"
        return f"queue call from {caller} answered" + (f" by {agent}" if agent else "")
    if disposition == c.QDISPOSITION_NOANSWERED:
        if reason == "ABANDON":
            return f"queue call from {caller} abandoned"
        if agent:
            return f"{agent} did not answer a queue call from {caller}"
        return f"queue call from {caller} not answered"
    if disposition == c.QDISPOSITION_TRANSFER:
        return f"queue call from {caller} transferred"
    return f"queue call from {caller}: {disposition.lower() or 'unknown'}"


def _queue(data: Mapping[str, Any]) -> str:
    queue = data.get(c.QUEUE)
    if not isinstance(queue, Mapping):
        return "queue updated"
    waiting = as_int(queue.get(c.QUEUE_WAITING)) or 0
    available = as_int(queue.get(c.QUEUE_MEMBER_AVAILABLE))
    total = as_int(queue.get(c.QUEUE_MEMBER_TOTAL))
    message = f"queue updated: {waiting} waiting"
    if available is not None and total is not None:
        message += f", {available} of {total} agents available"
    return message


def _duration(seconds: int | None) -> str:
    """Return " (2 min 5 s)" style text, or nothing for an unknown length."""
    if seconds is None or seconds <= 0:
        return ""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f" ({hours} h {minutes} min)"
    if minutes:
        return f" ({minutes} min {secs} s)"
    return f" ({secs} s)"
