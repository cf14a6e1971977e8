"""Crawler tests that serve a loopback site run real crawls in child processes: they are `slow`."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents and "site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
