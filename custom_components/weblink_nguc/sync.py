"""When to read NGUC's state over REST, and what of each answer to trust.

Every list is read once the event stream is connected, hourly, soon after
an event names an item we do not know, and again for a list that failed
(with its own backoff) or whose answer was not believed (:mod:`.trust`,
which states the rule this obeys). After a reconnect, the lists that events
change (line statuses, queues) are read at once; users and phones once the
connection has lasted a while, so that a proxy closing connections every few
seconds does not cost a full read each time. Each list is judged on its
own, against the whole company held: one that fails keeps its part as it
was, and those that answered are applied. Events that arrive during a read
are applied at once, and held to be applied again on top of its answer, so
that an older answer never overwrites a newer event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Hashable, Iterable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval

from .api import (
    Cdr,
    DeviceStatus,
    Me,
    NgucAuthError,
    NgucError,
    NgucNotFoundError,
    NgucRateLimitError,
    Queue,
    QueueCdr,
    Update,
    UserStatus,
)
from .api.backoff import Backoff
from .const import DOMAIN, LOGGER
from .data import Changes, NgucData, user_key
from .health import StreamHealth
from .reader import (
    ALL_PARTS,
    PART_DEVICES,
    PART_QUEUES,
    PART_STATUSES,
    PART_USERS,
    PATHS,
    Answers,
    NgucReader,
    id_of,
)
from .timings import timings_of
from .trust import ListJudge
from .unknown import UnknownItems

# Events kept for the read under way, one per item: past this many, the
# read is made again rather than anything lost.
HELD_EVENTS_MAX = 10_000

# The lists that events keep current: read again at every reconnect. The
# others are read once a connection has lasted ``reconnect_quiet``.
EVENT_PARTS = frozenset({PART_STATUSES, PART_QUEUES})
LASTING_PARTS = ALL_PARTS - EVENT_PARTS

# Replaces the data by a read's: (new data, parts whose answer tells which
# devices went while Home Assistant was stopped).
type Replace = Callable[[NgucData, frozenset[str]], None]


class NgucSync:
    """Reads one account's state when due, and judges each list's answer."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        reader: NgucReader,
        health: StreamHealth,
        *,
        data: Callable[[], NgucData],
        replace: Replace,
        follows: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        """Bind; nothing is read until :meth:`read`.

        ``data`` returns the whole company held, followed or not: answers
        are judged against it, before filtering (:mod:`.trust`, rule 5).
        """
        self._hass = hass
        self._entry = entry
        self._reader = reader
        self._health = health
        self._data = data
        self._replace = replace
        #: The events of the read under way, the latest per item.
        self.held: dict[Hashable, Update] | None = None
        self._held_overflow = False
        self._task: asyncio.Task[None] | None = None
        self._again: set[str] = set()
        self._read_me = False
        self._judges = {part: ListJudge() for part in ALL_PARTS}
        # Lists to read again, when (loop time), and the backoff of each.
        self._due: dict[str, float] = {}
        self._backoffs: dict[str, Backoff] = {}
        self._retry_timer: CALLBACK_TYPE | None = None
        self.unknown = UnknownItems(
            hass, reader, health, read=self.read, follows=follows
        )
        self._interval: CALLBACK_TYPE | None = None
        # When each list last answered, and when the connection opened (loop time).
        self._answered_at: dict[str, float] = {}
        self._connected_at = 0.0
        self._quiet_timer: CALLBACK_TYPE | None = None

    @callback
    def start(self) -> None:
        """Read hourly from now on; items kept on disk count as listed."""
        for part, judge in self._judges.items():
            judge.listed.update(self._reader.store.items(part))
        self._interval = async_track_time_interval(
            self._hass,
            self._periodic,
            timedelta(seconds=timings_of(self._hass).resync_interval),
            name=f"{DOMAIN} periodic resync",
        )

    @callback
    def stop(self) -> None:
        """Stop every read and timer of ours."""
        self.cancel()
        self.unknown.stop()
        for timer in (self._interval, self._retry_timer, self._quiet_timer):
            if timer is not None:
                timer()
        self._interval = self._retry_timer = self._quiet_timer = None

    @callback
    def on_connected(self) -> None:
        """Read what may have changed while the stream was down.

        Events keep line statuses and queues current: read at once. Users
        and phones (renames, new and gone items) are read too when they never
        answered in this run or are due again; else once the connection has
        lasted ``reconnect_quiet``, which a flapping connection never does.
        After an outage long enough to make the entities unavailable,
        everything is read at once: they come back showing NGUC's state,
        never one from before the outage.
        """
        quiet = timings_of(self._hass).reconnect_quiet
        self._connected_at = self._hass.loop.time()
        if quiet <= 0 or not self._health.available:
            self.read()
            return
        parts = (
            EVENT_PARTS
            | (ALL_PARTS - self._reader.ever_answered)
            | (self._due.keys() & ALL_PARTS)
        )
        self.read(parts)
        if LASTING_PARTS - parts:
            self._quiet_timer = async_call_later(
                self._hass, quiet, self._connection_lasted
            )

    @callback
    def _connection_lasted(self, _now: datetime) -> None:
        self._quiet_timer = None
        if not self._health.connected:
            return
        stale = {
            part
            for part in LASTING_PARTS
            if self._answered_at.get(part, -1.0) < self._connected_at
        }
        if stale:
            LOGGER.debug("Connection lasted; reading %s", sorted(stale))
            self.read(stale)

    @callback
    def read(
        self, parts: Collection[str] = ALL_PARTS, *, read_me: bool = False
    ) -> None:
        """Read ``parts`` now, or after the read under way.

        A list that failed is left to its own retry until its backoff ends,
        whoever asks: a reconnect or an unknown item must not make a retry
        storm of a list that keeps failing.
        """
        self._read_me |= read_me
        parts = set(parts) - self._backing_off()
        if not parts:
            return
        if self._task is not None and not self._task.done():
            self._again.update(parts)
            return
        self._task = self._entry.async_create_background_task(
            self._hass, self._async_read(frozenset(parts)), f"{DOMAIN} resync"
        )

    @callback
    def cancel(self) -> None:
        """Drop the read under way (not the one calling this) and what it held."""
        self.held = None
        self._again.clear()
        if self._quiet_timer is not None:
            self._quiet_timer()
            self._quiet_timer = None
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    @callback
    def on_update(self, update: Update, changes: Changes) -> None:
        """Take note of an event's update, applied to the data already."""
        for part, item_id in _named(update):
            # It exists: an answer that missed it before counts no more.
            self._judges[part].seen_by_event(item_id)
        if self.held is not None:
            # Applied again on the read's answer; what it names is unknown
            # only if that answer does not know it either.
            self.held[_held_key(update)] = update
            if len(self.held) > HELD_EVENTS_MAX:
                self.held.clear()
                self._held_overflow = True
        elif changes.unknown:
            self.unknown.ask_about(changes.unknown)

    async def _async_read(self, parts: frozenset[str]) -> None:
        """Read ``parts``; retry with backoff while no list at all can be read."""
        timings = timings_of(self._hass)
        backoff = Backoff(timings.resync_retry_base, timings.resync_retry_cap)
        warned = False
        read_me, self._read_me = self._read_me, False
        while True:
            self.held = {}
            self._held_overflow = False
            try:
                answers = await self._reader.async_read(parts, read_me=read_me)
            except NgucAuthError:
                self.held = None
                await self._health.async_credentials_rejected()
                return
            failures = [
                err
                for err in answers.lists.values()
                if isinstance(err, NgucError) and not isinstance(err, NgucNotFoundError)
            ]
            if (
                failures
                and len(failures) == len(answers.lists)
                and not self._health.in_sync
            ):
                # Nothing to go by: the state cannot be read at all.
                self.held = None
                delay = _retry_delay(backoff, failures[0])
                (LOGGER.debug if warned else LOGGER.warning)(
                    "Cannot read the NGUC state (%s); retrying", failures[0]
                )
                warned = True
                await asyncio.sleep(delay)
                continue
            # Reading and comparing a large company takes a few ms each: not
            # in one go. Events meanwhile are held, as during the read.
            await asyncio.sleep(0)
            if not self._held_overflow:
                break
            LOGGER.debug("Too many events during the read; reading again")
        held, self.held = self.held, None
        self._task = None
        self._apply(answers, held.values())
        if self._again:
            again, self._again = set(self._again), set()
            self.read(again)

    def _apply(self, answers: Answers, held: Iterable[Update]) -> None:
        """Replace the data by what to believe of the answers, plus the events held."""
        current = self._data()
        now = self._hass.loop.time()
        lists: dict[str, dict[str, Any]] = {}
        for part in ALL_PARTS:
            result = answers.lists.get(part)
            if result is None:  # not read this time
                lists[part] = dict(getattr(current, part))
            elif isinstance(result, NgucError):
                lists[part] = self._reader.kept(current, part)
                self._failed(part, result, now)
            else:
                self._answered_at[part] = now
                lists[part] = self._judged(part, current, answers, result, now)
        me = answers.me if isinstance(answers.me, Me) else current.me
        if isinstance(answers.me, NgucError):
            LOGGER.debug("Cannot read /user/me (%s); the last one is kept", answers.me)
        new = NgucData(me=me, **lists)
        unknown: set[str] = set()
        for update in held:
            unknown.update(new.apply(update).unknown)
            # Kept from the event itself, it changes nothing: still unknown.
            if isinstance(update, UserStatus) and update.user_id not in new.users:
                unknown.add(user_key(update.user_id))
        self._replace(new, answers.stale_check)
        self._health.synced()
        if answers.lists.keys() | self._backing_off() >= ALL_PARTS:
            self.unknown.settle(new, unknown)
        self.unknown.ask_about(unknown)
        self._schedule_retry()

    def _judged(
        self,
        part: str,
        current: NgucData,
        answers: Answers,
        result: list[Any],
        now: float,
    ) -> dict[str, Any]:
        """Return the items of a part to hold after its list answered ``result``."""
        held: dict[str, Any] = getattr(current, part)
        if part in answers.first_answers:
            # Compared with what was kept on disk, too: an empty first
            # answer after a restart must not remove every device.
            held = self._reader.store.items(part) | held
        answer = {id_of(item): item for item in result}
        delay = timings_of(self._hass).shrink_recheck_delay
        verdict = self._judges[part].judge(
            held, answer, answers.answered_at.get(part, now), delay
        )
        self._backoffs.pop(part, None)
        self._due.pop(part, None)
        if verdict.newly_doubted:
            # An item or two gone is ordinary; most of a list gone is news.
            lost_most = not answer or len(verdict.doubted) * 2 > len(held)
            (LOGGER.warning if lost_most else LOGGER.debug)(
                "NGUC's list %s lacks %d of the %d items we hold;"
                " they are kept until a second read agrees",
                PATHS[part],
                len(verdict.doubted),
                len(held),
            )
        if verdict.recheck_at is not None:
            self._due[part] = max(now, verdict.recheck_at)
        elif part in answers.first_answers and part in self._reader.store.set_aside:
            # Nothing on disk to doubt a first answer with: a second one
            # decides which devices went while Home Assistant was stopped.
            self._due[part] = now + delay
        return verdict.items

    def _backing_off(self) -> set[str]:
        """Return the lists that failed and whose retry is not due yet."""
        now = self._hass.loop.time()
        return {
            part for part in self._backoffs if self._due.get(part, now) > now + 0.01
        }

    def _failed(self, part: str, err: NgucError, now: float) -> None:
        """Read a list that failed again, with its own backoff."""
        timings = timings_of(self._hass)
        backoff = self._backoffs.get(part)
        if backoff is None:
            backoff = self._backoffs[part] = (
                Backoff(timings.missing_retry_base, timings.resync_interval)
                if isinstance(err, NgucNotFoundError)
                else Backoff(timings.resync_retry_base, timings.resync_retry_cap)
            )
        delay = _retry_delay(backoff, err)
        if isinstance(err, NgucNotFoundError):
            delay = max(timings.missing_retry_min, delay)
        self._due[part] = now + delay

    @callback
    def _schedule_retry(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer()
            self._retry_timer = None
        if self._due:
            delay = max(0.0, min(self._due.values()) - self._hass.loop.time())
            self._retry_timer = async_call_later(self._hass, delay, self._retry)

    @callback
    def _retry(self, _now: datetime) -> None:
        self._retry_timer = None
        # Otherwise the reconnect reads anyway.
        if not (self._due and self._health.in_sync and self._health.connected):
            return
        now = self._hass.loop.time()
        due = {part for part, at in self._due.items() if at <= now + 0.01}
        due = due or set(self._due)
        # Their time has come, whatever the clock says (a timer may fire early).
        self._due.update(dict.fromkeys(due, now))
        LOGGER.debug("Reading again %s", sorted(PATHS[part] for part in due))
        self.read(due)

    @callback
    def _periodic(self, _now: datetime) -> None:
        if self._health.in_sync and self._health.connected:
            LOGGER.debug("Reading the NGUC state again (hourly)")
            self.unknown.forget()
            self.read(ALL_PARTS, read_me=True)


def _retry_delay(backoff: Backoff, err: NgucError) -> float:
    """Return the backoff's next delay, at least what a 429 asked for.

    Never next to nothing, whatever the jitter draws: a fifth of the base.
    """
    delay = max(backoff.next_delay(), backoff.base / 5)
    if isinstance(err, NgucRateLimitError) and err.retry_after:
        delay = max(delay, err.retry_after)
    return delay


def _named(update: Update) -> Iterable[tuple[str, str]]:
    """Yield the (part, id) of each listed item that an event says exists."""
    if isinstance(update, UserStatus):
        yield PART_STATUSES, update.user_id
        yield PART_USERS, update.user_id
    elif isinstance(update, Queue):
        yield PART_QUEUES, update.id
    elif isinstance(update, DeviceStatus):
        yield PART_DEVICES, update.device_id
    elif isinstance(update, Cdr):
        for user_id in (update.src_user_id, update.dst_user_id):
            if user_id is not None:
                yield PART_USERS, user_id
    elif isinstance(update, QueueCdr):
        if update.queue_id is not None:
            yield PART_QUEUES, update.queue_id
        if update.user_id is not None:
            yield PART_USERS, update.user_id


def _held_key(update: Update) -> Hashable:
    """Return what an update is about: of two held updates, the later wins."""
    if isinstance(update, UserStatus):
        return (UserStatus, update.user_id)
    if isinstance(update, DeviceStatus):
        return (DeviceStatus, update.device_id)
    if isinstance(update, Queue):
        return (Queue, update.id)
    if isinstance(update, Cdr):
        # Held only for the users they name, who may be new.
        return (Cdr, update.src_user_id, update.dst_user_id)
    return (type(update), update.queue_id, update.user_id)
