"""Every benchmark script imports (a renamed helper in one bench module once broke another unnoticed: benchmarks
are not run by the suite, so this is what keeps them runnable)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = sorted(p.stem for p in (Path(__file__).parents[1] / "bench").glob("*.py") if p.stem != "__init__")


def test_the_bench_folder_is_found() -> None:
    assert {"crawl", "search", "relevance"} <= set(BENCH)


@pytest.mark.parametrize("name", BENCH)
def test_bench_module_imports_and_has_a_main(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(getattr(module, "main", None)), f"bench/{name}.py has no main()"
