"""full-text search over the normalised columns: SQLite FTS5 kept in sync by triggers, PostgreSQL tsvector

Both engines index `items.search_title` / `items.search_text`: the item's text normalised in Python by
storage.textnorm (storage.search.search_columns, kept up to date by ORM events). The engines only split
those space-separated tokens: FTS5 with `unicode61 remove_diacritics 2` (no porter), PostgreSQL with
the `simple` configuration. Existing items are normalised here, in batches.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE items_fts USING fts5(
        search_title, search_text,
        content='items', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, search_title, search_text)
        VALUES (new.id, new.search_title, new.search_text);
    END""",
    """CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, search_title, search_text)
        VALUES ('delete', old.id, old.search_title, old.search_text);
    END""",
    """CREATE TRIGGER items_fts_au AFTER UPDATE OF search_title, search_text ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, search_title, search_text)
        VALUES ('delete', old.id, old.search_title, old.search_text);
        INSERT INTO items_fts(rowid, search_title, search_text)
        VALUES (new.id, new.search_title, new.search_text);
    END""",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
    # covering index for the filters of a ranked search (storage.search joins the FTS matches to it with
    # INDEXED BY instead of reading each large items row): on-topic/duplicates, language, source, dates
    "CREATE INDEX IF NOT EXISTS ix_items_search_filter ON items "
    "(id, relevant, duplicate_of_id, language, source_id, published)",
]

SQLITE_DOWN = [
    "DROP INDEX IF EXISTS ix_items_search_filter",
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TABLE IF EXISTS items_fts",
]

PG_UP = [
    """ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(search_title, '')), 'A') ||
        setweight(to_tsvector('simple'::regconfig, coalesce(search_text, '')), 'D')
    ) STORED""",
    "CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)",
]

PG_DOWN = [
    "DROP INDEX IF EXISTS ix_items_search_vector",
    "ALTER TABLE items DROP COLUMN IF EXISTS search_vector",
]


def _backfill() -> None:
    """Normalise the items stored before this revision (those whose search columns are empty)."""
    from storage.search import reindex  # the Python normaliser (storage.textnorm)

    reindex(op.get_bind(), batch=2000, missing_only=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return
    _backfill()  # before the index exists: one pass, no trigger or index maintenance per row
    for stmt in SQLITE_UP if dialect == "sqlite" else PG_UP:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    elif dialect == "postgresql":
        for stmt in PG_DOWN:
            op.execute(stmt)
