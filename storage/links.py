"""Links between items: hreflang translations (with pending alternates), duplicates and shared symbols."""

from __future__ import annotations

from typing import Any, Protocol, cast
from urllib.parse import quote

from sqlalchemy import Table, bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from storage import stories
from storage.models import Item, ItemLink, ItemSymbol, PendingAlternate, Source

TRANSLATION = "translation"
DUPLICATE = "duplicate"


def _link_both_ways(session: Session, a: int, b: int, kind: str) -> None:
    if a == b:
        return
    have = set(
        session.execute(
            select(ItemLink.item_id, ItemLink.other_id).where(
                ItemLink.kind == kind,
                or_(
                    (ItemLink.item_id == a) & (ItemLink.other_id == b),
                    (ItemLink.item_id == b) & (ItemLink.other_id == a),
                ),
            )
        ).all()
    )
    for pair in ((a, b), (b, a)):
        if pair not in have:
            session.add(ItemLink(item_id=pair[0], other_id=pair[1], kind=kind))
    session.flush()


class Linkable(Protocol):
    """What linking needs of a stored item: an Item, or the id and key of a row just inserted with Core."""

    @property
    def id(self) -> int: ...
    @property
    def canonical_url(self) -> str: ...


# Built once and run as Core on the session's connection: every stored page runs the pending lookups
# (storage.items.store_page), and an ORM select costs several times its SQL.
_ITEM_BY_URL = select(Item.id).where(Item.canonical_url == bindparam("url"))
_PENDING = cast(Table, PendingAlternate.__table__)
_PENDING_OF = select(_PENDING.c.id).where(_PENDING.c.item_id == bindparam("item_id"),
                                          _PENDING.c.canonical_url == bindparam("url"))
_WAITING = select(_PENDING.c.id, _PENDING.c.item_id).where(_PENDING.c.canonical_url == bindparam("url"))
_ADD_PENDING = insert(_PENDING)


def link_translations(session: Session, item: Linkable, alternates: dict[str, str]) -> None:
    """Link `item` with its hreflang alternates ({lang: canonical URL}) both ways.

    Alternates not stored yet become PendingAlternate rows; pending rows that name this item's URL are
    resolved now. Linked versions join one story (storage.stories): the earliest is its original.
    Call it for every stored item (with an empty dict when it names no alternates).
    """
    session.flush()  # an unflushed Item gets its id; the lookups below run on the connection
    item_id, canonical_url = item.id, item.canonical_url
    connection = session.connection()
    for lang, url in alternates.items():
        if not url or url == canonical_url:
            continue
        other_id = connection.execute(_ITEM_BY_URL, {"url": url}).scalar()
        if other_id is not None:
            _link_both_ways(session, item_id, other_id, TRANSLATION)
            stories.join(session, item_id, other_id)  # language versions are one story
            session.flush()
            continue
        if connection.execute(_PENDING_OF, {"item_id": item_id, "url": url}).scalar() is None:
            connection.execute(_ADD_PENDING, {"item_id": item_id, "canonical_url": url, "language": lang or None})
    waiting = connection.execute(_WAITING, {"url": canonical_url}).all()
    for _pending_id, naming_item in waiting:
        _link_both_ways(session, naming_item, item_id, TRANSLATION)
        stories.join(session, naming_item, item_id)
    if waiting:
        session.flush()
        connection.execute(delete(_PENDING).where(_PENDING.c.id.in_([p for p, _ in waiting])))


def symbol_url(symbol: str) -> str:
    """https://undocs.org/ + the UN document symbol."""
    return "https://undocs.org/" + quote(symbol, safe="/().")


def _brief(item: Item, publishers: dict[int, tuple[str, str]]) -> dict[str, Any]:
    source_name, publisher = publishers.get(item.source_id or -1, (None, None))
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "language": item.language,
        "published": item.published.isoformat() if item.published else None,
        "source": source_name,
        "publisher": publisher,
    }


def _linked_ids(session: Session, item_id: int, kind: str) -> set[int]:
    rows = session.execute(
        select(ItemLink.item_id, ItemLink.other_id).where(
            ItemLink.kind == kind, or_(ItemLink.item_id == item_id, ItemLink.other_id == item_id)
        )
    ).all()
    return {x for pair in rows for x in pair} - {item_id}


def related_items(session: Session, item_id: int, same_symbol_limit: int = 20) -> dict[str, Any]:
    """{"duplicates", "translations", "symbols", "same_symbol"} of one item, for the API and digests.

    duplicates: the first copy and every other copy (each with its publisher); translations: hreflang
    alternates; symbols: [{"symbol", "url"}]; same_symbol: other first copies citing one of the symbols.
    """
    item = session.get(Item, item_id)
    if item is None:
        return {"duplicates": [], "translations": [], "symbols": [], "same_symbol": []}
    root = item.duplicate_of_id or item.id
    dup_ids = set(session.scalars(select(Item.id).where(Item.duplicate_of_id == root)))
    dup_ids |= {root} | _linked_ids(session, item.id, DUPLICATE)
    dup_ids.discard(item.id)
    trans_ids = _linked_ids(session, item.id, TRANSLATION)
    symbols = sorted(session.scalars(select(ItemSymbol.symbol).where(ItemSymbol.item_id == item.id)))
    same_ids: set[int] = set()
    if symbols:
        same_ids = (
            set(
                session.scalars(
                    select(ItemSymbol.item_id)
                    .join(Item, Item.id == ItemSymbol.item_id)
                    .where(ItemSymbol.symbol.in_(symbols), Item.duplicate_of_id.is_(None))
                    .distinct()
                    .limit(same_symbol_limit + len(dup_ids) + 1)
                )
            )
            - dup_ids
            - {item.id}
        )
    wanted = dup_ids | trans_ids | same_ids
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(wanted)))} if wanted else {}
    source_ids = {i.source_id for i in items.values() if i.source_id is not None}
    publishers = (
        {
            sid: (name, pub)
            for sid, name, pub in session.execute(
                select(Source.id, Source.name, Source.publisher).where(Source.id.in_(source_ids))
            )
        }
        if source_ids
        else {}
    )

    def briefs(ids: set[int]) -> list[dict[str, Any]]:
        return [_brief(items[i], publishers) for i in sorted(ids) if i in items]

    return {
        "duplicates": briefs(dup_ids),
        "translations": briefs(trans_ids),
        "symbols": [{"symbol": s, "url": symbol_url(s)} for s in symbols],
        "same_symbol": briefs(same_ids)[:same_symbol_limit],
    }
