"""The one rule for what the state may lose (issue 18 §1, trust.py), where features meet.

Each case of the issue as a user met it, against the simulator: a token
hiccup, a restart during an outage, whom to follow, lists that cannot be
read, small companies, the options form, repair issues, and events between
two reads. Then the store's damaged shapes (§4) and a flapping connection
(§6), counted per list.
"""

from __future__ import annotations

from collections.abc import Generator
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.weblink_nguc.api import contract as c
from custom_components.weblink_nguc.const import DOMAIN
from tests.harness.clock import advance
from tests.harness.timings import Timings, applied, applied_to_test
from tests.simulator import Simulator, User

from .conftest import ENTRY_UNIQUE_ID, reconnect, wait_for, wait_in_sync

LIST_PATHS = (c.PATH_USERS, c.PATH_USER_STATUSES, c.PATH_DEVICES, c.PATH_QUEUES)
USERS = ("86480", "86481", "86482", "86483")
DEVICES = ("9001", "9002", "9003", "9004", "9005")
QUEUES = ("501", "502")


@pytest.fixture(autouse=True)
def quick_retries(request: pytest.FixtureRequest) -> Generator[None]:
    """A failed list is read again within a fraction of a second."""
    with applied_to_test(
        request, Timings(resync_retry_base=0.05, resync_retry_cap=0.2)
    ):
        yield


def device(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> Any:
    """Return the device of an item, by its key ("user_86480")."""
    return dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{ENTRY_UNIQUE_ID}_{key}"), entry.entry_id
    )


def devices_of(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """Return the ids of the entry's devices."""
    return {
        entry_device.id
        for entry_device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
    }


def removed_devices(hass: HomeAssistant) -> list[str]:
    """Return the ids of the devices removed from now on (a list that grows).

    A device removed and made again keeps its id: only this tells.
    """
    removed: list[str] = []
    hass.bus.async_listen(
        dr.EVENT_DEVICE_REGISTRY_UPDATED,
        lambda event: (
            removed.append(event.data["device_id"])
            if event.data["action"] == "remove"
            else None
        ),
    )
    return removed


def issue(hass: HomeAssistant, entry: MockConfigEntry, name: str) -> Any:
    """Return one of the entry's repair issues, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{name}")


def reads(simulator: Simulator, path: str) -> int:
    """Return how many REST requests reached ``path``."""
    return sum(1 for request in simulator.requests if request == f"GET {path}")


async def restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry (as Home Assistant does when it stops) and set it up again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def stored(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, Any]:
    """Return the items the entry keeps on disk, by part: their ids."""
    data = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    return {part: sorted(item["id"] for item in items) for part, items in data.items()}


# --- Case 1: a seconds-long token hiccup --------------------------------------------


@pytest.mark.parametrize("lists", [LIST_PATHS, (c.PATH_USERS,)], ids=["all", "one"])
async def test_token_hiccup_with_401_lists_is_over_within_seconds(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    lists: tuple[str, ...],
) -> None:
    """Case 1: lists answer 401 while the token endpoint is down; both recover.

    Read again on the lists' own backoff, not at the token's next renewal
    (an hour away): in sync, entities available, the new user there.
    """
    with applied(
        hass,
        Timings(renew_retry_min=0.05, renew_retry_base=0.05, renew_retry_cap=0.2),
    ):
        mock_config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await wait_in_sync(hass, mock_config_entry)
    coordinator = mock_config_entry.runtime_data
    simulator.token_down()
    for path in lists:
        simulator.fail_path(path, 401)
    before = reads(simulator, c.PATH_USERS)
    await simulator.drop_connections()
    await simulator.wait_for_requests(c.PATH_USERS, before + 3)
    simulator.company.add_user(User("86490", "Nils Holm", "110", "n@x.example"))
    simulator.clear_faults()
    await wait_for(
        hass, lambda: device(hass, mock_config_entry, "user_86490") is not None
    )
    await wait_in_sync(hass, mock_config_entry)
    assert coordinator.available
    assert hass.states.get("sensor.nils_holm_line_status") is not None


# --- Case 2: a restart during a REST outage ------------------------------------------


async def test_restart_during_an_outage_keeps_the_store_and_every_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """Case 2: lists fail, a Queue event arrives, restart: the store keeps all."""
    entry = init_integration
    devices = devices_of(hass, entry)
    removed = removed_devices(hass)
    for path in LIST_PATHS:
        simulator.fail_path(path, 500)
    await restart(hass, entry)
    await simulator.wait_for_requests(c.PATH_USERS, reads(simulator, c.PATH_USERS) + 2)
    await simulator.update_queue("501", waiting=1)
    await wait_for(hass, lambda: "501" in entry.runtime_data.data.queues)
    await restart(hass, entry)
    assert stored(hass_storage, entry) == {
        "users": sorted(USERS),
        "devices": sorted(DEVICES),
        "queues": sorted(QUEUES),
    }
    # NGUC answers again, the users once empty: nothing goes.
    simulator.clear_faults()
    simulator.override_path(c.PATH_USERS, [], count=1)
    await wait_in_sync(hass, entry)
    await simulator.wait_for_requests(c.PATH_USERS, reads(simulator, c.PATH_USERS) + 1)
    await hass.async_block_till_done()
    assert devices_of(hass, entry) == devices
    assert removed == []


# --- Case 3: whom to follow and a truncated answer ------------------------------------

FOLLOWED = ("86500", "86501", "86502", "86503")


async def test_truncated_answer_keeps_the_followed_users(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 3: following 4 of 20, an answer of the first 8 users keeps the 4."""
    for n in range(16):
        user_id = str(86490 + n)
        simulator.company.add_user(User(user_id, f"User {n}", str(200 + n), None))
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={"users": list(FOLLOWED)}
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)
    for user_id in FOLLOWED:
        assert device(hass, mock_config_entry, f"user_{user_id}") is not None
    simulator.override_path(c.PATH_USERS, simulator.company.rest_users()[:8], count=1)
    before = reads(simulator, c.PATH_USERS)
    removed = removed_devices(hass)
    await reconnect(hass, mock_config_entry, simulator)
    for user_id in FOLLOWED:
        assert device(hass, mock_config_entry, f"user_{user_id}") is not None
    # Read again soon: NGUC lists them all, nothing went.
    await simulator.wait_for_requests(c.PATH_USERS, before + 2)
    await hass.async_block_till_done()
    for user_id in FOLLOWED:
        assert device(hass, mock_config_entry, f"user_{user_id}") is not None
    assert len(mock_config_entry.runtime_data.company().users) == 20
    assert removed == []


# --- Case 5: a list whose items cannot be read ------------------------------------------


async def test_unreadable_list_keeps_its_devices_and_raises_an_issue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 5: every phone answered with a renamed id field: a failed list, not empty."""
    entry = init_integration
    renamed = [
        {("deviceId" if key == c.DEVICE_ID else key): value for key, value in d.items()}
        for d in simulator.company.rest_devices()
    ]
    simulator.override_path(c.PATH_DEVICES, renamed)
    before = reads(simulator, c.PATH_DEVICES)
    removed = removed_devices(hass)
    await reconnect(hass, entry, simulator)
    await wait_for(hass, lambda: issue(hass, entry, "list_failing_devices") is not None)
    assert reads(simulator, c.PATH_DEVICES) >= before + 3
    for device_id in DEVICES:
        assert device(hass, entry, f"device_{device_id}") is not None, device_id
    found = issue(hass, entry, "list_failing_devices")
    assert found.translation_key == "list_unreadable"
    assert found.translation_placeholders["endpoint"] == c.PATH_DEVICES
    assert entry.runtime_data.available
    assert removed == []
    simulator.clear_path(c.PATH_DEVICES)
    await wait_for(hass, lambda: issue(hass, entry, "list_failing_devices") is None)


# --- Case 6: an empty answer of a small list ------------------------------------------


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        (c.PATH_QUEUES, ("queue_501", "queue_502")),
        (c.PATH_DEVICES, tuple(f"device_{d}" for d in DEVICES)),
    ],
    ids=["two-queues", "phones"],
)
async def test_empty_answer_of_a_small_list_is_doubted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    path: str,
    keys: tuple[str, ...],
) -> None:
    """Case 6: two queues (or a few phones) answered `[]` once: nothing goes."""
    entry = init_integration
    simulator.override_path(path, [], count=1)
    before = reads(simulator, path)
    removed = removed_devices(hass)
    await reconnect(hass, entry, simulator)
    for key in keys:
        assert device(hass, entry, key) is not None, key
    await simulator.wait_for_requests(path, before + 2)
    await hass.async_block_till_done()
    for key in keys:
        assert device(hass, entry, key) is not None, key
    assert removed == []


async def test_one_phone_answered_empty_is_kept(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 6 with one phone only: an empty answer once keeps it."""
    for device_id in DEVICES[1:]:
        simulator.company.remove_device(device_id)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await wait_in_sync(hass, mock_config_entry)
    simulator.override_path(c.PATH_DEVICES, [], count=1)
    before = reads(simulator, c.PATH_DEVICES)
    removed = removed_devices(hass)
    await reconnect(hass, mock_config_entry, simulator)
    await simulator.wait_for_requests(c.PATH_DEVICES, before + 2)
    await hass.async_block_till_done()
    assert device(hass, mock_config_entry, "device_9001") is not None
    assert removed == []


# --- Case 7: the options form -------------------------------------------------------------


async def test_options_after_a_restart_with_a_failing_user_list(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 7: the form lists the whole company from disk; unchanged, it stays a subset."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={"users": ["86480", "86481"]})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    simulator.fail_path(c.PATH_USERS, 500)
    await restart(hass, entry)
    await wait_in_sync(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "company_out_of_date"}
    users = _field_options(result, "users")
    assert sorted(option["value"] for option in users) == sorted(USERS)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"users": ["86480", "86481"], "queues": []}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"users": ["86480", "86481"]}
    await hass.async_block_till_done()
    assert device(hass, entry, "user_86482") is None


async def test_options_when_the_one_left_out_is_removed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 7: following 3 of 4, the 4th removed from NGUC: unchanged stays the 3."""
    entry = mock_config_entry
    followed = ["86480", "86481", "86482"]
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={"users": followed})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    simulator.company.remove_user("86483")
    await reconnect(hass, entry, simulator)
    await wait_for(hass, lambda: "86483" not in entry.runtime_data.company().users)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["errors"] is None
    assert [option["value"] for option in _field_options(result, "users")] == [
        "86480",
        "86481",
        "86482",
    ]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"users": followed, "queues": []}
    )
    assert entry.options == {"users": followed}


async def test_options_keep_a_followed_user_gone_from_nguc(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 7: the one user followed is no longer in NGUC: unchanged is not everyone."""
    entry = mock_config_entry
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={"users": ["99999"]})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _suggested(result) == {"users": ["99999"]}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"users": ["99999"], "queues": []}
    )
    assert entry.options == {"users": ["99999"]}


def _suggested(result: Any) -> dict[str, Any]:
    return {
        str(marker): marker.description["suggested_value"]
        for marker in result["data_schema"].schema
        if marker.description and "suggested_value" in marker.description
    }


def _field_options(result: Any, name: str) -> list[dict[str, str]]:
    for marker, selector in result["data_schema"].schema.items():
        if str(marker) == name:
            return [dict(option) for option in selector.config["options"]]
    raise AssertionError(f"no field {name}")


# --- A failed list is read on its own backoff, whoever asks --------------------------


async def test_reconnects_do_not_make_a_retry_storm_of_a_failing_list(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Rule 7's backoff holds for every read: reconnects leave a failing list to it."""
    entry = init_integration
    with applied(hass, Timings(resync_retry_base=5.0, resync_retry_cap=300.0)):
        simulator.fail_path(c.PATH_USER_STATUSES, 403)
        before = reads(simulator, c.PATH_USER_STATUSES)
        users = reads(simulator, c.PATH_USERS)
        for _ in range(3):
            await reconnect(hass, entry, simulator)
    assert reads(simulator, c.PATH_USERS) == users + 3
    assert reads(simulator, c.PATH_USER_STATUSES) - before <= 2


# --- Case 12: a repair issue says the latest reason ---------------------------------------


async def test_repair_issue_follows_the_latest_answer(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 12: a list whose 500 turns into a 403: the issue says 403."""
    entry = init_integration
    simulator.fail_path(c.PATH_QUEUES, 500)
    await reconnect(hass, entry, simulator)
    await wait_for(hass, lambda: issue(hass, entry, "list_failing_queues") is not None)
    found = issue(hass, entry, "list_failing_queues")
    assert found.translation_key == "list_failing"
    assert "500" in found.translation_placeholders["answer"]
    simulator.fail_path(c.PATH_QUEUES, 403)
    await wait_for(
        hass,
        lambda: (
            issue(hass, entry, "list_failing_queues").translation_key
            == "list_forbidden"
        ),
    )
    assert (
        "403"
        in issue(hass, entry, "list_failing_queues").translation_placeholders["answer"]
    )


# --- Case 13: events between two reads ---------------------------------------------------


async def test_events_between_two_empty_answers_save_a_queue(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Case 13: Support sends an event between two empty answers: it stays; Sales goes."""
    entry = init_integration
    registry = dr.async_get(hass)
    support = device(hass, entry, "queue_501").id
    removed = removed_devices(hass)
    with applied(hass, Timings(shrink_recheck_delay=1.0)):
        simulator.override_path(c.PATH_QUEUES, [])
        before = reads(simulator, c.PATH_QUEUES)
        await reconnect(hass, entry, simulator)
        await simulator.update_queue("501", waiting=1)
        await wait_for(hass, lambda: entry.runtime_data.data.queues["501"].waiting == 1)
        await simulator.wait_for_requests(c.PATH_QUEUES, before + 2)
        await wait_for(hass, lambda: device(hass, entry, "queue_502") is None)
    assert registry.async_get(support) is not None
    assert support not in removed


# --- §4: a damaged store ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "damaged"),
    [
        ({"users": {"86480": {}}}, "users"),
        ({"users": [{"name": "no id"}]}, "users"),
        ({"devices": [["9001", "86480"]]}, "devices"),
        ({"queues": [{"id": {"501": 1}, "name": "Support"}]}, "queues"),
        ([{"users": []}], "items kept on disk"),
    ],
    ids=["dict-for-list", "missing-id", "list-for-dict", "id-not-text", "not-a-dict"],
)
async def test_damaged_store_part_is_set_aside(
    hass: HomeAssistant,
    *,
    mock_config_entry: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    data: Any,
    damaged: str,
) -> None:
    """A stored part of a wrong shape: warned once by name; the rest loads; setup works."""
    good = {
        "users": [{"id": "86480", "name": "Anna", "extension": "100"}],
        "devices": [
            {"id": "9001", "user_id": "86480", "name": "Desk", "model": "Snom"}
        ],
        "queues": [{"id": "501", "name": "Support"}],
    }
    mock_config_entry.add_to_hass(hass)
    hass_storage[f"{DOMAIN}.{mock_config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{mock_config_entry.entry_id}",
        "data": good | data if isinstance(data, dict) else data,
    }
    for path in LIST_PATHS:
        simulator.fail_path(path, 500)
    with caplog.at_level(logging.WARNING):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    warnings = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(warnings) == 1
    assert damaged in warnings[0]
    store = mock_config_entry.runtime_data.reader.store
    for part in ("users", "devices", "queues"):
        assert bool(store.items(part)) == (part != damaged and isinstance(data, dict))
    assert "Traceback" not in caplog.text


async def test_damaged_store_part_and_an_empty_first_answer_keep_the_devices(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: Simulator,
    hass_storage: dict[str, Any],
) -> None:
    """The users kept on disk set aside, then `[]` at the first read: no device goes.

    Nothing on disk vouches for the users, so a second answer decides which
    went while Home Assistant was stopped.
    """
    entry = init_integration
    devices = devices_of(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]["users"] = "damaged"
    simulator.override_path(c.PATH_USERS, [], count=1)
    before = reads(simulator, c.PATH_USERS)
    removed = removed_devices(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_in_sync(hass, entry)
    await simulator.wait_for_requests(c.PATH_USERS, before + 2)
    await wait_for(hass, lambda: "86481" in entry.runtime_data.data.users)
    assert removed == []
    assert devices_of(hass, entry) == devices


# --- §6: a connection cut every 20 s -----------------------------------------------------


async def test_flapping_connection_reads_users_and_phones_a_few_times(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Cut every 20 s for 10 minutes: statuses and queues read at each reconnect,
    users and phones only once the connection lasts; in step 30 s after the last cut.
    """
    entry = mock_config_entry
    with applied(hass, Timings(reconnect_quiet=25.0, backoff_cap=0.2)):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_in_sync(hass, entry)
        before = {path: len(simulator.request_times(path)) for path in LIST_PATHS}
        for cut in range(30):
            if cut == 10:
                simulator.company.rename_user("86481", "Erik Renamed")
            await reconnect(hass, entry, simulator)
            await advance(hass, 20)
        assert entry.runtime_data.data.users["86481"].name == "Erik Johansson"
        await advance(hass, 30)
        await wait_for(
            hass, lambda: entry.runtime_data.data.users["86481"].name == "Erik Renamed"
        )
    counts = {
        path: len(simulator.request_times(path)) - before[path] for path in LIST_PATHS
    }
    assert counts[c.PATH_USER_STATUSES] >= 30
    assert counts[c.PATH_QUEUES] >= 30
    assert counts[c.PATH_USERS] <= 3
    assert counts[c.PATH_DEVICES] <= 3


async def test_reconnect_after_a_long_outage_reads_phones_at_once(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Entities that went unavailable come back with NGUC's phones, not older ones."""
    entry = mock_config_entry
    with applied(hass, Timings(reconnect_quiet=25.0, backoff_cap=0.2)):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_in_sync(hass, entry)
        device_id = next(iter(simulator.company.devices))
        await simulator.go_offline()
        await wait_for(hass, lambda: not entry.runtime_data.connected)
        await advance(hass, 31)
        await wait_for(hass, lambda: not entry.runtime_data.available)
        simulator.company.devices[device_id].status = 0  # unregistered meanwhile
        await simulator.come_back()
        await wait_in_sync(hass, entry)
        # No 25 s wait: the phones' list was read with the rest.
        await wait_for(
            hass, lambda: not entry.runtime_data.data.devices[device_id].registered
        )


async def test_answers_closer_than_the_re_read_delay_remove_nothing(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: Simulator
) -> None:
    """Two empty phone lists 0.1 s apart, the second read slowed by another list: kept.

    What counts is when each list answered, not when its read (which waits
    for its slowest list) was applied.
    """
    entry = init_integration
    removed = removed_devices(hass)
    with applied(hass, Timings(shrink_recheck_delay=1.0)):
        simulator.override_path(c.PATH_DEVICES, [])
        before = reads(simulator, c.PATH_DEVICES)
        entry.runtime_data.sync.read()
        await simulator.wait_for_requests(c.PATH_DEVICES, before + 1)
        # The second read comes at once (a reconnect, an unknown item), and
        # its queue list takes 1.5 s, past the re-read delay.
        simulator.hang_path(c.PATH_QUEUES, 1.5, count=1)
        entry.runtime_data.sync.read()
        await simulator.wait_for_requests(c.PATH_DEVICES, before + 2)
        # NGUC lists its phones again: a third answer, the re-read delay
        # after the first, decides; it names them all.
        simulator.clear_path(c.PATH_DEVICES)
        await simulator.wait_for_requests(c.PATH_DEVICES, before + 3)
        await wait_for(hass, lambda: entry.runtime_data.sync._task is None)
    assert device(hass, entry, "device_9001") is not None
    assert not removed
