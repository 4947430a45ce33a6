"""The event stream's health: connected, in sync, available, and what to tell a person.

Entities stay available for a grace period after the stream drops, so that a
quick reconnect does not flap them; past it, or when the state cannot be
read, they are unavailable, which is logged once when lost and once when
back. Connections refused one after another raise a repair issue; refused
credentials stop everything and start reauthentication.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .api import NgucEventStream
from .compat import async_create_issue
from .const import (
    DOMAIN,
    ISSUE_DATA_ENTRY_ID,
    ISSUE_STREAM_REJECTED,
    LOGGER,
    STREAM_REJECTED_ISSUE_AFTER,
)
from .listeners import NgucListeners
from .timings import timings_of

# What to listen to besides an item's key.
KEY_STREAM = "stream"  # the stream connected or not
KEY_AVAILABILITY = "availability"  # only the entities became (un)available


class StreamHealth:
    """Follows one event stream; says whether entities can be trusted."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        listeners: NgucListeners,
        *,
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        on_stop: Callable[[], None],
    ) -> None:
        """Bind; ``on_up`` reads the state, ``on_down`` stops reading, ``on_stop`` every timer."""
        self._hass = hass
        self._entry = entry
        self._listeners = listeners
        self._on_up = on_up
        self._on_down = on_down
        self._on_stop = on_stop
        self.stream: NgucEventStream | None = None
        #: False while the state may be stale: entities are unavailable.
        self.available = True
        #: True while the event stream is connected.
        self.connected = False
        #: True once the state was read after the current connection opened.
        self.in_sync = False
        #: True once stopped: unloading, or credentials refused.
        self.stopped = False
        self._grace: CALLBACK_TYPE | None = None
        self._lost_logged = False
        self._rejected_issue = False

    @property
    def _rejected_issue_id(self) -> str:
        return f"{self._entry.entry_id}_{ISSUE_STREAM_REJECTED}"

    @callback
    def start(self) -> None:
        """Count the grace from the start: the stream must connect within it."""
        self._start_grace()

    @callback
    def stop(self) -> None:
        """Unloading: no timer left, no issue left, no entity told."""
        self.stopped = True
        self._cancel_grace()
        ir.async_delete_issue(self._hass, DOMAIN, self._rejected_issue_id)

    # --- The stream's callbacks ----------------------------------------------------

    @callback
    def on_connected(self) -> None:
        """Read the state: the stream is up."""
        if self.stopped:
            return
        self.connected = True
        if self._rejected_issue:
            self._rejected_issue = False
            ir.async_delete_issue(self._hass, DOMAIN, self._rejected_issue_id)
        # Sliced like any large notification: every call event entity
        # listens to the stream.
        self._listeners.notify((KEY_STREAM,))
        self._on_up()

    @callback
    def on_disconnected(self) -> None:
        """Stop trusting the state: the stream is down."""
        self.connected = False
        self.in_sync = False
        if self.stopped:
            # Unloading: no entity's availability changes, and no task of
            # ours may start now.
            self._listeners.send(KEY_STREAM)
            return
        self._listeners.notify((KEY_STREAM,))
        self._on_down()
        # Counted from the first drop since the state was last current: a
        # stream that reconnects but never gets back in sync must not keep
        # postponing it, or stale state would be shown as current for good.
        if self._grace is None:
            self._start_grace()

    @callback
    def on_rejected(self, count: int) -> None:
        """Raise a repair issue when connections with fresh tokens keep being refused."""
        if count < STREAM_REJECTED_ISSUE_AFTER or self.stopped:
            return
        self._rejected_issue = True
        # Fixable: signing in again, perhaps with an account that has the
        # right, is what a person can do (repairs.py).
        async_create_issue(
            self._hass,
            self._entry,
            self._rejected_issue_id,
            data={ISSUE_DATA_ENTRY_ID: self._entry.entry_id},
            is_fixable=True,
            severity=ir.IssueSeverity.ERROR,
            translation_key="stream_rejected",
            translation_placeholders={"account": self._entry.title},
        )

    @callback
    def synced(self) -> None:
        """Trust the state: it was read on this connection."""
        self.in_sync = True
        self._cancel_grace()
        self.set_available(True)

    async def async_credentials_rejected(self) -> None:
        """Stop everything until a person enters the credentials again."""
        if self.stopped:
            return
        self.stopped = True
        LOGGER.warning(
            "NGUC rejected the stored credentials; the event stream is stopped"
            " until they are entered again"
        )
        self.in_sync = False
        self._on_stop()
        self._cancel_grace()
        self.set_available(False, log=False)
        self._entry.async_start_reauth(self._hass)
        if self.stream is not None:
            await self.stream.stop()
        self.connected = False
        self._listeners.notify((KEY_STREAM,))

    # --- Availability ----------------------------------------------------------------

    @callback
    def _start_grace(self) -> None:
        self._cancel_grace()
        self._grace = async_call_later(
            self._hass, timings_of(self._hass).stream_grace, self._grace_expired
        )

    @callback
    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace()
            self._grace = None

    @callback
    def _grace_expired(self, _now: datetime) -> None:
        self._grace = None
        if not (self.connected and self.in_sync):
            self.set_available(False)

    @callback
    def set_available(self, available: bool, *, log: bool = True) -> None:
        """Flip availability; only a flip notifies, and it notifies everyone."""
        if available == self.available:
            return
        self.available = available
        if not available and log and not self._lost_logged:
            fault = self.stream.last_fault if self.stream is not None else None
            LOGGER.info(
                "Lost the NGUC event stream (%s); entities are unavailable",
                "connected, but the state cannot be read"
                if self.connected
                else fault or "no connection yet",
            )
            self._lost_logged = True
        elif available and self._lost_logged:
            LOGGER.info("NGUC event stream restored")
            self._lost_logged = False
        # Every listener, whatever its context: every entity shows availability.
        self._listeners.notify(self._listeners.contexts)
