"""What NGUC told us, and what each update or re-read changes of it.

Nothing here touches Home Assistant: :meth:`NgucData.apply` and
:meth:`NgucData.diff` only compare models and say which items changed, so
that the coordinator notifies those alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
import math

from .api import Cdr, Device, DeviceStatus, Me, Queue, Update, User, UserStatus
from .memberships import Membership, Memberships, members_known

__all__ = ["Membership", "members_known"]

# The kinds of item that have a device of their own; an item's key is
# "<kind>_<NGUC id>", e.g. "user_86480".
KIND_USER = "user"
KIND_DEVICE = "device"
KIND_QUEUE = "queue"
KINDS = (KIND_USER, KIND_DEVICE, KIND_QUEUE)


def callers_known(queue: Queue) -> bool:
    """Return whether a queue's waiting callers are known: listed, or truly none."""
    return bool(queue.callers) or queue.waiting == 0


def snapshot_age(received: datetime | None, now: datetime) -> int:
    """Return how many whole seconds old a queue snapshot is by ``now``.

    ``received`` is when it arrived (0 when not known). Rounded, not cut:
    a timer due a whole number of seconds after the snapshot may fire a hair
    early by the wall clock. Halves round up, not to even, so that the age
    never stands still for a second.
    """
    if received is None:
        return 0
    return max(0, math.floor((now - received).total_seconds() + 0.5))


def longest_wait_now(
    queue: Queue, received: datetime | None, now: datetime
) -> int | None:
    """Return how long the caller waiting longest in a queue has waited by ``now`` (s).

    NGUC sends a snapshot only when the queue changes: the wait is the
    snapshot's longest plus the time since it arrived (``received``). 0 when
    nobody waits; None when the callers are not known, or one of their waits
    is not (the longest may be that one). The one reckoning of the sensor,
    the ``callers_waiting`` condition and Assist's queue status.
    """
    if not callers_known(queue):
        return None
    if not queue.callers:
        return 0
    longest = 0
    for caller in queue.callers:
        if caller.wait is None:
            return None
        longest = max(longest, caller.wait)
    return longest + snapshot_age(received, now)


def user_key(user_id: str) -> str:
    """Return the key of a user (their line, their device)."""
    return f"user_{user_id}"


def device_key(device_id: str) -> str:
    """Return the key of a phone."""
    return f"device_{device_id}"


def queue_key(queue_id: str) -> str:
    """Return the key of a queue."""
    return f"queue_{queue_id}"


def split_key(key: str) -> tuple[str, str]:
    """Return the kind and the NGUC id of an item key."""
    kind, _, item_id = key.partition("_")
    return kind, item_id


def _keys(*keys: str) -> frozenset[str]:
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class Changes:
    """What an update or a re-read changed, as item keys."""

    changed: frozenset[str] = frozenset()
    """Items whose entities may show something new."""
    added: frozenset[str] = frozenset()
    """New items: their devices and entities are to be made."""
    removed: frozenset[str] = frozenset()
    """Items gone: their devices (and so their entities) are to go."""
    renamed: frozenset[str] = frozenset()
    """Items whose device shows something new (name, model, owner)."""
    unknown: frozenset[str] = frozenset()
    """Items an event named that the data does not hold."""

    def __bool__(self) -> bool:
        """Return True when anything changed or is unknown."""
        return bool(
            self.changed or self.added or self.removed or self.renamed or self.unknown
        )

    def __or__(self, other: Changes) -> Changes:
        """Return both changes in one."""
        if not other:
            return self
        if not self:
            return other
        return Changes(
            changed=self.changed | other.changed,
            added=self.added | other.added,
            removed=self.removed | other.removed,
            renamed=self.renamed | other.renamed,
            unknown=self.unknown | other.unknown,
        )

    @property
    def items_changed(self) -> bool:
        """Return True when items came, went or were renamed."""
        return bool(self.added or self.removed or self.renamed)


NO_CHANGES = Changes()


@dataclass(slots=True)
class NgucData:
    """What NGUC told us, as of the last REST read plus the events since."""

    me: Me
    users: dict[str, User] = field(default_factory=dict)
    statuses: dict[str, UserStatus] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    # Built when first asked for, then kept in step by apply(): change
    # ``queues`` through apply() only once memberships() was called.
    _memberships: Memberships | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def item_keys(self) -> set[str]:
        """Return the keys of every item that has a device in Home Assistant."""
        return (
            {user_key(i) for i in self.users}
            | {device_key(i) for i in self.devices}
            | {queue_key(i) for i in self.queues}
        )

    def has(self, key: str) -> bool:
        """Return whether the item ``key`` is known."""
        kind, item_id = split_key(key)
        if kind == KIND_USER:
            return item_id in self.users
        if kind == KIND_DEVICE:
            return item_id in self.devices
        return kind == KIND_QUEUE and item_id in self.queues

    def queues_of(self, user_id: str) -> list[Queue]:
        """Return the queues that have ``user_id`` as a member."""
        return [
            queue
            for queue in self.queues.values()
            if any(member.user_id == user_id for member in queue.members)
        ]

    def memberships(self, user_id: str) -> tuple[Membership, ...] | None:
        """Return the queues ``user_id`` is a member of; None if we cannot tell.

        We cannot tell while a queue's members are not known, or some of
        them come without their user (``pbx_user_id`` is assumed). Unchanged
        memberships are the same tuple as before.
        """
        if (index := self._memberships) is None:
            index = self._memberships = Memberships(self.queues.values())
        if index.unknown:
            return None
        return index.of(user_id)

    def apply(self, update: Update) -> Changes:
        """Apply an event's model to the data; return what it changed.

        Touches nothing but this data. An update equal to what is held
        changes nothing. Call records (``Cdr``, ``QueueCdr``) change no state;
        they may name items we do not know.
        """
        if isinstance(update, UserStatus):
            return self._apply_status(update)
        if isinstance(update, Queue):
            return self._apply_queue(update)
        if isinstance(update, DeviceStatus):
            return self._apply_device_status(update)
        if isinstance(update, Cdr):
            users = (update.src_user_id, update.dst_user_id)
            return self._unknown_users(users)
        # A QueueCdr, the last kind of update.
        unknown = self._unknown_users((update.user_id,))
        if update.queue_id is not None and update.queue_id not in self.queues:
            unknown |= Changes(unknown=_keys(queue_key(update.queue_id)))
        return unknown

    def _apply_status(self, status: UserStatus) -> Changes:
        user_id = status.user_id
        if self.statuses.get(user_id) == status:
            return NO_CHANGES
        self.statuses[user_id] = status
        key = user_key(user_id)
        if user_id in self.users:
            return Changes(changed=_keys(key))
        return Changes(unknown=_keys(key))

    def _apply_device_status(self, status: DeviceStatus) -> Changes:
        key = device_key(status.device_id)
        device = self.devices.get(status.device_id)
        if device is None:
            return Changes(unknown=_keys(key))
        owner = status.user_id or device.user_id
        if device.registered == status.registered and device.user_id == owner:
            return NO_CHANGES
        self.devices[device.id] = replace(
            device, user_id=owner, registered=status.registered
        )
        # A phone handed to another user hangs under another user's device.
        renamed = _keys(key) if owner != device.user_id else frozenset()
        return Changes(changed=_keys(key), renamed=renamed)

    def _apply_queue(self, queue: Queue) -> Changes:
        old = self.queues.get(queue.id)
        if old == queue:
            return NO_CHANGES
        self.queues[queue.id] = queue
        if self._memberships is not None:
            self._memberships.replace(old, queue)
        key = queue_key(queue.id)
        if old is None:
            # Its members are members of one more queue.
            return Changes(
                added=_keys(key), changed=_member_keys(None, queue, self.users)
            )
        return Changes(
            changed=_keys(key) | _member_keys(old, queue, self.users),
            renamed=_keys(key) if old.name != queue.name else frozenset(),
        )

    def _unknown_users(self, user_ids: Iterable[str | None]) -> Changes:
        unknown = frozenset(
            user_key(user_id)
            for user_id in user_ids
            if user_id is not None and user_id not in self.users
        )
        return Changes(unknown=unknown) if unknown else NO_CHANGES

    def diff(self, new: NgucData) -> Changes:
        """Return what replacing this data by ``new`` changes; touches neither."""
        changed: set[str] = set()
        added: set[str] = set()
        removed: set[str] = set()
        renamed: set[str] = set()
        for key, old_user, new_user in _pairs(self.users, new.users, user_key):
            if old_user is None:
                added.add(key)
            elif new_user is None:
                removed.add(key)
            else:
                if old_user != new_user:
                    renamed.add(key)
                user_id = new_user.id
                if self.statuses.get(user_id) != new.statuses.get(user_id):
                    changed.add(key)
        for key, old_device, new_device in _pairs(
            self.devices, new.devices, device_key
        ):
            if old_device is None:
                added.add(key)
            elif new_device is None:
                removed.add(key)
            elif old_device != new_device:
                changed.add(key)
                if (old_device.name, old_device.model, old_device.user_id) != (
                    new_device.name,
                    new_device.model,
                    new_device.user_id,
                ):
                    renamed.add(key)
        for key, old_queue, new_queue in _pairs(self.queues, new.queues, queue_key):
            if old_queue is None or new_queue is None:
                (added if old_queue is None else removed).add(key)
                changed.update(_member_keys(old_queue, new_queue, new.users))
            elif old_queue != new_queue:
                changed.add(key)
                changed.update(_member_keys(old_queue, new_queue, new.users))
                if old_queue.name != new_queue.name:
                    renamed.add(key)
        # New and gone items are written whole, or not at all.
        changed -= added | removed
        return Changes(
            changed=frozenset(changed),
            added=frozenset(added),
            removed=frozenset(removed),
            renamed=frozenset(renamed),
        )


def _pairs[T](
    old: Mapping[str, T], new: Mapping[str, T], key_fn: Callable[[str], str]
) -> Iterable[tuple[str, T | None, T | None]]:
    """Yield (key, old value, new value) of every id in either mapping."""
    for item_id, old_value in old.items():
        yield key_fn(item_id), old_value, new.get(item_id)
    for item_id, new_value in new.items():
        if item_id not in old:
            yield key_fn(item_id), None, new_value


def _roster(queue: Queue | None) -> dict[str, bool | None] | None:
    """Return who is a member of a queue and whether paused; None if unknown."""
    if queue is None:
        return {}
    if not members_known(queue):
        return None
    roster: dict[str, bool | None] = {}
    for member in queue.members:
        if member.user_id is None:
            return None
        roster.setdefault(member.user_id, member.paused)
    return roster


def _member_keys(
    old: Queue | None, new: Queue | None, users: Iterable[str]
) -> frozenset[str]:
    """Return the users whose queues may read differently after a queue changed.

    A user's queue entities show the queue's name and whether they are
    paused in it: those of the members that came, went or (un)paused, and of
    every member when it is renamed. A call taken or ended changes none.
    Members NGUC sends without their user make everyone's queues unknown:
    every user, when that comes or goes.
    """
    before, after = _roster(old), _roster(new)
    renamed = old is not None and new is not None and old.name != new.name
    if before == after and not renamed:
        return frozenset()
    if before is None or after is None:
        return frozenset(user_key(user_id) for user_id in users)
    if renamed:
        return frozenset(user_key(user_id) for user_id in before.keys() | after.keys())
    return frozenset(
        user_key(user_id)
        for user_id in before.keys() | after.keys()
        if before.get(user_id, _ABSENT) != after.get(user_id, _ABSENT)
    )


_ABSENT = object()
