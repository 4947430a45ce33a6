"""The automation conditions weblink_nguc.callers_waiting, agents_available, line_status.

Each is validated and checked as an automation does (Home Assistant's
condition helper), on the simulator's demo company: queues Support (501)
and Sales (502), users Anna (86480, idle) and Maja (86482, offline). The
clock is fake where a wait must grow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.condition import (
    async_from_config,
    async_validate_condition_config,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
import voluptuous as vol

from custom_components.weblink_nguc.api import LineState
from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from tests.e2e.examples import readme_examples
from tests.simulator import QueueCaller, Simulator

from .conftest import wait_for

SUPPORT, SALES = "501", "502"
ANNA, ERIK, MAJA, LARS = "86480", "86481", "86482", "86483"
# The example device ids of the README's conditions automation.
README_SUPPORT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
README_LARS = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
FIRST, SECOND = "0701111111", "0702222222"

pytestmark = pytest.mark.freeze_time("2026-12-07 09:00:00+00:00", tick=True)


def device_id(entry: MockConfigEntry, key: str) -> str:
    """Return the Home Assistant device id of one of the entry's items."""
    found = entry.runtime_data.devices.device_id(key)
    assert found is not None, key
    return found


def queues(entry: MockConfigEntry, *queue_ids: str) -> list[str]:
    return [device_id(entry, queue_key(queue_id)) for queue_id in queue_ids]


def users(entry: MockConfigEntry, *user_ids: str) -> list[str]:
    return [device_id(entry, user_key(user_id)) for user_id in user_ids]


def condition(
    name: str, devices: list[str], behavior: str | None = None, **options: Any
) -> dict[str, Any]:
    """Return a condition's configuration as the automation editor saves it."""
    if behavior is not None:
        options["behavior"] = behavior
    return {
        "condition": f"{DOMAIN}.{name}",
        "target": {"device_id": devices},
        "options": options,
    }


def with_devices(node: Any, devices: dict[str, str]) -> Any:
    """Return a configuration with example device ids replaced, as a user picks them."""
    if isinstance(node, dict):
        return {key: with_devices(value, devices) for key, value in node.items()}
    if isinstance(node, list):
        return [with_devices(item, devices) for item in node]
    return devices.get(node, node) if isinstance(node, str) else node


def readme_automation(entry: MockConfigEntry) -> dict[str, Any]:
    """Return the README's conditions automation for the demo's Support and Lars."""
    (automation,) = readme_examples("conditions automation")
    (support,) = queues(entry, SUPPORT)
    (lars,) = users(entry, LARS)
    picked = with_devices(automation, {README_SUPPORT: support, README_LARS: lars})
    assert picked != automation, "the README's example device ids changed"
    return {"id": "readme_conditions", **picked}


async def holds(hass: HomeAssistant, config: dict[str, Any]) -> bool | None:
    """Validate a condition and check it once, as an automation does."""
    validated = await async_validate_condition_config(hass, config)
    checker = await async_from_config(hass, validated)
    try:
        return checker.async_check()
    finally:
        checker.async_unload()


async def refused(hass: HomeAssistant, config: dict[str, Any]) -> str:
    """Return the message validation refuses a condition with."""
    with pytest.raises(vol.Invalid) as err:
        await async_validate_condition_config(hass, config)
    return str(err.value)


async def test_callers_waiting_counts_callers_and_the_growing_wait(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """More than N callers; the longest wait counts up between snapshots."""
    support, sales = queues(init_integration, SUPPORT, SALES)
    assert not await holds(hass, condition("callers_waiting", [support], above=0))

    await simulator.add_caller(SUPPORT, FIRST, wait=10)
    await simulator.add_caller(SUPPORT, SECOND, wait=0)
    data = init_integration.runtime_data.data
    await wait_for(hass, lambda: len(data.queues[SUPPORT].callers) == 2)
    mark = dt_util.utcnow()

    # Threshold edges: more than, not as many as.
    assert await holds(hass, condition("callers_waiting", [support], above=1))
    assert not await holds(hass, condition("callers_waiting", [support], above=2))
    assert not await holds(hass, condition("callers_waiting", [support], wait_above=30))

    # No snapshot comes; the first caller's wait grows past 30 s.
    freezer.move_to(mark + timedelta(seconds=19.5))
    async_fire_time_changed(hass)
    assert not await holds(hass, condition("callers_waiting", [support], wait_above=30))
    freezer.move_to(mark + timedelta(seconds=20.5))
    async_fire_time_changed(hass)
    long_wait = condition("callers_waiting", [support], wait_above=30)
    assert await holds(hass, long_wait)
    # Both bounds: both must hold.
    assert await holds(
        hass, condition("callers_waiting", [support], above=1, wait_above=30)
    )
    assert not await holds(
        hass, condition("callers_waiting", [support], above=2, wait_above=30)
    )

    # Sales has nobody waiting: any of the two holds, not all.
    both = [support, sales]
    assert await holds(hass, condition("callers_waiting", both, above=0))
    assert await holds(hass, condition("callers_waiting", both, "any", above=0))
    assert not await holds(hass, condition("callers_waiting", both, "all", above=0))
    await simulator.add_caller(SALES, "0703333333", wait=5)
    await wait_for(hass, lambda: len(data.queues[SALES].callers) == 1)
    assert await holds(hass, condition("callers_waiting", both, "all", above=0))


async def test_agents_available(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Free agents above, below, between; any or all of the queues."""
    support, sales = queues(init_integration, SUPPORT, SALES)
    data = init_integration.runtime_data.data
    # The demo: Anna and Erik free in Support (Maja paused), Erik and Lars in Sales.
    assert data.queues[SUPPORT].member_available == 2
    assert data.queues[SALES].member_available == 2

    agents = "agents_available"
    assert await holds(hass, condition(agents, [support], below=3))
    assert not await holds(hass, condition(agents, [support], below=2))
    assert await holds(hass, condition(agents, [support], above=1))
    assert not await holds(hass, condition(agents, [support], above=2))
    assert await holds(hass, condition(agents, [support], above=1, below=3))
    assert not await holds(hass, condition(agents, [support], above=2, below=3))

    await simulator.update_queue(SALES, member_available=0)
    await wait_for(hass, lambda: data.queues[SALES].member_available == 0)
    both = [support, sales]
    assert await holds(hass, condition(agents, both, below=1))
    assert not await holds(hass, condition(agents, both, "all", below=1))
    assert await holds(hass, condition(agents, both, "all", below=3))


async def test_line_status(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The line's status as the line status sensor names it; any or all users."""
    anna, maja = users(init_integration, ANNA, MAJA)
    line = "line_status"
    assert await holds(hass, condition(line, [anna], status=["idle"]))
    assert not await holds(hass, condition(line, [anna], status=["in_use", "ringing"]))
    assert await holds(hass, condition(line, [maja], status=["offline"]))
    assert await holds(hass, condition(line, [anna, maja], status=["idle"]))
    assert not await holds(hass, condition(line, [anna, maja], "all", status=["idle"]))
    assert await holds(
        hass, condition(line, [anna, maja], "all", status=["idle", "offline"])
    )

    await simulator.set_user_status(ANNA, int(LineState.IN_USE))
    statuses = init_integration.runtime_data.data.statuses
    await wait_for(hass, lambda: statuses[ANNA].status == LineState.IN_USE)
    assert await holds(hass, condition(line, [anna], status=["in_use", "ringing"]))
    assert not await holds(hass, condition(line, [anna], status=["idle"]))


async def test_wrong_devices_are_refused_with_a_translated_message(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A user for a queue, a queue for a user, another integration's device."""
    (support,) = queues(init_integration, SUPPORT)
    (anna,) = users(init_integration, ANNA)
    other_entry = MockConfigEntry(domain="hue")
    other_entry.add_to_hass(hass)
    lamp = device_registry.async_get_or_create(
        config_entry_id=other_entry.entry_id,
        identifiers={("hue", "lamp")},
        name="Desk lamp",
    ).id

    assert await refused(hass, condition("callers_waiting", [anna], above=0)) == (
        "Anna Lindqvist is not a Weblink NGUC call queue; "
        "weblink_nguc.callers_waiting tests call queues"
    )
    assert await refused(hass, condition("agents_available", [anna], below=1)) == (
        "Anna Lindqvist is not a Weblink NGUC call queue; "
        "weblink_nguc.agents_available tests call queues"
    )
    assert await refused(hass, condition("line_status", [support], status="idle")) == (
        "Support is not a Weblink NGUC user; weblink_nguc.line_status tests users' lines"
    )
    assert await refused(hass, condition("line_status", [lamp], status="idle")) == (
        "Desk lamp is not a Weblink NGUC device; "
        "weblink_nguc.line_status tests this integration's devices"
    )
    assert await refused(hass, condition("callers_waiting", [support])) == (
        "weblink_nguc.callers_waiting needs at least one of above / wait_above"
    )
    assert await refused(hass, condition("agents_available", [support])) == (
        "weblink_nguc.agents_available needs at least one of above / below"
    )
    area = {**condition("agents_available", [], below=1), "target": {"area_id": "x"}}
    assert await refused(hass, area) == (
        "The target of weblink_nguc.agents_available is devices, not area_id"
    )
    # A status the line status sensor does not have.
    with pytest.raises(vol.Invalid):
        await async_validate_condition_config(
            hass, condition("line_status", [anna], status=["busy"])
        )

    # In Home Assistant's language.
    hass.config.language = "sv"
    assert await refused(hass, condition("callers_waiting", [anna], above=0)) == (
        "Anna Lindqvist är ingen samtalskö i Weblink NGUC; "
        "weblink_nguc.callers_waiting testar samtalsköer"
    )
    assert await refused(hass, condition("line_status", [lamp], status="idle")) == (
        "Desk lamp är ingen Weblink NGUC-enhet; "
        "weblink_nguc.line_status testar den här integrationens enheter"
    )


@pytest.mark.usefixtures("short_stream_grace")
async def test_false_when_the_entry_is_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Stream down beyond the grace, or the entry unloaded: false, not an error."""
    support, _ = queues(init_integration, SUPPORT, SALES)
    (anna,) = users(init_integration, ANNA)
    checks = [
        condition("agents_available", [support], below=5),
        condition("line_status", [anna], status="idle"),
    ]
    await simulator.add_caller(SUPPORT, FIRST, wait=100)
    data = init_integration.runtime_data.data
    await wait_for(hass, lambda: len(data.queues[SUPPORT].callers) == 1)
    checks.append(condition("callers_waiting", [support], above=0, wait_above=10))
    for config in checks:
        assert await holds(hass, config)

    coordinator = init_integration.runtime_data
    simulator.refuse_events = True
    await simulator.drop_connections()
    await wait_for(hass, lambda: not coordinator.available)
    for config in checks:
        assert await holds(hass, config) is False

    simulator.clear_faults()
    await wait_for(hass, lambda: coordinator.available)
    assert await holds(hass, checks[0])

    # Validated while loaded; checked once the entry is unloaded.
    validated = [await async_validate_condition_config(hass, c) for c in checks]
    checkers = [await async_from_config(hass, config) for config in validated]
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    for checker in checkers:
        assert checker.async_check() is False
        checker.async_unload()
    # And validated then too: devices are known from the registry.
    for config in checks:
        assert await holds(hass, config) is False


async def test_an_entity_stands_for_its_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """A queue's sensor as the target (what a blueprint has): its queue."""
    (support,) = queues(init_integration, SUPPORT)
    (anna,) = users(init_integration, ANNA)
    sensor = next(
        entry.entity_id
        for entry in er.async_entries_for_device(entity_registry, support)
        if entry.domain == "sensor"
    )
    anna_sensor = next(
        entry.entity_id
        for entry in er.async_entries_for_device(entity_registry, anna)
        if entry.domain == "sensor"
    )
    by_entity = {
        "condition": f"{DOMAIN}.agents_available",
        "target": {"entity_id": sensor},
        "options": {"below": 3},
    }
    assert await holds(hass, by_entity)
    assert not await holds(hass, {**by_entity, "options": {"below": 2}})
    assert "is not a Weblink NGUC call queue" in await refused(
        hass, {**by_entity, "target": {"entity_id": anna_sensor}}
    )
    # Another integration's entity is refused; one not registered (yet) is
    # let pass, and does not hold.
    other = entity_registry.async_get_or_create("light", "hue", "lamp")
    assert await refused(
        hass, {**by_entity, "target": {"entity_id": other.entity_id}}
    ) == (
        f"{other.entity_id} is not a Weblink NGUC device; "
        "weblink_nguc.agents_available tests this integration's devices"
    )
    assert not await holds(hass, {**by_entity, "target": {"entity_id": "sensor.later"}})


async def test_in_an_automation(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """An automation runs only while its condition holds."""
    (support,) = queues(init_integration, SUPPORT)
    runs = async_capture_events(hass, "condition_ran")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "callers",
                "triggers": [{"trigger": "event", "event_type": "check"}],
                "conditions": [condition("callers_waiting", [support], above=0)],
                "actions": [{"event": "condition_ran"}],
            }
        },
    )
    await hass.async_block_till_done()
    hass.bus.async_fire("check")
    await hass.async_block_till_done()
    assert runs == []

    await simulator.add_caller(SUPPORT, FIRST, wait=0)
    data = init_integration.runtime_data.data
    await wait_for(hass, lambda: len(data.queues[SUPPORT].callers) == 1)
    hass.bus.async_fire("check")
    await hass.async_block_till_done()
    assert len(runs) == 1


async def test_the_readme_example(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Lars is asked only while no Support agent is free and his line is free."""
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(
        hass, "automation", {"automation": readme_automation(init_integration)}
    )
    await hass.async_block_till_done()
    notified = async_capture_events(hass, "automation_triggered")
    data = init_integration.runtime_data.data
    waiting: list[QueueCaller] = []

    async def caller(number: str, free: int) -> None:
        waiting.append(QueueCaller(f"call-{number}", SUPPORT, number, wait=90))
        await simulator.update_queue(
            SUPPORT, callers=list(waiting), waiting=len(waiting), member_available=free
        )
        await wait_for(hass, lambda: len(data.queues[SUPPORT].callers) == len(waiting))

    # Lars is on a call: no.
    await simulator.set_user_status(LARS, int(LineState.IN_USE))
    await wait_for(hass, lambda: data.statuses[LARS].status == LineState.IN_USE)
    await caller(FIRST, free=0)
    assert notified == []
    # Lars is free, and so is an agent of Support: no.
    await simulator.set_user_status(LARS, 0)
    await wait_for(hass, lambda: data.statuses[LARS].status == 0)
    await caller(SECOND, free=1)
    assert notified == []
    # Lars is free, nobody in Support is: yes.
    await caller("0703333333", free=0)
    assert len(notified) == 1
