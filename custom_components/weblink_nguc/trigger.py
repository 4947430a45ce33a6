"""The automation trigger of the integration: a caller has waited too long in a queue.

``weblink_nguc.caller_waiting`` fires once for each caller whose wait in one
of its target queues reaches the threshold, at the moment it does. NGUC
sends a queue's snapshot only when something in the queue changes, so each
caller is timed from their wait at the last snapshot, not checked at the
next one.

It fires only on a live view: while the event stream is down, or the state
is not yet read again after it came back, a wait is an estimate for a caller
who may have left, so a caller due then is held until the view is live again.

What it fired for is remembered per config entry and per automation, beyond
one attachment of the trigger and on disk: turning the automation off and
on, editing it or restarting Home Assistant does not fire again for the same
wait.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast, override

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import ATTR_DEVICE_ID, CONF_OPTIONS, CONF_TARGET
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback, split_entity_id
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_call_later, async_track_point_in_utc_time
from homeassistant.helpers.trigger import (
    Trigger,
    TriggerActionRunner,
    TriggerConfig,
    TriggerNotTriggeredReporter,
)
from homeassistant.helpers.trigger.models import (
    TriggerAction,
    TriggerActionPayloadBuilder,
)
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util
import probatio as vol

from .api import Queue, QueueCaller
from .const import DOMAIN, LOGGER
from .coordinator import KEY_STREAM, NgucConfigEntry, NgucCoordinator, queue_key
from .data import KIND_QUEUE, callers_known
from .devices import item_of_device
from .trigger_memory import MEMORY, EntryMemory, Seen, async_memory

CALLER_WAITING = "caller_waiting"
CONF_SECONDS = "seconds"
MAX_SECONDS = 3600

# Trigger variables, besides ``device_id`` and the ``description``.
ATTR_QUEUE = "queue"
ATTR_CALLER = "caller"
ATTR_WAIT = "wait"
ATTR_CALL_GUID = "call_guid"

# A longer wait is a fault in NGUC's data (no queue holds a caller for a
# week), and would be beyond what a date can hold.
MAX_PLAUSIBLE_WAIT = 7 * 24 * 3600

# Callers an automation remembers having fired for; the oldest are forgotten
# first, long after they left their queue.
FIRED_KEPT = 1000

# A caller fired for is remembered this long after last seen in a queue of
# the entry: long enough for a transfer between queues, which NGUC reports
# as two snapshots, not to fire again.
FIRED_LINGER = timedelta(hours=1)

# A caller without a call id is the same call as the one last seen from that
# number unless their wait began after that sighting; this much later, as
# NGUC's whole seconds and the snapshot's travel blur when a wait began.
NEW_CALL_MARGIN = timedelta(seconds=5)

# How often a caller held during an outage is looked at again: the end of a
# state read after a reconnect tells no listener when nothing changed.
HELD_RECHECK = 1.0


def _queues_only(target: Any) -> Any:
    """Refuse areas, floors, labels and entities: the target is queue devices."""
    if isinstance(target, dict) and (
        others := sorted(
            key for key, value in target.items() if key != ATTR_DEVICE_ID and value
        )
    ):
        raise vol.Invalid(
            f"The target of caller_waiting is call queue devices, not {', '.join(others)}"
        )
    return target


_TARGET_SCHEMA = vol.All(
    _queues_only,
    vol.Schema(
        {
            vol.Required(ATTR_DEVICE_ID): vol.All(
                cv.ensure_list, vol.Length(min=1), [cv.string]
            ),
        },
        # Empty lists of other kinds, as the editor may leave them.
        extra=vol.REMOVE_EXTRA,
    ),
)

_CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_TARGET): _TARGET_SCHEMA,
        vol.Required(CONF_OPTIONS): {
            vol.Required(CONF_SECONDS): vol.All(
                vol.Coerce(int), vol.Range(min=0, max=MAX_SECONDS)
            ),
        },
    }
)


def queue_of_device(hass: HomeAssistant, device_id: str) -> tuple[str, str]:
    """Return the config entry id and NGUC id of the queue a device stands for.

    Read from the device registry alone, so that automations are validated
    before the entry is loaded too. Raises ``vol.Invalid`` saying what the
    device is not.
    """
    device, entry = dr.async_get_device_and_config_entry_for_domain(
        hass, device_id, domain=DOMAIN, include_child_devices=False
    )
    if device is None:
        raise vol.Invalid(f"Unknown device: {device_id}")
    name = device.name_by_user or device.name or device_id
    if entry is None:
        raise vol.Invalid(f"Device {name} is not a Weblink NGUC device")
    if (queue_id := item_of_device(entry, device, KIND_QUEUE)) is None:
        raise vol.Invalid(f"Device {name} is not a Weblink NGUC call queue")
    return entry.entry_id, queue_id


def _migrated(config: ConfigType) -> ConfigType:
    """Return a trigger's configuration with its queues as the target.

    Until issue 18 the queues were an option (``options: device_id``);
    automations saved so keep working, and are listed under the queue's
    device like new ones.
    """
    options = config.get(CONF_OPTIONS)
    if not isinstance(options, dict) or ATTR_DEVICE_ID not in options:
        return config
    options = dict(options)
    target = config.get(CONF_TARGET)
    target = dict(target) if isinstance(target, dict) else {}
    chosen = cv.ensure_list(target.get(ATTR_DEVICE_ID))
    moved = cv.ensure_list(options.pop(ATTR_DEVICE_ID))
    target[ATTR_DEVICE_ID] = [*chosen, *(d for d in moved if d not in chosen)]
    return {**config, CONF_OPTIONS: options, CONF_TARGET: target}


def _owner_of(action: TriggerAction, threshold: timedelta) -> str | None:
    """Return what stays the same for one trigger of one automation; None if unknown.

    The automation's id (its entity id, without one) stays across turning it
    off and on and across edits, which make a new automation entity. The
    threshold tells the automation's triggers apart (a first alert at one
    minute, a second at five); its queues do not need to: a call is told
    apart by its id, or by its queue and number.
    """
    # Home Assistant tells a trigger nothing of whose it is; an automation's
    # action is a method of its entity.
    entity = getattr(action, "__self__", None)
    if not isinstance(entity, Entity) or entity.entity_id is None:
        return None
    domain = split_entity_id(entity.entity_id)[0]
    seconds = round(threshold.total_seconds())
    # A string: it is a key of the stored memory.
    return f"{domain}:{entity.unique_id or entity.entity_id}:{seconds}"


class CallerWaitingTrigger(Trigger):
    """Fires once for each caller whose wait in a queue reaches a threshold."""

    @classmethod
    @override
    async def async_validate_complete_config(
        cls, hass: HomeAssistant, complete_config: ConfigType
    ) -> ConfigType:
        """Validate, taking queues given as an option as the target."""
        return await super().async_validate_complete_config(
            hass, _migrated(complete_config)
        )

    @classmethod
    @override
    async def async_validate_config(
        cls, hass: HomeAssistant, config: ConfigType
    ) -> ConfigType:
        """Validate: queue devices of this integration as the target, 0-3600 s."""
        config = _CONFIG_SCHEMA(_migrated(config))
        for device_id in config[CONF_TARGET][ATTR_DEVICE_ID]:
            queue_of_device(hass, device_id)
        return config

    def __init__(self, hass: HomeAssistant, config: TriggerConfig) -> None:
        """Keep the target and options."""
        super().__init__(hass, config)
        # Validated: the target and options are there.
        target: dict[str, Any] = config.target or {}
        options: dict[str, Any] = config.options or {}
        self._device_ids: list[str] = cv.ensure_list(target.get(ATTR_DEVICE_ID))
        self._threshold = timedelta(seconds=options[CONF_SECONDS])
        self._owner: str | None = None

    @override
    async def async_attach_action(
        self,
        action: TriggerAction,
        action_payload_builder: TriggerActionPayloadBuilder,
        *,
        did_not_trigger: TriggerNotTriggeredReporter | None = None,
    ) -> CALLBACK_TYPE:
        """Learn whose trigger this is, then attach as every trigger does."""
        self._owner = _owner_of(action, self._threshold)
        return await super().async_attach_action(
            action, action_payload_builder, did_not_trigger=did_not_trigger
        )

    @override
    async def async_attach_runner(
        self,
        run_action: TriggerActionRunner,
        did_not_trigger: TriggerNotTriggeredReporter | None = None,
    ) -> CALLBACK_TYPE:
        """Time the callers of every target queue until the automation goes."""
        # Not an automation's (a script's wait_for_trigger, say): what it
        # fired for lasts as long as this attachment.
        owner: Hashable = self._owner if self._owner is not None else object()
        memories = await async_memory(self._hass)
        watches: list[_QueueWatch] = []
        for device_id in self._device_ids:
            try:
                entry_id, queue_id = queue_of_device(self._hass, device_id)
            except vol.Invalid as err:
                # Removed since the automation was validated.
                LOGGER.warning("Not watching a queue for waiting callers: %s", err)
                continue
            memory = memories.entry(entry_id)
            watch = _QueueWatch(
                self._hass,
                entry_id=entry_id,
                queue_id=queue_id,
                device_id=device_id,
                threshold=self._threshold,
                memory=memory,
                # One record for all the automation's queues of an entry: a
                # caller moved to another of them does not fire again.
                fired=memory.fired.setdefault(owner, {}),
                run_action=run_action,
            )
            watch.async_start()
            watches.append(watch)

        @callback
        def async_remove() -> None:
            for watch in watches:
                watch.async_stop()
            # Kept for the automation's next attachment, unless empty or
            # nobody's.
            for entry_memory in memories.entries.values():
                if self._owner is None or not entry_memory.fired.get(owner, True):
                    entry_memory.fired.pop(owner, None)

        return async_remove


@dataclass(slots=True)
class _Waiting:
    """A caller being timed: since when they wait, and their timer.

    ``held``: their wait reached the threshold while the view was not live;
    they fire when it is, if still waiting.
    """

    caller: QueueCaller
    since: datetime
    cancel: CALLBACK_TYPE
    held: bool = False


def _nothing() -> None:
    """Cancel nothing: a held caller has no timer."""


class _QueueWatch:
    """Times the callers of one queue for one automation.

    It follows the config entry rather than one coordinator: after a reload,
    the new coordinator's first snapshot takes over the timing. Callers fired
    for before the reload stay fired for.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry_id: str,
        queue_id: str,
        device_id: str,
        threshold: timedelta,
        memory: EntryMemory,
        fired: dict[str, datetime],
        run_action: TriggerActionRunner,
    ) -> None:
        """Set up; nothing is watched until :meth:`async_start`."""
        self._hass = hass
        self._entry_id = entry_id
        self._queue_id = queue_id
        self._device_id = device_id
        self._threshold = threshold
        self._memory = memory
        self._fired = fired
        self._run_action = run_action
        self._coordinator: NgucCoordinator | None = None
        self._unlisten: list[CALLBACK_TYPE] = []
        self._unlisten_entry: CALLBACK_TYPE | None = None
        self._recheck: CALLBACK_TYPE | None = None
        # The snapshot the callers are timed from, and the callers by key.
        self._snapshot: Queue | None = None
        self._waiting: dict[str, _Waiting] = {}

    @callback
    def async_start(self) -> None:
        """Watch the queue now if its entry is loaded, and whenever it is (again)."""
        self._unlisten_entry = async_dispatcher_connect(
            self._hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._entry_changed
        )
        entry = self._hass.config_entries.async_get_entry(self._entry_id)
        if entry is not None and entry.state is ConfigEntryState.LOADED:
            self._follow(cast(NgucConfigEntry, entry).runtime_data)

    @callback
    def async_stop(self) -> None:
        """Stop watching: no timer or listener is left."""
        if self._unlisten_entry is not None:
            self._unlisten_entry()
            self._unlisten_entry = None
        self._unfollow()

    @callback
    def _entry_changed(self, change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.entry_id != self._entry_id:
            return
        if change is ConfigEntryChange.REMOVED and (
            memories := self._hass.data.get(MEMORY)
        ):
            memories.remove(self._entry_id)
        if change is ConfigEntryChange.UPDATED and entry.state is (
            ConfigEntryState.LOADED
        ):
            coordinator = cast(NgucConfigEntry, entry).runtime_data
            if coordinator is not self._coordinator:
                self._follow(coordinator)
        elif self._coordinator is not None:
            # Unloading or removed: who still waits is unknown until the
            # entry is back.
            self._unfollow()

    @callback
    def _follow(self, coordinator: NgucCoordinator) -> None:
        self._unfollow()
        self._coordinator = coordinator
        self._unlisten = [
            coordinator.async_add_listener(
                self._queue_changed, queue_key(self._queue_id)
            ),
            coordinator.async_add_listener(self._check_held, KEY_STREAM),
            # A queue read for the first time (after a reload, say) is new
            # to the coordinator: its listeners hear of it as an item that
            # appeared, not as a change.
            coordinator.async_subscribe_items(self._items_added),
        ]
        self._queue_changed()

    @callback
    def _unfollow(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        self._coordinator = None
        self._forget()

    @callback
    def _items_added(self, keys: Collection[str]) -> None:
        if queue_key(self._queue_id) in keys:
            self._queue_changed()

    @property
    def _live(self) -> bool:
        """Return whether the queue is as NGUC has it now, not an estimate."""
        coordinator = self._coordinator
        return (
            coordinator is not None
            and coordinator.available
            and coordinator.connected
            and coordinator.in_sync
        )

    @callback
    def _forget(self) -> None:
        """Stop timing everyone; the next snapshot starts again."""
        for waiting in self._waiting.values():
            waiting.cancel()
        self._waiting.clear()
        self._snapshot = None
        self._stop_recheck()

    @callback
    def _stop_recheck(self) -> None:
        if self._recheck is not None:
            self._recheck()
            self._recheck = None

    @callback
    def _check_held(self, _now: datetime | None = None) -> None:
        """Fire for the held callers once the view is live again."""
        self._stop_recheck()
        if not any(waiting.held for waiting in self._waiting.values()):
            return
        if self._live:
            # Timed again from the snapshot of now: those still waiting fire.
            self._snapshot = None
            self._queue_changed()
        elif self._recheck is None:
            self._recheck = async_call_later(self._hass, HELD_RECHECK, self._check_held)

    @callback
    def _queue_changed(self) -> None:
        """Time the callers of the queue's newest snapshot."""
        coordinator = self._coordinator
        if coordinator is None:
            return
        queue = coordinator.data.queues.get(self._queue_id)
        if queue is None or not coordinator.available or not callers_known(queue):
            # A stale or partial view (the stream is lost, or the queue
            # restored from storage) must not fire for a caller who left.
            self._forget()
            return
        if queue is self._snapshot:
            return  # told of something else, such as availability
        self._snapshot = queue
        # Its waits are as of its arrival: a snapshot met when the
        # automation starts may be minutes old.
        now = dt_util.utcnow()
        received = coordinator.queue_received.get(self._queue_id, now)
        keys = self._caller_keys(queue, received)
        for key, caller in keys.items():
            if key in self._fired:
                self._fired[key] = now
                continue
            if (wait := _plausible_wait(caller)) is not None:
                self._time(key, caller, received - timedelta(seconds=wait), now)
            elif (waiting := self._waiting.get(key)) is not None:
                # No wait this time (or none to believe): keep timing from
                # an earlier snapshot.
                waiting.caller = caller
        for key in self._waiting.keys() - keys.keys():
            self._waiting.pop(key).cancel()
        self._prune(coordinator, now)

    def _caller_keys(self, queue: Queue, received: datetime) -> dict[str, QueueCaller]:
        """Return the callers of a snapshot by what tells one call from another.

        The call id; without one, the number and when its wait began, so
        that a later call from the same number is another call. The numbers
        the snapshot no longer lists are forgotten: they left.
        """
        numbers = self._memory.numbers.setdefault(self._queue_id, {})
        keys: dict[str, QueueCaller] = {}
        listed: set[str] = set()
        for caller in queue.callers:
            if caller.call_guid:
                keys[caller.call_guid] = caller
                continue
            if not (number := caller.callerid):
                continue  # nothing tells them apart
            listed.add(number)
            wait = _plausible_wait(caller)
            start = received - timedelta(seconds=wait or 0)
            seen = numbers.get(number)
            if seen is None or (
                wait is not None and start > seen.last_seen + NEW_CALL_MARGIN
            ):
                seen = numbers[number] = Seen(start, received)
                self._memory.changed()
            else:
                seen.last_seen = max(seen.last_seen, received)
            keys[_number_key(number, seen)] = caller
        if gone := numbers.keys() - listed:
            for number in gone:
                del numbers[number]
            self._memory.changed()
        return keys

    def _prune(self, coordinator: NgucCoordinator, now: datetime) -> None:
        """Forget the calls fired for that have long left every queue of the entry."""
        stale = [key for key, seen in self._fired.items() if seen < now - FIRED_LINGER]
        if not stale:
            return
        waiting: set[str] = set()
        for queue_id, queue in coordinator.data.queues.items():
            numbers = self._memory.numbers.get(queue_id, {})
            for caller in queue.callers:
                if caller.call_guid:
                    waiting.add(caller.call_guid)
                elif caller.callerid and (seen := numbers.get(caller.callerid)):
                    waiting.add(_number_key(caller.callerid, seen))
        for key in stale:
            if key in waiting:
                self._fired[key] = now
            else:
                del self._fired[key]
        self._memory.changed()

    @callback
    def _time(
        self, key: str, caller: QueueCaller, since: datetime, now: datetime
    ) -> None:
        """Fire for a caller when their wait reaches the threshold; now if it has."""
        if (waiting := self._waiting.pop(key, None)) is not None:
            waiting.cancel()
        due = since + self._threshold
        if due <= now:
            self._fire_when_live(key, caller, since, now)
            return
        cancel = async_track_point_in_utc_time(self._hass, partial(self._due, key), due)
        self._waiting[key] = _Waiting(caller, since, cancel)

    @callback
    def _due(self, key: str, now: datetime) -> None:
        waiting = self._waiting.pop(key)
        self._fire_when_live(key, waiting.caller, waiting.since, now)

    @callback
    def _fire_when_live(
        self, key: str, caller: QueueCaller, since: datetime, now: datetime
    ) -> None:
        if self._live:
            self._fire(key, caller, since, now)
            return
        # The stream is down or the state not read since it came back: the
        # caller may have left meanwhile.
        self._waiting[key] = _Waiting(caller, since, _nothing, held=True)
        if self._recheck is None:
            self._recheck = async_call_later(self._hass, HELD_RECHECK, self._check_held)

    @callback
    def _fire(
        self, key: str, caller: QueueCaller, since: datetime, now: datetime
    ) -> None:
        self._fired[key] = now
        if len(self._fired) > FIRED_KEPT:
            del self._fired[next(iter(self._fired))]
        self._memory.changed()
        queue = self._snapshot
        name = (queue.name if queue is not None else None) or self._queue_id
        wait = round((now - since).total_seconds())
        number = caller.callerid
        payload: dict[str, Any] = {
            ATTR_DEVICE_ID: self._device_id,
            ATTR_QUEUE: name,
            ATTR_CALLER: number,
            ATTR_WAIT: wait,
            ATTR_CALL_GUID: caller.call_guid,
        }
        self._run_action(
            payload, f"caller {number or 'unknown'} waited {wait} s in {name}"
        )


def _plausible_wait(caller: QueueCaller) -> int | None:
    """Return a caller's wait in seconds; None if unknown or beyond belief."""
    wait = caller.wait
    return wait if wait is not None and 0 <= wait <= MAX_PLAUSIBLE_WAIT else None


def _number_key(number: str, seen: Seen) -> str:
    """Return what tells a call without a call id apart: its number and start."""
    return f"number:{number}@{seen.start.isoformat(timespec='seconds')}"


TRIGGERS: dict[str, type[Trigger]] = {CALLER_WAITING: CallerWaitingTrigger}


async def async_get_triggers(hass: HomeAssistant) -> dict[str, type[Trigger]]:
    """Return the triggers of the Weblink NGUC integration."""
    return TRIGGERS
