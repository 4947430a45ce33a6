"""Home Assistant's own cost at a company's size: the floor under the benchmark's figures.

A plain integration, ``floor``, gets as many sensor entities on as many
devices as the company the benchmark measured, in the same test harness,
and as many more disabled by default (registered, not added) as it has.
The entities do nothing of their own: the devices are registered first and
each entity is attached to its device as ours are, and a state write is a
value set and ``async_write_ha_state``. What it costs is what Home Assistant
costs for that many entities, whatever the integration:

- the setup time, the longest event-loop block during it, and the traced
  memory of adding them;
- the CPU of a state write round-robin over as many entities as the
  company has users (each event of the benchmark's bursts is one line
  status write), with a ``state_changed`` listener installed as the
  benchmark has one.

A target below the floor is one no integration with that many entities
meets on this machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import gc
import time
import tracemalloc
from typing import Any

from homeassistant import config_entries
from homeassistant.components.sensor import SensorEntity
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_integration,
    mock_platform,
)

from tests.harness.probe import LoopProbe

FLOOR = "floor"
NAMES = ("Line status", "Queues", "Paused", "Missed today", "Registered")


@dataclass
class Floor:
    """Home Assistant's own cost for ``entities`` entities on ``devices`` devices."""

    entities: int
    devices: int
    disabled: int = 0
    setup_s: float = 0.0
    setup_block_ms: float = 0.0
    cpu_us_per_write: float = 0.0
    gc_us_per_write: float = 0.0
    tracemalloc_peak_mb: float | None = None


class GcTime:
    """The time Python's cyclic garbage collector ran while it is entered.

    Most of the difference between a small and a large company's CPU per
    event: Home Assistant's state writes leave cyclic garbage (each
    ``state_changed`` event and its context refer to each other) that lives
    as long as the entity's state, so that in a large company it outlives
    the young generations and only full collections, whose cost grows with
    everything in memory, free it.
    """

    def __init__(self) -> None:
        """Count from zero."""
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GcTime:
        """Start counting."""
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop counting."""
        gc.callbacks.remove(self._callback)


class _PlainSensor(SensorEntity):
    """A sensor that shows what it is given."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, number: int, device: dr.DeviceEntry, *, enabled: bool = True
    ) -> None:
        self._attr_unique_id = f"floor_{number}"
        self._attr_name = NAMES[number % len(NAMES)]
        self._attr_native_value = 0
        self.device_entry = device
        if not enabled:
            self._attr_entity_registry_enabled_default = False


class _FloorFlow(config_entries.ConfigFlow, domain=FLOOR):
    """Config entries of the floor integration are made by the benchmark."""

    VERSION = 1


async def measure_floor(
    hass: HomeAssistant,
    entities: int,
    devices: int,
    *,
    written: int,
    writes: int,
    trace: bool = False,
    disabled: int = 0,
) -> Floor:
    """Set up ``entities`` plain entities on ``devices`` devices; write ``writes`` states.

    ``disabled`` more are disabled by default: registered, never added. The
    writes go round-robin over ``written`` entities spread over the enabled
    ones. With ``trace``, the setup and the writes run under tracemalloc.
    """
    result = Floor(entities, devices, disabled)
    made: list[_PlainSensor] = []

    async def async_setup_entry(
        hass: HomeAssistant, entry: config_entries.ConfigEntry
    ) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, ["sensor"])
        return True

    async def async_setup_sensors(
        hass: HomeAssistant, entry: config_entries.ConfigEntry, add: Any
    ) -> None:
        registry = dr.async_get(hass)
        device_list = [
            registry.async_get_or_create(
                config_entry_id=entry.entry_id,
                identifiers={(FLOOR, str(number))},
                name=f"Device {number}",
            )
            for number in range(devices)
        ]
        made.extend(
            _PlainSensor(number, device_list[number % devices])
            for number in range(entities)
        )
        add(
            [
                *made,
                *(
                    _PlainSensor(number, device_list[number % devices], enabled=False)
                    for number in range(entities, entities + disabled)
                ),
            ]
        )

    mock_integration(hass, MockModule(FLOOR, async_setup_entry=async_setup_entry))
    mock_platform(hass, f"{FLOOR}.config_flow", None)
    mock_platform(
        hass, f"{FLOOR}.sensor", MockPlatform(async_setup_entry=async_setup_sensors)
    )
    entry = MockConfigEntry(domain=FLOOR)
    entry.add_to_hass(hass)
    changes = 0

    @callback
    def _count(_event: Event[Any]) -> None:
        nonlocal changes
        changes += 1

    hass.bus.async_listen(EVENT_STATE_CHANGED, _count)
    gc.collect()
    if trace:
        tracemalloc.start()
    try:
        # Probed as the benchmark probes the integration's setup.
        with LoopProbe(hass.loop) as probe:
            start = time.monotonic()
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise RuntimeError("the floor integration did not set up")
            await hass.async_block_till_done()
            result.setup_s = time.monotonic() - start
        result.setup_block_ms = probe.worst_ms
        await _write(hass, result, made, written, writes)
        if trace:
            result.tracemalloc_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        if trace:
            tracemalloc.stop()
    if changes < entities + writes:
        raise RuntimeError(f"the floor wrote {changes} states, not {entities + writes}")
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    return result


async def _write(
    hass: HomeAssistant,
    result: Floor,
    made: list[_PlainSensor],
    written: int,
    writes: int,
) -> None:
    """Change ``written`` entities' states round-robin: CPU and GC per write."""
    step = max(1, len(made) // written)
    targets = [made[number * step] for number in range(written)]
    gc.collect()  # as the benchmark's bursts start
    with GcTime() as collections:
        cpu = time.process_time()
        for number in range(writes):
            entity = targets[number % written]
            entity._attr_native_value = number + 1  # noqa: SLF001 - what a platform sets
            entity.async_write_ha_state()
            if number % 100 == 99:
                await asyncio.sleep(0)  # as events arrive: a frame at a time
        await hass.async_block_till_done()
        cpu = time.process_time() - cpu
    result.cpu_us_per_write = cpu / writes * 1e6
    result.gc_us_per_write = collections.seconds / writes * 1e6
