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


def test_session_scope_binds_each_session_to_its_engine_without_a_session_class_per_session(tmp_path: Path) -> None:
    """One Session class for every session_scope (a new class per session rebuilt SQLAlchemy's event dispatch every
    time); each session still works on its own engine's database and commits there."""
    from storage.database import session_scope

    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.sqlite3", "b.sqlite3")]
    try:
        classes = set()
        for n, url in enumerate(urls):
            engine = get_engine(url)
            with session_scope(engine) as session:
                assert session.get_bind() is engine
                session.execute(text("CREATE TABLE t (n INTEGER)"))
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                classes.add(type(session))
        assert len(classes) == 1
        for n, url in enumerate(urls):
            with session_scope(get_engine(url)) as session:
                assert session.execute(text("SELECT n FROM t")).scalars().all() == [n]
    finally:
        dispose_engines()
