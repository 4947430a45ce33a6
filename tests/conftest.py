"""Fixtures shared by every test: the NGUC simulator on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

# Imported first so that Home Assistant's loader finds this repository's
# custom_components, not the test harness's own.
import custom_components.weblink_nguc.api  # noqa: F401
from tests.simulator import Simulator, demo_company


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
