"""The action pickup_queue_caller: the request reaching NGUC, and each refusal."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.components import todo
from homeassistant.components.todo import DOMAIN as TODO_DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.service import async_get_all_descriptions
import probatio as vol
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.const import DOMAIN
from custom_components.weblink_nguc.coordinator import queue_key, user_key
from custom_components.weblink_nguc.services import SERVICE_PICKUP_QUEUE_CALLER
from tests.simulator import Simulator

from .conftest import wait_for

SUPPORT, SALES = "501", "502"


def device_id_of(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    """Return the Home Assistant device id of an NGUC item."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.runtime_data.identifier(key)), entry.entry_id
    )
    assert device is not None
    return device.id


async def pick_up(hass: HomeAssistant, target: dict[str, Any], **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, SERVICE_PICKUP_QUEUE_CALLER, data, target=target, blocking=True
    )


async def callers_waiting(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: Simulator, *numbers: str
) -> list[str]:
    """Queue callers in Support, waiting 10, 50, 30... s; return their call ids."""
    guids = [
        await simulator.add_caller(SUPPORT, number, wait=wait)
        for number, wait in zip(numbers, (10, 50, 30), strict=False)
    ]

    def seen() -> list[str | None]:
        return [c.call_guid for c in entry.runtime_data.data.queues[SUPPORT].callers]

    await wait_for(hass, lambda: seen() == guids)
    return guids


async def test_picks_up_the_caller_waiting_longest(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    first, longest, third = await callers_waiting(
        hass, init_integration, simulator, "0701111111", "0702222222", "0703333333"
    )
    queue = {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}

    await pick_up(hass, queue)

    # The account's user (Anna, 86480) got the second caller: waiting 50 s.
    assert simulator.pickups == [(SUPPORT, longest, "86480")]
    support = init_integration.runtime_data.data.queues
    await wait_for(
        hass,
        lambda: [c.call_guid for c in support[SUPPORT].callers] == [first, third],
    )


async def test_target_by_entity_caller_or_position(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    first, second, third = await callers_waiting(
        hass, init_integration, simulator, "0701111111", "0702222222", "0703333333"
    )
    device_id = device_id_of(hass, init_integration, queue_key(SUPPORT))
    entity = er.async_entries_for_device(er.async_get(hass), device_id)[0]
    target = {"entity_id": entity.entity_id}

    await pick_up(hass, target, caller="070-333 33 33")
    assert simulator.pickups[-1] == (SUPPORT, third, "86480")

    await pick_up(hass, target, position=1)
    assert simulator.pickups[-1] == (SUPPORT, first, "86480")
    assert second not in {guid for _, guid, _ in simulator.pickups}


async def test_without_waits_the_first_in_line(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A server that sends no waits: the caller at position 1."""
    await simulator.update_queue(
        SUPPORT,
        callers=[
            {"call_guid": "g2", "callerid": "0702222222", "position": "2"},
            {"call_guid": "g1", "callerid": "0701111111", "position": "1"},
        ],
    )
    data = init_integration.runtime_data.data
    await wait_for(hass, lambda: len(data.queues[SUPPORT].callers) == 2)
    await pick_up(
        hass, {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}
    )
    assert simulator.pickups == [(SUPPORT, "g1", "86480")]


async def error_of(
    hass: HomeAssistant, target: dict[str, Any], **data: Any
) -> HomeAssistantError:
    with pytest.raises(HomeAssistantError) as info:
        await pick_up(hass, target, **data)
    assert info.value.translation_domain == DOMAIN
    return info.value


async def test_target_must_be_one_queue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await callers_waiting(hass, init_integration, simulator, "0701111111")
    anna = device_id_of(hass, init_integration, user_key("86480"))
    support = device_id_of(hass, init_integration, queue_key(SUPPORT))
    sales = device_id_of(hass, init_integration, queue_key(SALES))

    err = await error_of(hass, {"device_id": anna})
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "not_a_queue"

    err = await error_of(hass, {"device_id": [support, sales]})
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "several_queues"
    assert err.translation_placeholders == {"count": "2"}
    assert str(err) == "Choose one call queue; the target holds 2"

    with pytest.raises(vol.Invalid):
        await pick_up(hass, {"device_id": support}, caller="0701111111", position=1)
    assert simulator.pickups == []


async def test_no_such_caller(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    await callers_waiting(hass, init_integration, simulator, "0701111111")
    support = {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}
    sales = {"device_id": device_id_of(hass, init_integration, queue_key(SALES))}

    err = await error_of(hass, sales)
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "no_caller_waiting"
    assert str(err) == "No caller is waiting in Sales"

    err = await error_of(hass, support, caller="0709999999")
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "caller_not_waiting"

    err = await error_of(hass, support, position=2)
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "position_not_waiting"
    assert simulator.pickups == []


async def test_caller_gone_on_the_server(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Home Assistant still shows the caller; NGUC answers 404."""
    await callers_waiting(hass, init_integration, simulator, "0701111111")
    simulator.company.queues[SUPPORT].callers.clear()  # no event: not seen yet
    err = await error_of(
        hass, {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}
    )
    assert not isinstance(err, ServiceValidationError)
    assert err.translation_key == "caller_gone"
    assert str(err) == "The caller 0701111111 is no longer waiting in Support"
    assert simulator.pickups == []


@pytest.mark.parametrize(
    ("status", "key"),
    [(403, "pickup_refused"), (409, "pickup_refused"), (503, "cannot_connect")],
)
async def test_server_refuses(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    status: int,
    key: str,
) -> None:
    await callers_waiting(hass, init_integration, simulator, "0701111111")
    simulator.fail_rest(status, count=1)
    err = await error_of(
        hass, {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}
    )
    assert err.translation_key == key
    assert str(status) in str(err)
    assert simulator.pickups == []


async def test_account_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """The action stays registered; an unloaded account's queue says so."""
    support = {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))}
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    err = await error_of(hass, support)
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "not_loaded"
    assert simulator.pickups == []


async def test_action_is_described(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """services.yaml parses: a target of our entities and the two optional fields.

    The target filters entities only (hassfest refuses a device filter); the
    device picker offers the devices that have such an entity, and a device
    still works as a target (the tests above target devices).
    """
    # The todo component's actions name base components by their features;
    # importing all of them needs packages the test environment lacks.
    with patch(
        "homeassistant.helpers.service._base_components",
        return_value={TODO_DOMAIN: todo},
    ):
        descriptions = await async_get_all_descriptions(hass)
    action = descriptions[DOMAIN][SERVICE_PICKUP_QUEUE_CALLER]
    assert action["target"] == {"entity": [{"integration": DOMAIN}]}
    assert set(action["fields"]) == {"caller", "position"}


async def test_credentials_rejected(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """A 401 that renewing the token does not cure is reported, and asks to sign in."""
    await callers_waiting(hass, init_integration, simulator, "0701111111")
    simulator.fail_rest(401)
    try:
        err = await error_of(
            hass,
            {"device_id": device_id_of(hass, init_integration, queue_key(SUPPORT))},
        )
    finally:
        simulator.clear_faults()
    assert err.translation_key == "invalid_auth"
    assert simulator.pickups == []
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
