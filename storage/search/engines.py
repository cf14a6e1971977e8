"""The dialects' full-text pieces: the FTS5 table and covering filter index on SQLite, the tsvector on
PostgreSQL, the per-transaction planner settings, and `text_matches` (matching items with filters)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Alias, ColumnElement, column, func, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.models import Item
from storage.search.fulltext import to_fts5, to_tsquery
from storage.search.keys import KeyFilter, pg_meta, sqlite_meta
from storage.search.types import SearchError

SQLITE_FILTER_INDEX = "ix_items_search_filter"  # covering index for the filters (0002 migration)
FTS = table("items_fts", column("rowid"))  # the FTS5 virtual table (not an ORM model: triggers maintain it)
PG_CONFIG: ColumnElement[Any] = literal_column("'simple'::regconfig")
PG_VECTOR: ColumnElement[Any] = literal_column("items.search_vector")

# Set at the start of every search transaction on PostgreSQL (SET LOCAL: they end with it).
# JIT compilation costs 50-200 ms on the large plans of common words and saves nothing here; bitmaps
# of 100 k+ matches must not turn lossy (a lossy page rechecks every row on it); the archive is read
# from memory far more than from disk, which the default random_page_cost of 4 does not assume; and
# psycopg prepares a statement run 5 times, after which PostgreSQL may switch to a generic plan that
# cannot see the query's words, window bounds or cursor (measured: 230 ms instead of 8 ms).
PG_SEARCH_SETTINGS = {"jit": "off", "work_mem": "32MB", "random_page_cost": "1.1",
                      "plan_cache_mode": "force_custom_plan"}


class IndexedItems(Alias):
    """`items AS fi INDEXED BY ix_items_search_filter` on SQLite: the filters of a full-text search read
    the small covering index instead of each matching (large) items row."""

    inherit_cache = True
    index_name = SQLITE_FILTER_INDEX


@compiles(IndexedItems)
def compile_indexed_items(element: IndexedItems, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_alias(element, **kw)
    if kw.get("asfrom") and compiler.dialect.name == "sqlite":
        text += f" INDEXED BY {element.index_name}"
    return text


@cache
def filter_index() -> IndexedItems:
    """The one `fi` alias (made once: an alias of the 24-column items table builds its column collection
    anew, ~0.1 ms, and a page of a filtered ranked search made three)."""
    return IndexedItems._construct(Item.__table__, name="fi")


def tune(session: Session) -> None:
    """The planner settings of a search, for the rest of this transaction (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        conn = session.connection()
        for name, value in PG_SEARCH_SETTINGS.items():
            conn.exec_driver_sql(f"SET LOCAL {name} = '{value}'")


def fts5_expression(node: q_ast.Node, langs: tuple[str, ...], keys: KeyFilter | None = None) -> str:
    """The FTS5 MATCH string: the words in the title and text columns, the key filter in `meta`."""
    words = "{search_title search_text} : (" + to_fts5(node, langs, merged=True) + ")"
    meta = sqlite_meta(keys) if keys is not None else None
    return words if meta is None else f"{words} AND {meta}"


def fts_match(node: q_ast.Node, langs: tuple[str, ...], keys: KeyFilter | None = None) -> ColumnElement[bool]:
    return literal_column("items_fts").op("MATCH")(fts5_expression(node, langs, keys))


def tsquery_expression(node: q_ast.Node, langs: tuple[str, ...], keys: KeyFilter | None = None) -> str:
    """The tsquery string: the words, AND the key filter's lexemes."""
    words = to_tsquery(node, langs)
    meta = pg_meta(keys) if keys is not None else None
    return words if meta is None else f"{words} & {meta}"


def pg_tsquery(node: q_ast.Node, langs: tuple[str, ...], keys: KeyFilter | None = None) -> ColumnElement[Any]:
    return func.to_tsquery(PG_CONFIG, tsquery_expression(node, langs, keys))


def text_matches(dialect: str, node: q_ast.Node, langs: tuple[str, ...], conds: list[ColumnElement[bool]],
                 *cols: str, keys: KeyFilter | None = None) -> tuple[Select[Any], Any]:
    """SELECT `cols` (items column names) of the items matching the text, the key filter and the
    other conditions, and the column object of their id (to add conditions on it)."""
    if dialect == "sqlite":
        fi = filter_index()
        adapter = ClauseAdapter(fi)
        stmt = (select(*(fi.c[c] for c in cols)).select_from(FTS).join(fi, fi.c.id == FTS.c.rowid)
                .where(fts_match(node, langs, keys), *(adapter.traverse(c) for c in conds)))
        return stmt, fi.c.id
    if dialect == "postgresql":
        stmt = select(*(Item.__table__.c[c] for c in cols)).where(
            PG_VECTOR.op("@@")(pg_tsquery(node, langs, keys)), *pg_filters(conds))
        return stmt, Item.id
    raise SearchError(f"full-text search is not available on {dialect}")


def pg_filters(conds: list[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    """The filters of a text match on PostgreSQL, `relevant IS true` written `relevant IS NOT DISTINCT
    FROM true` (same rows, no index matches it): the planner otherwise ANDs the GIN bitmap with one of
    every on-topic item read from `ix_items_relevant_published` (300,000 rows at a million items, 60-70
    ms) to spare heap fetches worth a few ms ("REAIM" among English items: 1,959 text matches)."""
    on_topic = Item.relevant.is_(True)
    return [Item.relevant.is_not_distinct_from(True) if c.compare(on_topic) else c for c in conds]


def planner_rows(session: Session, stmt: Any) -> float:
    """PostgreSQL's estimate of the rows `stmt` returns (EXPLAIN, nothing run)."""
    compiled = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    plan = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
    return float(plan[0]["Plan"]["Plan Rows"]) if plan else 0.0


def pg_planned_matches(session: Session, node: q_ast.Node, langs: tuple[str, ...]) -> float:
    """PostgreSQL's planner estimate of a query's text matches, before any filter (its words taken as independent:
    ranking.match_estimate bounds a phrase by its rarest word instead)."""
    return planner_rows(session, select(Item.id).where(PG_VECTOR.op("@@")(pg_tsquery(node, langs))))
