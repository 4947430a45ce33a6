"""script/bench names each figure of the large company by the size it measured."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import sys
from types import ModuleType

SCRIPT = Path(__file__).parents[1] / "script"


def _bench() -> ModuleType:
    """Import script/bench.py (it puts script/ on the path for its floor module)."""
    sys.path.insert(0, str(SCRIPT))
    try:
        spec = importlib.util.spec_from_file_location("bench", SCRIPT / "bench.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Its dataclasses look themselves up in sys.modules.
        sys.modules["bench"] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT))
    return module


def test_quick_figures_say_what_they_measured() -> None:
    """The quick run's 100 users show as ``_100``; the full run keeps ``_1000``."""
    bench = _bench()
    floor = bench.Floor(entities=10, devices=10, setup_s=1.0, cpu_us_per_write=2.0)
    floors = bench.Floors(small=[floor], large=[floor], traced=floor)

    quick = bench._floor_figures(bench.QUICK, floors)
    assert bench.QUICK.large[0] == 100
    assert set(quick) >= {"floor_setup_s_100", "floor_tracemalloc_peak_mb_100"}
    assert not any(key.endswith("_1000") for key in quick)

    full = bench._floor_figures(bench.FULL, floors)
    assert set(full) >= {"floor_setup_s_1000", "floor_tracemalloc_peak_mb_1000"}
    assert bench.FULL.at_large("setup_s") == "setup_s_1000"
    assert bench.QUICK.at_large("tracemalloc_peak_mb") == "tracemalloc_peak_mb_100"
