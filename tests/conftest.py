"""Fixtures shared by every test: the NGUC simulator on a loopback port.

Also the order tests start in: the slowest first, so that the parallel
workers of ``script/test`` (pytest-xdist, one test handed out at a time)
finish together instead of one worker starting a two-minute test last.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

# Imported first so that Home Assistant's loader finds this repository's
# custom_components, not the test harness's own.
import custom_components.weblink_nguc.api  # noqa: F401
from tests.simulator import Simulator, demo_company

# Modules whose tests take longest (seconds in all, measured on the CI's
# kind of machine with four workers); the rest keep pytest's order after them.
SLOW_MODULES = {
    "tests/e2e/test_real_hass_seams.py": 94,
    "tests/e2e/test_real_hass_reliability.py": 92,
    "tests/e2e/test_first_hour.py": 90,
    "tests/e2e/test_real_hass_bad_day.py": 84,
    "tests/e2e/test_real_hass.py": 38,
    "tests/e2e/test_real_hass_scale.py": 26,
    "tests/stateful/test_whole.py": 21,
    "tests/e2e/test_tile_names.py": 17,
    "tests/e2e/test_real_hass_conditions.py": 16,
    "tests/e2e/test_real_hass_assist.py": 15,
    "tests/e2e/test_real_hass_trigger.py": 12,
    "tests/e2e/test_wallboard.py": 12,
    "tests/e2e/test_real_hass_followup.py": 10,
    "tests/api/test_npm_sockjs.py": 12,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slowest modules first, the longest of their tests first."""

    def weight(item: pytest.Item) -> float:
        module = item.nodeid.split("::", 1)[0]
        return SLOW_MODULES.get(module, 0.0)

    # A stable sort: within a module, and for the rest, pytest's own order.
    items.sort(key=weight, reverse=True)


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Run the simulator with the demo company on 127.0.0.1.

    The test harness blocks sockets; ``socket_enabled`` lifts that, and the
    harness still allows connections to 127.0.0.1 only.
    """
    sim = Simulator(demo_company())
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
