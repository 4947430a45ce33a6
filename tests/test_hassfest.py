"""The integration passes the checks of hassfest, Home Assistant's own validator.

Custom integrations run hassfest in their CI (a GitHub action), and it needs a
checkout of Home Assistant's repository, so it cannot run here. These tests
check the same files the same way, with schemas of our own written after
hassfest's rules: ``services.yaml`` (no device filter on a target, valid
selectors), ``triggers.yaml`` and ``conditions.yaml`` (when there is one:
selectors, a target of this integration's devices), the structure of the
translations and that every action, trigger, condition and field in them has
a name and a description in every language, that every trigger and condition
has an icon, ``manifest.json`` (the keys hassfest and HACS require) and
``hacs.json`` (the keys HACS accepts).

``tests/integration/test_translations.py`` checks the other half: that every
translation key the *code* uses exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
from pathlib import Path
import re
import string
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
from homeassistant.const import CONF_SELECTOR
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv, selector, service
from homeassistant.util.yaml import load_yaml_dict, parse_yaml
import pytest
import voluptuous as vol

from custom_components.weblink_nguc import condition
from custom_components.weblink_nguc.const import DOMAIN

REPO = Path(__file__).parents[1]
INTEGRATION = REPO / "custom_components" / DOMAIN
LANGUAGES = ("en", "sv")

DEVICE_FILTER_ON_TARGET = (
    "Services do not support device filters on target, use a device selector instead"
)

# --- services.yaml and triggers.yaml ------------------------------------------


def _exists(value: Any) -> Any:
    """Refuse an empty value (``example:`` with nothing after it)."""
    if value is None:
        raise vol.Invalid("Value cannot be None")
    return value


def _no_device_filter(target: Any) -> Any:
    """Refuse a ``device:`` filter on an action's target, as hassfest does.

    The frontend cannot apply it to what a target may hold (areas, labels);
    an action that needs a device asks for one with a device selector field.
    """
    if isinstance(target, dict) and "device" in target:
        raise vol.Invalid(DEVICE_FILTER_ON_TARGET)
    return target


def _unique_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Refuse a field name used twice, also across sections."""
    seen: set[str] = set()
    for key, value in fields.items():
        names = value["fields"] if value and "fields" in value else {key: value}
        for name in names:
            if name in seen:
                raise vol.Invalid(f"Duplicate use of field {name} in service.")
            seen.add(name)
    return fields


# A custom integration may carry its names in the YAML; ours are translated.
_TEXTS = {vol.Optional("name"): str, vol.Optional("description"): str}

FIELD = vol.Schema(
    {
        vol.Optional("example"): _exists,
        vol.Optional("default"): _exists,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional(CONF_SELECTOR): selector.validate_selector,
        **_TEXTS,
    }
)
# Only an action with a target may filter a field by what the target holds.
TARGETED_FIELD = FIELD.extend(
    {
        vol.Optional("filter"): {
            vol.Exclusive("attribute", "field_filter"): {
                vol.Required(str): [vol.All(str, service.validate_attribute_option)]
            },
            vol.Exclusive("supported_features", "field_filter"): [
                vol.All(str, service.validate_supported_feature)
            ],
        }
    }
)


def _action(field: vol.Schema, target: dict[Any, Any]) -> vol.Schema:
    section = vol.Schema(
        {
            vol.Optional("collapsed"): bool,
            vol.Required("fields"): {str: field},
            **_TEXTS,
        }
    )
    return vol.Schema(
        {
            **target,
            vol.Optional("fields"): vol.All(
                {str: vol.Any(field, section)}, _unique_fields
            ),
            **_TEXTS,
        }
    )


ACTION = vol.Any(
    _action(
        TARGETED_FIELD,
        {
            vol.Required("target"): vol.Any(
                vol.All(_no_device_filter, selector.TargetSelector.CONFIG_SCHEMA),
                None,
            )
        },
    ),
    _action(FIELD, {}),
    None,
)
SERVICES_SCHEMA = vol.Schema({cv.slug: ACTION})


def _field_contexts(trigger: dict[str, Any]) -> dict[str, Any]:
    """A field's ``context`` names another field (or the target) its selector may use."""
    fields = trigger.get("fields", {})
    for name, field in fields.items():
        if "context" not in field:
            continue
        if CONF_SELECTOR not in field:
            raise vol.Invalid(f"Context defined without a selector in '{name}'")
        allowed = selector.selector(field[CONF_SELECTOR]).allowed_context_keys
        for key, ref in field["context"].items():
            if key not in allowed:
                raise vol.Invalid(f"Invalid context key '{key}' in '{name}'")
            if ref == "target" and "target" in trigger:
                kinds = {"target"}
            elif ref in fields and CONF_SELECTOR in fields[ref]:
                kinds = {selector.selector(fields[ref][CONF_SELECTOR]).selector_type}
            else:
                raise vol.Invalid(f"Context reference '{ref}' of '{name}' is no field")
            if not kinds & set(allowed[key]):
                raise vol.Invalid(f"The context '{key}' of '{name}' cannot use '{ref}'")
    return trigger


TRIGGER_FIELD = vol.Schema(
    {
        vol.Optional("example"): _exists,
        vol.Optional("default"): _exists,
        vol.Optional("required"): bool,
        vol.Optional(CONF_SELECTOR): selector.validate_selector,
        vol.Optional("context"): {str: str},
    }
)
TRIGGERS_SCHEMA = vol.Schema(
    {
        cv.underscore_slug: vol.Any(
            vol.All(
                {
                    vol.Optional("target"): selector.TargetSelector.CONFIG_SCHEMA,
                    vol.Optional("fields"): {str: TRIGGER_FIELD},
                },
                _field_contexts,
            ),
            None,
        )
    }
)


def _starts_with_dot(key: str) -> str:
    """A key of YAML anchors only (``.queues:``), dropped before the schema."""
    if not key.startswith("."):
        raise vol.Invalid("Key does not start with .")
    return key


# hassfest's conditions.yaml schema: a trigger's, plus anchors to leave out.
CONDITIONS_SCHEMA = vol.Schema(
    {
        vol.Remove(vol.All(str, _starts_with_dot)): object,
        cv.underscore_slug: vol.Any(
            vol.All(
                {
                    vol.Optional("target"): selector.TargetSelector.CONFIG_SCHEMA,
                    vol.Optional("fields"): {str: TRIGGER_FIELD},
                },
                _field_contexts,
            ),
            None,
        ),
    }
)

# --- translations -------------------------------------------------------------

_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
_QUOTED_PLACEHOLDER = re.compile(r"'{\w+}'")
_URL = re.compile(
    r"(((ftp|ftps|scp|http|https|mqtt|mqtts|socket|socks5):\/\/|www\.)"
    r"[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,5}(:[0-9]{1,5})?(\/.*)?)",
    re.IGNORECASE,
)


def _key(value: str) -> str:
    """A translation key: lower case, digits, ``-`` and ``_``, not at the ends."""
    if not _KEY.match(value):
        raise vol.Invalid(f"Invalid translation key '{value}'")
    return value


def _text(placeholders: bool = True) -> Callable[[Any], str]:
    """Return a validator of one translated text."""

    def validate(value: Any) -> str:
        text: str = cv.string_with_no_html(value)
        if _QUOTED_PLACEHOLDER.search(text):
            raise vol.Invalid("placeholders inside single quotes")
        for _, field, _, _ in string.Formatter().parse(text):
            if field and not placeholders:
                raise vol.Invalid("placeholders are not supported in this value")
            if field and not field.isidentifier():
                raise vol.Invalid("placeholders must be identifiers")
        if text != text.strip():
            raise vol.Invalid("leading or trailing spaces")
        if _URL.search(text):
            raise vol.Invalid("a URL: use a description placeholder instead")
        return text

    return validate


TEXT = _text()
STATE = _text(placeholders=False)


def _keys(value: Any, keys: Callable[[str], str] = _key) -> Any:
    return cv.schema_with_slug_keys(value, slug_validator=keys)


def _data_descriptions(flow: dict[str, Any]) -> dict[str, Any]:
    """A field's description needs the field's label beside it."""
    for step_id, step in flow["step"].items():
        for key in step.get("data_description", {}):
            if key not in step.get("data", {}):
                raise vol.Invalid(f"data_description {key} of {step_id} not in data")
    return flow


FLOW = vol.All(
    {
        vol.Optional("flow_title"): TEXT,
        vol.Required("step"): {
            str: {
                vol.Optional("title"): TEXT,
                vol.Optional("description"): TEXT,
                vol.Optional("data"): {str: TEXT},
                vol.Optional("data_description"): {str: TEXT},
                vol.Optional("menu_options"): {str: TEXT},
                vol.Optional("menu_option_descriptions"): {str: TEXT},
                vol.Optional("submit"): TEXT,
                vol.Optional("sections"): {
                    str: {
                        vol.Optional("name"): TEXT,
                        vol.Optional("description"): TEXT,
                        vol.Optional("data"): {str: TEXT},
                        vol.Optional("data_description"): {str: TEXT},
                    }
                },
            }
        },
        vol.Optional("error"): {str: TEXT},
        vol.Optional("abort"): {str: TEXT},
        vol.Optional("progress"): {str: TEXT},
        vol.Optional("create_entry"): {str: TEXT},
    },
    _data_descriptions,
)
FIELD_TEXTS = _keys(
    {
        vol.Required("name"): str,
        vol.Required("description"): TEXT,
        vol.Optional("example"): TEXT,
    }
)
STRINGS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): FLOW,
        vol.Optional("options"): FLOW,
        vol.Optional("selector"): _keys(
            {
                vol.Optional("options"): _keys(TEXT),
                vol.Optional("choices"): _keys(TEXT),
                vol.Optional("unit_of_measurement"): _keys(TEXT),
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("device"): _keys({vol.Optional("name"): TEXT}),
        vol.Optional("entity"): _keys(
            _keys(
                {
                    vol.Optional("name"): TEXT,
                    vol.Optional("state"): _keys(STATE),
                    vol.Optional("state_attributes"): _keys(
                        {
                            vol.Optional("name"): STATE,
                            vol.Optional("state"): _keys(STATE),
                        }
                    ),
                    vol.Optional("unit_of_measurement"): STATE,
                }
            ),
            cv.slug,
        ),
        vol.Optional("exceptions"): _keys({vol.Optional("message"): TEXT}, cv.slug),
        # Texts an integration uses itself (hassfest's own), e.g. the logbook's.
        vol.Optional("common"): vol.Schema({cv.slug: TEXT}),
        # As hassfest: a fixable issue's text is its fix flow's steps.
        vol.Optional("issues"): {
            str: vol.All(
                {
                    vol.Required("title"): TEXT,
                    vol.Exclusive("description", "fixable"): TEXT,
                    vol.Exclusive("fix_flow", "fixable"): FLOW,
                },
                vol.Any(
                    vol.Schema(
                        {vol.Required("description"): TEXT}, extra=vol.ALLOW_EXTRA
                    ),
                    vol.Schema({vol.Required("fix_flow"): dict}, extra=vol.ALLOW_EXTRA),
                ),
            )
        },
        vol.Optional("services"): _keys(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): FIELD_TEXTS,
                vol.Optional("sections"): _keys(
                    {vol.Required("name"): str, vol.Optional("description"): TEXT}
                ),
            }
        ),
        vol.Optional("triggers"): _keys(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): FIELD_TEXTS,
            },
            cv.underscore_slug,
        ),
        vol.Optional("conditions"): _keys(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): TEXT,
                vol.Optional("fields"): FIELD_TEXTS,
            },
            cv.underscore_slug,
        ),
    }
)

# --- manifest.json and hacs.json ----------------------------------------------

IOT_CLASSES = (
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
)
INTEGRATION_TYPES = (
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
)


def _version(value: Any) -> str:
    """A version Home Assistant's loader (AwesomeVersion) can compare."""
    version = AwesomeVersion(value)
    if version.strategy not in (
        AwesomeVersionStrategy.CALVER,
        AwesomeVersionStrategy.SEMVER,
        AwesomeVersionStrategy.SIMPLEVER,
        AwesomeVersionStrategy.BUILDVER,
        AwesomeVersionStrategy.PEP440,
    ):
        raise vol.Invalid(f"'{value}' is not a valid version")
    return str(value)


def _sorted_keys(manifest: dict[str, Any]) -> dict[str, Any]:
    """``domain`` and ``name`` first, then the rest in order (hassfest's rule)."""
    keys = list(manifest)
    if keys[:2] != ["domain", "name"] or keys[2:] != sorted(keys[2:]):
        raise vol.Invalid("Manifest keys are not sorted: domain, name, then A-Z")
    return manifest


MANIFEST_SCHEMA = vol.All(
    vol.Schema(
        {
            # HACS and hassfest both require these of a custom integration.
            vol.Required("domain"): DOMAIN,
            vol.Required("name"): str,
            vol.Required("codeowners"): [vol.Match(r"^@.+$")],
            vol.Required("documentation"): vol.Url(),
            vol.Required("issue_tracker"): vol.Url(),
            vol.Required("version"): _version,
            vol.Required("config_flow"): bool,
            vol.Required("iot_class"): vol.In(IOT_CLASSES),
            vol.Required("integration_type"): vol.In(INTEGRATION_TYPES),
            vol.Optional("dependencies"): [str],
            vol.Optional("after_dependencies"): [str],
            vol.Optional("requirements"): [str],
            vol.Optional("loggers"): [str],
            vol.Optional("quality_scale"): vol.In(
                ("bronze", "silver", "gold", "platinum", "internal", "legacy")
            ),
            vol.Optional("single_config_entry"): bool,
        }
    ),
    _sorted_keys,
)

HACS_SCHEMA = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Optional("content_in_root"): bool,
        vol.Optional("country"): vol.Any(
            vol.Match(r"^[A-Z]{2}$"), [vol.Match(r"^[A-Z]{2}$")]
        ),
        vol.Optional("filename"): str,
        vol.Optional("hacs"): _version,
        vol.Optional("hide_default_branch"): bool,
        vol.Optional("homeassistant"): _version,
        vol.Optional("persistent_directory"): str,
        vol.Optional("render_readme"): bool,
        vol.Optional("zip_release"): bool,
    }
)

# --- the checks across files --------------------------------------------------


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not an object"
    return data


def _yaml(name: str) -> dict[str, Any] | None:
    """Return a YAML file of the integration; None if there is none."""
    try:
        return load_yaml_dict(str(INTEGRATION / name))
    except FileNotFoundError:
        return None


def untranslated(
    kind: str, described: dict[str, Any], strings: dict[str, Any]
) -> Iterator[str]:
    """Yield what of the described actions, triggers or conditions lacks texts.

    Or what the texts have left over. ``kind`` is ``services``, ``triggers``
    or ``conditions``: their key in the translations.
    """
    texts: dict[str, Any] = strings.get(kind, {})
    for name, description in described.items():
        text = texts.get(name, {})
        for key in ("name", "description"):
            if not text.get(key):
                yield f"{kind}.{name} has no {key}"
        fields = (description or {}).get("fields", {})
        for field_name, field in fields.items():
            if "fields" in field:  # a section: its name, then its own fields
                if not text.get("sections", {}).get(field_name, {}).get("name"):
                    yield f"{kind}.{name} has a section {field_name} with no name"
                inner = field["fields"]
            else:
                inner = {field_name: field}
            for inner_name, inner_field in inner.items():
                field_text = text.get("fields", {}).get(inner_name, {})
                for key in ("name", "description"):
                    if not field_text.get(key):
                        yield f"{kind}.{name} has a field {inner_name} with no {key}"
                options = (inner_field.get(CONF_SELECTOR) or {}).get("select") or {}
                if (key := options.get("translation_key")) and key not in strings.get(
                    "selector", {}
                ):
                    yield f"{kind}.{name}.{inner_name}: no selector.{key}"
        stale = set(text.get("fields", {})) - {
            inner
            for field_name, field in fields.items()
            for inner in field.get("fields", (field_name,))
        }
        if stale:
            yield f"{kind}.{name} translates fields it does not have: {sorted(stale)}"
    if stale_names := set(texts) - set(described):
        yield f"{kind} translates what is not described: {sorted(stale_names)}"


@pytest.fixture(name="strings", scope="module")
def strings_fixture() -> dict[str, dict[str, Any]]:
    """Return the parsed translation files by language."""
    return {
        language: _json(INTEGRATION / "translations" / f"{language}.json")
        for language in LANGUAGES
    }


# --- services.yaml ------------------------------------------------------------

# services.yaml as it was before issue 15: hassfest refused it.
OLD_SERVICES_YAML = """
pickup_queue_caller:
  target:
    device:
      integration: weblink_nguc
    entity:
      integration: weblink_nguc
  fields:
    caller:
      example: "0701234567"
      selector:
        text:
          type: tel
"""


def test_services_yaml_is_valid() -> None:
    """services.yaml passes, and each action the code registers is described."""
    services = _yaml("services.yaml")
    assert services is not None, "the integration registers actions: no services.yaml"
    SERVICES_SCHEMA(services)

    # The actions' names are SERVICE_* constants, wherever they are defined.
    registered = {
        name
        for path in INTEGRATION.rglob("*.py")
        for name in re.findall(
            r'^SERVICE_\w+(?:: Final)? = "(\w+)"$',
            path.read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    }
    assert registered, "no SERVICE_* names found in the integration"
    assert registered == set(services)


def test_device_filter_on_target_is_refused() -> None:
    """The mistake hassfest found cannot come back: the old file is refused."""
    with pytest.raises(vol.Invalid) as err:
        SERVICES_SCHEMA(parse_yaml(OLD_SERVICES_YAML))
    assert err.value.path == ["pickup_queue_caller", "target"]
    assert DEVICE_FILTER_ON_TARGET in str(err.value)
    # The same action with its entity filter only passes.
    fixed = parse_yaml(
        OLD_SERVICES_YAML.replace("    device:\n      integration: weblink_nguc\n", "")
    )
    SERVICES_SCHEMA(fixed)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # A selector Home Assistant does not know.
        ("a:\n  fields:\n    f:\n      selector:\n        phone: {}\n", ["a"]),
        # A known selector with a setting it does not have.
        (
            "a:\n  fields:\n    f:\n      selector:\n        text:\n          kind: tel\n",
            ["a"],
        ),
        # A field filter on an action without a target.
        (
            "a:\n  fields:\n    f:\n      filter:\n        supported_features: []\n",
            ["a"],
        ),
        # An example left empty.
        ("a:\n  fields:\n    f:\n      example:\n", ["a"]),
        # An action name that is no slug.
        ("Pick-up:\n  fields: {}\n", ["Pick-up"]),
        # A field in a section and beside it.
        (
            "a:\n  fields:\n    f: {}\n    more:\n      fields:\n        f: {}\n",
            ["a"],
        ),
    ],
)
def test_services_schema_catches(text: str, where: list[str]) -> None:
    """Other mistakes hassfest would refuse are refused too."""
    with pytest.raises(vol.Invalid) as err:
        SERVICES_SCHEMA(parse_yaml(text))
    assert err.value.path[: len(where)] == where


def test_services_are_translated(strings: dict[str, dict[str, Any]]) -> None:
    """Each action and field has a name and a description in every language."""
    services = _yaml("services.yaml") or {}
    problems = [
        f"{language}: {problem}"
        for language, data in strings.items()
        for problem in untranslated("services", services, data)
    ]
    assert not problems, "\n".join(problems)


# --- triggers.yaml ------------------------------------------------------------

# A trigger described as issue 15 asks for, in the shape of core's fumis.
GOOD_TRIGGERS_YAML = """
caller_waiting:
  fields:
    device_id:
      required: true
      selector:
        device:
          filter:
            - integration: weblink_nguc
          multiple: true
    seconds:
      required: true
      default: 60
      selector:
        number:
          min: 0
          max: 3600
          unit_of_measurement: s
          mode: box
"""
GOOD_TRIGGER_TEXTS = {
    "triggers": {
        "caller_waiting": {
            "name": "Caller waiting",
            "description": "When a caller has waited long enough.",
            "fields": {
                "device_id": {"name": "Queues", "description": "The queues to watch."},
                "seconds": {"name": "Seconds", "description": "How long to wait."},
            },
        }
    }
}


def test_triggers_yaml_is_valid() -> None:
    """triggers.yaml, where there is one, passes; a trigger platform needs one."""
    triggers = _yaml("triggers.yaml")
    if triggers is None:
        source = INTEGRATION / "trigger.py"
        assert not source.exists() or "async_get_triggers" not in source.read_text(
            encoding="utf-8"
        ), "trigger.py provides triggers but there is no triggers.yaml"
        return
    TRIGGERS_SCHEMA(triggers)


def test_good_trigger_sample_passes() -> None:
    """The schema and the translation check accept a trigger done right."""
    triggers = TRIGGERS_SCHEMA(parse_yaml(GOOD_TRIGGERS_YAML))
    STRINGS_SCHEMA(GOOD_TRIGGER_TEXTS)
    assert list(untranslated("triggers", triggers, GOOD_TRIGGER_TEXTS)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # A misspelt key of a field.
        ("      required: true\n      default", "      requird: true\n      default"),
        # A number selector whose bounds are not numbers.
        ("          max: 3600", "          max: an hour"),
        # A device filter key the device selector does not know.
        ("            - integration", "            - platform"),
        # A trigger name that is no slug.
        ("caller_waiting:", "caller-waiting:"),
        # A context the number selector cannot take.
        (
            "    seconds:\n      required: true",
            (
                "    seconds:\n      context:\n        filter_target: device_id\n"
                "      required: true"
            ),
        ),
        # Description keys belong in the translations, not in triggers.yaml.
        ("caller_waiting:\n", "caller_waiting:\n  name: Caller waiting\n"),
    ],
)
def test_triggers_schema_catches(old: str, new: str) -> None:
    """Mistakes in a trigger's description are refused."""
    assert old in GOOD_TRIGGERS_YAML
    with pytest.raises(vol.Invalid):
        TRIGGERS_SCHEMA(parse_yaml(GOOD_TRIGGERS_YAML.replace(old, new)))


def test_triggers_are_translated(strings: dict[str, dict[str, Any]]) -> None:
    """Each trigger and field has a name and a description in every language."""
    triggers = _yaml("triggers.yaml") or {}
    problems = [
        f"{language}: {problem}"
        for language, data in strings.items()
        for problem in untranslated("triggers", triggers, data)
    ]
    assert not problems, "\n".join(problems)


def test_untranslated_trigger_field_is_found() -> None:
    """A field the translations forget, or keep after it went, is reported."""
    triggers = TRIGGERS_SCHEMA(parse_yaml(GOOD_TRIGGERS_YAML))
    texts = json.loads(json.dumps(GOOD_TRIGGER_TEXTS))
    fields = texts["triggers"]["caller_waiting"]["fields"]
    fields["wait"] = fields.pop("seconds")
    assert list(untranslated("triggers", triggers, texts)) == [
        "triggers.caller_waiting has a field seconds with no name",
        "triggers.caller_waiting has a field seconds with no description",
        "triggers.caller_waiting translates fields it does not have: ['wait']",
    ]


# --- conditions.yaml ----------------------------------------------------------

# Conditions as issue 19 asks for, in the shape of core's (counter, zwave_js).
GOOD_CONDITIONS_YAML = """
.behavior: &behavior
  required: true
  default: any
  selector:
    automation_behavior:
      mode: condition
agents_available:
  target:
    device:
      - integration: weblink_nguc
        model: Call queue
  fields:
    behavior: *behavior
    below:
      selector:
        number:
          min: 0
          mode: box
"""
GOOD_CONDITION_TEXTS = {
    "conditions": {
        "agents_available": {
            "name": "Agents free",
            "description": "Tests how many agents are free.",
            "fields": {
                "behavior": {"name": "Passes if", "description": "Any or all."},
                "below": {"name": "Fewer than", "description": "Passes below this."},
            },
        }
    }
}

# The model of each kind of device, as devices.py names it.
DEVICE_MODELS = {"queue": "Call queue", "user": "PBX user"}


def _conditions() -> dict[str, Any]:
    conditions = _yaml("conditions.yaml")
    assert conditions is not None, (
        "condition.py provides conditions: no conditions.yaml"
    )
    return CONDITIONS_SCHEMA(conditions)  # type: ignore[no-any-return]


def test_conditions_yaml_is_valid() -> None:
    """conditions.yaml passes, describes every condition, and only their options."""
    conditions = _conditions()
    assert set(conditions) == set(condition.CONDITIONS)
    for name, cls in condition.NGUC_CONDITIONS.items():
        options = {str(key) for key in cls.options_schema.schema}
        assert set(conditions[name]["fields"]) == options, name


def test_conditions_target_devices_of_their_kind() -> None:
    """Each condition targets this integration's devices of its kind, nothing else."""
    devices_py = (INTEGRATION / "devices.py").read_text(encoding="utf-8")
    for name, description in _conditions().items():
        target = description["target"]
        assert set(target) == {"device"}, name
        kind = condition.NGUC_CONDITIONS[name].kind
        assert target["device"] == [
            {"integration": DOMAIN, "model": DEVICE_MODELS[kind]}
        ], name
        assert f'model="{DEVICE_MODELS[kind]}"' in devices_py


def test_good_condition_sample_passes() -> None:
    """The schema drops anchors, and accepts a condition done right."""
    conditions = CONDITIONS_SCHEMA(parse_yaml(GOOD_CONDITIONS_YAML))
    assert set(conditions) == {"agents_available"}
    STRINGS_SCHEMA(GOOD_CONDITION_TEXTS)
    assert list(untranslated("conditions", conditions, GOOD_CONDITION_TEXTS)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # A behavior selector in a trigger's mode.
        ("      mode: condition", "      mode: sometimes"),
        # A misspelt key of a field.
        ("    below:\n", "    below:\n      requird: false\n"),
        # A device filter key the target selector does not know.
        ("      - integration", "      - platform"),
        # A condition name that is no slug.
        ("agents_available:", "agents-available:"),
        # Description keys belong in the translations.
        ("agents_available:\n", "agents_available:\n  name: Agents free\n"),
        # A number selector whose bounds are not numbers.
        ("          min: 0", "          min: none"),
    ],
)
def test_conditions_schema_catches(old: str, new: str) -> None:
    """Mistakes in a condition's description are refused."""
    assert old in GOOD_CONDITIONS_YAML
    with pytest.raises(vol.Invalid):
        CONDITIONS_SCHEMA(parse_yaml(GOOD_CONDITIONS_YAML.replace(old, new)))


def test_conditions_are_translated(strings: dict[str, dict[str, Any]]) -> None:
    """Each condition and field has a name and a description in every language."""
    conditions = _conditions()
    problems = [
        f"{language}: {problem}"
        for language, data in strings.items()
        for problem in untranslated("conditions", conditions, data)
    ]
    assert not problems, "\n".join(problems)


def test_untranslated_condition_field_is_found() -> None:
    """A condition field the translations forget is reported."""
    conditions = CONDITIONS_SCHEMA(parse_yaml(GOOD_CONDITIONS_YAML))
    texts = json.loads(json.dumps(GOOD_CONDITION_TEXTS))
    del texts["conditions"]["agents_available"]["fields"]["behavior"]["description"]
    assert list(untranslated("conditions", conditions, texts)) == [
        "conditions.agents_available has a field behavior with no description"
    ]


_ICON = re.compile(r"^mdi:[a-z0-9-]+$")


def missing_icons(
    kind: str, described: dict[str, Any], icons: dict[str, Any]
) -> list[str]:
    """Return what of the described triggers or conditions has no icon (or is left over).

    ``kind`` is ``triggers`` or ``conditions``; an icon is ``{"trigger": "mdi:…"}``
    or ``{"condition": "mdi:…"}``.
    """
    singular = kind.removesuffix("s")
    given: dict[str, Any] = icons.get(kind, {})
    problems = [
        f"{kind}.{name} has no icon"
        for name in described
        if not _ICON.match(str((given.get(name) or {}).get(singular, "")))
    ]
    if stale := set(given) - set(described):
        problems.append(f"{kind} has icons for what is not described: {sorted(stale)}")
    return problems


def test_triggers_and_conditions_have_icons() -> None:
    """Every trigger and condition has an icon in icons.json, as core's must."""
    icons = _json(INTEGRATION / "icons.json")
    problems = missing_icons("conditions", _conditions(), icons) + missing_icons(
        "triggers", _yaml("triggers.yaml") or {}, icons
    )
    assert not problems, "\n".join(problems)
    conditions = CONDITIONS_SCHEMA(parse_yaml(GOOD_CONDITIONS_YAML))
    assert missing_icons("conditions", conditions, {"conditions": {}}) == [
        "conditions.agents_available has no icon"
    ]
    assert missing_icons(
        "conditions",
        conditions,
        {"conditions": {"agents_available": {"condition": "headset"}}},
    ) == ["conditions.agents_available has no icon"]


# --- translations -------------------------------------------------------------


def test_translations_are_valid(strings: dict[str, dict[str, Any]]) -> None:
    """Each language's file has the structure and texts hassfest accepts."""
    for language, data in strings.items():
        try:
            STRINGS_SCHEMA(data)
        except vol.Invalid as err:
            pytest.fail(f"{language}.json: {err} at {err.path}")


@pytest.mark.parametrize(
    ("texts", "where"),
    [
        ({"exceptions": {"x": {"message": " leading space"}}}, ["exceptions"]),
        ({"exceptions": {"x": {"message": "see https://example.com"}}}, ["exceptions"]),
        ({"exceptions": {"x": {"message": "<b>bold</b>"}}}, ["exceptions"]),
        ({"exceptions": {"x": {"message": "in '{queue}'"}}}, ["exceptions"]),
        ({"entity": {"sensor": {"Bad_Key": {"name": "x"}}}}, ["entity", "sensor"]),
        ({"entity": {"sensor": {"x": {"state": {"a": "{n} calls"}}}}}, ["entity"]),
        ({"services": {"x": {"name": "X"}}}, ["services", "x"]),
        (
            {
                "triggers": {
                    "x": {
                        "name": "X",
                        "description": "Y",
                        "fields": {"f": {"name": "F"}},
                    }
                }
            },
            ["triggers", "x"],
        ),
        (
            {"conditions": {"x": {"name": "X", "fields": {"f": {"name": "F"}}}}},
            ["conditions", "x"],
        ),
        ({"config": {"step": {"user": {"data_description": {"a": "A"}}}}}, ["config"]),
        ({"unknown_part": {}}, ["unknown_part"]),
    ],
)
def test_translation_schema_catches(texts: dict[str, Any], where: list[str]) -> None:
    """Texts hassfest refuses are refused."""
    with pytest.raises(vol.Invalid) as err:
        STRINGS_SCHEMA(texts)
    assert err.value.path[: len(where)] == where


# --- manifest.json and hacs.json ----------------------------------------------


def test_manifest_is_valid() -> None:
    """The manifest has what hassfest and HACS require of a custom integration."""
    MANIFEST_SCHEMA(_json(INTEGRATION / "manifest.json"))


def test_manifest_schema_catches() -> None:
    """A manifest without a version, or with keys out of order, is refused."""
    manifest = _json(INTEGRATION / "manifest.json")
    del manifest["version"]
    with pytest.raises(vol.Invalid):
        MANIFEST_SCHEMA(manifest)
    manifest = _json(INTEGRATION / "manifest.json")
    shuffled = {"name": manifest.pop("name"), **manifest}
    with pytest.raises(vol.Invalid, match="not sorted"):
        MANIFEST_SCHEMA(shuffled)


def test_hacs_json_is_valid() -> None:
    """hacs.json holds only keys HACS accepts, and says the service is Swedish."""
    hacs = HACS_SCHEMA(_json(REPO / "hacs.json"))
    assert hacs["country"] == ["SE"]
    with pytest.raises(vol.Invalid):
        HACS_SCHEMA({**hacs, "domains": ["sensor"]})


def test_yaml_errors_are_reported() -> None:
    """A file that is not YAML is refused before any schema (hassfest: "Invalid")."""
    with pytest.raises(HomeAssistantError):
        parse_yaml("a: [unclosed\n")
