"""What an end-to-end test needs, as pytest marks: a real Home Assistant, Chromium.

Without ``.venv-hass`` (``script/setup`` makes it) the end-to-end tests are
skipped; without Chromium the browser tests are, unless
``E2E_REQUIRE_CHROMIUM`` is set (``.ci/run`` sets it, so CI fails instead).
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.browser import CHROMIUM
from tests.e2e.real_hass import HASS_BIN

NEEDS_HASS = pytest.mark.skipif(
    not HASS_BIN.exists(),
    reason=f"{HASS_BIN} is missing: run script/setup to create .venv-hass",
)
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("E2E_REQUIRE_CHROMIUM"),
    reason="no chromium: install Debian's (apt-get install chromium)",
)
