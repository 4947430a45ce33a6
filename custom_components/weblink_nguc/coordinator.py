"""The push coordinator: NGUC's event stream, seeded and re-seeded over REST.

Events only carry changes, so the state is read over REST at setup and again
after every reconnect; events that arrive during that read are held back and
applied after it, so entities end at the truth. Each event notifies only the
entities it concerns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .api import (
    Cdr,
    Device,
    DeviceStatus,
    LineState,
    Me,
    NgucAuthError,
    NgucClient,
    NgucConnectionError,
    NgucError,
    NgucEventStream,
    NgucNotFoundError,
    Queue,
    QueueCdr,
    TokenSet,
    Update,
    User,
    UserStatus,
    contract as c,
    parse_event,
)
from .api.backoff import Backoff
from .calls import CallEvent, SeenOnce, queue_call_event, ringing_event, user_call_event
from .const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_TOKEN,
    DOMAIN,
    EVENT_NGUC,
    LOGGER,
    MANUFACTURER,
    STREAM_GRACE,
)

type NgucConfigEntry = ConfigEntry[NgucCoordinator]
type CallListener = Callable[[CallEvent], None]

RECENT_EVENTS = 50
# A failed resync (REST down while the stream is up) is retried with backoff.
RESYNC_RETRY_BASE = 5.0
RESYNC_RETRY_CAP = 300.0
# Keys of the listeners that are not about one NGUC item.
KEY_ACCOUNT = "account"
KEY_STREAM = "stream"
KEY_LAST_EVENT = "last_event"


def user_key(user_id: str) -> str:
    """Return the listener key of a user's line."""
    return f"user_{user_id}"


def device_key(device_id: str) -> str:
    """Return the listener key of a phone."""
    return f"device_{device_id}"


def queue_key(queue_id: str) -> str:
    """Return the listener key of a queue."""
    return f"queue_{queue_id}"


@dataclass
class NgucData:
    """What NGUC told us, as of the last REST read plus the events since."""

    me: Me
    users: dict[str, User] = field(default_factory=dict)
    statuses: dict[str, UserStatus] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)

    def device_keys(self) -> set[str]:
        """Return the keys of every item that has a device in Home Assistant."""
        return (
            {user_key(i) for i in self.users}
            | {device_key(i) for i in self.devices}
            | {queue_key(i) for i in self.queues}
        )


def client_from_entry(hass: HomeAssistant, entry: NgucConfigEntry) -> NgucClient:
    """Build the NGUC client for an entry; new tokens are stored at once."""

    @callback
    def store_tokens(tokens: TokenSet) -> None:
        # No reload: the running client already holds these tokens.
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_TOKEN: tokens.as_dict()}
        )

    token = entry.data.get(CONF_TOKEN)
    return NgucClient(
        async_get_clientsession(hass),
        company=entry.data[CONF_COMPANY],
        username=entry.data[CONF_USERNAME],
        password=entry.data.get(CONF_PASSWORD),
        tokens=TokenSet.from_dict(token) if token else None,
        api_url=entry.data[CONF_API_URL],
        events_url=entry.data[CONF_EVENTS_URL],
        on_tokens=store_tokens,
    )


class NgucCoordinator:
    """Holds one account's event stream and the state it describes."""

    data: NgucData

    def __init__(
        self, hass: HomeAssistant, entry: NgucConfigEntry, client: NgucClient
    ) -> None:
        """Set up; nothing is read until :meth:`async_setup`."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.stream: NgucEventStream = client.event_stream(
            self._on_event,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
        )
        self.available = True
        #: True once the state was re-read after the current connection opened.
        self.in_sync = False
        self.last_event: datetime | None = None
        self.recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._listeners: dict[str, list[CALLBACK_TYPE]] = {}
        self._call_listeners: dict[str, list[CallListener]] = {}
        self._item_listeners: list[CALLBACK_TYPE] = []
        self._seen = SeenOnce()
        self._held: list[Update] | None = None  # events during a resync
        self._ringing: set[str] = set()  # users whose line we last saw ringing
        self._resync: asyncio.Task[None] | None = None
        self._grace: CALLBACK_TYPE | None = None
        self._lost_logged = False
        self._device_ids: dict[str, str] = {}
        self._missing_warned: set[str] = set()

    # --- Lifecycle ---------------------------------------------------------------

    async def async_setup(self) -> None:
        """Log in if needed and read the state; raise what setup should."""
        try:
            self.data = await self._async_read_state()
        except NgucAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except NgucConnectionError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except NgucError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="unexpected_response",
                translation_placeholders={"error": str(err)},
            ) from err
        self._ringing = _ringing_users(self.data)
        self._register_devices()

    @callback
    def async_start(self) -> None:
        """Start the event stream; entities go unavailable if it stays down."""
        self.entry.async_create_background_task(
            self.hass, self._async_run_stream(), f"{DOMAIN} event stream"
        )
        self._start_grace()

    async def async_stop(self) -> None:
        """Stop the stream and every timer and task of ours."""
        if self._resync is not None:
            self._resync.cancel()
        await self.stream.stop()
        # After the stream: its disconnect callback starts the grace timer.
        self._cancel_grace()

    async def _async_run_stream(self) -> None:
        try:
            await self.stream.run()
        except NgucAuthError:
            LOGGER.warning("NGUC no longer accepts the stored credentials")
            self._set_available(False)
            self.entry.async_start_reauth(self.hass)

    async def _async_read_state(self) -> NgucData:
        me, users, statuses, devices, queues = await asyncio.gather(
            self.client.get_me(),
            self._async_optional(self.client.get_users),
            self._async_optional(self.client.get_user_statuses),
            self._async_optional(self.client.get_devices),
            self._async_optional(self.client.get_queues),
        )
        return NgucData(
            me=me,
            users={u.id: u for u in users},
            statuses={s.user_id: s for s in statuses},
            devices={d.id: d for d in devices},
            queues={q.id: q for q in queues},
        )

    async def _async_optional[T](
        self, read: Callable[[], Awaitable[list[T]]]
    ) -> list[T]:
        """Read a list whose endpoint may not exist: its path is assumed.

        A 404 leaves that part empty (warned once) instead of failing setup.
        """
        try:
            return await read()
        except NgucNotFoundError as err:
            if read.__name__ not in self._missing_warned:
                self._missing_warned.add(read.__name__)
                LOGGER.warning("NGUC has no such endpoint; left empty: %s", err)
            return []

    # --- Connection state ----------------------------------------------------------

    @callback
    def _on_connected(self) -> None:
        self._notify(KEY_STREAM)
        if self._resync is not None and not self._resync.done():
            return
        self._held = []
        self._resync = self.entry.async_create_background_task(
            self.hass, self._async_resync(), f"{DOMAIN} resync"
        )

    @callback
    def _on_disconnected(self) -> None:
        self.in_sync = False
        self._notify(KEY_STREAM)
        if self._resync is not None:
            self._resync.cancel()
            self._resync = None
        self._held = None
        self._start_grace()

    async def _async_resync(self) -> None:
        """Read the state again, then apply what arrived meanwhile."""
        backoff = Backoff(RESYNC_RETRY_BASE, RESYNC_RETRY_CAP)
        while True:
            try:
                data = await self._async_read_state()
            except NgucAuthError:
                LOGGER.warning("NGUC rejected the credentials while resyncing")
                self._set_available(False)
                self.entry.async_start_reauth(self.hass)
                return
            except NgucError as err:
                LOGGER.debug("Resync failed (%s); retrying", err)
                await asyncio.sleep(backoff.next_delay())
                continue
            break
        held, self._held = self._held or [], None
        self._replace_data(data)
        for update in held:
            self._apply(update)
        self._ringing = _ringing_users(self.data)
        self.in_sync = True
        self._cancel_grace()
        self._set_available(True, force_notify=True)

    def _replace_data(self, data: NgucData) -> None:
        before = self.data.device_keys()
        self.data = data
        after = data.device_keys()
        if after == before:
            return
        if before - after:
            self._remove_stale_devices(after)
        self._items_changed()

    def _items_changed(self) -> None:
        self._register_devices()
        for listener in list(self._item_listeners):
            listener()

    def _register_devices(self) -> None:
        """Create or update the devices, so that entities only refer to them.

        Registering here, before any platform, lets a phone name its user's
        device as the one it is connected through.
        """
        dev_reg = dr.async_get(self.hass)
        entry_id = self.entry.entry_id
        dev_reg.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={(DOMAIN, self.identifier(KEY_ACCOUNT))},
            name=self.entry.title,
            manufacturer=MANUFACTURER,
            model="NGUC account",
            entry_type=dr.DeviceEntryType.SERVICE,
        )
        user_devices: dict[str, str] = {}
        for user in self.data.users.values():
            user_devices[user.id] = dev_reg.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={(DOMAIN, self.identifier(user_key(user.id)))},
                name=user.name or user.extension or user.id,
                manufacturer=MANUFACTURER,
                model="PBX user",
                serial_number=user.extension,
            ).id
        for phone in self.data.devices.values():
            via = user_devices.get(phone.user_id) if phone.user_id else None
            dev_reg.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={(DOMAIN, self.identifier(device_key(phone.id)))},
                name=phone.name or phone.model or phone.id,
                manufacturer=MANUFACTURER,
                model=phone.model,
                via_device_id=via,
            )
        for queue in self.data.queues.values():
            dev_reg.async_get_or_create(
                config_entry_id=entry_id,
                identifiers={(DOMAIN, self.identifier(queue_key(queue.id)))},
                name=queue.name or queue.id,
                manufacturer=MANUFACTURER,
                model="Call queue",
            )

    def _remove_stale_devices(self, keys: set[str]) -> None:
        dev_reg = dr.async_get(self.hass)
        wanted = {self.identifier(key) for key in keys | {KEY_ACCOUNT}}
        for device in dr.async_entries_for_config_entry(dev_reg, self.entry.entry_id):
            ours = {i for d, i in device.identifiers if d == DOMAIN}
            if ours and not ours & wanted:
                LOGGER.debug("Removing %s: gone from NGUC", device.name)
                dev_reg.async_remove_device(device.id)
        self._device_ids.clear()

    @callback
    def _start_grace(self) -> None:
        self._cancel_grace()
        self._grace = async_call_later(self.hass, STREAM_GRACE, self._grace_expired)

    @callback
    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace()
            self._grace = None

    @callback
    def _grace_expired(self, _now: datetime) -> None:
        self._grace = None
        if not self.stream.connected or self._held is not None:
            self._set_available(False)

    @callback
    def _set_available(self, available: bool, force_notify: bool = False) -> None:
        changed = available != self.available
        self.available = available
        if changed and not available and not self._lost_logged:
            LOGGER.info("Lost the NGUC event stream; entities are unavailable")
            self._lost_logged = True
        elif changed and available and self._lost_logged:
            LOGGER.info("NGUC event stream restored")
            self._lost_logged = False
        if changed or force_notify:
            for listeners in list(self._listeners.values()):
                for listener in list(listeners):
                    listener()

    # --- Listeners -----------------------------------------------------------------

    @callback
    def async_subscribe(self, key: str, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when the item ``key`` changes; returns a remover."""
        return _add(self._listeners, key, listener)

    @callback
    def async_subscribe_calls(self, key: str, listener: CallListener) -> CALLBACK_TYPE:
        """Call ``listener`` with each call event of ``key``; returns a remover."""
        return _add(self._call_listeners, key, listener)

    @callback
    def async_add_items_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when users, phones or queues appear or go."""
        self._item_listeners.append(listener)
        return lambda: self._item_listeners.remove(listener)

    def _notify(self, key: str) -> None:
        for listener in self._listeners.get(key, ()):
            listener()

    def _fire(self, key: str, event: CallEvent) -> None:
        if not self._seen.first_time(event.key):
            return
        for listener in self._call_listeners.get(key, ()):
            listener(event)

    def identifier(self, key: str) -> str:
        """Return the device registry identifier of an item's device."""
        return f"{self.entry.unique_id}_{key}"

    # --- Events (the hot path) -------------------------------------------------------

    @callback
    def _on_event(self, name: str, payload: Any) -> None:
        now = dt_util.utcnow()
        self.last_event = now
        self.recent_events.append({"time": now, "event": name, "data": payload})
        self._notify(KEY_LAST_EVENT)
        self.hass.bus.async_fire(
            EVENT_NGUC,
            {
                "event": name,
                "data": payload,
                "config_entry_id": self.entry.entry_id,
                "device_id": self._device_id_for(name, payload),
            },
        )
        try:
            update = parse_event(name, payload)
        except ValueError:
            LOGGER.debug("Ignoring a %s event without an id", name)
            return
        if update is None:
            return  # only on the bus
        self._fire_call_events(update)
        if self._held is not None:
            self._held.append(update)
        else:
            self._apply(update)

    def _apply(self, update: Update) -> None:
        """Apply a state event to the data and notify who it concerns.

        Call records (Cdr, QueueCdr) change no state.
        """
        data = self.data
        if isinstance(update, UserStatus):
            data.statuses[update.user_id] = update
            self._notify(user_key(update.user_id))
        elif isinstance(update, DeviceStatus):
            if (device := data.devices.get(update.device_id)) is not None:
                data.devices[update.device_id] = replace(
                    device,
                    user_id=update.user_id or device.user_id,
                    registered=update.registered,
                )
                self._notify(device_key(update.device_id))
        elif isinstance(update, Queue):
            is_new = update.id not in data.queues
            data.queues[update.id] = update
            if is_new:
                self._items_changed()
            else:
                self._notify(queue_key(update.id))

    def _fire_call_events(self, update: Update) -> None:
        """Fire what happened, as the event arrives (even during a resync)."""
        if isinstance(update, UserStatus):
            # Compared with what we last saw, not with the data: during a
            # resync the REST answer may already show the line ringing.
            user = update.user_id
            if LineState.RINGING in update.status:
                if user not in self._ringing:
                    self._ringing.add(user)
                    self._fire(user_key(user), ringing_event(user))
            else:
                self._ringing.discard(user)
        elif isinstance(update, Cdr):
            if (event := user_call_event(update)) is not None:
                self._fire(user_key(event.target), event)
        elif isinstance(update, QueueCdr) and (event := queue_call_event(update)):
            self._fire(queue_key(event.target), event)

    def _device_id_for(self, name: str, payload: Any) -> str | None:
        """Return the Home Assistant device an event is about, if any."""
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
        if key is None:
            return None
        if (cached := self._device_ids.get(key)) is not None:
            return cached
        device_entry = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, self.identifier(key)), self.entry.entry_id
        )
        if device_entry is None:
            return None
        self._device_ids[key] = device_entry.id
        return device_entry.id


def _ringing_users(data: NgucData) -> set[str]:
    return {
        user
        for user, status in data.statuses.items()
        if LineState.RINGING in status.status
    }


def _add[T](registry: dict[str, list[T]], key: str, listener: T) -> CALLBACK_TYPE:
    registry.setdefault(key, []).append(listener)

    def remove() -> None:
        registry[key].remove(listener)
        if not registry[key]:
            del registry[key]

    return remove
