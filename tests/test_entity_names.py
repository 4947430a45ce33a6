"""Entity names fit a tile: short, and told apart, in every language shipped.

A tile (and the entity rows of a device page on a phone) cuts a name after
about 13 characters of proportional text: "Longest w…", "Senaste missa…".
So every entity name is at most ``MAX_NAME`` characters in English and in
Swedish, and no two entities share a name in one language (a user's device
and a queue's device show them side by side, and an entity id of a new
install is made from the name in the server's language, Swedish included).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components" / "weblink_nguc" / "translations"
)
LANGUAGES = ("en", "sv")
# 14 characters. On a phone (390 pixels wide) a tile of half a section
# gives its name 117 pixels: the widest name, "Längsta väntan", takes 98,
# where "Senaste missade samtal" took 156 (tests/e2e/test_tile_names.py
# measures them in Chromium, in both languages, on a laptop too).
MAX_NAME = 14


def entity_names(language: str) -> dict[str, str]:
    """Return ``platform.key`` -> the entity name, from a translation file."""
    data: dict[str, Any] = json.loads(
        (TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8")
    )
    return {
        f"{platform}.{key}": entity["name"]
        for platform, entities in data["entity"].items()
        for key, entity in entities.items()
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_entity_names_fit_a_tile(language: str) -> None:
    """No entity name is longer than MAX_NAME characters."""
    long = {
        key: name
        for key, name in entity_names(language).items()
        if len(name) > MAX_NAME
    }
    assert not long, f"{language}: names over {MAX_NAME} characters: {long}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_entity_names_are_distinct(language: str) -> None:
    """Two entities never share a name (nor one that differs only in case)."""
    names = entity_names(language)
    seen: dict[str, str] = {}
    for key, name in names.items():
        assert name.casefold() not in seen, (
            f"{language}: {key} and {seen[name.casefold()]} are both {name!r}"
        )
        seen[name.casefold()] = key


def test_every_language_names_the_same_entities() -> None:
    """Swedish names every entity English does, so none falls back to English."""
    assert entity_names("sv").keys() == entity_names("en").keys()
