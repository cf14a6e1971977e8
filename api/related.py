"""An item's relatives: duplicates, translations and cited UN document symbols."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.links import symbol_url
from storage.models import Item, ItemLink


def brief(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "language": item.language,
        "published": item.published.isoformat() if item.published else None,
    }


def _as_brief(session: Session, value: Any) -> dict[str, Any] | None:
    if isinstance(value, Item):
        return brief(value)
    if isinstance(value, int):
        item = session.get(Item, value)
        return brief(item) if item else None
    if isinstance(value, dict):
        return value
    return None


def _linked(session: Session, item: Item, kind: str) -> list[Item]:
    rows = session.execute(
        select(ItemLink.item_id, ItemLink.other_id).where(
            ItemLink.kind == kind, or_(ItemLink.item_id == item.id, ItemLink.other_id == item.id)
        )
    ).all()
    ids = {a if b == item.id else b for a, b in rows} - {item.id}
    return list(session.scalars(select(Item).where(Item.id.in_(ids)).order_by(Item.id))) if ids else []


def related(session: Session, item: Item) -> dict[str, Any]:
    """{"duplicates": [...], "translations": [...], "symbols": [{"symbol", "url"}]}."""
    try:
        from storage.links import related_items  # the dedup engineer's view, when present
    except ImportError:
        related_items = None
    if related_items is not None:
        data = related_items(session, item.id)
        dups = data.get("duplicates", [])
        trans = data.get("translations", [])
        syms = data.get("symbols", [])
    else:
        dup_items = {i.id: i for i in _linked(session, item, "duplicate")}
        dup_items.update({i.id: i for i in item.duplicates})
        if item.duplicate_of is not None:
            dup_items[item.duplicate_of.id] = item.duplicate_of
        dups = sorted(dup_items.values(), key=lambda i: i.id)
        trans = _linked(session, item, "translation")
        syms = sorted(s.symbol for s in item.symbols)
    symbols = [s if isinstance(s, str) else getattr(s, "symbol", None) or s.get("symbol") for s in syms]
    return {
        "duplicates": [b for b in (_as_brief(session, d) for d in dups) if b],
        "translations": [b for b in (_as_brief(session, t) for t in trans) if b],
        "symbols": [{"symbol": s, "url": symbol_url(s)} for s in symbols if s],
    }
