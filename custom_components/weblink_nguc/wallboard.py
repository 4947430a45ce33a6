"""The wallboard: serve the dashboard strategy's JavaScript and load it in the frontend.

The strategy itself (``frontend/weblink-nguc-wallboard.js``) builds the
dashboard in the browser, from the devices and entities as they are when it
is opened; here it is only served, once for all entries, and named to the
frontend as an extra module so that every page loads it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components import frontend
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from .const import DOMAIN

WALLBOARD_FILE = Path(__file__).parent / "frontend" / "weblink-nguc-wallboard.js"
WALLBOARD_URL = f"/{DOMAIN}/{WALLBOARD_FILE.name}"


def _digest(path: Path) -> str:
    """Return a short digest of the file: it changes with the file, not only a release."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


async def async_setup_wallboard(hass: HomeAssistant) -> str:
    """Serve the strategy's module and have the frontend load it; return its URL.

    The file is served with cache headers (browsers keep it for a month); the
    URL the frontend is given names the integration's version and the
    file's digest, so that an update is fetched at once.
    """
    integration = await async_get_integration(hass, DOMAIN)
    digest = await hass.async_add_executor_job(_digest, WALLBOARD_FILE)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(WALLBOARD_URL, str(WALLBOARD_FILE), True)]
    )
    url = f"{WALLBOARD_URL}?v={integration.version}-{digest}"
    frontend.add_extra_js_url(hass, url)
    return url
