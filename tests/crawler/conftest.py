"""Crawler tests that serve a loopback site run real crawls in child processes: they are `slow`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crawler.sites import robots
from tests.support.site import LoopbackSite

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents and "site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def hostile() -> Iterator[LoopbackSite]:
    """A hostile source's own website (robots.txt allows everything), for the test_hostile_* modules."""
    s = LoopbackSite().start()
    robots(s)
    yield s
    s.stop()
