"""Turn stored items into safe, plain snapshots shared by email digests and webhook payloads."""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

from storage.models import Item

_SPACE = re.compile(r"\s+")
SUMMARY_CHARS = 600


def plain_text(value: str | None, limit: int | None = None) -> str:
    """Scraped HTML or text reduced to one line of plain text (tags removed by nh3, entities decoded)."""
    if not value:
        return ""
    cleaned = html.unescape(nh3.clean(value, tags=set(), clean_content_tags={"script", "style"}))
    cleaned = _SPACE.sub(" ", cleaned).strip()
    if limit and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def header_safe(value: str, limit: int = 200) -> str:
    """Text fit for a mail header: no CR/LF or other control characters, bounded length."""
    value = "".join(" " if ord(ch) < 32 or ord(ch) in (127, 0x2028, 0x2029, 0x85) else ch for ch in value)
    value = _SPACE.sub(" ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def item_snapshot(item: Item) -> dict[str, Any]:
    """The version-1 item object of webhook payloads, also used to render emails."""
    source = item.source
    also = []
    for dup in sorted(item.duplicates, key=lambda d: d.id):
        publisher = dup.source.publisher if dup.source else None
        also.append({"publisher": publisher, "url": dup.url or dup.canonical_url})
    return {
        "id": item.id,
        "url": item.url or item.canonical_url,  # the working URL; canonical_url is only the dedup key
        "title": plain_text(item.title, 500) or (item.url or item.canonical_url),
        "published": item.published.isoformat() if item.published else None,
        "fetched": item.fetched_at.isoformat() if item.fetched_at else None,
        "source": source.name if source else None,
        "publisher": source.publisher if source else None,
        "language": item.language,
        "summary": plain_text(item.summary or item.text, SUMMARY_CHARS),
        "matches": list(item.matches or []),
        "also_published_by": also,
    }
