"""Constants of the Weblink NGUC integration."""

from datetime import timedelta
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

MANUFACTURER: Final = "Weblink"

# Entities stay available this long after the event stream drops, so that a
# quick reconnect does not flap every entity.
STREAM_GRACE: Final = timedelta(seconds=30)

# The bus event that carries every NGUC event, documented or not.
EVENT_NGUC: Final = f"{DOMAIN}_event"
