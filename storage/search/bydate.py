"""Paging by date (newest published first, undated last, then newest archived): with or without text.

Without text, the date index is walked. With text:
* SQLite, few text matches (at most SQLITE_SORT_ALL counted): all matches that pass the filters are
  sorted by date (through the covering filter index);
* PostgreSQL, no filter but dates or symbols, or at most SORT_ALL expected text matches: the planner
  picks between its GIN bitmap and date index;
* SQLite, many matches and no filter but dates or symbols: the date index is walked against the
  match set (built once); with no filter at all and a word in a large share of the archive, each row
  of the date index is probed in the full-text index instead (`_probe_walk`);
* many, with on-topic / language / source filters (which may keep almost none: a French word among
  English items took 1.3-1.7 s), SQLite: up to FEW matches of the words and keys are fetched in one
  query and sorted; beyond, the archive's months are walked newest first, each month's matches
  found with the filters as index keys (storage.search.keys: the engine intersects them with the
  words), at most MONTH_WALK months per page; the older matches are then sorted at once, the
  undated ones last. PostgreSQL (`_pg_keyed`): the newest PG_FIRST_MONTHS months first, in one
  query, then the FEW fetch, then the rest of the MONTH_WALK months in one query, then the rest.
Every query is a keyset range `(published, id) < cursor`, so paging is exact in each case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, func, select, tuple_, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.models import Item
from storage.search.cursors import decode_cursor
from storage.search.dates import as_utc
from storage.search.engines import (
    FTS,
    IndexedItems,
    compile_indexed_items,
    fts_match,
    pg_planned_matches,
    text_matches,
)
from storage.search.filters import key_conditions
from storage.search.keys import KeyFilter, month_of, next_month, previous_month
from storage.search.types import ItemFilter

SQLITE_SORT_ALL = 20_000  # SQLite: up to this many text matches are sorted outright
SORT_ALL = 5_000  # PostgreSQL: up to this many expected text matches, the planner picks the plan
PG_FIRST_MONTHS = 3  # PostgreSQL with keyed filters: months read in the first query of a page
FEW = 5_000  # with filters on many matches: up to this many filtered matches are fetched and sorted at once
FEW_SAMPLE = 500  # keyed matches whose filters are checked to guess whether the FEW fetch can succeed
MONTH_WALK = 24  # months read one by one per page before the rest is sorted at once
# SQLite, filters on many matches: the date index is walked (as without filters) when the newest
# FEW_SAMPLE text matches predict a page within this many index rows (each probed in the match set;
# a 2 % word among English on-topic items: ~14,000 rows, 10 ms, where the keyed fetch took 60)
SQLITE_WALK_STEPS = 40_000
SQLITE_DATE_INDEX = "ix_items_published_id"
# SQLite, no filter, a word in a large share of the archive (`_probe_walk`): probing one row of the date
# index in the full-text index costs about as much as adding SQLITE_PROBE_COST matches to the match set;
# the walk reads at most SQLITE_PROBE_BUDGET times the rows the share predicts. 0 turns probing off.
SQLITE_PROBE_COST = 275
SQLITE_PROBE_BUDGET = 3


class _DateIndexedItems(IndexedItems):
    """`items AS di INDEXED BY ix_items_published_id` on SQLite: walked newest first."""

    inherit_cache = True
    index_name = SQLITE_DATE_INDEX


compiles(_DateIndexedItems)(compile_indexed_items)


@cache
def _date_index() -> _DateIndexedItems:
    """The one `di` alias (see engines.filter_index)."""
    return _DateIndexedItems._construct(Item.__table__, name="di")


def page_by_date(session: Session, dialect: str, node: q_ast.Node | None, langs: tuple[str, ...],
                 conds: list[ColumnElement[bool]], f: ItemFilter) -> list[Any]:
    """Up to f.limit + 1 (id, published) rows after the cursor, newest first (`conds`: every filter)."""
    c = decode_cursor(f.cursor, "d", f, session) if f.cursor else None
    n = f.limit + 1
    if node is None:
        return _keyset(session, select(Item.id, Item.published).where(*conds).subquery(), c, n, dialect)
    keys, residual = key_conditions(session, f)
    keyed = keys != KeyFilter()
    if dialect == "postgresql" and keyed and pg_planned_matches(session, node, langs) > SORT_ALL:
        return _pg_keyed(session, node, langs, residual, keys, c, n, f)
    if dialect == "sqlite":
        count, oldest = _newest_matches(session, node, langs, SQLITE_SORT_ALL)
        if count <= SQLITE_SORT_ALL:
            return _keyset(session, _matches(dialect, node, langs, conds, None, materialise=False), c, n, dialect)
        if not conds and (c is None or c.get("p") is not None):  # a dense word: probing the date index may pay
            probed = _probe_walk(session, node, langs, c, n, count, oldest)
            if probed is not None:
                return probed
        # every match counts, or filters that keep enough of them: the date index is walked against the
        # match set (built once), the filters read from the row of each match met
        if not keyed or _walk_pays(session, node, langs, conds, n):
            return _keyset(session, _date_walk(node, langs, conds), c, n, dialect)
    else:  # PostgreSQL without keys, or few text matches: the planner picks the GIN bitmap or the date index
        return _keyset(session, _matches(dialect, node, langs, conds, None, materialise=False), c, n, dialect)
    # filters on many matches: they may keep almost none, so the keys narrow the match
    likely = _few_likely(session, dialect, node, langs, residual, keys)
    if isinstance(likely, list):  # the sample held every keyed match: its passing rows are the fetch's
        few: list[Any] | None = likely
    elif likely:
        few = _few(session, dialect, node, langs, residual, keys, FEW)
    else:
        few = None
    if few is not None:
        return _sorted_after(few, c, n, session)
    rows: list[Any] = []
    month = None if c is not None and c.get("p") is None else _newest_month(session, c, f)
    walked = 0
    while month is not None and len(rows) < n:
        if walked == MONTH_WALK:  # the rest, all at once
            older = [*residual, Item.published < _month_start(next_month(month))]  # `month` not read yet
            rows += _keyset(session, _matches(dialect, node, langs, older, keys), c, n - len(rows), dialect,
                            undated=False)
            break
        part = _matches(dialect, node, langs, residual, replace(keys, months=(month,)))
        rows += _keyset(session, part, c, n - len(rows), dialect, undated=False)
        walked += 1
        month = _older_month(session, month, f)
    if len(rows) < n:
        part = _matches(dialect, node, langs, residual, replace(keys, months=(0,)))
        rows += _keyset(session, part, c, n - len(rows), dialect, dated=False)
    return rows


def _few(session: Session, dialect: str, node: q_ast.Node, langs: tuple[str, ...],
         conds: list[ColumnElement[bool]], keys: KeyFilter, cap: int) -> list[Any] | None:
    """The (id, published) of every match of the words, keys and conditions if there are at most
    `cap` of them (one query: a filter that keeps almost nothing costs one intersection), else None."""
    stmt, _ = text_matches(dialect, node, langs, conds, "id", "published", keys=keys)
    rows = list(session.execute(_stored_dates(stmt, dialect).limit(cap + 1)).all())
    return rows if len(rows) <= cap else None


def _stored_dates(stmt: Any, dialect: str) -> Any:
    """SQLite: `published` (the second column) as its stored text, not a datetime parsed per row (~3 us
    each: 15 ms for the 5,000 rows of a FEW fetch); `_sorted_after` sorts it as SQLite does and parses
    only the page's rows."""
    if dialect != "sqlite":
        return stmt
    cols = list(stmt.selected_columns)
    return stmt.with_only_columns(cols[0], type_coerce(cols[1], String).label("published"), *cols[2:])


def _few_likely(session: Session, dialect: str, node: q_ast.Node, langs: tuple[str, ...],
                conds: list[ColumnElement[bool]], keys: KeyFilter) -> bool | list[Any]:
    """Whether the FEW fetch may succeed (only a choice of plan: both give the same rows), or, when the
    sample held every keyed match, the (id, published) of those passing the conditions (the fetch's rows).

    The fetch reads matches of the words and keys until FEW + 1 pass the other conditions: for a
    common word among English on-topic items (1M items: 48,000 keyed matches, 30 % on-topic) that is
    ~17,000 rows joined to the covering index before giving up. So the
    conditions are first checked on FEW_SAMPLE keyed matches; with the keyed total (a capped doclist
    count) the fetch is skipped when it would probably find more than 2 x FEW. Fewer than FEW_SAMPLE
    keyed matches, or no other condition: the fetch is tried. SQLite only: PostgreSQL's estimate of the
    keyed total is that of independent words and keys, far too high for a French word among English
    items (the walk then took 400 ms where the fetch takes 60 at 100k items, scaled thresholds)."""
    if dialect != "sqlite" or not conds:
        return True
    stmt, ident = text_matches(dialect, node, langs, [], "id", "published", keys=keys)
    sample = list(session.execute(_stored_dates(stmt, dialect).add_columns(_passing(ident, conds))
                                  .limit(FEW_SAMPLE)).all())
    if len(sample) < FEW_SAMPLE:  # every keyed match: those passing are the fetch's rows (no second intersection)
        passing = [(i, p) for i, p, ok in sample if ok]
        return passing if len(passing) <= FEW else False  # more than FEW: _few would give up too
    kept = sum(ok for _, _, ok in sample)
    bound = 2 * FEW * FEW_SAMPLE / (kept + 1)  # the keyed total above which more than 2 x FEW are expected
    return bool(_count_upto(session, dialect, node, langs, keys, int(bound)) <= bound)


def _passing(ident: Any, conds: list[ColumnElement[bool]]) -> ColumnElement[int]:
    """1 for a text match that passes `conds`, else 0: the conditions read on the covering index the match is
    joined to (`ident`'s table, as text_matches reads them), for the samples that choose a plan."""
    return case((ClauseAdapter(ident.table).traverse(and_(*conds)), 1), else_=0)


def _walk_pays(session: Session, node: q_ast.Node, langs: tuple[str, ...], conds: list[ColumnElement[bool]],
               n: int) -> bool:
    """SQLite, more than SQLITE_SORT_ALL text matches and filters: whether walking the date index
    newest first likely finds n that pass within SQLITE_WALK_STEPS rows. The share passing is that of
    the newest FEW_SAMPLE text matches (joined to the covering index), the matches at least
    SQLITE_SORT_ALL: a page is about n x items / (matches x share) rows of the walk. Only a choice of
    plan: every plan pages the same rows."""
    stmt, ident = text_matches("sqlite", node, langs, [], "id")
    sample = session.execute(stmt.add_columns(_passing(ident, conds)).order_by(FTS.c.rowid.desc())
                             .limit(FEW_SAMPLE)).all()
    kept = sum(ok for _, ok in sample)
    items = session.execute(select(func.max(Item.id))).scalar() or 0
    return bool(kept) and n * items * len(sample) <= SQLITE_WALK_STEPS * kept * max(SQLITE_SORT_ALL, 1)


def _sorted_after(rows: list[Any], c: dict[str, Any] | None, n: int, session: Session) -> list[Any]:
    """The first n of `rows` in date order (dated newest first, then undated newest archived) after the
    cursor. SQLite's rows carry the stored text of `published` (`_stored_dates`): sorted as text, as
    SQLite's own ORDER BY does, and parsed for the n rows returned."""
    stored = any(isinstance(p, str) for _, p in rows)
    dated = sorted(((p if stored else as_utc(p), i) for i, p in rows if p is not None), reverse=True)
    undated = sorted((i for i, p in rows if p is None), reverse=True)
    if c is not None and c.get("p") is not None:
        bound = (_stored_text(session, c["p"]) if stored else c["p"], c["id"])
        dated = [(p, i) for p, i in dated if (p, i) < bound]
    elif c is not None:
        dated, undated = [], [i for i in undated if i < c["id"]]
    page = [(i, _parsed(str(p)) if stored else p) for p, i in dated[:n]]
    return page + [(i, None) for i in undated[: n - len(page)]]


def _stored_text(session: Session, value: datetime) -> str:
    """A datetime as SQLite stores `items.published` (the column type's own bind processing)."""
    dialect = session.get_bind().dialect
    process = Item.__table__.c.published.type.dialect_impl(dialect).bind_processor(dialect)
    return str(process(value) if process is not None else value)


def _parsed(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def _date_walk(node: q_ast.Node, langs: tuple[str, ...], conds: list[ColumnElement[bool]]) -> Any:
    """SQLite: the date index read newest first, each row probed in the match set (built once)."""
    di = _date_index()
    adapter = ClauseAdapter(di)
    matched = select(FTS.c.rowid).where(fts_match(node, langs))
    return (select(di.c.id, di.c.published)
            .where(di.c.id.in_(matched), *(adapter.traverse(x) for x in conds)).subquery("walk"))


def _newest_matches(session: Session, node: q_ast.Node, langs: tuple[str, ...], cap: int) -> tuple[int, int | None]:
    """SQLite: how many items match the text, counted up to `cap` + 1 newest first (a doclist walk),
    and the oldest id among those counted."""
    newest = select(FTS.c.rowid).where(fts_match(node, langs)).order_by(FTS.c.rowid.desc()).limit(cap + 1).subquery()
    count, oldest = session.execute(select(func.count(), func.min(newest.c.rowid))).one()
    return int(count or 0), oldest


def _probe_walk(session: Session, node: q_ast.Node, langs: tuple[str, ...], c: dict[str, Any] | None, n: int,
                counted: int, oldest: int | None) -> list[Any] | None:
    """SQLite, no filter, a word in a large share of the archive: the dated rows of the page found by walking
    the date index newest first and probing each row in the full-text index (~33 us a row) instead of
    building the whole match set first (~0.12 us a match: 21 ms for "arme", 172,000 matches at a million
    items, where the probes take 10). Taken when the expected probes, n / share, cost less than the set,
    share x items matches (SQLITE_PROBE_COST), the share guessed from the newest `counted` matches (the
    oldest of them `oldest`). The walk reads at most SQLITE_PROBE_BUDGET times the expected rows: None
    when they hold fewer than n matches (the date order is sparser than the ids said, or the dated rows
    end), and the caller walks against the match set; otherwise the rows are that walk's."""
    items = session.execute(select(func.max(Item.id))).scalar() or 0
    if oldest is None or items <= 0 or items < oldest:
        return None
    share = counted / (items - oldest + 1)
    if not SQLITE_PROBE_COST or share * share * items <= SQLITE_PROBE_COST * n:
        return None
    di = _date_index()
    head = select(di.c.id, di.c.published).where(di.c.published.is_not(None))
    if c is not None:
        head = head.where(tuple_(di.c.published, di.c.id) < tuple_(c["p"], c["id"]))
    budget = int(SQLITE_PROBE_BUDGET * n / share) + 1
    walk = head.order_by(di.c.published.desc(), di.c.id.desc()).limit(budget).subquery("walk")
    probe = select(FTS.c.rowid).where(fts_match(node, langs), FTS.c.rowid == walk.c.id).exists()
    # no ORDER BY outside: SQLite reads the walk as a co-routine, in its order, and stops probing at the
    # n-th match (sorting them would probe every row of the budget first: 30 ms where this takes 10)
    rows = list(session.execute(select(walk.c.id, walk.c.published).where(probe).limit(n)).all())
    return rows if len(rows) == n else None


def _matches(dialect: str, node: q_ast.Node, langs: tuple[str, ...], conds: list[ColumnElement[bool]],
             keys: KeyFilter | None, materialise: bool = True) -> Any:
    """(id, published) of the matches, as a subquery the keyset page reads (materialised on
    PostgreSQL: the planner must not trade a month's match set for a walk of the date index)."""
    stmt, _ = text_matches(dialect, node, langs, conds, "id", "published", keys=keys)
    if dialect == "postgresql" and materialise:
        return stmt.cte("matches").prefix_with("MATERIALIZED")
    return stmt.subquery("matches")


def _keyset(session: Session, src: Any, c: dict[str, Any] | None, n: int, dialect: str,
            dated: bool = True, undated: bool = True) -> list[Any]:
    """Up to n rows of `src` after the cursor: dated ones newest first, then undated ones (each part a
    range of the date order: an OR of both is not)."""
    pub, ident = src.c.published, src.c.id
    rows: list[Any] = []
    if dated and (c is None or c.get("p") is not None):
        stmt = select(ident, pub).where(pub.is_not(None))
        if c is not None:
            stmt = stmt.where(tuple_(pub, ident) < tuple_(c["p"], c["id"]))
        rows = list(session.execute(stmt.order_by(pub.desc(), ident.desc()).limit(n)).all())
    if undated and len(rows) < n:
        stmt = select(ident, pub).where(pub.is_(None))
        if c is not None and c.get("p") is None:
            stmt = stmt.where(ident < c["id"])
        rows += session.execute(stmt.order_by(ident.desc()).limit(n - len(rows))).all()
    return rows


def _count_upto(session: Session, dialect: str, node: q_ast.Node, langs: tuple[str, ...],
                keys: KeyFilter | None, cap: int) -> float:
    """SQLite: how many items match the text (and keys), counted up to `cap` + 1 (a doclist walk)."""
    capped = select(FTS.c.rowid).where(fts_match(node, langs, keys)).limit(cap + 1).subquery()
    return session.execute(select(func.count()).select_from(capped)).scalar() or 0


def _month_start(month: int) -> datetime:
    return datetime(month // 100, month % 100, 1, tzinfo=UTC)


def _newest_month(session: Session, c: dict[str, Any] | None, f: ItemFilter) -> int | None:
    """The month of the cursor's row, else of the newest dated item within `until`."""
    if c is not None:
        return month_of(c["p"])
    stmt = select(func.max(Item.published))
    if f.until is not None:
        stmt = stmt.where(Item.published <= f.until)
    newest = session.execute(stmt).scalar()
    return None if newest is None or (f.since is not None and as_utc(newest) < as_utc(f.since)) else month_of(newest)


def _older_month(session: Session, month: int, f: ItemFilter) -> int | None:
    """The newest month before `month` holding any dated item (empty months are skipped via the
    published index), or None."""
    start = _month_start(month)
    if f.since is not None and start <= as_utc(f.since):
        return None
    older = session.execute(select(func.max(Item.published)).where(Item.published < start)).scalar()
    if older is None or (f.since is not None and as_utc(older) < as_utc(f.since)):
        return None
    found = month_of(older)
    return found if found < month else previous_month(month)


def _pg_keyed(session: Session, node: q_ast.Node, langs: tuple[str, ...], residual: list[ColumnElement[bool]],
              keys: KeyFilter, c: dict[str, Any] | None, n: int, f: ItemFilter) -> list[Any]:
    """PostgreSQL, filters that are index keys: the newest PG_FIRST_MONTHS months in one query (their
    month keys OR-ed: one GIN scan), then, when that leaves the page short, the FEW fetch, then the
    months up to MONTH_WALK in one query, then every older match at once, the undated last.

    Each step is a keyset range of the date order, newest first, so the rows are those of a walk month
    by month. Before (issue 14), the FEW fetch came first: for a common word among English on-topic
    items it read ~17,000 keyed matches before giving up (60-100 ms at a million) where the first
    months hold the page; the planner's keyed estimate cannot choose (it takes words and keys as
    independent). A prefix term rebuilds its whole bitmap per query, so months are batched."""
    rows: list[Any] = []
    start = None if c is not None and c.get("p") is None else _newest_month(session, c, f)
    if start is not None:
        first = max(1, min(PG_FIRST_MONTHS, MONTH_WALK))
        for count in (first, MONTH_WALK - first):
            if count <= 0:
                continue
            months = _months_back(start, count)
            part = _matches("postgresql", node, langs, residual, replace(keys, months=months))
            rows += _keyset(session, part, c, n - len(rows), "postgresql", undated=False)
            if len(rows) >= n:
                return rows
            start = previous_month(months[-1])
            if count == first:  # short: the filters may keep few matches, all of them sorted at once
                few = _few(session, "postgresql", node, langs, residual, keys, FEW)
                if few is not None:
                    return _sorted_after(few, c, n, session)
        older = [*residual, Item.published < _month_start(next_month(start))]  # `start` not read yet
        rows += _keyset(session, _matches("postgresql", node, langs, older, keys), c, n - len(rows),
                        "postgresql", undated=False)
    if len(rows) < n:
        part = _matches("postgresql", node, langs, residual, replace(keys, months=(0,)))
        rows += _keyset(session, part, c, n - len(rows), "postgresql", dated=False)
    return rows


def _months_back(month: int, count: int) -> tuple[int, ...]:
    """`count` calendar months, `month` first, then older ones."""
    out = [month]
    while len(out) < count:
        out.append(previous_month(out[-1]))
    return tuple(out)

