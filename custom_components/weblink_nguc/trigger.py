"""The automation trigger of the integration: a caller has waited too long in a queue.

``weblink_nguc.caller_waiting`` fires once for each caller whose wait in one
of the chosen queues reaches the threshold, at the moment it does. NGUC
sends a queue's snapshot only when something in the queue changes, so each
caller is timed from their wait at the last snapshot, not checked at the
next one.
"""

from __future__ import annotations

from collections.abc import Collection
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
from homeassistant.const import ATTR_DEVICE_ID, CONF_OPTIONS
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.trigger import (
    Trigger,
    TriggerActionRunner,
    TriggerConfig,
    TriggerNotTriggeredReporter,
)
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util
import probatio as vol

from .api import Queue, QueueCaller
from .const import DOMAIN, LOGGER
from .coordinator import NgucConfigEntry, NgucCoordinator, queue_key
from .data import callers_known

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

_CONFIG_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_OPTIONS): {
            vol.Required(ATTR_DEVICE_ID): vol.All(
                cv.ensure_list, vol.Length(min=1), [cv.string]
            ),
            vol.Required(CONF_SECONDS): vol.All(
                vol.Coerce(int), vol.Range(min=0, max=MAX_SECONDS)
            ),
        }
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
    # The identifier of a queue's device, as NgucCoordinator.identifier makes it.
    prefix = f"{entry.unique_id}_{queue_key('')}"
    for domain, identifier in device.identifiers:
        if (
            domain == DOMAIN
            and identifier.startswith(prefix)
            and (queue_id := identifier.removeprefix(prefix))
        ):
            return entry.entry_id, queue_id
    raise vol.Invalid(f"Device {name} is not a Weblink NGUC call queue")


class CallerWaitingTrigger(Trigger):
    """Fires once for each caller whose wait in a queue reaches a threshold."""

    @classmethod
    @override
    async def async_validate_config(
        cls, hass: HomeAssistant, config: ConfigType
    ) -> ConfigType:
        """Validate the options: queue devices of this integration, 0-3600 s."""
        config = _CONFIG_SCHEMA(config)
        for device_id in config[CONF_OPTIONS][ATTR_DEVICE_ID]:
            queue_of_device(hass, device_id)
        return config

    def __init__(self, hass: HomeAssistant, config: TriggerConfig) -> None:
        """Keep the options."""
        super().__init__(hass, config)
        # Validated: the options are there.
        options: dict[str, Any] = config.options or {}
        self._device_ids: list[str] = options[ATTR_DEVICE_ID]
        self._threshold = timedelta(seconds=options[CONF_SECONDS])

    @override
    async def async_attach_runner(
        self,
        run_action: TriggerActionRunner,
        did_not_trigger: TriggerNotTriggeredReporter | None = None,
    ) -> CALLBACK_TYPE:
        """Time the callers of every chosen queue until the automation goes."""
        # One record for all the automation's queues: a caller moved to
        # another of them does not fire again.
        fired: dict[str, None] = {}
        watches: list[_QueueWatch] = []
        for device_id in self._device_ids:
            try:
                entry_id, queue_id = queue_of_device(self._hass, device_id)
            except vol.Invalid as err:
                # Removed since the automation was validated.
                LOGGER.warning("Not watching a queue for waiting callers: %s", err)
                continue
            watch = _QueueWatch(
                self._hass,
                entry_id=entry_id,
                queue_id=queue_id,
                device_id=device_id,
                threshold=self._threshold,
                fired=fired,
                run_action=run_action,
            )
            watch.async_start()
            watches.append(watch)

        @callback
        def async_remove() -> None:
            for watch in watches:
                watch.async_stop()

        return async_remove


@dataclass(slots=True)
class _Waiting:
    """A caller being timed: since when they wait, and their timer."""

    caller: QueueCaller
    since: datetime
    cancel: CALLBACK_TYPE


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
        fired: dict[str, None],
        run_action: TriggerActionRunner,
    ) -> None:
        """Set up; nothing is watched until :meth:`async_start`."""
        self._hass = hass
        self._entry_id = entry_id
        self._queue_id = queue_id
        self._device_id = device_id
        self._threshold = threshold
        self._fired = fired
        self._run_action = run_action
        self._coordinator: NgucCoordinator | None = None
        self._unlisten: list[CALLBACK_TYPE] = []
        self._unlisten_entry: CALLBACK_TYPE | None = None
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

    @callback
    def _forget(self) -> None:
        """Stop timing everyone; the next snapshot starts again."""
        for waiting in self._waiting.values():
            waiting.cancel()
        self._waiting.clear()
        self._snapshot = None

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
        # Listeners are told of a snapshot as it arrives: its waits are as of
        # now. Only one met when the automation starts may be older; its
        # waits are then the least each caller has waited, so that nobody is
        # fired for early, and callers already past the threshold at once.
        now = dt_util.utcnow()
        present: set[str] = set()
        for caller in queue.callers:
            if (key := _caller_key(caller)) is None:
                continue
            present.add(key)
            if key in self._fired:
                continue
            if (wait := _plausible_wait(caller)) is not None:
                self._time(key, caller, now - timedelta(seconds=wait), now)
            elif (waiting := self._waiting.get(key)) is not None:
                # No wait this time (or none to believe): keep timing from
                # an earlier snapshot.
                waiting.caller = caller
        for key in self._waiting.keys() - present:
            self._waiting.pop(key).cancel()

    @callback
    def _time(
        self, key: str, caller: QueueCaller, since: datetime, now: datetime
    ) -> None:
        """Fire for a caller when their wait reaches the threshold; now if it has."""
        if (waiting := self._waiting.pop(key, None)) is not None:
            waiting.cancel()
        due = since + self._threshold
        if due <= now:
            self._fire(key, caller, since, now)
            return
        cancel = async_track_point_in_utc_time(self._hass, partial(self._due, key), due)
        self._waiting[key] = _Waiting(caller, since, cancel)

    @callback
    def _due(self, key: str, now: datetime) -> None:
        waiting = self._waiting.pop(key)
        self._fire(key, waiting.caller, waiting.since, now)

    @callback
    def _fire(
        self, key: str, caller: QueueCaller, since: datetime, now: datetime
    ) -> None:
        self._fired[key] = None
        if len(self._fired) > FIRED_KEPT:
            del self._fired[next(iter(self._fired))]
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


def _caller_key(caller: QueueCaller) -> str | None:
    """Return what tells a caller from the others: the call id, else the number."""
    if caller.call_guid:
        return caller.call_guid
    if caller.callerid:
        return f"number:{caller.callerid}"
    return None


TRIGGERS: dict[str, type[Trigger]] = {CALLER_WAITING: CallerWaitingTrigger}


async def async_get_triggers(hass: HomeAssistant) -> dict[str, type[Trigger]]:
    """Return the triggers of the Weblink NGUC integration."""
    return TRIGGERS
