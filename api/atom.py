"""Atom 1.0 (RFC 4287) rendering of a page of search hits."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from milai.safeurl import safe_link
from storage.matches import readable
from storage.models import Item
from storage.search import ItemHit

NS = "http://www.w3.org/2005/Atom"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def item_updated(item: Item) -> datetime:
    return item.updated_at or item.published or item.fetched_at


def _text(value: str) -> str:
    """XML 1.0 cannot carry most control characters."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)


def render_feed(hits: list[ItemHit], *, title: str, self_url: str, alternate_url: str, base_url: str) -> bytes:
    """A complete Atom document; entry ids are stable tag-like URLs of the item pages."""
    ET.register_namespace("", NS)
    feed = ET.Element(f"{{{NS}}}feed")
    ET.SubElement(feed, f"{{{NS}}}id").text = _text(self_url)
    ET.SubElement(feed, f"{{{NS}}}title").text = _text(title)
    updated = max((item_updated(h.item) for h in hits), default=datetime.now(UTC))
    ET.SubElement(feed, f"{{{NS}}}updated").text = _ts(updated)
    ET.SubElement(feed, f"{{{NS}}}link", rel="self", type="application/atom+xml", href=self_url)
    ET.SubElement(feed, f"{{{NS}}}link", rel="alternate", type="text/html", href=alternate_url)
    ET.SubElement(feed, f"{{{NS}}}generator").text = "MilAI Watch"
    author = ET.SubElement(feed, f"{{{NS}}}author")
    ET.SubElement(author, f"{{{NS}}}name").text = "MilAI Watch"
    for hit in hits:
        item = hit.item
        entry = ET.SubElement(feed, f"{{{NS}}}entry")
        ET.SubElement(entry, f"{{{NS}}}id").text = f"{base_url.rstrip('/')}/items/{item.id}"
        ET.SubElement(entry, f"{{{NS}}}title", type="text").text = _text(item.title or item.url)
        ET.SubElement(entry, f"{{{NS}}}updated").text = _ts(item_updated(item))
        if item.published:
            ET.SubElement(entry, f"{{{NS}}}published").text = _ts(item.published)
        # The original only when it is an http(s) address; otherwise the item's page here (scraped URLs are hostile).
        page = f"{base_url.rstrip('/')}/items/{item.id}"
        ET.SubElement(entry, f"{{{NS}}}link", rel="alternate", href=_text(safe_link(item.url) or page))
        who = ET.SubElement(entry, f"{{{NS}}}author")
        ET.SubElement(who, f"{{{NS}}}name").text = _text(item.source.publisher if item.source else "unknown")
        summary = item.summary or (item.text or "")[:500]
        ET.SubElement(entry, f"{{{NS}}}summary", type="text").text = _text(summary)
        if item.language:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", item.language)
        for match in readable(item.matches):
            ET.SubElement(entry, f"{{{NS}}}category", term=_text(match))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
