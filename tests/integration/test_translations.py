"""Every translation key the code and icons.json use exists in English and Swedish.

Custom integrations have no ``strings.json`` build step: ``translations/en.json``
is the English text itself, and a key missing there shows as a raw key (or an
empty name) in the UI. The keys are collected from the code itself: the entity
descriptions of the platform modules (imported), and, by parsing the source,
every ``translation_key=`` of an exception or issue, and the config flow's
steps, errors and abort reasons.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
import importlib
import json
from pathlib import Path
import re
from types import ModuleType
from typing import Any

from homeassistant.const import Platform
from homeassistant.data_entry_flow import section
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.typing import UNDEFINED
import pytest
import voluptuous as vol

from custom_components.weblink_nguc.const import DOMAIN

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN
LANGUAGES = ("en", "sv")
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Exception classes whose translation_key names an ``exceptions`` entry.
ISSUE_FUNCTIONS = {"async_create_issue", "create_issue"}


def _load(name: str) -> dict[str, Any]:
    path = INTEGRATION / name
    if not path.exists():
        pytest.fail(f"{path.relative_to(INTEGRATION.parents[1])} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Return {"a.b.c": text} for every string leaf of a nested dict."""
    if isinstance(data, dict):
        flat: dict[str, str] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix: data}


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _platform_modules() -> Iterator[tuple[str, ModuleType]]:
    for platform in Platform:
        if (INTEGRATION / f"{platform.value}.py").exists():
            yield (
                platform.value,
                importlib.import_module(f"custom_components.{DOMAIN}.{platform.value}"),
            )


def _descriptions(module: ModuleType) -> Iterator[EntityDescription]:
    """Yield the entity descriptions a platform module defines at module level."""
    seen: set[int] = set()
    for value in vars(module).values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if isinstance(item, EntityDescription) and id(item) not in seen:
                seen.add(id(item))
                yield item


def _platform_source_nodes(source: Path) -> Iterator[ast.AST]:
    """Yield the nodes of a platform module and of the entity modules it imports."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    yield from ast.walk(tree)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            helper = INTEGRATION / f"{node.module}.py"
            names = {alias.name for alias in node.names}
            # A module of entity classes: it gives the platform an entity.
            if helper.exists() and any(name.startswith("Nguc") for name in names):
                yield from ast.walk(ast.parse(helper.read_text(encoding="utf-8")))


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg == name), None)


def _constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


@dataclass
class Required:
    """Translation paths the code needs, with where each need comes from."""

    paths: dict[str, str] = field(default_factory=dict)
    # Placeholders an exception message may use, by translation path
    # (None: the call passes no literal dict, so anything goes).
    placeholders: dict[str, set[str] | None] = field(default_factory=dict)

    def need(self, path: str, why: str) -> None:
        self.paths.setdefault(path, why)


def _entity_requirements(required: Required) -> set[str]:
    """Add the entity names, states and event types; return the entity keys."""
    keys: set[str] = set()
    for platform, module in _platform_modules():
        source = Path(module.__file__ or "")
        for description in _descriptions(module):
            key = description.translation_key
            why = f"{source.name}: description {description.key!r}"
            if key is None:
                assert description.name is not UNDEFINED or (
                    getattr(description, "device_class", None) is not None
                ), f"{why} has no translation_key, name or device class"
                continue
            keys.add(f"{platform}.{key}")
            base = f"entity.{platform}.{key}"
            if getattr(description, "device_class", None) is None:
                required.need(f"{base}.name", why)
            else:
                required.need(base, why)
            for option in getattr(description, "options", None) or ():
                required.need(f"{base}.state.{option}", f"{why}, option")
            for event_type in getattr(description, "event_types", None) or ():
                required.need(
                    f"{base}.state_attributes.event_type.state.{event_type}",
                    f"{why}, event type",
                )
        # Keys written out in the source: descriptions made elsewhere than at
        # module level, and entity classes with _attr_translation_key; in the
        # platform module and in the modules of its entities it imports
        # (missed_calls.py for the sensors).
        for node in _platform_source_nodes(source):
            key = None
            if isinstance(node, ast.Call) and _call_name(node).endswith(
                "EntityDescription"
            ):
                key = _constant(_keyword(node, "translation_key"))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                if any(
                    isinstance(t, ast.Name) and t.id == "_attr_translation_key"
                    for t in targets
                ):
                    key = _constant(node.value)
            if key is not None:
                keys.add(f"{platform}.{key}")
                required.need(
                    f"entity.{platform}.{key}",
                    f"{source.name}:{getattr(node, 'lineno', '?')}",
                )
    return keys


def _source_requirements(required: Required) -> None:
    """Add exception and issue keys used anywhere in the integration's code."""
    for path in sorted(INTEGRATION.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            key = _constant(_keyword(node, "translation_key"))
            if key is None or name.endswith("EntityDescription"):
                continue
            where = f"{path.relative_to(INTEGRATION)}:{node.lineno}"
            if name in ISSUE_FUNCTIONS:
                required.need(f"issues.{key}.title", where)
                continue
            if _keyword(node, "translation_domain") is None:
                continue
            message = f"exceptions.{key}.message"
            required.need(message, where)
            given = _keyword(node, "translation_placeholders")
            allowed: set[str] | None = None
            if isinstance(given, ast.Dict):
                texts = [_constant(item) for item in given.keys]
                if all(text is not None for text in texts):
                    allowed = {text for text in texts if text is not None}
            elif given is None:
                allowed = set()
            if message in required.placeholders and allowed is not None:
                previous = required.placeholders[message]
                allowed = None if previous is None else previous & allowed
            required.placeholders[message] = allowed


def _flow_requirements(required: Required) -> None:
    """Add the config flow's steps, errors and abort reasons."""
    path = INTEGRATION / "config_flow.py"
    if not path.exists():
        pytest.fail("config_flow.py is missing")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        bases = {ast.unparse(base) for base in cls.bases}
        if any("OptionsFlow" in base for base in bases):
            flow = "options"
        elif any("ConfigFlow" in base for base in bases):
            flow = "config"
        else:
            continue
        steps = {
            node.name.removeprefix("async_step_")
            for node in cls.body
            if isinstance(node, ast.AsyncFunctionDef)
            and node.name.startswith("async_step_")
        }
        literals: set[str] = set()
        for node in ast.walk(cls):
            where = f"config_flow.py:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            if isinstance(node, ast.Assign):
                # errors["base"] = "cannot_connect"
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and "error" in ast.unparse(target.value).lower()
                        and (error := _constant(node.value)) is not None
                    ):
                        required.need(f"{flow}.error.{error}", where)
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            # async_show_form(..., errors={"base": "..."})
            errors = _keyword(node, "errors")
            if isinstance(errors, ast.Dict):
                for value in errors.values:
                    if (error := _constant(value)) is not None:
                        required.need(f"{flow}.error.{error}", where)
            if (step := _constant(_keyword(node, "step_id"))) is not None:
                required.need(f"{flow}.step.{step}", where)
            reason = _constant(_keyword(node, "reason"))
            if reason is not None:
                required.need(f"{flow}.abort.{reason}", where)
            elif name == "_abort_if_unique_id_configured":
                required.need(f"{flow}.abort.already_configured", where)
            elif name == "_abort_if_unique_id_mismatch":
                required.need(f"{flow}.abort.unique_id_mismatch", where)
            elif name == "async_update_reload_and_abort":
                if "reauth" in steps:
                    required.need(f"{flow}.abort.reauth_successful", where)
                if "reconfigure" in steps:
                    required.need(f"{flow}.abort.reconfigure_successful", where)
        # A step whose id is written out (step_id=step_id, shared form helpers)
        # shows a form: it needs its texts.
        for step in steps & literals:
            required.need(f"{flow}.step.{step}", "config_flow.py: form of a step")


def _schema_fields() -> dict[str, set[str]]:
    """Return the config flow's form fields: {"": top-level, section: its fields}."""
    module = importlib.import_module(f"custom_components.{DOMAIN}.config_flow")
    fields: dict[str, set[str]] = {"": set()}
    for value in vars(module).values():
        if not isinstance(value, vol.Schema) or not isinstance(value.schema, dict):
            continue
        for marker, validator in value.schema.items():
            key = str(getattr(marker, "schema", marker))
            if isinstance(validator, section):
                inner = validator.schema
                fields.setdefault(key, set()).update(
                    str(getattr(m, "schema", m)) for m in inner.schema
                )
            else:
                fields[""].add(key)
    return fields


@pytest.fixture(name="translations", scope="module")
def translations_fixture() -> dict[str, dict[str, Any]]:
    """Return the parsed translation files."""
    return {language: _load(f"translations/{language}.json") for language in LANGUAGES}


@pytest.fixture(name="required", scope="module")
def required_fixture() -> Required:
    """Return every translation path the code needs."""
    required = Required()
    _entity_requirements(required)
    _source_requirements(required)
    _flow_requirements(required)
    return required


def test_code_keys_are_translated(
    translations: dict[str, dict[str, Any]], required: Required
) -> None:
    """Each key the code uses exists in every language."""
    # Sanity: the collection found what this integration is known to use.
    assert "exceptions.invalid_auth.message" in required.paths
    assert any(path.startswith("entity.sensor.") for path in required.paths)
    assert "config.step.user" in required.paths
    assert any(path.startswith("config.error.") for path in required.paths)
    missing = [
        f"{language}: {path} (used by {why})"
        for language, data in translations.items()
        for path, why in sorted(required.paths.items())
        if _get(data, path) is None
    ]
    assert not missing, "missing translations:\n" + "\n".join(missing)


def test_exception_placeholders(
    translations: dict[str, dict[str, Any]], required: Required
) -> None:
    """An exception message uses only the placeholders the code passes."""
    wrong = []
    for path, allowed in required.placeholders.items():
        if allowed is None:
            continue
        for language, data in translations.items():
            text = _get(data, path)
            if isinstance(text, str) and (
                extra := set(PLACEHOLDER.findall(text)) - allowed
            ):
                wrong.append(f"{language}: {path} uses {sorted(extra)}")
    assert not wrong, "\n".join(wrong)


def test_form_fields_are_translated(
    translations: dict[str, dict[str, Any]],
) -> None:
    """Each field of the config flow's forms has a label in some step."""
    fields = _schema_fields()
    for language, data in translations.items():
        steps: dict[str, Any] = _get(data, "config.step") or {}
        labels = {key for step in steps.values() for key in step.get("data", {})}
        sections = {
            name for step in steps.values() for name in step.get("sections", {})
        }
        missing = sorted(fields[""] - labels - sections)
        for name, inner in fields.items():
            if not name:
                continue
            inner_labels = {
                key
                for step in steps.values()
                for key in step.get("sections", {}).get(name, {}).get("data", {})
            }
            missing += [f"{name}.{key}" for key in sorted(inner - inner_labels)]
        assert not missing, f"{language}: form fields without a label: {missing}"


def test_icons_match_translations(
    translations: dict[str, dict[str, Any]],
) -> None:
    """Each entity in icons.json exists in the code and in the translations."""
    icons = _load("icons.json")
    used = _entity_requirements(Required())
    problems = []
    for platform, entities in icons.get("entity", {}).items():
        for key, icon in entities.items():
            if f"{platform}.{key}" not in used:
                problems.append(f"icons.json: entity.{platform}.{key} is not used")
            for language, data in translations.items():
                text = _get(data, f"entity.{platform}.{key}")
                if text is None:
                    problems.append(f"{language}: entity.{platform}.{key} missing")
                    continue
                for sub in ("state", "state_attributes.event_type.state"):
                    icon_states = set(_get(icon, sub) or {})
                    text_states = set(_get(text, sub) or {})
                    if text_states and (extra := icon_states - text_states):
                        problems.append(
                            f"{language}: entity.{platform}.{key}.{sub} lacks"
                            f" {sorted(extra)} that icons.json has"
                        )
    for key in icons.get("services", {}):
        for language, data in translations.items():
            if _get(data, f"services.{key}") is None:
                problems.append(f"{language}: services.{key} missing")
    assert not problems, "\n".join(problems)


def test_languages_have_the_same_keys(
    translations: dict[str, dict[str, Any]],
) -> None:
    """English and Swedish have the same keys and the same placeholders."""
    flat = {language: _flatten(data) for language, data in translations.items()}
    english = flat["en"]
    for language, texts in flat.items():
        assert set(texts) - set(english) == set(), f"{language} has extra keys"
        assert set(english) - set(texts) == set(), f"{language} lacks keys"
        for path, text in texts.items():
            assert isinstance(text, str), f"{language}: {path} is not text"
            assert text.strip(), f"{language}: {path} is empty"
            # A custom integration has no build step to resolve references.
            assert "[%key:" not in text, f"{language}: {path} holds a reference"
            assert set(PLACEHOLDER.findall(text)) == set(
                PLACEHOLDER.findall(english[path])
            ), f"{language}: {path} has other placeholders than English"
