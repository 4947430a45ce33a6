"""The push coordinator: one account's data, the events that change it, and who is told.

Events only carry changes: the state is read over REST by the sync
(:mod:`.sync`), when the stream's health (:mod:`.health`) says it is
connected. Events are applied as they come; what changed reaches only the
entities of the items it concerns, through Home Assistant's listener
protocol with the item's key as context (:mod:`.listeners`), and new items
get their devices (:mod:`.devices`) and entities a slice at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .api import (
    Cdr,
    NgucAuthError,
    NgucClient,
    NgucEventStream,
    Queue,
    QueueCdr,
    UserStatus,
    parse_event,
)
from .api.ratelimit import RateLimitedLog
from .budget import EntityBudget
from .calls import CallEvent, CallTracker
from .const import (
    DOMAIN,
    EVENT_NGUC,
    LOGGER,
)
from .data import Changes, NgucData, device_key, queue_key, user_key
from .devices import KEY_ACCOUNT, NgucDevices, in_device_order
from .errors import setup_errors
from .follow import Following
from .health import KEY_AVAILABILITY, KEY_STREAM, StreamHealth
from .listeners import NgucListeners, RecordListener
from .reader import PART_QUEUES, PART_USERS, NgucReader
from .store import STORED_PARTS, async_remove_store
from .sync import NgucSync
from .timings import DEFAULT_TIMINGS, Timings

__all__ = [
    "KEY_ACCOUNT",
    "KEY_AVAILABILITY",
    "KEY_LAST_EVENT",
    "KEY_NEW_DAY",
    "KEY_QUEUES_OF",
    "KEY_STREAM",
    "NgucConfigEntry",
    "NgucCoordinator",
    "NgucData",
    "async_remove_store",
    "device_key",
    "queue_key",
    "user_key",
]

type NgucConfigEntry = ConfigEntry[NgucCoordinator]

RECENT_EVENTS = 50

# What to listen to besides an item's key (and KEY_STREAM, KEY_AVAILABILITY).
KEY_LAST_EVENT = "last_event"  # any event arrived
KEY_NEW_DAY = "new_day"  # local midnight: daily counts start again
# Before a user's key: that user's queues (not their line) may have changed.
KEY_QUEUES_OF = "queues_of_"
_USER_PREFIX = user_key("")


class NgucCoordinator:
    """Holds one account's event stream and the state it describes.

    Platforms read :attr:`data` and :attr:`available`, and listen with
    :meth:`async_add_listener` (an item's key: what it shows may have
    changed), :meth:`async_subscribe_calls` (an item's call events) and
    :meth:`async_subscribe_items` (items that appeared); features with
    :meth:`async_add_record_listener` (every new call record).
    """

    data: NgucData

    def __init__(
        self,
        hass: HomeAssistant,
        entry: NgucConfigEntry,
        client: NgucClient,
        timings: Timings = DEFAULT_TIMINGS,
    ) -> None:
        """Set up; nothing is read until :meth:`async_setup`."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.listeners = NgucListeners(hass, entry)
        #: Whom to follow (the options): the data holds only those.
        self.following = Following.from_options(entry.options)
        self.health = StreamHealth(
            hass,
            entry,
            self.listeners,
            # The sync, made next, needs the health: looked up when called.
            on_up=lambda: self.sync.on_connected(),  # noqa: PLW0108
            on_down=lambda: self.sync.cancel(),  # noqa: PLW0108
            on_stop=self._stop_timers,
        )
        self.stream: NgucEventStream = client.event_stream(
            self._on_event,
            on_connected=self.health.on_connected,
            on_disconnected=self.health.on_disconnected,
            on_rejected=self.health.on_rejected,
            heartbeat=timings.heartbeat,
            timings=timings.stream,
        )
        self.health.stream = self.stream
        self.reader = NgucReader(hass, entry, client)
        self.sync = NgucSync(
            hass,
            entry,
            self.reader,
            self.health,
            data=lambda: self.following.whole(self.data),
            replace=self._replace,
            follows=self.following.key,
        )
        self.devices = NgucDevices(hass, entry, self.identifier)
        #: Which new items fit Home Assistant's limit of entities per entry.
        self.budget = EntityBudget(hass, entry, self.identifier)
        self.calls = CallTracker()
        #: The call event entity of each user and queue (item key: entity id),
        #: kept by the entities themselves, for the bus events of call records.
        self.call_entity_ids: dict[str, str] = {}
        self.last_event: datetime | None = None
        #: When the snapshot of each queue held arrived: its waits are as of then.
        self.queue_received: dict[str, datetime] = {}
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._bad_event_log = RateLimitedLog(LOGGER)

    @property
    def available(self) -> bool:
        """Return False while the state may be stale: entities are unavailable."""
        return self.health.available

    @property
    def connected(self) -> bool:
        """Return True while the event stream is connected."""
        return self.health.connected

    @property
    def in_sync(self) -> bool:
        """Return True once the state was read after the current connection opened."""
        return self.health.in_sync

    @property
    def notifying(self) -> bool:
        """Return True while changes are still being handed to entities."""
        return self.listeners.busy

    # --- Lifecycle ---------------------------------------------------------------

    async def async_setup(self) -> None:
        """Log in if needed; raise what setup should.

        The lists are read once the event stream is connected, so that no
        event between the read and the connection is lost: one read.
        """
        with setup_errors():
            me = await self.client.get_me()
        self.data = NgucData(me=me)
        await self.reader.store.async_load()
        self.devices.async_register_account()

    @callback
    def async_start(self) -> None:
        """Start the event stream; entities go unavailable if it stays down."""
        self.entry.async_create_background_task(
            self.hass, self._async_run_stream(), f"{DOMAIN} event stream"
        )
        self.sync.start()
        # One timer for the whole company rather than one per daily count.
        self.listeners.start_day_clock(KEY_NEW_DAY)
        self.health.start()

    async def async_stop(self) -> None:
        """Stop the stream and every timer and task of ours."""
        self.health.stopped = True
        self._stop_timers()
        self.listeners.cancel()
        await self.stream.stop()
        # A renewal under way stores its tokens before the entry starts again.
        await self.client.auth.async_close()
        # After the stream: its disconnect callback starts the grace timer.
        self.health.stop()
        await self.reader.async_stop(self.data)
        self.budget.delete_issue()

    async def _async_run_stream(self) -> None:
        try:
            await self.stream.run()
        except NgucAuthError:
            await self.health.async_credentials_rejected()

    @callback
    def _stop_timers(self) -> None:
        self.sync.stop()
        self.listeners.stop_day_clock()

    # --- Listening ---------------------------------------------------------------

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Call ``update_callback`` when what ``context`` stands for may have changed.

        ``context`` is an item's key (:func:`user_key`, ...), ``KEY_QUEUES_OF``
        and a user's key (that user's queues, not their line), or one of
        ``KEY_STREAM``, ``KEY_LAST_EVENT``, ``KEY_AVAILABILITY`` (nothing
        else) or ``KEY_NEW_DAY`` (local midnight). Every listener is called
        when availability flips. Returns a remover.
        """
        return self.listeners.add(update_callback, context)

    @callback
    def async_subscribe_calls(
        self, key: str, listener: Callable[[CallEvent], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` with each call event of the item ``key``; returns a remover."""
        return self.listeners.add_calls(key, listener)

    @callback
    def async_subscribe_items(
        self, listener: Callable[[Collection[str]], None]
    ) -> CALLBACK_TYPE:
        """Call ``listener`` with the keys of items that appeared; returns a remover.

        Their devices exist by then. Items that go take their devices, and so
        their entities, with them.
        """
        return self.listeners.add_items(listener)

    @callback
    def async_add_record_listener(self, listener: RecordListener) -> CALLBACK_TYPE:
        """Call ``listener`` once with each new call record of the stream.

        Every record (``Cdr``, ``QueueCdr``) of every user and queue, once
        each however often NGUC sends it. Returns a remover.
        """
        return self.listeners.add_records(listener)

    def company(self) -> NgucData | None:
        """Return the whole company as last read, followed or not.

        A list that has not answered since the start gives what was kept on
        disk. None before anything was read or kept.
        """
        whole = self.following.whole(self.data)
        parts: dict[str, Any] = {
            part: self.reader.kept(whole, part) for part in STORED_PARTS
        }
        if self.following.everyone is None and not any(parts.values()):
            return None
        return replace(whole, **parts)

    @property
    def company_current(self) -> bool:
        """Return whether the company's users and queues answered at the last read."""
        return {PART_USERS, PART_QUEUES} <= self.reader.answered

    def identifier(self, key: str) -> str:
        """Return the device registry identifier of an item's device."""
        return f"{self.entry.unique_id}_{key}"

    # --- Publishing --------------------------------------------------------------

    def _replace(self, new: NgucData, stale_check: frozenset[str]) -> None:
        """Replace the data by a read's; tell what changed."""
        new = self.following.filter(new)
        # A queue the read answered anew is as of now; one an event brought
        # (held during the read, or kept) is as of that event.
        now = dt_util.utcnow()
        old_queues, received = self.data.queues, self.queue_received
        self.queue_received = {
            queue_id: received.get(queue_id, now)
            if old_queues.get(queue_id) is queue
            else now
            for queue_id, queue in new.queues.items()
        }
        changes = self.data.diff(new)
        self.data = new
        self.calls.reset(new.statuses.values())
        if stale_check:
            # Devices of items removed while Home Assistant was stopped.
            kinds = self.reader.kinds_of(stale_check)
            self.devices.async_remove_stale(new, kinds)
        # Coming back from unavailable, the flip writes every entity.
        self._publish(changes, notify=self.available)

    def _publish(
        self, changes: Changes, *, notify: bool, lines_only: bool = False
    ) -> None:
        """Bring devices in step and tell the entities of the items that changed.

        ``lines_only``: the changes are of lines alone, which change no
        user's queues.
        """
        if changes.removed:
            self.devices.async_remove(changes.removed)
        if changes.renamed:
            # Items left out for lack of room have no device to update.
            renamed = self.budget.left_out(changes.renamed - changes.added)
            self.devices.async_update(self.data, renamed)
        if changes.added and (added := self.budget.admit(self.data, changes.added)):
            self.listeners.announce(
                in_device_order(added),
                lambda keys: self.devices.async_update(self.data, keys),
            )
        if notify and changes.changed:
            keys: Collection[str] = changes.changed
            if not lines_only:
                keys = [
                    *keys,
                    *(
                        KEY_QUEUES_OF + key
                        for key in keys
                        if key.startswith(_USER_PREFIX)
                    ),
                ]
            self.listeners.notify(keys)
        if changes.items_changed:
            # The whole company: the options form lists it after a restart.
            self.reader.store.async_keep(lambda: self.following.whole(self.data))

    # --- Events (the hot path) -------------------------------------------------------

    @callback
    def _on_event(self, name: str, payload: Any) -> None:
        now = dt_util.utcnow()
        self.last_event = now
        self.recent_events.append({"time": now, "event": name, "data": payload})
        self.listeners.send(KEY_LAST_EVENT)
        try:
            update = parse_event(name, payload)
        except ValueError as err:
            self._bad_event_log.warning(
                "Skipping a %s event that cannot be used: %s", name, err
            )
            return
        if self.calls.on_bus(name, update, payload):
            # A call record names its call event entity too, for its logbook.
            entities = None if update is None else self.call_entity_ids
            self.hass.bus.async_fire(
                EVENT_NGUC, self.devices.event_data(name, payload, entities)
            )
            if isinstance(update, (Cdr, QueueCdr)):
                self.listeners.send_record(update)
        if update is None:
            return  # only on the bus
        if not self.following.wants(update, self.data):
            return  # the state of an item not followed: on the bus only
        # Calls fire as they arrive, during a read too; colleagues not
        # followed are named as well.
        names = self.following.directory(self.data)
        if (call := self.calls.event_for(update, names)) is not None:
            self.listeners.send_call(call)
        changes = self.data.apply(update)
        if changes and isinstance(update, Queue):
            self.queue_received[update.id] = now
        self.sync.on_update(update, changes)
        if changes:
            # While unavailable the entities show nothing: the flip back
            # writes them all.
            self._publish(
                changes,
                notify=self.available,
                lines_only=isinstance(update, UserStatus),
            )
