"""An asyncio client for Weblink's NGUC hosted PBX: OAuth2 login, REST, events.

This package imports nothing from Home Assistant, so that it can be published
as a library of its own unchanged.
"""

from .auth import AuthTimings, NgucAuth, TokenSet
from .client import NgucClient
from .contract import DEFAULT_API_URL, DEFAULT_EVENTS_URL
from .events import NgucEventStream, StreamTimings
from .exceptions import (
    NgucAuthError,
    NgucConnectionError,
    NgucError,
    NgucNotFoundError,
    NgucRateLimitError,
    NgucResponseError,
    NgucTwoFactorError,
    NgucUnreadableListError,
)
from .models import (
    Cdr,
    Device,
    DeviceStatus,
    LineState,
    Me,
    Queue,
    QueueCaller,
    QueueCdr,
    QueueMember,
    Update,
    User,
    UserStatus,
    parse_event,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_EVENTS_URL",
    "AuthTimings",
    "Cdr",
    "Device",
    "DeviceStatus",
    "LineState",
    "Me",
    "NgucAuth",
    "NgucAuthError",
    "NgucClient",
    "NgucConnectionError",
    "NgucError",
    "NgucEventStream",
    "NgucNotFoundError",
    "NgucRateLimitError",
    "NgucResponseError",
    "NgucTwoFactorError",
    "NgucUnreadableListError",
    "Queue",
    "QueueCaller",
    "QueueCdr",
    "QueueMember",
    "StreamTimings",
    "TokenSet",
    "Update",
    "User",
    "UserStatus",
    "parse_event",
]
