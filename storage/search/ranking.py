"""Ranked paging in windows of the newest matches, on SQLite FTS5 (bm25) and PostgreSQL (ts_rank_cd)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Double, and_, cast, func, literal_column, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.dberrors import is_unavailable
from storage.models import Item
from storage.search import engines
from storage.search.cursors import decode_cursor
from storage.search.engines import (
    FTS,
    PG_VECTOR,
    filter_index,
    fts_match,
    pg_filters,
    pg_planned_matches,
    pg_tsquery,
    planner_rows,
)
from storage.search.filters import key_conditions
from storage.search.keys import BUCKET, KeyFilter
from storage.search.types import INT64_MIN, ItemFilter, SearchError
from storage.search.variants import node_variants

# Ranking every match costs one bm25 / ts_rank_cd per matching row (plus a row fetch on PostgreSQL):
# 80 k+ rows for a word in 8 % of a million items. So a query is ranked in *windows*: the newest
# RANK_WINDOW text matches (by item id, i.e. most recently archived) are ranked together and listed
# first, best first; then the 2 x RANK_WINDOW next older matches, then 4 x, and so on (doubling keeps
# a walk through a long, mostly filtered-out result to a few windows). A query with at most
# RANK_WINDOW text matches (every rare word, most filtered searches) has one window: exact global
# ranking, as before. Ranking costs about one unit per match and FTS phrase (each normalised variant
# of each positive word), so a query of more than two phrases gets proportionally smaller windows
# (`window_size`, never below RANK_WINDOW_MIN). Windows are cut on the text matches, before the
# filters (joined per match: the index keys of storage.search.keys cost more here, see
# docs/architecture.md); rank values are the engine's (bm25 / ts_rank_cd over the whole archive), independent of
# the window. A cursor carries its window's id bounds, so paging lists every match exactly once.
#   SQLite: the window's lower bound is the exact N-th newest match (FTS5 walks rowids backwards
#     cheaply). PostgreSQL: ranking a row costs a heap fetch, so windows are PG_WINDOW_DIVISOR times
#     smaller, and their bound is estimated from the planner's match count (the exact one means
#     fetching every matching row): the first window is an id span holding about N matches and every
#     later window has the same span, so a deep page costs what the first one does.

RANK_WINDOW = 10_000  # matches ranked together, for a query of up to two phrases
RANK_WINDOW_MIN = 1_000
PG_WINDOW_DIVISOR = 5  # PostgreSQL ranks windows of RANK_WINDOW / 5 matches (see _ranker)
PG_MAX_WINDOWS_PER_PAGE = 3  # then the rest of the matches in one window (see page_by_rank)
SQLITE_FILTER_INDEX = engines.SQLITE_FILTER_INDEX
# PostgreSQL: a window spanning at most this many id buckets (storage.search.keys.BUCKET ids each, a
# `~b<id // BUCKET>` lexeme of every item) is matched as `words & ('~b190' | '~b191' | …)`: the GIN
# index then walks the buckets' short posting lists and skips through the words' long ones instead of
# building the bitmap of every match of a common word (80 k rows for "drone") to keep the window's
# 2,000. The id bounds stay (buckets are a superset of the window) and the rank is the words' alone, so
# the rows and ranks are those without it. Not for queries with a prefix term (see _ranker). 0 turns it off.
PG_WINDOW_BUCKETS_MAX = 40
# PostgreSQL: the filters that index keys answer (on-topic, language, source: filters.key_conditions)
# are lexemes of the match too, so GIN drops the matches they reject before any row is fetched:
# "arme" among English items (200,000 French matches, almost none English) fetched and rejected every
# one of them. The rank stays the words'. (On SQLite the keys made bm25 walk their doclists: slower.)
PG_RANK_KEYS = True
# SQLite: when the filters that index keys answer keep at most this many of a query's many text matches
# (a French word among English items: 170,000 matches, none English), the windows would join every
# text match to the filter index before a page fills (~70 ms at a million). Those few are then ranked
# in one window found with the keys: bm25 over `words AND meta : keys` (the meta column weighs 0, so
# the ranks are the words' alone), the window `[SQLITE_KEYED_LO, newest match]`, i.e. every match
# ranked globally as in a one-window query. Its lower bound names the plan in the cursor. The check is
# a capped count of the keyed match (an FTS5 intersection); not made when one window holds every text
# match (the keys' doclists cost bm25 more than the join then). 0 turns it off.
SQLITE_KEYED_FEW = 1_000
SQLITE_KEYED_LO = INT64_MIN


@dataclass
class _Ranker:
    """The dialect's pieces of a ranked query."""

    size: int  # window_size()
    ids: Select[Any]  # SELECT id FROM … WHERE text matches (no filters): window bounds
    ranked: Select[*tuple[Any, ...]]  # SELECT id, rank FROM … WHERE text matches AND filters
    id_col: ColumnElement[Any]
    rank: ColumnElement[Any]
    # the ranked rows of one window (default: `ranked` within the window's id bounds)
    windowed: Callable[[Window], Select[*tuple[Any, ...]]] | None = field(default=None)
    estimate: Callable[[Session], float] | None = field(default=None)  # of the text matches (PostgreSQL)
    keyed: Select[*tuple[Any, ...]] | None = field(default=None)  # SQLite: `ranked` matched with the keys
    keyed_ids: Select[Any] | None = field(default=None)  # SQLite: SELECT rowid of the keyed match

    def in_window(self, w: Window) -> Select[*tuple[Any, ...]]:
        if self.keyed is not None and w[0] == SQLITE_KEYED_LO:
            return self.keyed.where(self.id_col < w[1]) if w[1] is not None else self.keyed
        if self.windowed is not None:
            return self.windowed(w)
        return self.ranked.where(*_in_window(self.id_col, w))


def window_buckets(w: Window) -> tuple[int, ...] | None:
    """The id buckets covering a bounded window (None: unbounded, or more than PG_WINDOW_BUCKETS_MAX)."""
    lo, hi, _ = w
    if lo is None or hi is None or hi <= lo:
        return None
    first, last = lo // BUCKET, (hi - 1) // BUCKET
    if last - first + 1 > PG_WINDOW_BUCKETS_MAX:
        return None
    return tuple(range(first, last + 1))


def _ranker(dialect: str, node: q_ast.Node, langs: tuple[str, ...],
            conds: list[ColumnElement[bool]], keys: KeyFilter | None = None,
            all_conds: list[ColumnElement[bool]] | None = None) -> _Ranker:
    """`keys`: filters matched as index lexemes, `conds` then holds only the rest (SQLite: the keyed
    window's; its other windows join `all_conds`, every filter)."""
    size = window_size(node, langs)
    if dialect == "sqlite":
        rowid = FTS.c.rowid
        # weights of search_title, search_text, meta
        rank: ColumnElement[Any] = func.bm25(literal_column("items_fts"), 10.0, 1.0, 0.0)

        def rank_of(matches: ColumnElement[bool], filters: list[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
            stmt = select(rowid.label("id"), rank.label("rank")).select_from(FTS).where(matches)
            if filters:  # filters through the covering index, joined per match (bm25 only for those kept)
                fi = filter_index()
                adapter = ClauseAdapter(fi)
                stmt = stmt.join_from(FTS, fi, fi.c.id == rowid).where(*(adapter.traverse(c) for c in filters))
            return stmt

        matches = fts_match(node, langs)
        ids = select(rowid).select_from(FTS).where(matches)
        if keys is None or keys == KeyFilter():
            ranked = rank_of(matches, conds)
            return _Ranker(size, ids, ranked, rowid, rank)
        keyed = fts_match(node, langs, keys)  # `conds` then holds only the filters the keys do not answer
        ranked = rank_of(matches, all_conds or [])
        return _Ranker(size, ids, ranked, rowid, rank,
                       keyed=rank_of(keyed, conds), keyed_ids=select(rowid).select_from(FTS).where(keyed))
    if dialect == "postgresql":
        tsq = pg_tsquery(node, langs)
        # ranked by the words alone: the key lexemes only narrow the match (same rows, same ranks)
        rank = -cast(func.ts_rank_cd(PG_VECTOR, tsq), Double())  # float8: exact in cursors
        keys = keys or KeyFilter()
        conds = pg_filters(conds)
        ranked = select(Item.id, rank.label("rank")).where(PG_VECTOR.op("@@")(pg_tsquery(node, langs, keys)), *conds)
        # each row ranked costs a heap fetch here (no FTS5 doclist): smaller windows than SQLite's
        size = max(RANK_WINDOW_MIN, size // PG_WINDOW_DIVISOR)

        # a prefix term's postings are read whole into a bitmap whatever else the query holds (GIN
        # partial match), so buckets only add theirs: `drone*` ranked 181 -> 319 ms p50 with them
        prefixed = any(pre for leaf in q_ast.positive_leaves(node) for seq in node_variants(leaf, langs)
                       for _, pre in seq)

        def windowed(w: Window) -> Select[*tuple[Any, ...]]:
            buckets = None if prefixed else window_buckets(w)
            if buckets is None:
                return ranked.where(*_in_window(Item.id.expression, w))
            keyed = pg_tsquery(node, langs, replace(keys, buckets=buckets))
            # `id + 0`: the bounds are checked on the rows the buckets found, not by a second bitmap
            # of the primary key over the whole span (BitmapAnd: 30 ms for a 76,000-id span)
            return (select(Item.id, rank.label("rank"))
                    .where(PG_VECTOR.op("@@")(keyed), *conds, *_in_window(Item.id.expression + 0, w)))

        return _Ranker(size, select(Item.id).where(PG_VECTOR.op("@@")(tsq)), ranked, Item.id.expression, rank,
                       windowed, lambda session: match_estimate(session, node, langs))
    raise SearchError(f"full-text search is not available on {dialect}")


PG_PHRASE_ESTIMATE = True  # estimate a phrase's matches as its rarest word's (False: the planner's own)


Estimate = Callable[[q_ast.Node], float]


def _rarest_word(phrase: q_ast.Phrase, estimate: Estimate) -> q_ast.Node:
    last = len(phrase.words) - 1
    words = [q_ast.Term(w.rstrip("*"), prefix=i == last and w.endswith("*")) for i, w in enumerate(phrase.words)]
    return min(words, key=estimate)


def _relaxed(node: q_ast.Node, estimate: Estimate) -> q_ast.Node:
    if isinstance(node, q_ast.Phrase):
        return _rarest_word(node, estimate)
    if isinstance(node, q_ast.And | q_ast.Or):
        return type(node)(tuple(_relaxed(c, estimate) for c in node.children))
    return node  # a Term; a Not keeps its phrase (it only lowers the estimate)


def match_estimate(session: Session, node: q_ast.Node, langs: tuple[str, ...]) -> float:
    """PostgreSQL's estimate of a query's text matches, with each phrase counted as its rarest word.

    The planner takes a phrase's words as independent: "lethal autonomous" (0.6 % of a million items,
    always together) was estimated at ~160 rows, so the query was ranked in one window of all its
    6,000 matches. A phrase matches at most what its rarest word does, and its words usually go
    together: that bound sizes the windows (an overestimate only makes them smaller). Each distinct
    node is EXPLAINed once (a lone phrase's estimate is its rarest word's, already asked)."""
    if not PG_PHRASE_ESTIMATE or not any(isinstance(leaf, q_ast.Phrase) for leaf in q_ast.positive_leaves(node)):
        return pg_planned_matches(session, node, langs)
    memo: dict[q_ast.Node, float] = {}

    def estimate(n: q_ast.Node) -> float:
        if n not in memo:
            memo[n] = pg_planned_matches(session, n, langs)
        return memo[n]

    return estimate(_relaxed(node, estimate))


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
        if hi is None:  # the newest match and the size-th newest in one statement (one text match, not two)
            head = newest.limit(size).subquery()
            top, bottom, found = session.execute(select(func.max(head.c.rowid), func.min(head.c.rowid),
                                                        func.count())).one()
            return (bottom if found == size else None), (None if top is None else top + 1), size
        return session.execute(newest.offset(size - 1).limit(1)).scalar(), hi, size
    # PostgreSQL: an id span holding about window_size matches, from the planner's estimate; every
    # later window keeps that span (each window costs one GIN bitmap and a heap fetch per match in it)
    first, last = session.execute(select(func.min(Item.id), func.max(Item.id))).one()
    if first is None or (hi is not None and hi <= first):
        return None, hi, None
    if hi is None:
        hi = last + 1
    if prev is not None:
        span = prev[2]
        if span is None:
            return None, hi, None
    else:
        estimate = r.estimate(session) if r.estimate is not None else planner_rows(session, r.ids)
        if estimate <= r.size:
            return None, hi, None  # one window
        span = max(1, math.ceil((last - first + 1) * r.size / estimate))
    lo = hi - span
    return (lo if lo > first else None), hi, span


def _keyed_count(session: Session, keyed_ids: Select[Any]) -> int:
    """SQLite: how many items the keyed match holds, counted up to SQLITE_KEYED_FEW + 1."""
    capped = keyed_ids.limit(SQLITE_KEYED_FEW + 1).subquery()
    return session.execute(select(func.count()).select_from(capped)).scalar() or 0


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
        keys, all_conds = None, conds
        if (dialect == "postgresql" and PG_RANK_KEYS) or (dialect == "sqlite" and SQLITE_KEYED_FEW):
            keys, conds = key_conditions(session, f)
        r = _ranker(dialect, node, langs, conds, keys, all_conds)
        after: tuple[float, int] | None = None
        w: Window | None = None
        if f.cursor:
            c = decode_cursor(f.cursor, "r", f, session)
            after, w = (c["r"], c["id"]), c.get("w")
        if w is None:
            w = _next_window(session, dialect, r, None)
            if r.keyed_ids is not None and w[0] is not None:
                keyed = _keyed_count(session, r.keyed_ids)
                if keyed == 0:  # no match passes the keyed filters: nothing to rank
                    return []
                if keyed <= SQLITE_KEYED_FEW:
                    w = (SQLITE_KEYED_LO, w[1], w[2])
        rows: list[tuple[int, float, Window]] = []
        scanned = 0
        while True:
            stmt = r.in_window(w)
            if after is not None:
                stmt = stmt.where(or_(r.rank > after[0], and_(r.rank == after[0], r.id_col < after[1])))
            stmt = stmt.order_by(r.rank.asc(), r.id_col.desc()).limit(f.limit + 1 - len(rows))
            rows += [(row[0], float(row[1]), w) for row in session.execute(stmt)]
            if len(rows) > f.limit or w[0] is None or (r.keyed is not None and w[0] == SQLITE_KEYED_LO):
                return rows
            scanned += 1
            w, after = _next_window(session, dialect, r, w), None
            if dialect == "postgresql" and scanned >= PG_MAX_WINDOWS_PER_PAGE and w[0] is not None:
                # filters that keep almost nothing: one last window of every older match (each window
                # rebuilds the whole GIN bitmap, so many small ones cost more than this one)
                w = (None, w[1], None)
    except DBAPIError as exc:  # an expression the engine still rejects: a 4xx, not a 500
        session.rollback()
        if is_unavailable(exc):  # the database is down, not the query wrong: the caller answers 503 / exit 1
            raise
        raise SearchError(f"invalid query: {exc.orig}") from None

