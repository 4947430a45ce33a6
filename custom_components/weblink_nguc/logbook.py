"""Describe NGUC call records in the logbook.

Only call records (``Cdr``, ``QueueCdr``) get a sentence of their own, with
the caller (by name when a colleague calls; a number written as the lists
and ``get_calls`` write it) and an icon, on the call event
entity of the user or queue they concern. Line statuses and phone
registrations are entity states: the logbook already writes a line for each
of their changes (queue figures, being measurements, it leaves out).

A logbook platform gives plain text, not translation keys, so the sentences
are read from the ``common`` section of the integration's translations in
the server's language (Settings → System → General), which Home Assistant
loads when it sets the integration up; English (``SENTENCES``) when they are
not loaded or a translation does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from homeassistant.components.event import DOMAIN as EVENT_DOMAIN
from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_ICON,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    translation,
)

from .api import contract as c
from .api.models import as_int, as_str
from .calls import NO_NAMES, Names
from .const import DOMAIN, EVENT_NGUC

DEFAULT_NAME = "Weblink NGUC"

# The sentences in English, as in translations/en.json's ``common`` section
# (a test keeps the two the same); the other languages come from there.
SENTENCES: Final[Mapping[str, str]] = {
    "unknown_number": "an unknown number",
    "call_answered": "answered a call from {caller}{duration}",
    "call_missed": "missed a call from {caller}",
    "called": "called {callee}{duration}",
    "called_no_answer": "called {callee} (no answer)",
    "called_busy": "called {callee} (busy)",
    "called_cancelled": "called {callee} (cancelled)",
    "call_record": "call record: {disposition}",
    "queue_call_ended": "queue call from {caller} ended",
    "queue_call_answered": "queue call from {caller} answered",
    "queue_call_answered_by": "queue call from {caller} answered by {agent}",
    "queue_call_abandoned": "queue call from {caller} abandoned",
    "queue_call_not_answered_by": "{agent} did not answer a queue call from {caller}",
    "queue_call_not_answered": "queue call from {caller} not answered",
    "queue_call_transferred": "queue call from {caller} transferred",
    "queue_call_other": "queue call from {caller}: {disposition}",
    "nguc_event": "NGUC event {event}",
    "nguc_event_detail": "NGUC event {event}: {detail}",
}

# The translation keys of the call event entities (event.py) of a user's and
# of a queue's device: a call record's entry links to one of them.
CALL_ENTITY = {c.EVENT_CDR: "call", c.EVENT_QUEUE_CDR: "queue_call"}

_MISSED = {c.DISPOSITION_NO_ANSWER, c.DISPOSITION_BUSY, c.DISPOSITION_CANCEL}
_NOT_REACHED = {
    c.DISPOSITION_NO_ANSWER: "called_no_answer",
    c.DISPOSITION_BUSY: "called_busy",
    c.DISPOSITION_CANCEL: "called_cancelled",
}
_PREFIX = f"component.{DOMAIN}.common."

type DescribeCallback = Callable[[Event[Mapping[str, Any]]], dict[str, str]]
type Description = tuple[str, str]
"""A logbook message and its icon."""


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, DescribeCallback], None],
) -> None:
    """Describe ``weblink_nguc_event`` for the logbook."""
    dev_reg = dr.async_get(hass)
    ent_reg = er.async_get(hass)
    # The index of each account's users, made again only when NGUC's
    # directory is replaced (an Activity page describes hundreds of events).
    names: dict[str, Names] = {}

    @callback
    def sentences() -> Mapping[str, str]:
        """Return the sentences in the server's language, English where missing."""
        cached = translation.async_get_cached_translations(
            hass, hass.config.language, "common", DOMAIN
        )
        return {key: cached.get(_PREFIX + key, text) for key, text in SENTENCES.items()}

    @callback
    def async_describe_nguc_event(event: Event[Mapping[str, Any]]) -> dict[str, str]:
        """Say what happened to which call, on the call entity of its device."""
        data = event.data
        name = DEFAULT_NAME
        entity_id: str | None = None
        device_id = data.get(ATTR_DEVICE_ID)
        if isinstance(device_id, str) and (device := dev_reg.async_get(device_id)):
            name = device.name_by_user or device.name or DEFAULT_NAME
            if (key := CALL_ENTITY.get(as_str(data.get("event")) or "")) is not None:
                entity_id = _call_entity(ent_reg, device_id, key)
        message, icon = describe(
            data.get("event"), data.get("data"), _names(hass, data, names), sentences()
        )
        described = {
            LOGBOOK_ENTRY_NAME: name,
            LOGBOOK_ENTRY_MESSAGE: message,
            LOGBOOK_ENTRY_ICON: icon,
        }
        if entity_id is not None:
            described[LOGBOOK_ENTRY_ENTITY_ID] = entity_id
        return described

    async_describe_event(DOMAIN, EVENT_NGUC, async_describe_nguc_event)


def _call_entity(ent_reg: er.EntityRegistry, device_id: str, key: str) -> str | None:
    """Return the call event entity of a device (by translation key), if enabled."""
    for entry in er.async_entries_for_device(ent_reg, device_id):
        if (
            entry.domain == EVENT_DOMAIN
            and entry.platform == DOMAIN
            and entry.translation_key == key
        ):
            return entry.entity_id
    return None


def _names(
    hass: HomeAssistant, data: Mapping[str, Any], cache: dict[str, Names]
) -> Names:
    """Return the names of the users of the account the event came from.

    Names are those of now (the logbook describes when it is read); without
    the account loaded, calls read with their numbers only.
    """
    entry_id = data.get("config_entry_id")
    entry = (
        hass.config_entries.async_get_entry(entry_id)
        if isinstance(entry_id, str)
        else None
    )
    if (
        entry is None
        or entry.domain != DOMAIN
        or entry.state is not ConfigEntryState.LOADED
    ):
        return Names({}, hass.config.country)
    coordinator = entry.runtime_data
    users = coordinator.following.directory(coordinator.data)
    if (known := cache.get(entry.entry_id)) is None or known.users is not users:
        known = cache[entry.entry_id] = Names(users, hass.config.country)
    return known


def describe(
    name: Any,
    payload: Any,
    names: Names = NO_NAMES,
    sentences: Mapping[str, str] = SENTENCES,
) -> Description:
    """Return a short sentence on one NGUC event, and its icon.

    A colleague (a user of the company, by ``names``) is named, with the
    number: "missed a call from Erik Johansson (102)". ``sentences`` are
    those of ``SENTENCES`` in the language to write.
    """
    event = as_str(name) or "unknown"
    data: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    say = _Say(sentences)
    if event == c.EVENT_CDR:
        return _cdr(data, names, say)
    if event == c.EVENT_QUEUE_CDR:
        return _queue_cdr(data, names, say)
    # Events that NGUC does not document are passed on as they come.
    detail = as_str(data.get(c.STATUS_TEXT)) or as_str(data.get("state"))
    if detail:
        return say("nguc_event_detail", event=event, detail=detail), (
            "mdi:phone-settings"
        )
    return say("nguc_event", event=event), "mdi:phone-settings"


class _Say:
    """Write one sentence of ``SENTENCES`` in the language of ``sentences``."""

    __slots__ = ("_sentences",)

    def __init__(self, sentences: Mapping[str, str]) -> None:
        self._sentences = sentences

    def __call__(self, key: str, **values: str) -> str:
        """Return sentence ``key`` with ``values``; English if it does not fit them."""
        try:
            return self._sentences.get(key, SENTENCES[key]).format(**values)
        except KeyError, IndexError, ValueError:
            # A translation naming a placeholder this sentence does not have.
            return SENTENCES[key].format(**values)


def _party(names: Names, user_id: Any, number: Any, say: _Say) -> str:
    """Return "Erik Johansson (102)" for a colleague, else the number.

    Written as the lists and ``get_calls`` write it (E.164 where it can be).
    """
    raw = as_str(number)
    name = names.of(as_str(user_id), raw)
    number = names.number(raw)
    if name is None:
        return number or say("unknown_number")
    return f"{name} ({number})" if number else name


def _cdr(data: Mapping[str, Any], names: Names, say: _Say) -> Description:
    direction = (as_str(data.get(c.CDR_DIRECTION)) or "").upper()
    disposition = (as_str(data.get(c.CDR_DISPOSITION)) or "").upper()
    billsec = as_int(data.get(c.CDR_BILLSEC))
    if direction == c.DIRECTION_IN:
        caller = _party(names, data.get(c.CDR_SRC_USER_ID), data.get(c.CDR_SRC), say)
        if disposition == c.DISPOSITION_ANSWER:
            return (
                say("call_answered", caller=caller, duration=_duration(billsec)),
                "mdi:phone-incoming",
            )
        if disposition in _MISSED:
            return say("call_missed", caller=caller), "mdi:phone-missed"
    elif direction == c.DIRECTION_OUT:
        callee = _party(names, data.get(c.CDR_DST_USER_ID), data.get(c.CDR_DST), say)
        if disposition == c.DISPOSITION_ANSWER:
            return (
                say("called", callee=callee, duration=_duration(billsec)),
                "mdi:phone-outgoing",
            )
        if disposition in _MISSED:
            return say(_NOT_REACHED[disposition], callee=callee), "mdi:phone-cancel"
    return (
        say("call_record", disposition=disposition.lower() or "unknown"),
        "mdi:phone",
    )


def _queue_cdr(data: Mapping[str, Any], names: Names, say: _Say) -> Description:
    caller = _party(
        names,
        None,
        as_str(data.get(c.QCDR_CALLERID)) or as_str(data.get(c.QCDR_E164_SRC)),
        say,
    )
    disposition = (as_str(data.get(c.QCDR_DISPOSITION)) or "").upper()
    agent = as_str(data.get(c.QCDR_ANSWERED_BY))
    reason = (as_str(data.get("reason")) or "").upper()
    if disposition == c.QDISPOSITION_ANSWERED:
        if reason.startswith("COMPLETE"):
            return say("queue_call_ended", caller=caller), "mdi:phone-hangup"
        if agent:
            return (
                say("queue_call_answered_by", caller=caller, agent=agent),
                "mdi:phone-check",
            )
        return say("queue_call_answered", caller=caller), "mdi:phone-check"
    if disposition == c.QDISPOSITION_NOANSWERED:
        if reason == "ABANDON":
            return say("queue_call_abandoned", caller=caller), "mdi:phone-remove"
        if agent:
            return (
                say("queue_call_not_answered_by", caller=caller, agent=agent),
                "mdi:phone-missed",
            )
        return say("queue_call_not_answered", caller=caller), "mdi:phone-missed"
    if disposition == c.QDISPOSITION_TRANSFER:
        return say("queue_call_transferred", caller=caller), "mdi:phone-forward"
    return (
        say(
            "queue_call_other",
            caller=caller,
            disposition=disposition.lower() or "unknown",
        ),
        "mdi:phone-classic",
    )


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
