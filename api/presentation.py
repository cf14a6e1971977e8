"""The JSON and CSV shape of an item in search results (API, exports, `milai search`): presentation, so it
lives on the web side, not in storage."""

from __future__ import annotations

from typing import Any

from milai.safeurl import safe_link
from storage.matches import Explanation, readable
from storage.matches import codes as match_codes
from storage.models import Item
from storage.search import ItemHit


def item_to_dict(item: Item, hit: ItemHit | None = None) -> dict[str, Any]:
    """The JSON shape of an item in `milai search --format json` and the API."""
    return {
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
        "rank": hit.rank if hit else None,
        "duplicate_of": item.duplicate_of_id,
        "symbols": sorted(s.symbol for s in item.symbols),
        "kind": item.kind,
        "fetched_at": item.fetched_at.isoformat() if item.fetched_at else None,
    }


# The CSV exports (API and `milai search --format csv`): these item_to_dict fields, lists joined by "; ".
CSV_FIELDS = ["id", "published", "title", "url", "source", "publisher", "language", "relevant", "score",
              "matches", "symbols", "duplicate_of", "summary"]


def csv_row(data: dict[str, Any]) -> dict[str, Any]:
    """An item_to_dict dict as a CSV row (write it with extrasaction="ignore")."""
    return dict(data, matches="; ".join(data["matches"]), symbols="; ".join(data["symbols"]))

