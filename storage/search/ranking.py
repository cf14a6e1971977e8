"""Ranked paging in windows of the newest matches, on SQLite FTS5 (bm25) and PostgreSQL (ts_rank_cd)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Alias,
    ColumnElement,
    Double,
    and_,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.models import Item
from storage.search.cursors import decode_cursor
from storage.search.fulltext import to_fts5, to_tsquery
from storage.search.types import ItemFilter, SearchError
from storage.search.variants import node_variants

_PG_CONFIG = literal_column("'simple'::regconfig")

# Ranking every match costs one bm25 / ts_rank_cd per matching row (plus a row fetch on PostgreSQL):
# 80 k+ rows for a word in 8 % of a million items. So a query is ranked in *windows*: the newest
# RANK_WINDOW text matches (by item id, i.e. most recently archived) are ranked together and listed
# first, best first; then the 2 x RANK_WINDOW next older matches, then 4 x, and so on (doubling keeps
# a walk through a long, mostly filtered-out result to a few windows). A query with at most
# RANK_WINDOW text matches (every rare word, most filtered searches) has one window: exact global
# ranking, as before. Ranking costs about one unit per match and FTS phrase (each normalised variant
# of each positive word), so a query of more than two phrases gets proportionally smaller windows
# (`window_size`, never below RANK_WINDOW_MIN). Windows are cut on the text matches, before the
# filters; rank values are the engine's (bm25 / ts_rank_cd over the whole archive), independent of
# the window. A cursor carries its window's id bounds, so paging lists every match exactly once.
#   SQLite: the window's lower bound is the exact N-th newest match (FTS5 walks rowids backwards
#     cheaply). PostgreSQL: it is estimated from the planner's match count (the exact one means
#     fetching every matching row), so the first window holds about N matches; every query re-reads
#     the whole GIN bitmap, so the second window is all the older matches. Filtered searches are not
#     windowed on PostgreSQL (measured slower: one bitmap AND per window).

RANK_WINDOW = 20_000  # matches ranked together, for a query of up to two phrases
RANK_WINDOW_MIN = 2_000
SQLITE_FILTER_INDEX = "ix_items_search_filter"  # covering index for the filters (0002 migration)


_FTS = table("items_fts", column("rowid"))  # the FTS5 virtual table (not an ORM model: triggers maintain it)


class _IndexedItems(Alias):
    """`items AS fi INDEXED BY ix_items_search_filter` on SQLite: the filters of a ranked search read
    the small covering index instead of each matching (large) items row."""

    inherit_cache = True


@compiles(_IndexedItems)
def _compile_indexed_items(element: _IndexedItems, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_alias(element, **kw)
    if kw.get("asfrom") and compiler.dialect.name == "sqlite":
        text += f" INDEXED BY {SQLITE_FILTER_INDEX}"
    return text


@dataclass
class _Ranker:
    """The dialect's pieces of a ranked query."""

    size: int  # window_size()
    ids: Select[Any]  # SELECT id FROM … WHERE text matches (no filters): window bounds
    ranked: Select[Any]  # SELECT id, rank FROM … WHERE text matches AND filters
    id_col: ColumnElement[Any]
    rank: ColumnElement[Any]


def _ranker(dialect: str, node: q_ast.Node, langs: tuple[str, ...],
            conds: list[ColumnElement[bool]]) -> _Ranker:
    size = window_size(node, langs)
    if dialect == "sqlite":
        matches = literal_column("items_fts").op("MATCH")(to_fts5(node, langs))
        rowid = _FTS.c.rowid
        rank = func.bm25(literal_column("items_fts"), 10.0, 1.0)  # search_title, search_text
        ranked = select(rowid.label("id"), rank.label("rank")).select_from(_FTS).where(matches)
        if conds:  # filters through the covering index, joined per match (bm25 only for those kept)
            fi = _IndexedItems._construct(Item.__table__, name="fi")
            adapter = ClauseAdapter(fi)
            ranked = ranked.join_from(_FTS, fi, fi.c.id == rowid).where(
                *(adapter.traverse(c) for c in conds))
        ids = select(rowid).select_from(_FTS).where(matches)
        return _Ranker(size, ids, ranked, rowid, rank)
    if dialect == "postgresql":
        tsq = func.to_tsquery(_PG_CONFIG, to_tsquery(node, langs))
        vector = literal_column("items.search_vector")
        rank = -cast(func.ts_rank_cd(vector, tsq), Double())  # float8: exact in cursors
        ranked = select(Item.id, rank.label("rank")).where(vector.op("@@")(tsq), *conds)
        if conds:  # filters: the planner ANDs their bitmaps per window, dearer than one ranked scan
            size = 2**62  # one window (exact ranking)
        return _Ranker(size, select(Item.id).where(vector.op("@@")(tsq)), ranked, Item.id, rank)
    raise SearchError(f"full-text search is not available on {dialect}")


def window_size(node: q_ast.Node, langs: tuple[str, ...]) -> int:
    """How many of the newest text matches are ranked together for this query (see above)."""
    phrases = sum(len(node_variants(leaf, langs)) for leaf in q_ast.positive_leaves(node))
    return max(RANK_WINDOW_MIN, RANK_WINDOW * 2 // max(phrases, 2))


Window = tuple[int | None, int | None, int | None]  # (lo inclusive | None, hi exclusive | None, id span | None)


def _in_window(col: ColumnElement[Any], w: Window) -> list[ColumnElement[bool]]:
    lo, hi, _ = w
    return ([col >= lo] if lo is not None else []) + ([col < hi] if hi is not None else [])


def _next_window(session: Session, dialect: str, r: _Ranker, prev: Window | None) -> Window:
    """The first window (prev None), or the one of the matches older than `prev`, twice its size.
    The first window's upper bound is the newest item now (matches archived while paging stay out of
    the later pages). The third value is the window's size: matches (SQLite) or an id span (PostgreSQL)."""
    hi = None if prev is None else prev[0]
    if dialect == "sqlite":
        size = r.size if prev is None or prev[2] is None else prev[2] * 2
        newest = r.ids.where(*_in_window(r.id_col, (None, hi, None))).order_by(r.id_col.desc())
        if hi is None:
            top = session.execute(newest.limit(1)).scalar()
            hi = None if top is None else top + 1
        return session.execute(newest.offset(size - 1).limit(1)).scalar(), hi, size
    # PostgreSQL: an id span holding about window_size matches, from the planner's estimate
    first, last = session.execute(select(func.min(Item.id), func.max(Item.id))).one()
    if first is None or (hi is not None and hi <= first):
        return None, hi, None
    if hi is None:
        hi = last + 1
    if prev is None or prev[2] is None:
        compiled = r.ids.compile(dialect=session.get_bind().dialect)
        plan = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                                    compiled.params).scalar()
        estimate = float(plan[0]["Plan"]["Plan Rows"]) if plan else 0.0
        if estimate <= r.size:
            return None, hi, None  # one window
        span = max(1, math.ceil((last - first + 1) * r.size / estimate))
    else:  # the rest in one window: each PostgreSQL window re-reads the whole GIN match bitmap
        return None, hi, None
    lo = hi - span
    return (lo if lo > first else None), hi, span


def page_by_rank(
    session: Session,
    dialect: str,
    node: q_ast.Node,
    langs: tuple[str, ...],
    conds: list[ColumnElement[bool]],
    f: ItemFilter,
) -> list[tuple[int, float, Window]]:
    """Up to f.limit + 1 (id, rank, window) rows after the cursor: windows newest first, each by rank."""
    try:
        r = _ranker(dialect, node, langs, conds)
        after: tuple[float, int] | None = None
        w: Window | None = None
        if f.cursor:
            c = decode_cursor(f.cursor, "r", f, session)
            after, w = (c["r"], c["id"]), c.get("w")
        if w is None:
            w = _next_window(session, dialect, r, None)
        rows: list[tuple[int, float, Window]] = []
        while True:
            stmt = r.ranked.where(*_in_window(r.id_col, w))
            if after is not None:
                stmt = stmt.where(or_(r.rank > after[0], and_(r.rank == after[0], r.id_col < after[1])))
            stmt = stmt.order_by(r.rank.asc(), r.id_col.desc()).limit(f.limit + 1 - len(rows))
            rows += [(row[0], float(row[1]), w) for row in session.execute(stmt)]
            if len(rows) > f.limit or w[0] is None:
                return rows
            w, after = _next_window(session, dialect, r, w), None
    except DBAPIError as exc:  # an expression the engine still rejects: a 4xx, not a 500
        session.rollback()
        raise SearchError(f"invalid query: {exc.orig}") from None

