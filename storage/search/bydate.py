"""Paging by date (newest published first, undated last, then newest archived): with or without text.

Without text, the (published, id) index is walked. With text, SQLite gets the text matches from FTS5
and either sorts them all (few matches) or walks the date index keeping those in the match set (many
matches: the first page of 50 is found after ~50 / share-of-matches rows). PostgreSQL's planner
makes the same choice itself between the GIN bitmap and the (published DESC NULLS LAST, id DESC)
index of the 0004 migration, given honest per-transaction settings (storage.search.engines.tune).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.models import Item
from storage.search.cursors import decode_cursor
from storage.search.engines import FTS, IndexedItems, compile_indexed_items, fts_match, text_matches
from storage.search.types import ItemFilter

# SQLite: up to this many text matches are sorted by date outright; above, the date index is walked.
SQLITE_SORT_ALL = 20_000
SQLITE_DATE_INDEX = "ix_items_published_id"


class _DateIndexedItems(IndexedItems):
    """`items AS di INDEXED BY ix_items_published_id` on SQLite: walked newest first."""

    inherit_cache = True
    index_name = SQLITE_DATE_INDEX


compiles(_DateIndexedItems)(compile_indexed_items)


def page_by_date(session: Session, dialect: str, node: q_ast.Node | None, langs: tuple[str, ...],
                 conds: list[ColumnElement[bool]], f: ItemFilter) -> list[Any]:
    """Up to f.limit + 1 (id, published) rows after the cursor, newest first."""
    c = decode_cursor(f.cursor, "d", f, session) if f.cursor else None
    if node is None:
        stmt = select(Item.id, Item.published).where(*conds)
        pub, ident = Item.published, Item.id
    elif dialect == "sqlite" and _many_matches(session, node, langs):
        # walk the date index; the match set is built once (an ephemeral index) and probed per row
        di = _DateIndexedItems._construct(Item.__table__, name="di")
        adapter = ClauseAdapter(di)
        matched = select(FTS.c.rowid).where(fts_match(node, langs))
        stmt = select(di.c.id, di.c.published).where(di.c.id.in_(matched), *(adapter.traverse(x) for x in conds))
        pub, ident = di.c.published, di.c.id
    else:
        stmt, ident = text_matches(dialect, node, langs, conds, "id", "published")
        pub = stmt.selected_columns[1]
    # dated rows, then undated ones: each part is a range of the date index (an OR of both is not)
    n = f.limit + 1
    rows: list[Any] = []
    if c is None or c.get("p") is not None:
        dated = stmt.where(pub.is_not(None))
        if c is not None:
            dated = dated.where(tuple_(pub, ident) < tuple_(c["p"], c["id"]))
        rows = list(session.execute(dated.order_by(pub.desc(), ident.desc()).limit(n)).all())
    if len(rows) < n:
        undated = stmt.where(pub.is_(None))
        if c is not None and c.get("p") is None:
            undated = undated.where(ident < c["id"])
        rows += session.execute(undated.order_by(ident.desc()).limit(n - len(rows))).all()
    return rows


def _many_matches(session: Session, node: q_ast.Node, langs: tuple[str, ...]) -> bool:
    capped = select(FTS.c.rowid).where(fts_match(node, langs)).limit(SQLITE_SORT_ALL + 1).subquery()
    return (session.execute(select(func.count()).select_from(capped)).scalar() or 0) > SQLITE_SORT_ALL
