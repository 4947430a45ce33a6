"""Entities within Home Assistant's limit per entry, in a stated order (issue 20).

Home Assistant adds at most ``MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`` enabled
entities to one config entry and warns ("Reached the maximum ...") when more
come. A company of 3,000 users, everyone followed, fits with the defaults
(budget.py); one too large gets what fits (queues first, then users by
name), a repair issue with the count, and a fix flow that opens the options.
The too-large cases run with a small limit (Home Assistant's and ours
patched alike), so that they stay fast; the end-to-end test
``tests/e2e/test_real_hass_scale.py`` runs them at the real limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
import contextlib
import json
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.ulid import ulid_now
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.weblink_nguc import budget
from custom_components.weblink_nguc.const import (
    CONF_API_URL,
    CONF_COMPANY,
    CONF_EVENTS_URL,
    CONF_USER_ID,
    DOMAIN,
    ISSUE_ENTITY_LIMIT,
)
from custom_components.weblink_nguc.follow import CONF_USERS
from tests.simulator import Simulator
from tests.simulator.model import Company, Device, User
from tests.simulator.scale import SCALE_COMPANY_ID, realistic_queues, scale_company

from .conftest import wait_for, wait_in_sync

REACHED = "Reached the maximum"

# What a user, a phone and a queue have, by platform and key, and which
# start enabled in a company too large to fit comfortably.
USER_ALWAYS = {
    (Platform.SENSOR, "line_status"),
    (Platform.EVENT, "call"),
    (Platform.TODO, "calls_to_return"),
}
USER_WHEN_COMFORTABLE = {
    (Platform.SENSOR, "missed_calls_today"),
    (Platform.SENSOR, "last_missed_call"),
    (Platform.SENSOR, "queues"),
    (Platform.BINARY_SENSOR, "paused"),
}
PHONE_WHEN_COMFORTABLE = {(Platform.BINARY_SENSOR, "registered")}
# A queue's entities that start enabled whatever the size (all but two).
QUEUE_ENABLED = 14


@contextlib.asynccontextmanager
async def running(company: Company) -> AsyncGenerator[Simulator]:
    """Run the simulator with ``company``."""
    sim = Simulator(company)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def entry_for(sim: Simulator, options: dict[str, Any] | None = None) -> MockConfigEntry:
    """Return a config entry for the simulator's scale company."""
    company = sim.company
    account = next(iter(company.accounts.values()))
    return MockConfigEntry(
        domain=DOMAIN,
        title=company.name,
        unique_id=SCALE_COMPANY_ID,
        minor_version=2,
        options=options or {},
        data={
            CONF_COMPANY: company.name,
            CONF_USERNAME: account.username,
            CONF_USER_ID: account.pbx_user_id,
            CONF_PASSWORD: account.password,
            CONF_API_URL: sim.api_url,
            CONF_EVENTS_URL: sim.events_url,
        },
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up ``entry``; wait until in sync and every new item's entities are added."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass, entry)


async def settle(
    hass: HomeAssistant, entry: MockConfigEntry, timeout: float = 25
) -> None:
    """Wait until ``entry`` is in sync and has handed out every new item."""
    await wait_in_sync(hass, entry)
    await wait_for(hass, lambda: not entry.runtime_data.notifying, timeout)


@contextlib.contextmanager
def limit(maximum: int) -> Iterator[None]:
    """Make Home Assistant's limit per entry, and so ours, ``maximum``."""
    with (
        patch(
            "homeassistant.helpers.entity_platform.MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY",
            maximum,
        ),
        patch.object(budget, "LIMIT", maximum),
        patch.object(budget, "COMFORTABLE", maximum // 2),
    ):
        yield


def unique_id(key: str, what: str) -> str:
    """Return the unique id of an entity of the scale company."""
    return f"{SCALE_COMPANY_ID}_{key}_{what}"


def registry_entry(
    hass: HomeAssistant, platform: Platform, key: str, what: str
) -> er.RegistryEntry | None:
    """Return the registry entry of an entity, None if it has none."""
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id(platform, DOMAIN, unique_id(key, what))
    return None if entity_id is None else registry.async_get(entity_id)


def users_with_devices(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """Return the NGUC ids of the users that have a device."""
    prefix = f"{SCALE_COMPANY_ID}_user_"
    return {
        identifier.removeprefix(prefix)
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        for domain, identifier in device.identifiers
        if domain == DOMAIN and identifier.startswith(prefix)
    }


def enabled_count(hass: HomeAssistant, entry: MockConfigEntry) -> int:
    """Return the entry's enabled entities, as Home Assistant counts them."""
    return er.async_get(hass).entities.get_enabled_count_for_config_entry_id(
        entry.entry_id
    )


def limit_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    """Return the entity-limit issue of ``entry``, if raised."""
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"{entry.entry_id}_{ISSUE_ENTITY_LIMIT}"
    )


async def test_3000_users_everyone_followed_fit(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """3,000 users and their 50 queues: every default entity, nothing left out."""
    queues = realistic_queues(3000)
    assert queues == 50
    async with running(scale_company(3000, queues)) as sim:
        entry = entry_for(sim)
        with caplog.at_level(logging.WARNING):
            await set_up(hass, entry)
        company = sim.company
        assert users_with_devices(hass, entry) == set(company.users)
        for user_id in company.users:
            key = f"user_{user_id}"
            for platform, what in USER_ALWAYS:
                found = registry_entry(hass, platform, key, what)
                assert found is not None, (key, what)
                assert found.disabled_by is None
                assert hass.states.get(found.entity_id) is not None
            for platform, what in USER_WHEN_COMFORTABLE:
                found = registry_entry(hass, platform, key, what)
                assert found is not None, (key, what)
                assert found.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        for device_id in company.devices:
            found = registry_entry(
                hass, Platform.BINARY_SENSOR, f"device_{device_id}", "registered"
            )
            assert found is not None
            assert found.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        # Three a user, fourteen a queue, the account's event stream.
        assert enabled_count(hass, entry) == 3 * 3000 + QUEUE_ENABLED * queues + 1
        assert limit_issue(hass, entry) is None
        assert REACHED not in caplog.text
        await hass.config_entries.async_unload(entry.entry_id)


# A company too large for a limit of 200: 1 (the account) + 3 queues of 14
# leave 157, three a user: 52 of the 60 users fit, by name.
SMALL_LIMIT = 200
TOO_LARGE_USERS = 60
TOO_LARGE_QUEUES = 3


def by_name(company: Company) -> list[str]:
    """Return the company's user ids in the order of their names, as admitted."""
    return sorted(
        company.users,
        key=lambda user_id: (company.users[user_id].name.casefold(), user_id),
    )


async def test_a_company_too_large_gets_what_fits_in_order(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Queues first, then users by name up to the limit; an issue counts the rest."""
    async with running(scale_company(TOO_LARGE_USERS, TOO_LARGE_QUEUES)) as sim:
        entry = entry_for(sim)
        with limit(SMALL_LIMIT), caplog.at_level(logging.WARNING):
            await set_up(hass, entry)
            company = sim.company
            fitting = by_name(company)[:52]
            assert users_with_devices(hass, entry) == set(fitting)
            for queue_id in company.queues:
                found = registry_entry(
                    hass, Platform.SENSOR, f"queue_{queue_id}", "waiting"
                )
                assert found is not None
                assert found.disabled_by is None
            # A phone goes with its user: none for those left out.
            left_out = set(company.users) - set(fitting)
            for device_id, device in company.devices.items():
                found = registry_entry(
                    hass, Platform.BINARY_SENSOR, f"device_{device_id}", "registered"
                )
                assert (found is None) == (device.pbx_user_id in left_out)
            assert enabled_count(hass, entry) <= SMALL_LIMIT
            issue = limit_issue(hass, entry)
            assert issue is not None
            assert issue.is_fixable
            assert issue.translation_placeholders is not None
            assert issue.translation_placeholders["users_left_out"] == "8"
            assert issue.translation_placeholders["queues_left_out"] == "0"
            assert issue.translation_placeholders["limit"] == str(SMALL_LIMIT)
            assert REACHED not in caplog.text
            await hass.config_entries.async_unload(entry.entry_id)
        # Unloaded: withdrawn (a reload weighs everything again).
        assert limit_issue(hass, entry) is None


async def test_queues_come_before_users(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    """With room for two queues alone, two queues and no user get entities."""
    async with running(scale_company(10, 3)) as sim:
        entry = entry_for(sim)
        with limit(30), caplog.at_level(logging.WARNING):
            await set_up(hass, entry)
            assert users_with_devices(hass, entry) == set()
            queues_made = {
                queue_id
                for queue_id in sim.company.queues
                if registry_entry(hass, Platform.SENSOR, f"queue_{queue_id}", "waiting")
            }
            # By name: "Queue 1" and "Queue 2".
            assert queues_made == set(list(sim.company.queues)[:2])
            issue = limit_issue(hass, entry)
            assert issue is not None
            assert issue.translation_placeholders == {
                "account": entry.title,
                "limit": "30",
                "users_left_out": "10",
                "queues_left_out": "1",
            }
            assert REACHED not in caplog.text
            await hass.config_entries.async_unload(entry.entry_id)


async def test_the_fix_flow_opens_the_options_and_reloads(
    hass: HomeAssistant,
    socket_enabled: None,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's fix flow, as the frontend runs it, is whom to follow; saved, it fits."""
    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "repairs", {})
    async with running(scale_company(TOO_LARGE_USERS, TOO_LARGE_QUEUES)) as sim:
        entry = entry_for(sim)
        with limit(SMALL_LIMIT), caplog.at_level(logging.WARNING):
            await set_up(hass, entry)
            issue = limit_issue(hass, entry)
            assert issue is not None
            client = await hass_client()
            response = await client.post(
                "/api/repairs/issues/fix",
                json={"handler": DOMAIN, "issue_id": issue.issue_id},
            )
            assert response.status == 200
            form = await response.json()
            assert form["type"] == "form"
            assert form["step_id"] == "follow"
            assert {field["name"] for field in form["data_schema"]} == {
                "users",
                "queues",
            }
            # Every user is offered, those left out too.
            offered = form["data_schema"][0]["selector"]["select"]["options"]
            assert {option["value"] for option in offered} == set(sim.company.users)
            assert form["description_placeholders"]["users_left_out"] == "8"
            chosen = by_name(sim.company)[-20:]  # some of those left out among them
            response = await client.post(
                f"/api/repairs/issues/fix/{form['flow_id']}", json={"users": chosen}
            )
            assert response.status == 200
            assert (await response.json())["type"] == "create_entry"
            assert entry.options[CONF_USERS] == sorted(chosen)
            # Reloaded with the choice: those 20, nothing left out.
            await hass.async_block_till_done()
            await settle(hass, entry)
            assert users_with_devices(hass, entry) == set(chosen)
            assert limit_issue(hass, entry) is None
            assert REACHED not in caplog.text
            await hass.config_entries.async_unload(entry.entry_id)


# --- A person's choice stays -------------------------------------------------------


def set_disabled(
    hass: HomeAssistant, key: str, what: str, disabled: bool, platform: Platform
) -> None:
    """Enable or disable an entity as a person does in the entity settings."""
    found = registry_entry(hass, platform, key, what)
    assert found is not None
    er.async_get(hass).async_update_entity(
        found.entity_id,
        disabled_by=er.RegistryEntryDisabler.USER if disabled else None,
    )


def disabled_by(
    hass: HomeAssistant, key: str, what: str, platform: Platform = Platform.SENSOR
) -> er.RegistryEntryDisabler | str | None:
    """Return who disabled an entity (None: enabled); "missing" if not registered."""
    found = registry_entry(hass, platform, key, what)
    return "missing" if found is None else found.disabled_by


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Reload ``entry`` and wait until it has made every entity again."""
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass, entry)


async def test_a_persons_choice_stays_across_reloads_and_growth(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Defaults apply once; what a person enabled or disabled stays so."""
    async with running(scale_company(10, 1)) as sim:
        entry = entry_for(sim)
        # 95 entities with everything enabled: within the 100 that fit comfortably.
        with limit(SMALL_LIMIT):
            await set_up(hass, entry)
            first, second = (
                f"user_{user_id}" for user_id in list(sim.company.users)[:2]
            )
            assert disabled_by(hass, first, "missed_calls_today") is None
            set_disabled(hass, first, "missed_calls_today", True, Platform.SENSOR)
            set_disabled(hass, first, "line_status", True, Platform.SENSOR)
            await reload(hass, entry)
            user = er.RegistryEntryDisabler.USER
            assert disabled_by(hass, first, "missed_calls_today") is user
            assert disabled_by(hass, first, "line_status") is user
            assert disabled_by(hass, second, "missed_calls_today") is None

            # The company grows past what fits comfortably.
            for n in range(10, 20):
                user_id = str(100_000 + n)
                sim.company.add_user(
                    User(user_id, f"User {n + 1}", str(1000 + n), f"u{n}@x.example")
                )
                sim.company.add_device(
                    Device(str(200_000 + n), user_id, f"Phone {n + 1}", "Yealink")
                )
            await reload(hass, entry)
            newcomer = "user_100015"
            integration = er.RegistryEntryDisabler.INTEGRATION
            assert disabled_by(hass, newcomer, "line_status") is None
            assert disabled_by(hass, newcomer, "missed_calls_today") is integration
            assert (
                disabled_by(hass, "device_200015", "registered", Platform.BINARY_SENSOR)
                is integration
            )
            # Those registered before keep what they had, and the person's choice.
            assert disabled_by(hass, first, "missed_calls_today") is user
            assert disabled_by(hass, first, "line_status") is user
            assert disabled_by(hass, second, "missed_calls_today") is None
            assert disabled_by(hass, second, "paused", Platform.BINARY_SENSOR) is None

            # A person enables one started disabled: it stays enabled.
            set_disabled(hass, newcomer, "missed_calls_today", False, Platform.SENSOR)
            await reload(hass, entry)
            assert disabled_by(hass, newcomer, "missed_calls_today") is None
            found = registry_entry(
                hass, Platform.SENSOR, newcomer, "missed_calls_today"
            )
            assert found is not None
            assert hass.states.get(found.entity_id) is not None
            await hass.config_entries.async_unload(entry.entry_id)


# --- An upgrade from the previous version's registry -------------------------------

UPGRADE_ENTRY_ID = "01KUPGRADEBUDGETTEST000000"
# What the previous version registered for each user and phone, every one
# enabled: it had no rule by size.
PREVIOUS_USER = (*USER_ALWAYS, *USER_WHEN_COMFORTABLE)
PREVIOUS_PHONE = tuple(PHONE_WHEN_COMFORTABLE)
UPGRADED_USERS = 10  # of the 12 of the company: two come after the upgrade


def previous_registry() -> dict[str, Any]:
    """Return ``core.entity_registry`` as the previous version left it.

    The first ten users of a 12-user company with every entity registered
    enabled, but the first user's line status, which a person disabled.
    """
    entries: list[dict[str, Any]] = []

    def add(platform: Platform, key: str, what: str, disabled: bool = False) -> None:
        entry = er.RegistryEntry(
            entity_id=f"{platform}.previous_{key}_{what}",
            unique_id=unique_id(key, what),
            platform=DOMAIN,
            config_entry_id=UPGRADE_ENTRY_ID,
            has_entity_name=True,
            translation_key=what,
            disabled_by=er.RegistryEntryDisabler.USER if disabled else None,
            capabilities=None,
            config_subentry_id=None,
            created_at=dt_util.utcnow(),
            device_id=None,
            entity_category=None,
            hidden_by=None,
            id=ulid_now(),
            object_id_base=None,
            options={},
            original_device_class=None,
            original_icon=None,
            original_name=None,
            suggested_object_id=None,
            supported_features=0,
            unit_of_measurement=None,
        )
        entries.append(json.loads(json_bytes(entry.as_storage_fragment)))

    for n in range(UPGRADED_USERS):
        user_key = f"user_{100_000 + n}"
        for platform, what in PREVIOUS_USER:
            add(platform, user_key, what, n == 0 and what == "line_status")
        for platform, what in PREVIOUS_PHONE:
            add(platform, f"device_{200_000 + n}", what)
    return {
        "core.entity_registry": {
            "version": er.STORAGE_VERSION_MAJOR,
            "minor_version": er.STORAGE_VERSION_MINOR,
            "key": "core.entity_registry",
            "data": {
                "entities": entries,
                "deleted_entities": [],
                "settings": {"entity_id_parts": None},
            },
        }
    }


async def load_stored_registry(
    hass: HomeAssistant, hass_storage: dict[str, Any], stored: dict[str, Any]
) -> er.EntityRegistry:
    """Load the entity registry from ``stored``, as Home Assistant does at start.

    The harness starts with an empty registry that never reads storage: it
    is replaced by one that loads the stored file.
    """
    hass_storage.update(stored)
    del hass.data[er.DATA_REGISTRY]
    await er.async_load(hass)
    return er.async_get(hass)


async def test_an_upgrade_keeps_what_the_previous_version_enabled(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities registered enabled stay enabled; only new ones follow the rule."""
    registry = await load_stored_registry(hass, hass_storage, previous_registry())
    stored = er.async_entries_for_config_entry(registry, UPGRADE_ENTRY_ID)
    assert len(stored) == UPGRADED_USERS * (len(PREVIOUS_USER) + len(PREVIOUS_PHONE))
    async with running(scale_company(12, 1)) as sim:
        entry = entry_for(sim)
        entry = MockConfigEntry(
            domain=DOMAIN,
            entry_id=UPGRADE_ENTRY_ID,
            title=entry.title,
            unique_id=entry.unique_id,
            minor_version=2,
            data=dict(entry.data),
        )
        # Past what fits comfortably: new entities would start lean.
        with patch.object(budget, "COMFORTABLE", 50), caplog.at_level(logging.WARNING):
            await set_up(hass, entry)
            for n in range(UPGRADED_USERS):
                key = f"user_{100_000 + n}"
                for platform, what in PREVIOUS_USER:
                    found = registry_entry(hass, platform, key, what)
                    assert found is not None
                    if n == 0 and what == "line_status":
                        assert found.disabled_by is er.RegistryEntryDisabler.USER
                        continue
                    assert found.disabled_by is None, (key, what)
                    assert hass.states.get(found.entity_id) is not None, (key, what)
            integration = er.RegistryEntryDisabler.INTEGRATION
            for n in range(UPGRADED_USERS, 12):
                key = f"user_{100_000 + n}"
                assert disabled_by(hass, key, "line_status") is None
                assert disabled_by(hass, key, "missed_calls_today") is integration
            assert REACHED not in caplog.text
            await hass.config_entries.async_unload(entry.entry_id)


async def test_the_count_knows_every_entity_the_platforms_make(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """What the platforms declare (budget.expect) is exactly what they register.

    An entity made but not declared would not be counted against the limit.
    """
    async with running(scale_company(4, 2)) as sim:
        entry = entry_for(sim)
        await set_up(hass, entry)
        planned = entry.runtime_data.budget.planned
        declared = {
            (kind, entity.platform, entity.key, entity.enabled_default)
            for kind, entities in planned.items()
            for entity in entities
        }
        registered = set()
        for found in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        ):
            item = found.unique_id.removeprefix(f"{SCALE_COMPANY_ID}_")
            kind, _, rest = item.partition("_")
            what = rest.partition("_")[2] if kind != "account" else rest
            # A small company: everything but the three disabled on purpose.
            default = (
                found.disabled_by is None or what in budget.ENABLED_WHEN_COMFORTABLE
            )
            registered.add((kind, Platform(found.domain), what, default))
        assert registered == declared
        await hass.config_entries.async_unload(entry.entry_id)
