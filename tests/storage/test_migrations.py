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
