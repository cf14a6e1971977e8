"""Stories: the copies of one piece of news (near-duplicates, republications, language versions) and
which of them is the original.

A story is an original item (`duplicate_of_id IS NULL`) and every item whose `duplicate_of_id` names
it. The original is the earliest published copy: by publication day (the page's date, else the
feed's or the URL's), then by first seen (`fetched_at`), then by id; undated copies come after dated
ones. When an earlier copy arrives later (the UN original crawled a day after a government's
republication), `join` re-points the whole story at it, so the original stays the earliest copy
whatever the crawl order. Search, the API, Atom, digests and webhooks all show the original and list
the rest with `copies_of` / `story_of`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Item, Source

_LATEST = date.max


def precedence(published: datetime | None, fetched_at: datetime | None, item_id: int | None) -> tuple[Any, ...]:
    """The sort key of a copy: the smallest is the story's original."""
    return (
        published.date() if published is not None else _LATEST,
        fetched_at or datetime.max,
        item_id if item_id is not None else 2**63,
    )


def _key(item: Item) -> tuple[Any, ...]:
    return precedence(item.published, item.fetched_at, item.id)


def original_id(session: Session, item_id: int) -> int:
    """The id of the original of `item_id`'s story (itself when it is one)."""
    seen = {item_id}
    current = item_id
    while True:  # stories are one level deep; follow a few hops in case of older rows
        parent = session.scalar(select(Item.duplicate_of_id).where(Item.id == current))
        if parent is None or parent in seen:
            return current
        seen.add(parent)
        current = parent


def _repoint(session: Session, old: Item, new: Item) -> None:
    """Make `new` the original of `old`'s story (old's copies and old itself now point at new)."""
    session.flush()
    session.execute(
        update(Item).where(Item.duplicate_of_id == old.id).values(duplicate_of_id=new.id),
        execution_options={"synchronize_session": "fetch"},
    )
    new.duplicate_of_id = None
    old.duplicate_of_id = new.id
    session.flush()


def settle(session: Session, item: Item) -> int:
    """After `item` was stored as a copy (its duplicate_of_id set), make it the original if it is the
    earlier copy. Returns the story's original id."""
    if item.duplicate_of_id is None:
        return item.id
    root = session.get(Item, original_id(session, item.duplicate_of_id))
    if root is None or root.id == item.id:
        item.duplicate_of_id = None
        session.flush()
        return item.id
    if _key(item) < _key(root):
        _repoint(session, root, item)
        return item.id
    if item.duplicate_of_id != root.id:
        item.duplicate_of_id = root.id
        session.flush()
    return root.id


def join(session: Session, a_id: int, b_id: int) -> int:
    """Put the stories of items `a_id` and `b_id` together (language versions of one text); the earliest
    of the two originals becomes the original of both. Returns its id."""
    ra, rb = original_id(session, a_id), original_id(session, b_id)
    if ra == rb:
        return ra
    a, b = session.get(Item, ra), session.get(Item, rb)
    if a is None or b is None:
        return ra
    first, second = (a, b) if _key(a) <= _key(b) else (b, a)
    _repoint(session, second, first)
    return first.id


@dataclass(frozen=True)
class Copy:
    """One other copy of a story, as pages, feeds and digests list it."""

    id: int
    title: str
    url: str
    publisher: str | None
    source: str | None
    language: str | None
    published: datetime | None
    original: bool  # the story's original (listed when the item shown is itself a copy)
    other_language: bool  # a language version (its language differs from the item shown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "url": self.url, "publisher": self.publisher,
            "source": self.source, "language": self.language,
            "published": self.published.isoformat() if self.published else None,
            "original": self.original, "other_language": self.other_language,
        }


def copies_of(session: Session, items: Iterable[Item]) -> dict[int, list[Copy]]:
    """{item id: the other copies of its story} for many items at once (two queries per call): the
    original first when the item is a copy, then the copies in order of precedence."""
    items = list(items)
    roots = {i.id: (i.duplicate_of_id or i.id) for i in items}
    root_ids = sorted(set(roots.values()))
    if not root_ids:
        return {}
    out: dict[int, list[Copy]] = {i.id: [] for i in items}
    members: dict[int, list[Any]] = {r: [] for r in root_ids}
    cols = (Item.id, Item.duplicate_of_id, Item.title, Item.url, Item.canonical_url, Item.language,
            Item.published, Item.fetched_at, Source.publisher, Source.name)
    for chunk_start in range(0, len(root_ids), 500):
        chunk = root_ids[chunk_start:chunk_start + 500]
        # the copies' ids first, alone: joined to sources, SQLite's planner (whose statistics see a column
        # nearly all NULL) scanned a whole covering index instead (100 ms at 30,000 items)
        copy_ids = list(session.scalars(select(Item.id).where(Item.duplicate_of_id.in_(chunk))))
        stmt = select(*cols).outerjoin(Source, Source.id == Item.source_id).where(Item.id.in_(chunk + copy_ids))
        for row in session.execute(stmt):
            members[row.duplicate_of_id or row.id].append(row)
    for item in items:
        root = roots[item.id]
        rows = sorted(members.get(root, []), key=lambda r: precedence(r.published, r.fetched_at, r.id))
        out[item.id] = [
            Copy(id=r.id, title=r.title or r.url or r.canonical_url, url=r.url or r.canonical_url,
                 publisher=r.publisher, source=r.name, language=r.language, published=r.published,
                 original=r.id == root, other_language=bool(r.language and r.language != item.language))
            for r in rows if r.id != item.id
        ]
    return out


def summary(copies: list[Copy]) -> dict[str, list[str]]:
    """{"publishers": other publishers in the item's language, "languages": other languages} of a
    story, for "also published by …" and "also in fr, es"."""
    publishers = list(dict.fromkeys(c.publisher for c in copies if c.publisher and not c.other_language))
    languages = list(dict.fromkeys(c.language for c in copies if c.other_language and c.language))
    return {"publishers": publishers, "languages": sorted(languages)}
