"""milai.heap: start-up objects are frozen out of the collector's reach; later ones are not."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from milai.config import Settings
from milai.heap import freeze_startup_objects


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_objects_alive_at_the_freeze_are_set_aside_and_later_ones_are_still_collected() -> None:
    before = _Node()
    frozen = freeze_startup_objects()
    try:
        after = _Node()
        tracked = {id(o) for o in gc.get_objects()}
        assert frozen == gc.get_freeze_count() > 0
        assert id(before) not in tracked and id(after) in tracked  # a full collection walks only `after`
        del after
        assert gc.collect() >= 1  # the cycle made after the freeze is still freed
    finally:
        gc.unfreeze()
    assert id(before) in {id(o) for o in gc.get_objects()}


def test_the_web_apps_start_up_freezes_what_it_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILAI_DATABASE_URL", f"sqlite:///{tmp_path / 'milai.sqlite3'}")
    monkeypatch.setenv("MILAI_DATA_DIR", str(tmp_path))
    gc.unfreeze()
    app = create_app(Settings())
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
