"""In-memory model of an NGUC company: the single source of truth for REST and events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import itertools
import random
from typing import Any

# Line status bits (Asterisk device state style) and their NGUC texts.
STATUS_TEXTS: dict[int, str] = {
    0: "Idle",
    1: "InUse",
    4: "Unavailable",
    8: "Ringing",
    9: "InUse&Ringing",
}
_STATUS_FLAGS: tuple[tuple[int, str], ...] = (
    (1, "InUse"),
    (2, "Busy"),
    (4, "Unavailable"),
    (8, "Ringing"),
    (16, "OnHold"),
)
DEVICE_STATUS_TEXTS: dict[int, str] = {0: "Unregistered", 1: "Registered"}


def status_text(status: int) -> str:
    """Return the NGUC text of a line status bit field."""
    if status in STATUS_TEXTS:
        return STATUS_TEXTS[status]
    parts = [text for bit, text in _STATUS_FLAGS if status & bit]
    unknown = status & ~sum(bit for bit, _ in _STATUS_FLAGS)
    if unknown or not parts:
        parts.append(f"Unknown({status})")
    return "&".join(parts)


def device_status_text(status: int) -> str:
    """Return the text of a phone registration status."""
    return DEVICE_STATUS_TEXTS.get(status, f"Unknown({status})")


def wire_int(value: Any) -> int:
    """Parse a number as NGUC sends it (a JSON string, or a number); ValueError if not one."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return int(float(value))
    raise ValueError(f"not a number: {value!r}")


def _opt_str(value: Any) -> str | None:
    return None if value is None or value is False else str(value)


@dataclass
class User:
    """A PBX user of the company."""

    id: str
    name: str
    extension: str
    email: str

    def to_wire(self) -> dict[str, Any]:
        """Return the `/company/user` item."""
        return {
            "id": self.id,
            "name": self.name,
            "extension": self.extension,
            "email": self.email,
        }


@dataclass
class Device:
    """A phone (SIP device) belonging to a user."""

    id: str
    pbx_user_id: str
    name: str
    model: str
    status: int = 1

    @property
    def status_text(self) -> str:
        """Registration status as text."""
        return device_status_text(self.status)

    def to_wire(self) -> dict[str, Any]:
        """Return the `/company/device` item."""
        return {
            "id": self.id,
            "pbx_user_id": self.pbx_user_id,
            "name": self.name,
            "model": self.model,
            "status": str(self.status),
            "status_text": self.status_text,
        }

    def event_payload(self) -> dict[str, Any]:
        """Return the `DeviceStatus` event payload."""
        return {
            "pbx_device_id": self.id,
            "pbx_user_id": self.pbx_user_id,
            "status": str(self.status),
            "status_text": self.status_text,
        }


@dataclass
class QueueMember:
    """An agent in a queue."""

    pbx_user_id: str
    name: str
    paused: bool = False
    avg_call_length: int = 0
    call_guid: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the `members[]` item."""
        return {
            "pbx_user_id": self.pbx_user_id,
            "name": self.name,
            "paused": "1" if self.paused else "0",
            "avg_call_length": str(self.avg_call_length),
            "call_guid": self.call_guid,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> QueueMember:
        """Parse a `members[]` item."""
        paused = data.get("paused", "0")
        return cls(
            pbx_user_id=str(data.get("pbx_user_id", "")),
            name=str(data.get("name", "")),
            paused=paused not in ("0", 0, False, None, ""),
            avg_call_length=wire_int(data.get("avg_call_length", "0")),
            call_guid=_opt_str(data.get("call_guid")),
        )


@dataclass
class QueueCaller:
    """A call waiting in a queue."""

    call_guid: str
    pbx_queue_id: str
    callerid: str
    wait: int = 0
    position: int = 1

    def to_wire(self) -> dict[str, Any]:
        """Return the `callers[]` item."""
        return {
            "call_guid": self.call_guid,
            "pbx_queue_id": self.pbx_queue_id,
            "callerid": self.callerid,
            "wait": str(self.wait),
            "position": str(self.position),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> QueueCaller:
        """Parse a `callers[]` item."""
        return cls(
            call_guid=str(data.get("call_guid", "")),
            pbx_queue_id=str(data.get("pbx_queue_id", "")),
            callerid=str(data.get("callerid", "")),
            wait=wire_int(data.get("wait", "0")),
            position=wire_int(data.get("position", "1")),
        )


# The numeric fields of the `queue` object, in wire order.
QUEUE_NUMBER_FIELDS: tuple[str, ...] = (
    "waiting",
    "member_available",
    "member_total",
    "wait_longest",
    "wait_avg",
    "service_level",
    "service_level_time",
    "completed",
    "abandoned",
    "total",
    "talktime",
    "holdtime",
)


@dataclass
class Queue:
    """A call queue with today's statistics, its members and waiting callers."""

    id: str
    name: str
    waiting: int = 0
    member_available: int = 0
    member_total: int = 0
    wait_longest: int = 0
    wait_avg: int = 0
    service_level: int = 100
    service_level_time: int = 60
    completed: int = 0
    abandoned: int = 0
    total: int = 0
    talktime: int = 0
    holdtime: int = 0
    members: list[QueueMember] = field(default_factory=list)
    callers: list[QueueCaller] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """Return the `Queue` event payload (also the `/company/queue` item)."""
        queue: dict[str, Any] = {"id": self.id, "name": self.name}
        for name in QUEUE_NUMBER_FIELDS:
            queue[name] = str(getattr(self, name))
        return {
            "queue": queue,
            "members": [member.to_wire() for member in self.members],
            "callers": [caller.to_wire() for caller in self.callers],
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Queue:
        """Parse a `Queue` snapshot; ValueError/TypeError/KeyError when malformed."""
        info = data["queue"]
        queue = cls(
            id=str(info["id"]),
            name=str(info.get("name", "")),
            members=[QueueMember.from_wire(m) for m in data.get("members") or []],
            callers=[QueueCaller.from_wire(c) for c in data.get("callers") or []],
        )
        for name in QUEUE_NUMBER_FIELDS:
            if name in info:
                setattr(queue, name, wire_int(info[name]))
        return queue

    def recount(self, statuses: Mapping[str, int] | None = None) -> None:
        """Derive `waiting`, `member_total` and `member_available` from the lists."""
        for position, caller in enumerate(self.callers, start=1):
            caller.position = position
        self.waiting = len(self.callers)
        self.member_total = len(self.members)
        self.member_available = sum(
            1
            for m in self.members
            if not m.paused
            and m.call_guid is None
            and (statuses is None or statuses.get(m.pbx_user_id, 0) == 0)
        )


@dataclass
class Account:
    """Login credentials of one PBX user."""

    username: str
    password: str
    pbx_user_id: str
    tfa_code: str | None = None


@dataclass
class Company:
    """A company on NGUC: everything one account may see."""

    id: str
    name: str
    users: dict[str, User] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    # --- construction helpers -------------------------------------------------------

    def add_user(self, user: User, status: int = 0) -> User:
        """Add a user with an initial line status."""
        self.users[user.id] = user
        self.statuses[user.id] = status
        return user

    def add_device(self, device: Device) -> Device:
        """Add a phone."""
        self.devices[device.id] = device
        return device

    def add_queue(self, queue: Queue) -> Queue:
        """Add a queue (its derived counts are recomputed)."""
        queue.recount(self.statuses)
        self.queues[queue.id] = queue
        return queue

    def add_account(self, account: Account) -> Account:
        """Add login credentials."""
        self.accounts[account.username] = account
        return account

    def next_id(self) -> int:
        """Return a fresh sequence number (CDR ids, call guids)."""
        return next(self._ids)

    # --- changes made behind the client's back (no event is pushed) -------------------

    def new_item_id(self, kind: str) -> str:
        """Return an id that no user, phone or queue (`kind`) of the company has."""
        existing: Mapping[str, object]
        if kind == "user":
            existing = self.users
        elif kind == "device":
            existing = self.devices
        else:
            existing = self.queues
        start = {"user": 86500, "device": 9100, "queue": 600}[kind]
        numbers = [int(i) for i in existing if i.isdigit()]
        return str(max([start - 1, *numbers]) + 1)

    def remove_user(self, user_id: str) -> None:
        """Remove a user with their line, their phones and their queue memberships."""
        del self.users[user_id]
        self.statuses.pop(user_id, None)
        for device_id in [
            d.id for d in self.devices.values() if d.pbx_user_id == user_id
        ]:
            del self.devices[device_id]
        for queue in self.queues.values():
            queue.members = [m for m in queue.members if m.pbx_user_id != user_id]
            queue.recount(self.statuses)
        for account in [a for a in self.accounts.values() if a.pbx_user_id == user_id]:
            del self.accounts[account.username]

    def rename_user(self, user_id: str, name: str) -> None:
        """Rename a user (their queue memberships carry the name too)."""
        self.users[user_id].name = name
        for queue in self.queues.values():
            for member in queue.members:
                if member.pbx_user_id == user_id:
                    member.name = name

    def remove_device(self, device_id: str) -> None:
        """Remove a phone."""
        del self.devices[device_id]

    def rename_device(
        self, device_id: str, name: str, model: str | None = None
    ) -> None:
        """Rename a phone; give it another model too when `model` is set."""
        device = self.devices[device_id]
        device.name = name
        if model is not None:
            device.model = model

    def remove_queue(self, queue_id: str) -> None:
        """Remove a queue."""
        del self.queues[queue_id]

    def rename_queue(self, queue_id: str, name: str) -> None:
        """Rename a queue."""
        self.queues[queue_id].name = name

    def set_status(self, user_id: str, status: int) -> None:
        """Change a user's line status (and the availability of their queues)."""
        self.statuses[user_id] = status
        for queue in self.queues.values():
            if any(m.pbx_user_id == user_id for m in queue.members):
                queue.recount(self.statuses)

    def scramble(self, rng: random.Random) -> dict[str, int]:
        """Change everything at once, as NGUC may between two connections.

        Users, phones and queues are added, removed and renamed, and line,
        phone and queue figures change. The account users stay, so that one
        can still log in. Returns how many of each change were made.
        """
        done: Counter[str] = Counter()
        keep = {a.pbx_user_id for a in self.accounts.values()}
        tag = self.next_id()
        for user_id in list(self.users):
            if user_id in keep:
                continue
            roll = rng.random()
            if roll < 0.25:
                self.remove_user(user_id)
                done["users_removed"] += 1
            elif roll < 0.5:
                self.rename_user(user_id, f"{self.users[user_id].name} {tag}")
                done["users_renamed"] += 1
        for _ in range(rng.randint(1, 2)):
            user_id = self.new_item_id("user")
            self.add_user(
                User(user_id, f"Ny Användare {user_id}", user_id[-3:], ""),
                rng.choice((0, 1, 4)),
            )
            device_id = self.new_item_id("device")
            self.add_device(
                Device(device_id, user_id, f"Telefon {device_id}", "Snom D785")
            )
            done["users_added"] += 1
            done["phones_added"] += 1
        for device_id in list(self.devices):
            roll = rng.random()
            if roll < 0.15:
                self.remove_device(device_id)
                done["phones_removed"] += 1
            elif roll < 0.4:
                self.rename_device(
                    device_id, f"{self.devices[device_id].name} {tag}", f"Model {tag}"
                )
                done["phones_renamed"] += 1
            elif roll < 0.7:
                self.devices[device_id].status ^= 1
                done["phones_changed"] += 1
        for queue_id in list(self.queues):
            roll = rng.random()
            if roll < 0.2 and len(self.queues) > 1:
                self.remove_queue(queue_id)
                done["queues_removed"] += 1
                continue
            queue = self.queues[queue_id]
            if roll < 0.5:
                self.rename_queue(queue_id, f"{queue.name} {tag}")
                done["queues_renamed"] += 1
            queue.completed += rng.randint(0, 5)
            queue.abandoned += rng.randint(0, 2)
            queue.total = queue.completed + queue.abandoned
            queue.wait_longest = rng.randint(0, 300)
            queue.service_level = rng.randint(50, 100)
            done["queues_changed"] += 1
        queue_id = self.new_item_id("queue")
        members = [
            QueueMember(user_id, user.name) for user_id, user in self.users.items()
        ][:3]
        self.add_queue(Queue(id=queue_id, name=f"Kö {queue_id}", members=members))
        done["queues_added"] += 1
        for user_id in list(self.statuses):
            if rng.random() < 0.5:
                self.set_status(user_id, rng.choice((0, 1, 4, 8, 9)))
                done["statuses_changed"] += 1
        for queue in self.queues.values():
            queue.recount(self.statuses)
        return dict(done)

    def new_call_guid(self) -> str:
        """Return a fresh call id in Asterisk `linkedid` style."""
        return f"{int(datetime.now(UTC).timestamp())}.{self.next_id()}"

    # --- wire shapes ------------------------------------------------------------------

    def user_status_payload(self, user_id: str) -> dict[str, Any]:
        """Return the `UserStatus` payload (also a `/company/user/status` item)."""
        status = self.statuses.get(user_id, 0)
        return {
            "pbx_user_id": user_id,
            "status": str(status),
            "status_text": status_text(status),
        }

    def me(self, account: Account) -> dict[str, Any]:
        """Return the `/user/me` body for an account."""
        user = self.users.get(account.pbx_user_id)
        return {
            "id": account.pbx_user_id,
            "username": account.username,
            "name": user.name if user else account.username,
            "company_id": self.id,
            "company_name": self.name,
        }

    def rest_users(self) -> list[dict[str, Any]]:
        """Return the `/company/user` body."""
        return [user.to_wire() for user in self.users.values()]

    def rest_statuses(self) -> list[dict[str, Any]]:
        """Return the `/company/user/status` body."""
        return [self.user_status_payload(user_id) for user_id in self.statuses]

    def rest_queues(self) -> list[dict[str, Any]]:
        """Return the `/company/queue` body."""
        return [queue.to_wire() for queue in self.queues.values()]

    def rest_devices(self) -> list[dict[str, Any]]:
        """Return the `/company/device` body."""
        return [device.to_wire() for device in self.devices.values()]

    # --- events -----------------------------------------------------------------------

    def apply_event(self, name: str, payload: Any) -> bool:
        """Update the model from one event; False when it changes nothing (or is malformed)."""
        try:
            if name == "UserStatus":
                self.statuses[str(payload["pbx_user_id"])] = wire_int(payload["status"])
                return True
            if name == "DeviceStatus":
                device_id = str(payload["pbx_device_id"])
                status = wire_int(payload["status"])
                device = self.devices.get(device_id)
                if device is None:
                    user_id = str(payload.get("pbx_user_id", ""))
                    device = self.add_device(
                        Device(device_id, user_id, f"Device {device_id}", "")
                    )
                device.status = status
                if payload.get("pbx_user_id") is not None:
                    device.pbx_user_id = str(payload["pbx_user_id"])
                return True
            if name == "Queue":
                queue = Queue.from_wire(payload)
                self.queues[queue.id] = queue
                return True
        except KeyError, TypeError, ValueError, AttributeError:
            return False
        return False

    # --- call records -----------------------------------------------------------------

    def cdr(
        self,
        user_id: str,
        *,
        direction: str = "IN",
        remote: str = "+46701234567",
        billsec: int = 0,
        disposition: str = "ANSWER",
        call_guid: str | None = None,
        recording_id: str | None = None,
    ) -> dict[str, Any]:
        """Return a `Cdr` payload for a call of `user_id` with an outside number."""
        user = self.users.get(user_id)
        extension = user.extension if user else user_id
        incoming = direction == "IN"
        return {
            "id": str(self.next_id()),
            "call_guid": call_guid or self.new_call_guid(),
            "calldate": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "direction": direction,
            "src": remote if incoming else extension,
            "dst": extension if incoming else remote,
            "src_pbx_user_id": None if incoming else user_id,
            "dst_pbx_user_id": user_id if incoming else None,
            "remote_pbx_contact_id": None,
            "billsec": str(billsec),
            "disposition": disposition,
            "pbx_recording_id": recording_id if recording_id is not None else False,
        }

    def queue_cdr(
        self,
        queue_id: str,
        *,
        call_guid: str,
        callerid: str,
        disposition: str,
        agent_id: str | None = None,
        wait_time: int = 0,
        talk_time: int = 0,
        reason: str = "",
        did: str = "0812345600",
    ) -> dict[str, Any]:
        """Return a `QueueCdr` payload for one step of a queued call."""
        agent = self.users.get(agent_id) if agent_id else None
        return {
            "id": str(self.next_id()),
            "call_guid": call_guid,
            "ast_queue_id": queue_id,
            "calldate": datetime.now(UTC).isoformat(timespec="seconds"),
            "callerid": callerid,
            "did": did,
            "e164_src": _e164(callerid),
            "e164_did": _e164(did),
            "disposition": disposition,
            "answered_by": agent.name if agent else None,
            "pbx_user_id": agent_id,
            "wait_time": str(wait_time),
            "talk_time": str(talk_time),
            "reason": reason,
            "handled": "1" if disposition == "ANSWERED" else "0",
        }


def _e164(number: str) -> str:
    """Swedish national number to E.164 (best effort)."""
    if number.startswith("+"):
        return number
    if number.startswith("0"):
        return "+46" + number[1:]
    return number


def demo_company(company_id: str = "4711", company_name: str = "demo") -> Company:
    """Return the demo company: 4 users with phones, 2 queues, accounts demo/demo and secure/secure (2FA 123456).

    Another `company_id` and `company_name` make a second company of the same shape.
    """
    company = Company(id=company_id, name=company_name)
    people = [
        ("86480", "Anna Lindqvist", "101", "Yealink T54W", 0),
        ("86481", "Erik Johansson", "102", "Yealink T46U", 0),
        ("86482", "Maja Karlsson", "103", "Snom D785", 4),
        ("86483", "Lars Öberg", "104", "Yealink W73P", 0),
    ]
    for number, (user_id, name, extension, model, status) in enumerate(people, start=1):
        first = name.split()[0]
        email = f"{first.lower()}@demo.example".replace("ö", "o")
        company.add_user(User(user_id, name, extension, email), status)
        company.add_device(
            Device(str(9000 + number), user_id, f"{first} bordstelefon", model)
        )
    # A softphone that is not running: a second device for Anna, unregistered.
    company.add_device(Device("9005", "86480", "Anna mobilapp", "NGUC App", status=0))

    support = Queue(
        id="501",
        name="Support",
        wait_longest=95,
        wait_avg=32,
        service_level=92,
        service_level_time=60,
        completed=12,
        abandoned=1,
        total=13,
        talktime=2710,
        holdtime=420,
        members=[
            QueueMember("86480", "Anna Lindqvist", avg_call_length=184),
            QueueMember("86481", "Erik Johansson", avg_call_length=241),
            QueueMember("86482", "Maja Karlsson", paused=True, avg_call_length=203),
        ],
    )
    sales = Queue(
        id="502",
        name="Sales",
        wait_longest=40,
        wait_avg=18,
        service_level=100,
        service_level_time=30,
        completed=5,
        total=5,
        talktime=1530,
        holdtime=90,
        members=[
            QueueMember("86481", "Erik Johansson", avg_call_length=310),
            QueueMember("86483", "Lars Öberg", avg_call_length=276),
        ],
    )
    company.add_queue(support)
    company.add_queue(sales)

    company.add_account(Account("demo", "demo", "86480"))
    company.add_account(Account("secure", "secure", "86481", tfa_code="123456"))
    return company
