"""The repository installs through Home Assistant's Marketplace (2026.11 and newer).

The Marketplace reads ``hacs.json`` (a value of the wrong type is dropped
with a warning, so the setting is silently lost) and, for an integration,
the one directory below ``custom_components/``: its ``manifest.json`` must
name that directory as its domain and carry a version the loader accepts,
or the install is refused. The rules below are ours, written after the
Marketplace's own (``components/marketplace/utils/validate.py``:
``REPOSITORY_MANIFEST_VALUES``, ``INTEGRATION_MANIFEST_VALUES``;
``repositories/integration.py``: ``_validated_domain``,
``_check_loadable_manifest``).

They run only where a Home Assistant with the Marketplace is installed
(``.venv-hass``, the end-to-end environment), and are checked there against
the Marketplace's own lists, so that a new release that reads another key
fails here instead of on a user's machine.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import subprocess
from typing import Any

from awesomeversion import (
    AwesomeVersion,
    AwesomeVersionException,
    AwesomeVersionStrategy,
)
import pytest

REPO = Path(__file__).parents[1]
HASS_PYTHON = REPO / ".venv-hass" / "bin" / "python"
MARKETPLACE_SINCE = AwesomeVersion("2026.11.0")

# hacs.json keys the Marketplace reads, and the type each must have.
MARKETPLACE_HACS_JSON: dict[str, type] = {
    "content_in_root": bool,
    "filename": str,
    "hacs": str,
    "hide_default_branch": bool,
    "homeassistant": str,  # and a valid version
    "name": str,
    "persistent_directory": str,
    "zip_release": bool,
}
# Keys HACS reads that the Marketplace ignores: allowed, as HACS still
# installs the repository on Home Assistant 2026.10.
HACS_ONLY = {"country", "render_readme"}
# manifest.json keys the Marketplace reads besides the domain and version.
MARKETPLACE_MANIFEST: dict[str, Any] = {
    "codeowners": list,
    "config_flow": bool,
    "name": str,
}
# The Marketplace accepts a hyphen where Core does not; ours is a Core slug.
VALID_DOMAIN = re.compile(r"^[a-z0-9_]+$")
LOADABLE_VERSION = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]

# Prints the Marketplace's own lists, read in the Home Assistant users run.
_READ_MARKETPLACE = """
import json
from homeassistant.const import __version__
try:
    from homeassistant.components.marketplace.utils import validate
except ImportError:
    print(json.dumps({"version": __version__}))
else:
    print(json.dumps({
        "version": __version__,
        "hacs_json": sorted(validate.REPOSITORY_MANIFEST_VALUES),
        "manifest": sorted(validate.INTEGRATION_MANIFEST_VALUES),
    }))
"""


@pytest.fixture(scope="module")
def marketplace() -> dict[str, Any]:
    """The Marketplace's lists, or a skip where no such Home Assistant is installed."""
    if not HASS_PYTHON.exists():
        pytest.skip("no .venv-hass (script/setup makes it)")
    result = subprocess.run(  # noqa: S603 - our own venv's interpreter
        [str(HASS_PYTHON), "-c", _READ_MARKETPLACE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found: dict[str, Any] = json.loads(result.stdout)
    if AwesomeVersion(found["version"]) < MARKETPLACE_SINCE or "hacs_json" not in found:
        pytest.skip(f"Home Assistant {found['version']} has no Marketplace")
    return found


def _hacs_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "hacs.json").read_text(encoding="utf-8"))
    return data


def hacs_json_problems(hacs: dict[str, Any], release: str) -> list[str]:
    """What the Marketplace (or HACS) would drop or refuse in a hacs.json."""
    problems = [
        f"{key}: read by neither the Marketplace nor HACS"
        for key in sorted(set(hacs) - set(MARKETPLACE_HACS_JSON) - HACS_ONLY)
    ]
    problems += [
        f"{key}: not a {kind.__name__}, the Marketplace drops it"
        for key, kind in MARKETPLACE_HACS_JSON.items()
        if key in hacs and not isinstance(hacs[key], kind)
    ]
    if not hacs.get("name"):
        problems.append("name: missing")
    minimum = AwesomeVersion(str(hacs.get("homeassistant")))
    if not minimum.valid:
        problems.append("homeassistant: not a version")
    elif minimum > AwesomeVersion(release):
        problems.append(f"homeassistant: {minimum} is newer than {release}")
    return problems


def manifest_problems(custom_components: Path) -> list[str]:
    """What would make the Marketplace refuse to install the integration."""
    dirs = sorted(
        path
        for path in custom_components.iterdir()
        if path.is_dir() and not path.name.startswith(("_", "."))
    )
    # The Marketplace installs the first directory it finds.
    if len(dirs) != 1:
        return [f"custom_components/ holds {len(dirs)} directories, not one"]
    try:
        manifest = json.loads((dirs[0] / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"manifest.json: {err}"]
    problems = []
    if manifest.get("domain") != dirs[0].name:
        problems.append("domain: not the directory's name")
    elif not VALID_DOMAIN.match(manifest["domain"]):
        problems.append("domain: not a slug")
    try:
        AwesomeVersion(manifest.get("version"), ensure_strategy=LOADABLE_VERSION)
    except AwesomeVersionException:
        problems.append("version: missing or not one the loader accepts")
    problems += [
        f"{key}: not a {kind.__name__}, the Marketplace ignores it"
        for key, kind in MARKETPLACE_MANIFEST.items()
        if key in manifest and not isinstance(manifest[key], kind)
    ]
    if not all(isinstance(owner, str) for owner in manifest.get("codeowners", [])):
        problems.append("codeowners: not a list of strings")
    if manifest.get("config_flow") is not True:
        problems.append("config_flow: the integration is set up in the UI")
    return problems


def test_our_rules_are_the_marketplaces(marketplace: dict[str, Any]) -> None:
    """The keys we check are the keys the installed Marketplace reads."""
    assert marketplace["hacs_json"] == sorted(MARKETPLACE_HACS_JSON)
    assert marketplace["manifest"] == sorted(MARKETPLACE_MANIFEST)


def test_repository_passes(marketplace: dict[str, Any]) -> None:
    """hacs.json is read whole, and the one integration loads."""
    assert hacs_json_problems(_hacs_json(), marketplace["version"]) == []
    assert manifest_problems(REPO / "custom_components") == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"zip_release": "yes"}, "zip_release: not a bool"),
        ({"domains": ["sensor"]}, "domains: read by neither"),
        ({"homeassistant": "2099.1.0"}, "homeassistant: 2099.1.0 is newer"),
        ({"homeassistant": "soon"}, "homeassistant: not a version"),
        ({"name": ""}, "name: missing"),
    ],
)
def test_hacs_json_rules_catch(
    marketplace: dict[str, Any], change: dict[str, Any], problem: str
) -> None:
    """Each hacs.json rule finds what the Marketplace would drop."""
    problems = hacs_json_problems({**_hacs_json(), **change}, marketplace["version"])
    assert any(found.startswith(problem) for found in problems), problems


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"domain": "weblink-nguc"}, "domain: not the directory"),
        ({"version": None}, "version: missing"),
        ({"version": "latest"}, "version: missing"),
        ({"codeowners": "@me"}, "codeowners: not a list"),
        ({"config_flow": False}, "config_flow"),
    ],
)
def test_manifest_rules_catch(
    marketplace: dict[str, Any], tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    """Each manifest rule finds what would make the install fail."""
    del marketplace
    source = REPO / "custom_components" / "weblink_nguc" / "manifest.json"
    (tmp_path / "weblink_nguc").mkdir()
    manifest = {**json.loads(source.read_text(encoding="utf-8")), **change}
    (tmp_path / "weblink_nguc" / "manifest.json").write_text(json.dumps(manifest))
    problems = manifest_problems(tmp_path)
    assert any(found.startswith(problem) for found in problems), problems
    (tmp_path / "other").mkdir()
    assert manifest_problems(tmp_path) == [
        "custom_components/ holds 2 directories, not one"
    ]
