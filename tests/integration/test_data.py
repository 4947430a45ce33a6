"""NgucData: what an event or a re-read changes, computed without Home Assistant."""

from __future__ import annotations

from dataclasses import replace

from custom_components.weblink_nguc.api import (
    Cdr,
    Device,
    DeviceStatus,
    LineState,
    Me,
    Queue,
    QueueCdr,
    QueueMember,
    User,
    UserStatus,
)
from custom_components.weblink_nguc.data import (
    NO_CHANGES,
    Changes,
    Membership,
    NgucData,
)
from custom_components.weblink_nguc.store import (
    devices_from_identities,
    identities,
    queues_from_identities,
    users_from_identities,
)

ME = Me(id="1", username="demo", name=None, company_id="4711", company_name="demo")


def member(user_id: str, *, paused: bool = False) -> QueueMember:
    return QueueMember(
        user_id=user_id, name=None, paused=paused, avg_call_length=None, call_guid=None
    )


def queue(queue_id: str = "501", **fields: object) -> Queue:
    base = Queue(
        id=queue_id,
        name="Support",
        waiting=0,
        member_available=1,
        member_total=1,
        wait_longest=None,
        wait_avg=None,
        service_level=None,
        service_level_time=None,
        completed=None,
        abandoned=None,
        total=None,
        talktime=None,
        holdtime=None,
        members=(member("1"),),
        callers=(),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def status(user_id: str, value: int) -> UserStatus:
    return UserStatus(user_id=user_id, status=LineState(value), status_text=None)


def data() -> NgucData:
    return NgucData(
        me=ME,
        users={
            "1": User(id="1", name="Anna", extension="101", email="a@x"),
            "2": User(id="2", name="Erik", extension="102", email="e@x"),
        },
        statuses={"1": status("1", 0), "2": status("2", 0)},
        devices={
            "9": Device(id="9", user_id="1", name="Desk", model="T54", registered=True)
        },
        queues={"501": queue()},
    )


def test_same_update_changes_nothing() -> None:
    """Each kind of state event, repeated, changes nothing."""
    state = data()
    assert state.apply(status("1", 0)) is NO_CHANGES
    assert state.apply(queue()) is NO_CHANGES
    same = DeviceStatus(device_id="9", user_id=None, registered=True)
    assert state.apply(same) is NO_CHANGES
    assert not NO_CHANGES


def test_status_change_and_unknown_user() -> None:
    state = data()
    assert state.apply(status("2", 1)) == Changes(changed=frozenset({"user_2"}))
    assert state.statuses["2"].status is LineState.IN_USE
    # A user we do not know: kept, and named as unknown.
    assert state.apply(status("7", 1)) == Changes(unknown=frozenset({"user_7"}))
    assert "7" in state.statuses


def test_device_status() -> None:
    state = data()
    off = DeviceStatus(device_id="9", user_id=None, registered=False)
    assert state.apply(off) == Changes(changed=frozenset({"device_9"}))
    assert state.devices["9"].registered is False
    assert state.devices["9"].user_id == "1"
    # Handed to another user: its device hangs elsewhere.
    moved = DeviceStatus(device_id="9", user_id="2", registered=False)
    assert state.apply(moved) == Changes(
        changed=frozenset({"device_9"}), renamed=frozenset({"device_9"})
    )
    unknown = DeviceStatus(device_id="10", user_id="2", registered=True)
    assert state.apply(unknown) == Changes(unknown=frozenset({"device_10"}))
    assert "10" not in state.devices


def test_queue_snapshots() -> None:
    state = data()
    assert state.apply(queue(waiting=2)) == Changes(changed=frozenset({"queue_501"}))
    # A new queue: its members are members of one more queue.
    assert state.apply(queue("502")) == Changes(
        added=frozenset({"queue_502"}), changed=frozenset({"user_1"})
    )
    # Renamed: its members show its new name.
    assert state.apply(queue(waiting=2, name="Hjälp")) == Changes(
        changed=frozenset({"queue_501", "user_1"}), renamed=frozenset({"queue_501"})
    )
    # Members changed: the members, old and new, may read differently.
    assert state.apply(queue(waiting=2, name="Hjälp", members=(member("2"),))) == (
        Changes(changed=frozenset({"queue_501", "user_1", "user_2"}))
    )
    assert state.queues_of("2") == [state.queues["501"]]


def test_queue_members_concern_their_users() -> None:
    """A queue snapshot tells the users whose queues read differently, no other."""
    state = data()
    on_call = replace(member("1"), call_guid="g-1")
    # A call taken changes the queue's figures, not the member's queues.
    assert state.apply(queue(members=(on_call,))) == Changes(
        changed=frozenset({"queue_501"})
    )
    assert state.memberships("1") == (Membership("501", "Support", False),)
    # Paused: that member.
    assert state.apply(queue(members=(member("1", paused=True),))) == Changes(
        changed=frozenset({"queue_501", "user_1"})
    )
    assert state.memberships("1") == (Membership("501", "Support", True),)
    assert state.memberships("2") == ()
    # A member without a user: anyone may be them; every user is unknown.
    anonymous = replace(member("1"), user_id=None)
    assert state.apply(queue(members=(anonymous,))) == Changes(
        changed=frozenset({"queue_501", "user_1", "user_2"})
    )
    assert state.memberships("2") is None
    # Agents counted but not listed: unknown too, until they are.
    assert state.apply(queue(members=(), member_total=2)) == Changes(
        changed=frozenset({"queue_501"})
    )
    assert state.memberships("1") is None
    assert state.apply(queue(members=(member("2"),))) == Changes(
        changed=frozenset({"queue_501", "user_1", "user_2"})
    )
    assert state.memberships("1") == ()
    assert state.memberships("2") == (Membership("501", "Support", False),)


def test_call_records_name_unknown_items() -> None:
    state = data()
    cdr = Cdr(
        id=None,
        call_guid=None,
        calldate=None,
        direction="IN",
        src=None,
        dst=None,
        src_user_id="2",
        dst_user_id="8",
        billsec=None,
        disposition=None,
        recording_id=None,
    )
    assert state.apply(cdr) == Changes(unknown=frozenset({"user_8"}))
    assert state.apply(replace(cdr, dst_user_id=None)) is NO_CHANGES
    qcdr = QueueCdr(
        id=None,
        call_guid=None,
        queue_id="509",
        calldate=None,
        callerid=None,
        disposition=None,
        answered_by=None,
        user_id="1",
        wait_time=None,
        talk_time=None,
    )
    assert state.apply(qcdr) == Changes(unknown=frozenset({"queue_509"}))
    assert state.apply(replace(qcdr, queue_id="501")) is NO_CHANGES


def test_diff() -> None:
    """A re-read's changes: what came, went, was renamed or shows something new."""
    old = data()
    new = data()
    assert old.diff(new) == NO_CHANGES
    new.users["2"] = replace(new.users["2"], name="Erik Ek")
    new.users["3"] = User(id="3", name="Nils", extension="110", email=None)
    new.statuses["1"] = status("1", 8)
    new.statuses["3"] = status("3", 0)
    new.devices["9"] = replace(new.devices["9"], registered=False)
    new.devices["10"] = Device(
        id="10", user_id="3", name=None, model=None, registered=None
    )
    new.queues["501"] = queue(name="Hjälp", members=(member("1", paused=True),))
    changes = old.diff(new)
    assert changes == Changes(
        changed=frozenset({"user_1", "device_9", "queue_501"}),
        added=frozenset({"user_3", "device_10"}),
        renamed=frozenset({"user_2", "queue_501"}),
    )
    assert changes.items_changed
    assert old.users["2"].name == "Erik"  # neither side touched

    gone = data()
    del gone.users["2"]
    del gone.devices["9"]
    del gone.queues["501"]
    assert old.diff(gone) == Changes(
        # User 1 is a member of one queue less.
        changed=frozenset({"user_1"}),
        removed=frozenset({"user_2", "device_9", "queue_501"}),
    )
    renamed_phone = data()
    renamed_phone.devices["9"] = replace(renamed_phone.devices["9"], name="Bord")
    assert old.diff(renamed_phone) == Changes(
        changed=frozenset({"device_9"}), renamed=frozenset({"device_9"})
    )


def test_changes_combine() -> None:
    a = Changes(changed=frozenset({"user_1"}))
    b = Changes(added=frozenset({"queue_2"}), unknown=frozenset({"user_9"}))
    assert a | NO_CHANGES is a
    assert NO_CHANGES | b is b
    assert a | b == Changes(
        changed=frozenset({"user_1"}),
        added=frozenset({"queue_2"}),
        unknown=frozenset({"user_9"}),
    )
    assert not (a | b).removed


def test_items_kept_on_disk() -> None:
    """Only the items are kept, without states or e-mail; read back with states unknown."""
    state = data()
    stored = identities(state)
    assert stored["users"][0] == {"id": "1", "name": "Anna", "extension": "101"}
    users = users_from_identities(stored)
    assert users["1"] == replace(state.users["1"], email=None)
    devices = devices_from_identities(stored)
    assert devices["9"] == replace(state.devices["9"], registered=None)
    queues = queues_from_identities(stored)
    assert queues["501"].name == "Support"
    assert queues["501"].waiting is None
    assert users_from_identities({}) == {}
