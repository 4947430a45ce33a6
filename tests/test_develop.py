"""script/develop offers the repository's blueprints in the demo."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).parents[1]


def _develop() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "develop", REPO / "script" / "develop.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _found(config_dir: Path) -> dict[str, Path]:
    """The automation blueprints Home Assistant finds (its own glob), by path."""
    folder = config_dir / "blueprints" / "automation"
    return {
        str(path.relative_to(folder)): path.resolve()
        for path in folder.glob("**/*.yaml")
    }


def test_blueprints_are_linked(tmp_path: Path) -> None:
    """Every blueprint of the repository is found in the demo's configuration."""
    develop = _develop()
    ours = sorted((REPO / "blueprints" / "automation" / "weblink_nguc").glob("*.yaml"))
    assert ours
    expected = {f"weblink_nguc/{path.name}": path.resolve() for path in ours}

    assert develop.link_blueprints(tmp_path) == [path.name for path in ours]
    assert _found(tmp_path) == expected
    # Idempotent; a blueprint imported in the UI under the same name stays.
    assert develop.link_blueprints(tmp_path) == []
    imported = tmp_path / "blueprints" / "automation" / "weblink_nguc" / "mine.yaml"
    imported.write_text("blueprint: {}\n", encoding="utf-8")
    develop.link_blueprints(tmp_path)
    assert imported.read_text(encoding="utf-8") == "blueprint: {}\n"
    # A link left by a blueprint removed from the repository goes.
    stale = imported.with_name("gone.yaml")
    stale.symlink_to(tmp_path / "nowhere.yaml")
    develop.link_blueprints(tmp_path)
    assert not stale.is_symlink()
