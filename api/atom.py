"""Atom 1.0 (RFC 4287) rendering of a page of search hits."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from milai.safeurl import safe_link
from storage.matches import readable
from storage.models import Item
from storage.search import ItemHit
from storage.stories import Copy, summary

NS = "http://www.w3.org/2005/Atom"


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def item_updated(item: Item) -> datetime:
    return item.updated_at or item.published or item.fetched_at


def _text(value: str) -> str:
    """XML 1.0 cannot carry most control characters."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)


def _also(copies: list[Copy]) -> str:
    """"Also published by A, B. Also in fr, es." for an entry's summary ("" for a story of one copy)."""
    also = summary(copies)
    parts = []
    if also["publishers"]:
        parts.append("Also published by " + ", ".join(also["publishers"]) + ".")
    if also["languages"]:
        parts.append("Also in " + ", ".join(also["languages"]) + ".")
    return " ".join(parts)


def render_feed(hits: list[ItemHit], *, title: str, self_url: str, alternate_url: str, base_url: str,
                copies: dict[int, list[Copy]] | None = None) -> bytes:
    """A complete Atom document; entry ids are stable tag-like URLs of the item pages. Each entry is a
    story's original (storage.stories) with its other copies as `related` links and in the summary."""
    copies = copies or {}
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
        story = copies.get(item.id, [])
        for other in story:
            if safe_link(other.url):
                attrs = {"rel": "related", "href": _text(other.url), "title": _text(other.publisher or other.title)}
                if other.language:
                    attrs["hreflang"] = other.language
                ET.SubElement(entry, f"{{{NS}}}link", attrs)
        text = item.summary or (item.text or "")[:500]
        also = _also(story)
        ET.SubElement(entry, f"{{{NS}}}summary", type="text").text = _text(f"{text}\n\n{also}" if also else text)
        if item.language:
            entry.set("{http://www.w3.org/XML/1998/namespace}lang", item.language)
        for match in readable(item.matches):
            ET.SubElement(entry, f"{{{NS}}}category", term=_text(match))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
