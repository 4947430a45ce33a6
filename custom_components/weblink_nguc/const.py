"""Constants of the Weblink NGUC integration."""

import logging
from typing import Final

DOMAIN: Final = "weblink_nguc"
LOGGER = logging.getLogger(__package__)

CONF_COMPANY: Final = "company"
CONF_API_URL: Final = "api_url"
CONF_EVENTS_URL: Final = "events_url"
CONF_ADVANCED: Final = "advanced"
CONF_CODE: Final = "code"
CONF_TOKEN: Final = "token"  # noqa: S105 - a key, not a secret
# The NGUC id of the account's user, to tell a reauthentication with another
# user of the same company (the entry's unique id) from the same user.
CONF_USER_ID: Final = "user_id"

MANUFACTURER: Final = "Weblink"

# After this many connections in a row that the event pusher rejected with a
# freshly issued token, a repair issue says the account may lack the right.
STREAM_REJECTED_ISSUE_AFTER: Final = 3

# Repair issues (translation keys).
ISSUE_MISSING_ENDPOINT: Final = "missing_endpoint"
ISSUE_LIST_FAILING: Final = "list_failing"
ISSUE_LIST_FORBIDDEN: Final = "list_forbidden"
ISSUE_LIST_UNREADABLE: Final = "list_unreadable"
ISSUE_STREAM_REJECTED: Final = "stream_rejected"
ISSUE_DUPLICATE_COMPANY: Final = "duplicate_company"
ISSUE_ENTITY_LIMIT: Final = "entity_limit"
# In a fixable issue's data: the entry its fix flow acts on.
ISSUE_DATA_ENTRY_ID: Final = "entry_id"

# The bus event that carries every NGUC event, documented or not.
EVENT_NGUC: Final = f"{DOMAIN}_event"
