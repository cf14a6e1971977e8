"""search filter keys: on-topic, language, source and month in the full-text index (storage.search.keys)

A French word searched among English items, by date, took 1.3-1.7 s at a million items on both
dialects: the filters were checked per text match (or the date index walked per row), and almost all
of them failed. With the filters in the index, the engine intersects them with the words itself.

SQLite: `items_fts` becomes a contentless FTS5 table with a third column `meta` holding the keys;
the triggers write it on every insert, every update of an indexed or filtered column (text, on-topic,
duplicate, language, source, date) and every delete. PostgreSQL: `search_vector` gains the keys as
lexemes starting with `~` (plus an id bucket of 5,000 ids); as a generated column it is recomputed on
every write. Existing rows are indexed here.

Revision ID: 0005_search_filter_keys
Revises: 0004
"""
from __future__ import annotations

from alembic import op

revision = "0005_search_filter_keys"
down_revision = "0004"
branch_labels = None
depends_on = None


def _meta(row: str) -> str:
    """The SQLite `meta` value of `row` (new / old / items): as storage.search.keys.sqlite_tokens."""
    month = (f"CAST(strftime('%Y', {row}.published) AS INTEGER) * 100 "
             f"+ CAST(strftime('%m', {row}.published) AS INTEGER)")
    return (f"(CASE WHEN {row}.relevant AND {row}.duplicate_of_id IS NULL THEN '9on9' ELSE '9of9' END)"
            f" || ' 9l9' || coalesce(hex({row}.language), '')"
            f" || ' 9s9' || coalesce({row}.source_id, '')"
            f" || ' 9m9' || coalesce({month}, 0)")


_INS = "INSERT INTO items_fts(rowid, search_title, search_text, meta) VALUES (new.id, new.search_title, new.search_text, {})"
_DEL = ("INSERT INTO items_fts(items_fts, rowid, search_title, search_text, meta) "
        "VALUES ('delete', old.id, old.search_title, old.search_text, {})")

SQLITE_UP = [
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TABLE IF EXISTS items_fts",
    """CREATE VIRTUAL TABLE items_fts USING fts5(
        search_title, search_text, meta,
        content='', tokenize='unicode61 remove_diacritics 2'
    )""",
    f"CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN {_INS.format(_meta('new'))}; END",
    f"CREATE TRIGGER items_fts_ad AFTER DELETE ON items BEGIN {_DEL.format(_meta('old'))}; END",
    "CREATE TRIGGER items_fts_au AFTER UPDATE OF id, search_title, search_text, relevant, duplicate_of_id, "
    f"language, source_id, published ON items BEGIN {_DEL.format(_meta('old'))}; {_INS.format(_meta('new'))}; END",
    "INSERT INTO items_fts(rowid, search_title, search_text, meta) "
    f"SELECT id, search_title, search_text, {_meta('items')} FROM items",
    "ANALYZE",
]

# 0002's external-content table, triggers and rebuild
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_ai",
    "DROP TRIGGER IF EXISTS items_fts_ad",
    "DROP TRIGGER IF EXISTS items_fts_au",
    "DROP TABLE IF EXISTS items_fts",
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
]

_PG_WORDS = ("setweight(to_tsvector('simple'::regconfig, coalesce(search_title, '')), 'A') || "
             "setweight(to_tsvector('simple'::regconfig, coalesce(search_text, '')), 'D')")
_PG_MONTH = ("(date_part('year', timezone('UTC', published)) * 100 "
             "+ date_part('month', timezone('UTC', published)))::integer::text")
_PG_KEYS = ("array_to_tsvector(ARRAY["
            "CASE WHEN relevant AND duplicate_of_id IS NULL THEN '~on' ELSE '~off' END, "
            "'~l' || coalesce(language, ''), "
            "'~s' || coalesce(source_id::text, ''), "
            f"'~m' || coalesce({_PG_MONTH}, '0'), "
            "'~b' || (id / 5000)::text])")


def _pg_vector(expr: str) -> list[str]:
    return [
        "SET LOCAL maintenance_work_mem = '256MB'",
        "ALTER TABLE items DROP COLUMN IF EXISTS search_vector",  # drops its GIN index too
        f"ALTER TABLE items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({expr}) STORED",
        "CREATE INDEX ix_items_search_vector ON items USING gin (search_vector)",
        "ALTER TABLE items ALTER COLUMN search_vector SET STATISTICS 1000",
        "ANALYZE items",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_UP:
            op.execute(stmt)
    elif dialect == "postgresql":
        for stmt in _pg_vector(f"{_PG_WORDS} || {_PG_KEYS}"):
            op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    elif dialect == "postgresql":
        for stmt in _pg_vector(_PG_WORDS):
            op.execute(stmt)
