"""Benchmark of the per-event hot path; prints its figures, asserts nothing.

1. Decoding: one SockJS frame to (event name, typed model), per event.
2. The client over a real loopback websocket: the simulator pushes events as
   fast as it can, the client delivers them; events per second.
3. Home Assistant: the coordinator's per-event path with the integration set
   up against the simulator; time per event, entity states written per event,
   and memory growth over many events (every buffer must be bounded).

Run with ``script/bench``.
"""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path
import sys
import time
import tracemalloc
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from custom_components.weblink_nguc.api import NgucClient, UserStatus
from custom_components.weblink_nguc.api.sockjs import (
    decode_element,
    parse_frame,
)
from tests.simulator import Simulator, demo_company

USERS = ("86480", "86481", "86482", "86483")


def _status(i: int) -> dict[str, str]:
    status = (0, 1, 8, 9)[(i // 4) % 4]
    return {"pbx_user_id": USERS[i % 4], "status": str(status), "status_text": "x"}


def bench_decode(n: int = 200_000) -> None:
    """Frame text to typed models."""
    for batch in (1, 10):
        frame = "a" + json.dumps(
            [json.dumps(["UserStatus", _status(i)]) for i in range(batch)]
        )
        start = time.perf_counter()
        for _ in range(n // batch):
            for element in parse_frame(frame).messages:
                _name, payload = decode_element(element)
                UserStatus.from_api(payload)
        elapsed = time.perf_counter() - start
        print(
            f"decode      {batch:>2} event(s)/frame: {elapsed / n * 1e6:6.2f} µs/event"
        )


async def bench_client(n: int = 20_000, batch: int = 20) -> None:
    """Events delivered per second over a loopback websocket."""
    sim = Simulator(demo_company())
    await sim.start()
    received = 0
    done = asyncio.Event()

    def on_event(_name: str, _payload: Any) -> None:
        nonlocal received
        received += 1
        if received >= n:
            done.set()

    async with aiohttp.ClientSession() as session:
        client = NgucClient(
            session,
            company="demo",
            username="demo",
            password="demo",
            api_url=sim.api_url,
            events_url=sim.events_url,
        )
        stream = client.event_stream(on_event)
        stream._auth_grace = 0.05  # noqa: SLF001 - the bench need not wait 3 s
        runner = asyncio.create_task(stream.run())
        await sim.wait_for_authenticated(1)
        events = [("UserStatus", _status(i)) for i in range(n)]
        start = time.perf_counter()
        for i in range(0, n, batch):
            await sim.push_events(events[i : i + batch], apply=False)
        await done.wait()
        elapsed = time.perf_counter() - start
        await stream.stop()
        runner.cancel()
    await sim.stop()
    print(
        f"client      loopback, {batch}/frame: {n / elapsed:8.0f} events/s "
        "(simulator and client share one core)"
    )


async def bench_home_assistant(n: int = 20_000) -> None:
    """Measure the coordinator's per-event path inside a real Home Assistant."""
    from homeassistant import loader  # noqa: PLC0415
    from homeassistant.const import EVENT_STATE_CHANGED  # noqa: PLC0415
    from homeassistant.core import Event, callback  # noqa: PLC0415
    from homeassistant.setup import async_setup_component  # noqa: PLC0415
    from pytest_homeassistant_custom_component.common import (  # noqa: PLC0415
        MockConfigEntry,
        async_test_home_assistant,
    )

    from custom_components.weblink_nguc.api import events  # noqa: PLC0415

    events.AUTH_GRACE = 0.05
    sim = Simulator(demo_company())
    await sim.start()
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        # The shared aiohttp session asks the network component for addresses.
        await async_setup_component(hass, "network", {})
        entry = MockConfigEntry(
            domain="weblink_nguc",
            title="demo",
            unique_id="4711_86480",
            data={
                "company": "demo",
                "username": "demo",
                "password": "demo",
                "api_url": sim.api_url,
                "events_url": sim.events_url,
            },
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        coordinator = entry.runtime_data
        while not coordinator.in_sync:
            await asyncio.sleep(0.02)
        writes = 0

        @callback
        def count(_event: Event[Any]) -> None:
            nonlocal writes
            writes += 1

        hass.bus.async_listen(EVENT_STATE_CHANGED, count)
        payloads = [_status(i) for i in range(n)]
        on_event = coordinator._on_event  # noqa: SLF001 - the hot path itself
        start = time.perf_counter()
        for payload in payloads:
            on_event("UserStatus", payload)
        elapsed = time.perf_counter() - start
        await hass.async_block_till_done()
        entities = len(hass.states.async_all())
        print(
            f"coordinator UserStatus: {elapsed / n * 1e6:6.1f} µs/event, "
            f"{writes / n:.2f} state writes/event ({entities} entities in all)"
        )

        tracemalloc.start()
        for payload in payloads:
            on_event("UserStatus", payload)
        await hass.async_block_till_done()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for payload in payloads:
            on_event("UserStatus", payload)
        await hass.async_block_till_done()
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"coordinator memory growth over {n} more events: "
            f"{(second - first) / 1024:8.1f} KiB (bounded buffers: ~0 expected)"
        )
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await hass.async_stop(force=True)
    await sim.stop()


async def main() -> None:
    """Run every benchmark."""
    bench_decode()
    await bench_client()
    await bench_home_assistant()


if __name__ == "__main__":
    asyncio.run(main())
