"""A fake clock for tests that wait for the integration's timers.

`advance` runs every event-loop timer due within ``seconds`` at once (Home
Assistant's `async_fire_time_changed`): the integration's grace periods,
backoffs and retries pass without the test sleeping through them. The loop's
own clock does not move, so the simulator's sockets go on in real time; each
call reaches only ``seconds`` ahead of now, so an hour is many calls.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed


async def advance(hass: HomeAssistant, seconds: float) -> None:
    """Run what the next ``seconds`` would run, then let it take its effect."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    # What the timers started (a connect, a read) runs on real sockets.
    for _ in range(3):
        await asyncio.sleep(0.01)
    await hass.async_block_till_done()
