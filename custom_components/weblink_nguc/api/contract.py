"""NGUC's wire contract: every endpoint path and payload field name in one place.

Items marked ``ASSUMED`` are not in Weblink's documentation; they are our best
reading of third-party code and of the event payloads. When the real API
differs, this is the one module to edit.
"""

from typing import Final

DEFAULT_API_URL: Final = "https://api-nguc.weblink.se"
DEFAULT_EVENTS_URL: Final = "wss://event-nguc.weblink.se"

# --- Authentication (documented: /documentation/authentication) -------------
TOKEN_PATH: Final = "/oauth2/user-credentials"
CLIENT_ID_PREFIX: Final = "external."
GRANT_PASSWORD: Final = "password"
# ASSUMED: refresh is the standard OAuth2 refresh grant on the same endpoint.
GRANT_REFRESH: Final = "refresh_token"
# ASSUMED: names of the fields in the 200 body.
TOKEN_ACCESS: Final = "access_token"
TOKEN_REFRESH: Final = "refresh_token"
TOKEN_EXPIRES_IN: Final = "expires_in"
# ASSUMED: errors are answered the standard OAuth2 way (RFC 6749 5.2), and a
# refresh grant with a dead refresh token gets 400 {"error": "invalid_grant"}
# (the documentation names only 401 and 402, for the password grant).
OAUTH_ERROR: Final = "error"
OAUTH_INVALID_GRANT: Final = "invalid_grant"

# --- REST seed endpoints (ASSUMED paths and shapes) ---------------------------
PATH_ME: Final = "/user/me"  # ASSUMED
PATH_USERS: Final = "/company/user"  # ASSUMED
PATH_USER_STATUSES: Final = "/company/user/status"  # ASSUMED
PATH_QUEUES: Final = "/company/queue"  # ASSUMED
PATH_DEVICES: Final = "/company/device"  # ASSUMED

# --- Actions (ASSUMED: seen in a public NGUC client, not documented) -----------
# POST, form-encoded, empty body: answers a waiting caller on the phone of the
# logged-in user. A 404 means the queue or the caller is gone.
PATH_QUEUE_CALLER_PICKUP: Final = "/queue/{queue_id}/caller/{call_guid}/pickup"

# --- Event pusher (documented: /documentation/events) --------------------------
AUTHENTICATE: Final = "authenticate"
AUTHORIZATION: Final = "authorization"
# ASSUMED: the codes of a ``c[code,"reason"]`` or websocket close that mean
# "your token was rejected". Empty until someone sees them: for now, only a
# close soon after ``authenticate`` (events.REJECT_WITHIN), before the server's
# first ``h`` or ``a`` (or, past the auth grace, a websocket ping), counts as a
# rejection. ASSUMED with it: the pusher refuses a token by closing at once.
REJECT_CLOSE_CODES: Final[frozenset[int]] = frozenset()

# Documented event names.
EVENT_USER_STATUS: Final = "UserStatus"
EVENT_QUEUE: Final = "Queue"
EVENT_CDR: Final = "Cdr"
EVENT_QUEUE_CDR: Final = "QueueCdr"
# ASSUMED: a phone's registration.
EVENT_DEVICE_STATUS: Final = "DeviceStatus"

# --- Payload field names -------------------------------------------------------
# /user/me (ASSUMED).
ME_ID: Final = "id"
ME_USERNAME: Final = "username"
ME_NAME: Final = "name"
ME_COMPANY_ID: Final = "company_id"
ME_COMPANY_NAME: Final = "company_name"

# /company/user (ASSUMED).
USER_ID: Final = "id"
USER_NAME: Final = "name"
USER_EXTENSION: Final = "extension"
USER_EMAIL: Final = "email"

# UserStatus (documented).
STATUS_USER_ID: Final = "pbx_user_id"
STATUS_VALUE: Final = "status"
STATUS_TEXT: Final = "status_text"

# DeviceStatus and /company/device (ASSUMED).
DEVICE_ID: Final = "id"
DEVICE_EVENT_ID: Final = "pbx_device_id"
DEVICE_USER_ID: Final = "pbx_user_id"
DEVICE_NAME: Final = "name"
DEVICE_MODEL: Final = "model"
DEVICE_STATUS: Final = "status"
DEVICE_STATUS_TEXT: Final = "status_text"

# Queue (documented, except where marked).
QUEUE: Final = "queue"
QUEUE_MEMBERS: Final = "members"
QUEUE_CALLERS: Final = "callers"
QUEUE_ID: Final = "id"
QUEUE_NAME: Final = "name"
QUEUE_WAITING: Final = "waiting"
QUEUE_MEMBER_AVAILABLE: Final = "member_available"
QUEUE_MEMBER_TOTAL: Final = "member_total"
QUEUE_WAIT_LONGEST: Final = "wait_longest"
QUEUE_WAIT_AVG: Final = "wait_avg"
QUEUE_SERVICE_LEVEL: Final = "service_level"
QUEUE_SERVICE_LEVEL_TIME: Final = "service_level_time"
QUEUE_COMPLETED: Final = "completed"
QUEUE_ABANDONED: Final = "abandoned"
QUEUE_TOTAL: Final = "total"
QUEUE_TALKTIME: Final = "talktime"
QUEUE_HOLDTIME: Final = "holdtime"
MEMBER_AVG_CALL_LENGTH: Final = "avg_call_length"
MEMBER_CALL_GUID: Final = "call_guid"
MEMBER_USER_ID: Final = "pbx_user_id"  # ASSUMED
MEMBER_NAME: Final = "name"  # ASSUMED
MEMBER_PAUSED: Final = "paused"  # ASSUMED
CALLER_CALL_GUID: Final = "call_guid"  # ASSUMED
CALLER_QUEUE_ID: Final = "pbx_queue_id"  # ASSUMED
CALLER_ID: Final = "callerid"  # ASSUMED
CALLER_WAIT: Final = "wait"  # ASSUMED
CALLER_POSITION: Final = "position"  # ASSUMED

# Cdr (documented).
CDR_ID: Final = "id"
CDR_CALL_GUID: Final = "call_guid"
CDR_CALLDATE: Final = "calldate"
CDR_DIRECTION: Final = "direction"
CDR_SRC: Final = "src"
CDR_DST: Final = "dst"
CDR_SRC_USER_ID: Final = "src_pbx_user_id"
CDR_DST_USER_ID: Final = "dst_pbx_user_id"
CDR_BILLSEC: Final = "billsec"
CDR_DISPOSITION: Final = "disposition"
CDR_RECORDING_ID: Final = "pbx_recording_id"
DIRECTION_IN: Final = "IN"
DIRECTION_OUT: Final = "OUT"
DISPOSITION_ANSWER: Final = "ANSWER"
DISPOSITION_NO_ANSWER: Final = "NO ANSWER"
DISPOSITION_BUSY: Final = "BUSY"
DISPOSITION_CANCEL: Final = "CANCEL"
DISPOSITION_INVALID: Final = "INVALID"

# QueueCdr (documented).
QCDR_ID: Final = "id"
QCDR_CALL_GUID: Final = "call_guid"
# The field is documented; ASSUMED: that it holds the same id as the Queue
# event's ``queue.id`` (Asterisk's queue id might be a name instead).
QCDR_QUEUE_ID: Final = "ast_queue_id"
QCDR_CALLDATE: Final = "calldate"
QCDR_CALLERID: Final = "callerid"
QCDR_E164_SRC: Final = "e164_src"
QCDR_DISPOSITION: Final = "disposition"
QCDR_ANSWERED_BY: Final = "answered_by"
QCDR_USER_ID: Final = "pbx_user_id"
QCDR_WAIT_TIME: Final = "wait_time"
QCDR_TALK_TIME: Final = "talk_time"
QCDR_REASON: Final = "reason"
# ASSUMED: the values of ``reason`` are Asterisk's queue_log events; these
# say an agent was rung without answering while the caller still waits.
QREASONS_RING: Final = frozenset({"RINGNOANSWER", "RINGCANCELED", "RINGNOTAVAIL"})
QDISPOSITION_ANSWERED: Final = "ANSWERED"
QDISPOSITION_NOANSWERED: Final = "NOANSWERED"
QDISPOSITION_TRANSFER: Final = "TRANSFER"
