"""The listener registry: who is told of what, and what each listener costs.

Every entity listens to its item's key; a company of thousands has tens of
thousands of listeners. Each is told once, in the order it came; one removed
is told nothing more; and a listener, with its remover, costs a small part
of what an entity costs Home Assistant.
"""

from __future__ import annotations

from collections.abc import Callable
import gc
import tracemalloc

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import NgucCoordinator
from custom_components.weblink_nguc.listeners import (
    FEW,
    NOTIFY_AT_ONCE,
    NgucListeners,
)


@pytest.fixture
def listeners(hass: HomeAssistant) -> NgucListeners:
    """A registry of its own, as a coordinator has one."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    return NgucListeners(hass, entry)


class Listener:
    """A listener that notes each call, as an entity's bound method is one."""

    def __init__(self, told: list[int], number: int) -> None:
        self.told = told
        self.number = number

    def update(self) -> None:
        self.told.append(self.number)


@pytest.mark.parametrize("count", [1, 2, FEW, FEW + 1, 3 * FEW])
async def test_listeners_are_told_in_order_until_removed(
    listeners: NgucListeners, count: int
) -> None:
    """Few or many on one key: each told once, in order; a removed one no more."""
    told: list[int] = []
    entities = [Listener(told, number) for number in range(count)]
    other_entity = Listener(told, count)
    removers = [listeners.add(entity.update, "user_1") for entity in entities]
    # The same listener again (a new bound method, equal) is still one.
    listeners.add(entities[0].update, "user_1")
    other: list[int] = []
    listeners.add(Listener(other, -1).update, "user_2")

    listeners.send("user_1")
    assert told == list(range(count))
    assert other == []

    for remover in removers[::2]:
        remover()
    removers[0]()  # twice: nothing more happens
    told.clear()
    listeners.send("user_1")
    assert told == list(range(1, count, 2))

    for remover in removers[1::2]:
        remover()
    told.clear()
    listeners.send("user_1")
    assert told == []
    assert listeners.contexts == ("user_2",)
    # A key listened to again: a remover of before leaves the new one be.
    listeners.add(other_entity.update, "user_1")
    removers[0]()
    listeners.send("user_1")
    assert told == [count]


async def test_a_listener_removed_during_slices_is_not_told(
    hass: HomeAssistant, listeners: NgucListeners
) -> None:
    """Past NOTIFY_AT_ONCE, listeners are told later: one gone meanwhile is not."""
    told: list[int] = []
    count = NOTIFY_AT_ONCE + FEW
    removers = [
        listeners.add(Listener(told, number).update, f"user_{number % 3}")
        for number in range(count)
    ]
    listeners.notify(["user_0", "user_1", "user_2"])
    busy = listeners.busy
    assert busy
    removers[1]()
    removers[count - 1]()
    await hass.async_block_till_done()
    assert not listeners.busy
    assert sorted(told) == [n for n in range(count) if n not in (1, count - 1)]


async def test_call_listeners_of_an_item(listeners: NgucListeners) -> None:
    """Call events reach the listeners of their item alone, until removed."""
    heard: list[tuple[str, object]] = []

    def listener_of(name: str) -> Callable[[object], None]:
        return lambda call: heard.append((name, call))

    remove_a = listeners.add_calls("user_1", listener_of("a"))
    listeners.add_calls("user_1", listener_of("b"))
    listeners.add_calls("user_2", listener_of("c"))

    class Call:
        item = "user_1"

    call = Call()
    listeners.send_call(call)  # type: ignore[arg-type]
    assert heard == [("a", call), ("b", call)]
    remove_a()
    heard.clear()
    listeners.send_call(call)  # type: ignore[arg-type]
    assert heard == [("b", call)]


async def test_a_listener_costs_little_memory(listeners: NgucListeners) -> None:
    """An entity's listener and remover cost under 150 bytes.

    A company of 5,000 users has some 25,000 listeners; a ``partial`` as
    remover and a dict for each key cost some 400 bytes each, 10 MiB in all.
    """
    keys = 2_000
    per_key = 2  # most keys have an entity or two (a user's line, its phone)
    entities = [Listener([], number) for number in range(keys * per_key)]
    methods = [entity.update for entity in entities]
    gc.collect()
    tracemalloc.start()
    try:
        removers = [
            listeners.add(method, f"user_{number // per_key}")
            for number, method in enumerate(methods)
        ]
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # Less what the test itself holds: the list of removers and the keys.
    size -= removers.__sizeof__() + sum(len(key) + 49 for key in listeners.contexts)
    assert size / len(methods) < 150
    for remover in removers:
        remover()
    assert listeners.contexts == ()


async def test_unload_removes_every_listener(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Every entity listens while loaded, and nothing is left once unloaded."""
    coordinator: NgucCoordinator = init_integration.runtime_data
    registry = coordinator.listeners
    assert len(registry.contexts) > 10
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert registry.contexts == ()
