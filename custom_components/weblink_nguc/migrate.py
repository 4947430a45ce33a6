"""The unique id of an entry (its company), and the migration of older entries.

Version 1.1 entries had the unique id "<company>_<user id>", so that two
accounts of one company made two entries with the same devices twice. From
1.2 on an entry is its company: NGUC's company id, else the company name
casefolded. Devices and entities keep their ids, names and history; only the
identifiers made from the old unique id change.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .compat import async_create_issue
from .const import CONF_COMPANY, CONF_USER_ID, DOMAIN, ISSUE_DUPLICATE_COMPANY, LOGGER
from .devices import async_migrate_identifiers

VERSION = 1
MINOR_VERSION = 2


def company_unique_id(company_id: str | None, company: str) -> str:
    """Return the unique id of a company's entry: its id, else its name normalised."""
    return company_id or company.strip().casefold()


def legacy_unique_id(unique_id: str, user_id: str) -> str:
    """Return the unique id version 1.1 gave the entry of a company's user."""
    return f"{unique_id}_{user_id}"


async def async_migrate(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Migrate an entry of version 1 to the current minor version.

    Home Assistant itself refuses entries of a newer major version.
    """
    if entry.minor_version < 2:
        await _async_migrate_1_2(hass, entry)
    return True


async def _async_migrate_1_2(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Make the company the unique id; keep the user id in the entry's data."""
    old = entry.unique_id or ""
    company, _, user_id = old.rpartition("_")
    data = dict(entry.data)
    if company and user_id:
        data.setdefault(CONF_USER_ID, user_id)
    else:
        company = old
    # Made from the company name (lowercased) when NGUC gave no company id.
    name = str(entry.data.get(CONF_COMPANY, ""))
    if company == name.lower():
        company = company_unique_id(None, name)
    other = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, company)
    if other is not None and other.entry_id != entry.entry_id:
        # A second account of a company configured already: it keeps its
        # unique id (and so its devices) until the user removes one.
        LOGGER.warning(
            "%s is a second entry of the company of %s; remove one of them",
            entry.title,
            other.title,
        )
        async_create_issue(
            hass,
            entry,
            f"{entry.entry_id}_{ISSUE_DUPLICATE_COMPANY}",
            is_fixable=False,
            translation_key="duplicate_company",
            translation_placeholders={"account": entry.title, "other": other.title},
        )
        company = old
    hass.config_entries.async_update_entry(
        entry, unique_id=company, data=data, minor_version=MINOR_VERSION
    )
    if company != old:
        await async_migrate_identifiers(hass, entry, old, company)
