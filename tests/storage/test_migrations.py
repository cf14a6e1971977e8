"""Alembic migrations produce exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from storage.models import Base


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Ignore full-text machinery (FTS5 shadow tables, tsvector column/index) and APScheduler's table."""
    if type_ == "table" and name and (name.startswith("items_fts") or name == "apscheduler_jobs"):
        return False
    if name and ("fts" in name or "tsv" in name or "search" in name) and type_ in ("column", "index"):
        return False
    return True


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
