"""Does Home Assistant show what NGUC holds? The check of the fault matrix and the soak.

Everything is read as a user sees it: entity states, the device and entity
registries, repair issues, flows, log records and the simulator's sockets.
Items are found by the ends of their unique ids and device identifiers
(``..._user_86480_line_status``), so the check does not depend on how an
entry's unique id is made.

Only what the entry follows is expected (its options ``users`` and
``queues``, as custom_components/weblink_nguc/follow.py reads them): a
user or queue chosen, a phone of a user chosen (a phone of nobody only
while every user is followed). What it does not follow must have no device
and no entity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
import logging
import re
import time
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)

from custom_components.weblink_nguc.const import DOMAIN
from tests.simulator import Simulator
from tests.simulator.model import Company, Queue

OUR_LOGGER = "custom_components.weblink_nguc"

# The queue sensors and the model field each one shows.
QUEUE_FIGURES: dict[str, str] = {
    "waiting": "waiting",
    "available_agents": "member_available",
    "total_agents": "member_total",
    "longest_wait": "wait_longest",
    "average_wait": "wait_avg",
    "service_level": "service_level",
    "completed_today": "completed",
    "abandoned_today": "abandoned",
    "talk_time_today": "talktime",
    "hold_time_today": "holdtime",
}
_ITEM = re.compile(r"_(user|device|queue)_([^_]+)$")
_ENTITY = re.compile(r"_(user|device|queue)_([^_]+)_([a-z_]+)$")


def line_state(status: int) -> str | None:
    """What the line status sensor must show for a UserStatus bit field."""
    if status & 4:
        return "offline"
    busy = bool(status & (1 | 2 | 16))
    if status & 8:
        return "in_use_ringing" if busy else "ringing"
    if busy:
        return "in_use"
    return "idle" if status == 0 else None


class Followed:
    """Whom an entry follows: the users and queues chosen, None for everyone."""

    def __init__(
        self,
        users: Collection[str] | None = None,
        queues: Collection[str] | None = None,
    ) -> None:
        """Follow ``users`` and ``queues`` by NGUC id; None: all of them."""
        self.users = None if users is None else frozenset(map(str, users))
        self.queues = None if queues is None else frozenset(map(str, queues))

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Followed:
        """Return whom the options of an entry follow."""
        users, queues = options.get("users"), options.get("queues")
        return cls(users, queues)

    def user(self, user_id: str) -> bool:
        """Return whether the user is followed."""
        return self.users is None or user_id in self.users

    def queue(self, queue_id: str) -> bool:
        """Return whether the queue is followed."""
        return self.queues is None or queue_id in self.queues

    def phone(self, owner: str | None) -> bool:
        """Return whether a phone of ``owner`` is followed: as its owner is."""
        return self.users is None if not owner else self.user(owner)

    def __repr__(self) -> str:
        """Name the choice (for a failure's message)."""

        def named(ids: frozenset[str] | None) -> str:
            return "everyone" if ids is None else f"{len(ids)} chosen"

        return f"Followed(users: {named(self.users)}, queues: {named(self.queues)})"


EVERYONE = Followed()


def _expected_devices(
    company: Company, followed: Followed = EVERYONE
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(kind, id) -> (device name, model or None when not compared), of what is followed."""
    devices: dict[tuple[str, str], tuple[str, str | None]] = {}
    for user in company.users.values():
        if followed.user(user.id):
            devices["user", user.id] = (user.name or user.extension or user.id, None)
    for phone in company.devices.values():
        if followed.phone(phone.pbx_user_id):
            devices["device", phone.id] = (
                phone.name or phone.model or phone.id,
                phone.model,
            )
    for queue in company.queues.values():
        if followed.queue(queue.id):
            devices["queue", queue.id] = (queue.name or queue.id, None)
    return devices


def _queue_value(queue: Queue, figure: str) -> str:
    return str(getattr(queue, QUEUE_FIGURES[figure]))


def mismatches(
    hass: HomeAssistant,
    entry: ConfigEntry,
    simulator: Simulator,
    *,
    issues: bool = True,
    followed: Followed | None = None,
) -> list[str]:
    """Return every way Home Assistant differs from the simulator's truth (empty: converged).

    Compared: the devices of the entry (which exist, their names, phone
    models); for every user, phone and queue followed its entities and
    their states; no entity of an item that is gone or not followed; no
    entity unavailable; the event stream connected over at most one
    websocket; with ``issues``, no repair issue of ours open. ``followed``
    defaults to what the entry's options choose.
    """
    company = simulator.company
    found: list[str] = []
    dev_reg = dr.async_get(hass)
    if followed is None:
        followed = Followed.of(entry.options)
    expected = _expected_devices(company, followed)
    seen: set[tuple[str, str]] = set()
    for device in dr.async_entries_for_config_entry(dev_reg, entry.entry_id):
        for domain, identifier in device.identifiers:
            if domain != DOMAIN or not (match := _ITEM.search(identifier)):
                continue
            key = (match[1], match[2])
            if key not in expected:
                found.append(
                    f"device of {key[0]} {key[1]} still exists ({device.name}); "
                    + _why_not(company, followed, key)
                )
                continue
            seen.add(key)
            name, model = expected[key]
            if device.name != name:
                found.append(f"device {key} is named {device.name!r}, not {name!r}")
            if model is not None and device.model != model:
                found.append(f"device {key} is a {device.model!r}, not {model!r}")
    found.extend(
        f"no device for {kind} {item}" for kind, item in expected.keys() - seen
    )

    states: dict[tuple[str, str, str], str | None] = {}
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if entity.disabled_by is not None:
            continue
        state = hass.states.get(entity.entity_id)
        value = state.state if state is not None else None
        if value == STATE_UNAVAILABLE:
            found.append(f"{entity.entity_id} is unavailable")
        if entity.unique_id.endswith("_account_event_stream") and value != "on":
            found.append(f"event stream is {value}")
        if match := _ENTITY.search(entity.unique_id):
            if (match[1], match[2]) not in expected:
                found.append(
                    f"{entity.entity_id} of a {match[1]} that is "
                    + _why_not(company, followed, (match[1], match[2]))
                )
            states[match[1], match[2], match[3]] = value

    def check(kind: str, item: str, key: str, want: str | None) -> None:
        if (kind, item, key) not in states:
            found.append(f"no {key} entity for {kind} {item}")
            return
        got = states[kind, item, key]
        if got != (want if want is not None else "unknown"):
            found.append(f"{kind} {item} {key} is {got}, not {want}")

    for user_id in company.users:
        if not followed.user(user_id):
            continue
        check(
            "user", user_id, "line_status", line_state(company.statuses.get(user_id, 0))
        )
    for phone in company.devices.values():
        if not followed.phone(phone.pbx_user_id):
            continue
        check("device", phone.id, "registered", "on" if phone.status else "off")
    for queue in company.queues.values():
        if not followed.queue(queue.id):
            continue
        for figure in QUEUE_FIGURES:
            if ("queue", queue.id, figure) in states or figure == "waiting":
                check("queue", queue.id, figure, _queue_value(queue, figure))

    if simulator.open_connections > 1:
        found.append(f"{simulator.open_connections} websockets open")
    if issues:
        found.extend(f"repair issue {issue_id}" for issue_id in open_issues(hass))
    return found


def _why_not(company: Company, followed: Followed, key: tuple[str, str]) -> str:
    """Say why an item is not expected: gone from NGUC, or not followed."""
    kind, item = key
    held: dict[str, Mapping[str, object]] = {
        "user": company.users,
        "device": company.devices,
        "queue": company.queues,
    }
    return f"not followed ({followed!r})" if item in held.get(kind, {}) else "gone"


def open_issues(hass: HomeAssistant) -> list[str]:
    """Return the ids of our repair issues that are open."""
    return [
        issue_id
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active and issue.dismissed_version is None
    ]


def issues_naming(hass: HomeAssistant, text: str) -> list[str]:
    """Return our open repair issues whose id or placeholders mention ``text``."""
    named = []
    for (domain, issue_id), issue in ir.async_get(hass).issues.items():
        if domain != DOMAIN or not issue.active:
            continue
        placeholders = " ".join(
            map(str, (issue.translation_placeholders or {}).values())
        )
        if text in issue_id or text in placeholders:
            named.append(issue_id)
    return named


async def wait_converged(
    hass: HomeAssistant,
    entry: ConfigEntry,
    simulator: Simulator,
    timeout: float = 15.0,
    *,
    issues: bool = True,
    followed: Followed | None = None,
) -> float:
    """Wait until :func:`mismatches` is empty; return how long it took (s)."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        await hass.async_block_till_done()
        found = mismatches(hass, entry, simulator, issues=issues, followed=followed)
        if not found:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not converged after {timeout} s:\n  " + "\n  ".join(found)
            )
        await asyncio.sleep(0.05)


async def wait_until(condition: Any, timeout: float = 10.0, what: str = "") -> float:
    """Wait until ``condition()`` is true; return how long it took (s)."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    del what  # named only for the reader of a test
    return time.monotonic() - started


def reauth_flows(hass: HomeAssistant, entry: ConfigEntry | None = None) -> list[Any]:
    """Return the reauthentication flows in progress (of ``entry``, if given)."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
        and (entry is None or flow["context"].get("entry_id") == entry.entry_id)
    ]


def tracebacks(records: Iterable[logging.LogRecord]) -> list[str]:
    """Return the log records that carry a traceback."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in records
        if record.exc_info is not None or record.exc_text
    ]


def ours(records: Iterable[logging.LogRecord], level: int) -> list[logging.LogRecord]:
    """Return our log records at ``level`` or above."""
    return [
        record
        for record in records
        if record.name.startswith(OUR_LOGGER) and record.levelno >= level
    ]


def count_logged(records: Iterable[logging.LogRecord], word: str) -> int:
    """Count our records at INFO or above that say ``word`` ("lost", "restored")."""
    pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
    return sum(1 for r in ours(records, logging.INFO) if pattern.search(r.getMessage()))
