"""What a search asks for and what it returns: the filter, the hits and page, the limits, the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.models import Item

MAX_LIMIT = 500
MAX_FILTER_LENGTH = 500  # source / publisher / symbol / language values
MAX_CURSOR_LENGTH = 1000
SORTS = ("relevance", "date")  # ItemFilter.sort: best match first, or newest published first (undated last)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the range of an item id (SQLite INTEGER, PostgreSQL BIGINT)


class SearchError(ValueError):
    """A search that cannot run as asked (bad query, cursor, date or limit); the message says why."""


@dataclass
class ItemFilter:
    """What to search for; empty lists mean no restriction."""

    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sources: list[str] = field(default_factory=list)
    publishers: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    include_all: bool = False  # False: on-topic only, later duplicate copies hidden
    symbol: str | None = None
    limit: int = 50
    cursor: str | None = None
    sort: str = "relevance"  # one of SORTS; a search without text is always by date

    def by_date(self) -> bool:
        """Whether the results come newest first (asked for, or no text to rank by)."""
        return self.sort == "date" or not (self.q and self.q.strip())


@dataclass
class ItemHit:
    item: Item
    rank: float | None = None  # lower is better (negated ts_rank_cd / bm25)
    snippet: str | None = None  # safe HTML: escaped text with <mark> around matched words


@dataclass
class SearchPage:
    items: list[ItemHit]
    next: str | None
