"""One page of search results: `search_items` (ranked, or by date) and its cursor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, joinedload, selectinload

from storage.models import Item
from storage.search.bydate import page_by_date
from storage.search.cursors import encode_cursor
from storage.search.engines import tune
from storage.search.filters import filter_conditions, validate
from storage.search.ranking import page_by_rank
from storage.search.snippets import snippets
from storage.search.types import ItemFilter, ItemHit, SearchError, SearchPage
from storage.search.userquery import check_positive, parse_user_query
from storage.search.variants import query_languages


def search_items(session: Session, f: ItemFilter) -> SearchPage:
    """One page of items matching `f` (best first, or newest first), with the cursor of the next page."""
    validate(f)
    node = parse_user_query(f.q) if f.q else None
    if node is not None:
        check_positive(node)
    dialect = session.get_bind().dialect.name
    tune(session)
    conds = filter_conditions(f)
    langs = query_languages(f.languages)
    ranks: dict[int, float] = {}
    if node is None or f.sort == "date":
        try:
            rows: list[Any] = page_by_date(session, dialect, node, langs, conds, f)
        except DBAPIError as exc:  # an expression the engine still rejects: a 4xx, not a 500
            session.rollback()
            raise SearchError(f"invalid query: {exc.orig}") from None
    else:
        rows = page_by_rank(session, dialect, node, langs, conds, f)
        ranks = {r[0]: r[1] for r in rows}
    nxt = None
    if len(rows) > f.limit:  # the cursor names the page's last row
        last = rows[f.limit - 1]
        if not ranks:
            nxt = encode_cursor({"k": "d", "p": last[1].isoformat() if last[1] else None, "id": last[0]}, f)
        else:
            nxt = encode_cursor({"k": "r", "r": last[1], "id": last[0], "w": list(last[2])}, f)
    ids = [r[0] for r in rows[: f.limit]]
    items = _load(session, ids)
    found = snippets(items, node, langs) if node is not None and ids else {}
    hits = [ItemHit(items[i], ranks.get(i), found.get(i)) for i in ids if i in items]
    return SearchPage(hits, nxt)


def _load(session: Session, ids: list[int]) -> dict[int, Item]:
    if not ids:
        return {}
    stmt = (
        select(Item)
        .where(Item.id.in_(ids))
        .options(joinedload(Item.source), selectinload(Item.symbols))
    )
    return {item.id: item for item in session.scalars(stmt).unique()}
