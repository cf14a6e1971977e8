"""Paging by date (newest published first, undated last, then newest archived): with or without text.

Without text, the date index is walked. With text, the filters are index keys of the text match
(storage.search.keys), so the engine yields only the filtered matches; then:
* few of them (at most SORT_ALL text-and-key matches): they are all sorted by date;
* many: the archive's months are walked newest first, each month a key of the text match (a common
  word's first page needs one month), at most MONTH_WALK months per page; the matches older than
  those are then sorted together (filters that keep almost nothing), the undated ones last.
Every query is a keyset range `(published, id) < cursor`, so paging is exact in both cases.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import Session

from storage import query as q_ast
from storage.models import Item
from storage.search.cursors import decode_cursor
from storage.search.dates import as_utc
from storage.search.engines import FTS, fts_match, planner_rows, text_matches
from storage.search.keys import KeyFilter, month_of, next_month, previous_month
from storage.search.types import ItemFilter

SORT_ALL = 5_000  # up to this many text-and-key matches are sorted outright
MONTH_WALK = 24  # months read one by one per page before the rest is sorted at once
SQLITE_SORT_ALL = SORT_ALL  # the first round's name


def page_by_date(session: Session, dialect: str, node: q_ast.Node | None, langs: tuple[str, ...],
                 conds: list[ColumnElement[bool]], f: ItemFilter, keys: KeyFilter | None = None) -> list[Any]:
    """Up to f.limit + 1 (id, published) rows after the cursor, newest first.

    `conds`: with text, the conditions the key filter `keys` leaves over (filters.key_conditions);
    without text, every filter condition."""
    c = decode_cursor(f.cursor, "d", f, session) if f.cursor else None
    n = f.limit + 1
    if node is None:
        return _keyset(session, select(Item.id, Item.published).where(*conds).subquery(), c, n, dialect)
    keys = keys or KeyFilter()
    if _count_upto(session, dialect, node, langs, keys, SORT_ALL) <= SORT_ALL:
        return _keyset(session, _matches(dialect, node, langs, conds, keys), c, n, dialect)
    rows: list[Any] = []
    month = None if c is not None and c.get("p") is None else _newest_month(session, c, f)
    walked = 0
    while month is not None and len(rows) < n:
        if walked == MONTH_WALK:  # the rest, all at once
            older = [*conds, Item.published < _month_start(next_month(month))]  # `month` not read yet
            rows += _keyset(session, _matches(dialect, node, langs, older, keys), c, n - len(rows), dialect,
                            undated=False)
            break
        part = _matches(dialect, node, langs, conds, replace(keys, months=(month,)))
        rows += _keyset(session, part, c, n - len(rows), dialect, undated=False)
        walked += 1
        month = _older_month(session, month, f)
    if len(rows) < n:
        part = _matches(dialect, node, langs, conds, replace(keys, months=(0,)))
        rows += _keyset(session, part, c, n - len(rows), dialect, dated=False)
    return rows


def _matches(dialect: str, node: q_ast.Node, langs: tuple[str, ...], conds: list[ColumnElement[bool]],
             keys: KeyFilter) -> Any:
    """(id, published) of the matches, as a subquery the keyset page reads (materialised on
    PostgreSQL: the planner must not trade the match set for a walk of the date index)."""
    stmt, _ = text_matches(dialect, node, langs, conds, "id", "published", keys=keys)
    if dialect == "postgresql":
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


def _count_upto(session: Session, dialect: str, node: q_ast.Node, langs: tuple[str, ...], keys: KeyFilter,
                cap: int) -> float:
    """How many items match the text and keys, counted up to `cap` + 1 (SQLite: a doclist walk) or as
    PostgreSQL's planner expects (counting there is a heap fetch per row)."""
    if dialect == "postgresql":
        stmt, _ = text_matches(dialect, node, langs, [], "id", keys=keys)
        return planner_rows(session, stmt)
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
