"""bench/scale.py's archive fill: one transaction per batch, and an interrupted fill resumed later writes exactly
what an uninterrupted one writes (the 1M fills take hours on a shared machine and must survive a stop)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from bench.scale import fill
from storage.database import make_engine, upgrade


def _rows(engine: Engine) -> tuple[list[object], list[object]]:
    with engine.connect() as conn:
        return (conn.execute(text("SELECT canonical_url, minhash FROM items ORDER BY id")).all(),
                conn.execute(text("SELECT band, key, item_id FROM item_bands ORDER BY band, key, item_id")).all())


def test_an_interrupted_fill_resumes_and_writes_what_one_fill_writes(tmp_path: Path) -> None:
    resumed, whole = make_engine(f"sqlite:///{tmp_path / 'resumed.sqlite3'}"), make_engine(
        f"sqlite:///{tmp_path / 'whole.sqlite3'}")
    try:
        for engine in (resumed, whole):
            upgrade(engine)
        fill(resumed, 300, batch=100)  # stopped after three committed batches …
        fill(resumed, 500, batch=100)  # … and run again to the full size
        fill(whole, 500, batch=100)
        items, bands = _rows(resumed)
        assert len(items) == 500 and len(bands) == 500 * 25
        assert (items, bands) == _rows(whole)
        assert len({sig for _, sig in items}) == 500  # every batch its own signatures
    finally:
        resumed.dispose()
        whole.dispose()
