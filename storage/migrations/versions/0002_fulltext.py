"""full-text search over items: SQLite FTS5 kept in sync by triggers, PostgreSQL generated tsvector

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
        title, summary, text,
        content='items', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, title, summary, text)
        VALUES (new.id, new.title, new.summary, new.text);
    END""",
    """CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, text)
        VALUES ('delete', old.id, old.title, old.summary, old.text);
    END""",
    """CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary, text ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, title, summary, text)
        VALUES ('delete', old.id, old.title, old.summary, old.text);
        INSERT INTO items_fts(rowid, title, summary, text)
        VALUES (new.id, new.title, new.summary, new.text);
    END""",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TABLE IF EXISTS items_fts",
]

# One text search configuration for documents and queries: `simple` (no stemming: the archive is
# multilingual) with accents folded by the unaccent dictionary when that extension is available.
PG_CONFIG = "CREATE TEXT SEARCH CONFIGURATION milai_search (COPY = pg_catalog.simple)"
PG_UNACCENT = """ALTER TEXT SEARCH CONFIGURATION milai_search
    ALTER MAPPING FOR hword, hword_part, word WITH public.unaccent, simple"""

PG_UP = [
    """ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('milai_search'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('milai_search'::regconfig, coalesce(summary, '')), 'B') ||
        setweight(to_tsvector('milai_search'::regconfig, coalesce(text, '')), 'D')
    ) STORED""",
    "CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)",
]

PG_DOWN = [
    "DROP INDEX IF EXISTS ix_items_search_vector",
    "ALTER TABLE items DROP COLUMN IF EXISTS search_vector",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS milai_search",
]


def _pg_has_unaccent() -> bool:
    """Create the unaccent extension when allowed; report whether it is usable."""
    bind = op.get_bind()
    available = bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
    ).scalar()
    if not available:
        return False
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
    except Exception:  # no privilege: fall back to accent-sensitive search
        return False
    return True


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_UP:
            op.execute(stmt)
    elif dialect == "postgresql":
        op.execute(PG_CONFIG)
        if _pg_has_unaccent():
            op.execute(PG_UNACCENT)
        for stmt in PG_UP:
            op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    elif dialect == "postgresql":
        for stmt in PG_DOWN:
            op.execute(stmt)
