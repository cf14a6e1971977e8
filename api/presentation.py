"""The JSON and CSV shape of an item in search results (API, exports, `milai search`): presentation, so it
lives on the web side, not in storage."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy.orm import Session

from milai.safeurl import safe_link
from storage import stories
from storage.matches import Explanation, readable
from storage.matches import codes as match_codes
from storage.models import Item
from storage.search import ItemHit

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def plain_snippet(snippet: str | None) -> tuple[str | None, list[list[int]]]:
    """A snippet's safe HTML (escaped text, <mark> around matches) as plain text and the [start, end)
    character offsets of its highlights, for clients that render text themselves."""
    if snippet is None:
        return None, []
    out: list[str] = []
    marks: list[list[int]] = []
    pos = length = 0
    for m in _MARK.finditer(snippet):
        before = html.unescape(snippet[pos:m.start()])
        inner = html.unescape(m.group(1))
        out += [before, inner]
        length += len(before)
        marks.append([length, length + len(inner)])
        length += len(inner)
        pos = m.end()
    out.append(html.unescape(snippet[pos:]))
    return "".join(out), marks


def story_fields(item: Item, copies: list[stories.Copy]) -> dict[str, Any]:
    """The story of an item: its original's id, the other copies, "also published by" and "also in"."""
    also = stories.summary(copies)
    return {
        "story": item.duplicate_of_id or item.id,
        "copies": [dict(c.to_dict(), link=safe_link(c.url)) for c in copies],
        "also_published_by": also["publishers"],
        "also_in": also["languages"],
    }


def hits_to_dicts(session: Session, hits: list[ItemHit]) -> list[dict[str, Any]]:
    """A page of hits as item_to_dict dicts, each with its story's other copies (one query per page)."""
    copies = stories.copies_of(session, [h.item for h in hits])
    return [item_to_dict(h.item, h, copies=copies.get(h.item.id, [])) for h in hits]


def item_to_dict(item: Item, hit: ItemHit | None = None, *, copies: list[stories.Copy] | None = None,
                 ) -> dict[str, Any]:
    """The JSON shape of an item in `milai search --format json` and the API (with `copies`: its story)."""
    story = story_fields(item, copies) if copies is not None else {}
    return story | {
        "id": item.id,
        "url": item.url,
        "link": safe_link(item.url),  # only http(s) addresses are links (scraped URLs are hostile)
        "title": item.title,
        "published": item.published.isoformat() if item.published else None,
        "source": item.source.name if item.source else None,
        "publisher": item.source.publisher if item.source else None,
        "language": item.language,
        "score": item.score,
        "summary": item.summary,
        "relevant": item.relevant,
        "matches": readable(item.matches),  # the phrases that fired (storage.matches), never rule codes
        "why": Explanation.from_stored(item.matches).groups(),
        "match_codes": match_codes(item.matches),  # the classifier's rule codes, for debugging
        "snippet": hit.snippet if hit else None,
        "snippet_text": plain_snippet(hit.snippet if hit else None)[0],
        "highlights": plain_snippet(hit.snippet if hit else None)[1],
        "rank": hit.rank if hit else None,
        "duplicate_of": item.duplicate_of_id,
        "symbols": sorted(s.symbol for s in item.symbols),
        "kind": item.kind,
        "fetched_at": item.fetched_at.isoformat() if item.fetched_at else None,
    }


# The CSV exports (API and `milai search --format csv`): these item_to_dict fields, lists joined by "; ".
CSV_FIELDS = ["id", "published", "title", "url", "source", "publisher", "language", "relevant", "score",
              "matches", "symbols", "duplicate_of", "also_published_by", "also_in", "summary"]


# a cell a spreadsheet program would run as a formula (CSV injection, CWE-1236): scraped titles and summaries are
# hostile, and `=HYPERLINK(…)` or `=cmd|…` in a title is one click from a reader's machine
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell: text a spreadsheet would read as a formula gets a leading apostrophe (OWASP's
    advice: shown as text, the rest of the value unchanged); other values as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(data: dict[str, Any]) -> dict[str, Any]:
    """An item_to_dict dict as a CSV row (write it with extrasaction="ignore"); no cell is a formula."""
    row = dict(data, matches="; ".join(data["matches"]), symbols="; ".join(data["symbols"]),
               also_published_by="; ".join(data.get("also_published_by") or []),
               also_in="; ".join(data.get("also_in") or []))
    return {key: csv_cell(value) for key, value in row.items()}

