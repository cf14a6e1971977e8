"""Readers' labels on items ("relevant" / "not relevant") and their export in the relevance dev-set
format (one JSON object a line: id, lang, title, text, label), so a deployment can measure
(`python -m bench.relevance`) and tune its classifier on its own archive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Item, ItemLabel, ItemRevision

LABELS = ("relevant", "not_relevant")
VIA = ("web", "api", "email")


def add_label(session: Session, item: Item, label: str, *, via: str) -> ItemLabel:
    """Record one verdict on the item's current text version."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}")
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}")
    row = ItemLabel(item_id=item.id, label=label, revision=item.revision, via=via)
    session.add(row)
    session.flush()
    return row


def export_labels(session: Session) -> Iterator[dict[str, Any]]:
    """The latest label per (item, text version), as dev-set records with the text that was judged."""
    latest: dict[tuple[int, int], ItemLabel] = {}
    for row in session.scalars(select(ItemLabel).order_by(ItemLabel.id)):
        latest[(row.item_id, row.revision)] = row
    for (item_id, revision), row in sorted(latest.items()):
        item = session.get(Item, item_id)
        if item is None:
            continue
        title, text = item.title, item.text
        if revision != item.revision:  # judged on an earlier version: export the text that was read
            old = session.scalar(select(ItemRevision).where(ItemRevision.item_id == item_id,
                                                            ItemRevision.revision == revision))
            if old is not None:
                title, text = old.title, old.text
        yield {"id": f"item-{item_id}-r{revision}", "lang": item.language, "title": title, "text": text,
               "label": row.label, "via": row.via, "labelled_at": row.created_at.isoformat()}
