"""storage.database: one engine per database URL and timeout, each with its own timeout."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.database import dispose_engines, get_engine


def test_an_engine_is_shared_per_url_and_timeout_and_each_keeps_its_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    try:
        short, long = get_engine(url, timeout=3.5), get_engine(url, timeout=7)
        assert get_engine(url, timeout=3.5) is short and short is not long
        for engine, busy_ms in ((short, 3500), (long, 7000)):
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() == busy_ms
    finally:
        dispose_engines()
