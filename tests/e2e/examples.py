"""What the repository hands its users to copy: blueprints, README examples, a dashboard.

Both the integration tests (Home Assistant's test harness) and the
end-to-end test (a real Home Assistant) run them exactly as written.
"""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any
from urllib.parse import quote

import yaml  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
BLUEPRINTS = REPO_ROOT / "blueprints" / "automation" / "weblink_nguc"
DASHBOARD = REPO_ROOT / "docs" / "dashboard.yaml"
DOCS = REPO_ROOT / "docs"

# The repository's address as the manifest gives it (a placeholder until the
# repository is published): blueprints are imported from it.
REPOSITORY = "https://github.com/weblink-nguc-ha/weblink_nguc"
BRANCH = "main"

# A YAML block of the README that is an automation to paste as it is.
_EXAMPLE = re.compile(
    r"<!-- example: automation -->\s*```yaml\n(?P<yaml>.*?)```", re.DOTALL
)
# Any YAML block of the README marked as an example of a kind: "script",
# "card", "caller_waiting automation" (which names a queue by device id).
_KIND_EXAMPLE = r"<!-- example: {kind} -->\s*```yaml\n(?P<yaml>.*?)```"


def blueprint_files() -> list[Path]:
    """Return the blueprint files, sorted by name."""
    return sorted(BLUEPRINTS.glob("*.yaml"))


def blueprint_url(path: Path) -> str:
    """Return the address a blueprint is imported from (its ``source_url``)."""
    return f"{REPOSITORY}/blob/{BRANCH}/{path.relative_to(REPO_ROOT).as_posix()}"


def import_badge_url(path: Path) -> str:
    """Return the my.home-assistant.io link that imports a blueprint."""
    return (
        "https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url="
        + quote(blueprint_url(path), safe="")
    )


def readme_automations() -> list[dict[str, Any]]:
    """Return the README's automation examples, parsed."""
    examples = [
        yaml.safe_load(match["yaml"])
        for match in _EXAMPLE.finditer(README.read_text(encoding="utf-8"))
    ]
    assert examples, "no <!-- example: automation --> block in the README"
    return examples


def readme_examples(kind: str) -> list[dict[str, Any]]:
    """Return the README's examples marked ``<!-- example: {kind} -->``, parsed."""
    pattern = re.compile(_KIND_EXAMPLE.format(kind=re.escape(kind)), re.DOTALL)
    examples = [
        yaml.safe_load(match["yaml"])
        for match in pattern.finditer(README.read_text(encoding="utf-8"))
    ]
    assert examples, f"no <!-- example: {kind} --> block in the README"
    return examples


def dashboard() -> dict[str, Any]:
    """Return docs/dashboard.yaml, parsed."""
    data = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def dashboard_entities(node: Any) -> set[str]:
    """Return every entity id the dashboard names (cards, conditions, targets)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("entity", "entity_id") and isinstance(value, str):
                found.add(value)
            elif key in ("entities", "entity_id") and isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
            found |= dashboard_entities(value)
    elif isinstance(node, list):
        for item in node:
            found |= dashboard_entities(item)
    return found
