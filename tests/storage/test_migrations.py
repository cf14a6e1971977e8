"""Alembic migrations produce exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from storage.models import Base

# Exactly the objects the migrations create outside the models, and nothing more: the full-text machinery
# (SQLite: the FTS5 table and its shadow tables, the covering filter index; PostgreSQL: the generated tsvector
# column and its GIN index, the date-order index) and APScheduler's job table.
NOT_MODELLED = {
    ("table", "items_fts"), ("table", "items_fts_data"), ("table", "items_fts_idx"), ("table", "items_fts_docsize"),
    ("table", "items_fts_config"), ("table", "items_fts_content"), ("table", "apscheduler_jobs"),
    ("column", "search_vector"),
    ("index", "ix_items_search_filter"), ("index", "ix_items_search_vector"), ("index", "ix_items_search_date"),
}


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Compare everything but the NOT_MODELLED objects."""
    return (type_, name) not in NOT_MODELLED


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _ours, "compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_model_table_exists_with_unique_canonical_url(engine: Engine) -> None:
    insp = inspect(engine)
    assert set(Base.metadata.tables) <= set(insp.get_table_names())
    uniques = [u["column_names"] for u in insp.get_unique_constraints("items")]
    indexes = [i["column_names"] for i in insp.get_indexes("items") if i.get("unique")]
    assert ["canonical_url"] in uniques + indexes


def test_processes_upgrading_one_new_sqlite_file_take_turns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Workers started together on a new SQLite file: an upgrade waits for the one holding `<db>.upgrade.lock`
    (before, two could both run the first migration: 'table api_tokens already exists'), then finds the schema
    at head; four at once all succeed."""
    import fcntl
    import subprocess
    import sys
    import time
    from pathlib import Path

    db = tmp_path / "new.sqlite3"
    code = f"from storage.database import make_engine, upgrade; upgrade(make_engine('sqlite:///{db}'))"
    root = Path(__file__).resolve().parents[2]
    with open(f"{db}.upgrade.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = subprocess.Popen([sys.executable, "-c", code], cwd=root)
        time.sleep(3)  # imports and make_engine done: it waits on the lock
        assert waiting.poll() is None and not (db.exists() and db.stat().st_size > 0 and _tables(db))
        fcntl.flock(held, fcntl.LOCK_UN)
    assert waiting.wait(120) == 0 and "api_tokens" in _tables(db)
    fresh = tmp_path / "fresh.sqlite3"
    code = code.replace(str(db), str(fresh))
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=root) for _ in range(4)]
    assert [p.wait(180) for p in procs] == [0, 0, 0, 0]
    assert "api_tokens" in _tables(fresh)


def _tables(path) -> set[str]:  # type: ignore[no-untyped-def]
    import sqlite3

    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
