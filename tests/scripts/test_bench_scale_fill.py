"""bench/scale.py's archive fill: a fill resumed on an archive of whole batches writes exactly what one fill writes,
and the bulk load (indexes dropped and rebuilt) leaves the schema the migrations made, its indexes consistent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, text

from bench.scale import fill
from storage.database import make_engine, session_scope, upgrade
from storage.models import Item
from storage.near_duplicates import near_matches


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


def _schema(engine: Engine) -> list[tuple[object, ...]]:
    """Every table, index, trigger and constraint definition of the database."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return sorted(tuple(row) for row in conn.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%'")))
        return sorted([tuple(row) for row in conn.execute(text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))]
            + [tuple(row) for row in conn.execute(text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace"))]
            + [tuple(row) for row in conn.execute(text(
                "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE NOT tgisinternal"))])


def test_a_filled_archive_is_the_migrated_schema_with_consistent_indexes(engine: Engine) -> None:
    migrated = _schema(engine)
    fill(engine, 300, batch=100)
    assert _schema(engine) == migrated  # the indexes and constraints dropped for the load are back, unchanged
    with session_scope(engine) as session:
        items = session.execute(select(Item.id, Item.minhash).order_by(Item.id)).all()
        assert [item_id for item_id, _ in items] == list(range(1, 301))
        assert near_matches(session, items[123][1]) == [(items[123][0], 1.0)]  # storage's lookup finds it
        if engine.dialect.name == "sqlite":  # the full-text index holds every item (the insert trigger ran)
            assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1  # off for the load only
            assert session.execute(text(
                "SELECT count(*) FROM items_fts WHERE items_fts MATCH 'meta:9of9'")).scalar_one() == 300
        session.add(Item(canonical_url="https://archive.example/after", url="u"))
        session.flush()  # the id sequence goes on after the loaded ids
    with session_scope(engine) as session:
        assert session.scalars(select(Item.id).where(Item.url == "u").order_by(Item.id.desc())).first() == 301
