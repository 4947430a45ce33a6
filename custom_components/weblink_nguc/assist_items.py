"""Whom an assistant may name: the users and queues exposed to it, and names as said.

Assist's tools (``llm.py``) speak only of the users and queues whose entity
for the tool is exposed to the assistant, as core's ``todo/llm.py`` does;
any other does not exist for the tool, not even in a refusal. A name is
matched as a person says it: case and diacritics aside (``lars oberg`` is
Lars Öberg), a first name alone when only one person has it, or an
extension.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import re
from typing import Any, Final
import unicodedata

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN
from .coordinator import NgucConfigEntry, NgucCoordinator
from .data import KIND_QUEUE, KIND_USER, queue_key, split_key, user_key

ATTR_PERSON: Final = "person"
ATTR_QUEUE: Final = "queue"

#: Names a refusal offers instead; a larger company gets none (too long).
MAX_KNOWN_LISTED: Final = 25

UNAVAILABLE: Final = (
    "The phone system (Weblink NGUC) is unavailable right now, so its current "
    "figures are not known. Try again later."
)


@dataclass(frozen=True, slots=True)
class Aspect:
    """What a tool tells of a kind of item, and the entity that must be exposed."""

    kind: str  # KIND_USER or KIND_QUEUE
    platform: Platform
    key: str  # the entity description's key: the end of its unique id


LINE: Final = Aspect(KIND_USER, Platform.SENSOR, "line_status")
QUEUE_FIGURES: Final = Aspect(KIND_QUEUE, Platform.SENSOR, "waiting")
USER_LIST: Final = Aspect(KIND_USER, Platform.TODO, "calls_to_return")
QUEUE_LIST: Final = Aspect(KIND_QUEUE, Platform.TODO, "calls_to_return")
USER_CALLS: Final = Aspect(KIND_USER, Platform.EVENT, "call")
QUEUE_CALLS: Final = Aspect(KIND_QUEUE, Platform.EVENT, "queue_call")


@dataclass(frozen=True, slots=True)
class Item:
    """A user or queue exposed for a tool, as the tool names it."""

    entry: NgucConfigEntry
    key: str
    name: str
    extension: str | None = None

    @property
    def item_id(self) -> str:
        """Return the item's NGUC id."""
        return split_key(self.key)[1]

    @property
    def coordinator(self) -> NgucCoordinator:
        """Return the coordinator of the item's entry."""
        return self.entry.runtime_data

    def label(self) -> str:
        """Return the name, with the extension that tells namesakes apart."""
        return f"{self.name} ({self.extension})" if self.extension else self.name


class RefusalError(Exception):
    """A tool cannot answer: its ``data`` says why, for the model."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Keep the answer to give."""
        super().__init__(data.get("message"))
        self.data = data


def loaded_entries(hass: HomeAssistant) -> list[NgucConfigEntry]:
    """Return the entries that are running."""
    return hass.config_entries.async_loaded_entries(DOMAIN)


def unloaded_entries(hass: HomeAssistant) -> list[NgucConfigEntry]:
    """Return the entries set up with errors, or still trying: unavailable."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is not ConfigEntryState.LOADED and entry.disabled_by is None
    ]


def _is_exposed(
    hass: HomeAssistant, assistant: str, registry_entry: er.RegistryEntry | None
) -> bool:
    return (
        registry_entry is not None
        and registry_entry.disabled_by is None
        and async_should_expose(hass, assistant, registry_entry.entity_id)
    )


def exposed_items(
    hass: HomeAssistant, assistant: str, aspects: Iterable[Aspect]
) -> list[Item]:
    """Return the users and queues of loaded entries whose entity of ``aspects`` is exposed."""
    return list(exposed_iter(hass, assistant, aspects))


def exposed_iter(
    hass: HomeAssistant, assistant: str, aspects: Iterable[Aspect]
) -> Iterator[Item]:
    """Yield what :func:`exposed_items` returns, one at a time.

    Each item's entity is found by its unique id, not by going through the
    entry's every entity: a company of 1,000 users has some 20,000.
    """
    registry = er.async_get(hass)
    for aspect in aspects:
        for entry in loaded_entries(hass):
            coordinator = entry.runtime_data
            data = coordinator.data
            ids: Iterable[str] = data.users if aspect.kind == KIND_USER else data.queues
            for item_id in ids:
                key = (user_key if aspect.kind == KIND_USER else queue_key)(item_id)
                entity_id = registry.async_get_entity_id(
                    aspect.platform,
                    DOMAIN,
                    f"{coordinator.identifier(key)}_{aspect.key}",
                )
                if entity_id is None or not _is_exposed(
                    hass, assistant, registry.async_get(entity_id)
                ):
                    continue
                if aspect.kind == KIND_USER:
                    user = data.users[item_id]
                    name = user.name or user.extension or item_id
                    yield Item(entry, key, name, user.extension)
                else:
                    yield Item(entry, key, data.queues[item_id].name or item_id)


def unloaded_exposed(
    hass: HomeAssistant, assistant: str, aspects: Iterable[Aspect]
) -> list[NgucConfigEntry]:
    """Return the entries not running that have an entity of ``aspects`` exposed."""
    registry = er.async_get(hass)
    ends = [(aspect.platform.value, f"_{aspect.key}") for aspect in aspects]
    return [
        entry
        for entry in unloaded_entries(hass)
        if any(
            registry_entry.domain == domain
            and registry_entry.unique_id.endswith(end)
            and _is_exposed(hass, assistant, registry_entry)
            for registry_entry in er.async_entries_for_config_entry(
                registry, entry.entry_id
            )
            for domain, end in ends
        )
    ]


# --- Names, as a person says them ------------------------------------------------------

# Letters that are not a base letter with a mark, and so survive NFKD.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d"})
_NOT_WORD = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Return a name as compared: no case, no diacritics, words split by one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", plain).strip()


def match(items: list[Item], said: str, what: str) -> Item:
    """Return the one item ``said`` names; a RefusalError when none or several do.

    A whole name or an extension first; a first name alone only when one
    item has it; a queue also without the word "queue".
    """
    wanted = fold(said)
    found = [
        item
        for item in items
        if wanted and (fold(item.name) == wanted or item.extension == said.strip())
    ]
    if not found and what == ATTR_QUEUE and wanted.endswith(" queue"):
        bare = wanted.removesuffix(" queue")
        found = [item for item in items if fold(item.name) == bare]
    if not found and what == ATTR_PERSON and wanted and " " not in wanted:
        found = [item for item in items if fold(item.name).split(" ")[0] == wanted]
    if len(found) == 1:
        return found[0]
    noun = "person" if what == ATTR_PERSON else "queue"
    if found:
        raise RefusalError(
            {
                "error": f"ambiguous_{noun}",
                "message": (
                    f"More than one {noun} is called '{said}'. Ask which one is"
                    " meant, by full name or extension."
                ),
                "candidates": sorted(item.label() for item in found),
            }
        )
    answer: dict[str, Any] = {
        "error": f"unknown_{noun}",
        "message": f"No {noun} called '{said}' is known to Assist.",
    }
    if len(items) <= MAX_KNOWN_LISTED:
        answer[f"known_{noun}s"] = sorted({item.name for item in items})
    raise RefusalError(answer)


def unavailable_refusal() -> RefusalError:
    """Return the refusal of a tool whose live figures are not known."""
    # Not the account's title: it names the account's user, who may not be
    # exposed.
    return RefusalError({"error": "unavailable", "message": UNAVAILABLE})
