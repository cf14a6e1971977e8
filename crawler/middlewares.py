"""Skip known article URLs before fetching them (one batched lookup per listing page); stop paging
at the first listing page that holds nothing new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from sqlalchemy import Engine

from crawler.items import PageItem
from crawler.spiders.base import META_ARTICLE, META_INFO, META_NEXT_PAGE
from crawler.urls import canonicalize
from storage.database import get_engine, session_scope
from storage.items import KnownItem, known_items


def _norm(title: str | None) -> str:
    return " ".join((title or "").split()).casefold()


def changed_since(known: KnownItem, title: str | None, updated: datetime | None) -> bool:
    """True when the listing says a stored item changed: a different title, or a newer update time."""
    if title and known.listing_title and _norm(title) != _norm(known.listing_title):
        return True
    seen = known.updated_at or known.fetched_at
    return bool(updated and seen and updated > seen)


class SkipKnownUrlsMiddleware:
    """Spider middleware: drop article requests/items whose canonical URL is stored, unless the listing
    says the item changed (then the request goes out marked as a revision)."""

    def __init__(self, crawler: Crawler, engine: Engine) -> None:
        self.crawler = crawler
        self.engine = engine

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, get_engine(crawler.settings.get("MILAI_DATABASE_URL")))

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        batch = [entry async for entry in result]
        urls = {canonicalize(u) for u in map(_candidate_url, batch) if u}
        known: dict[str, KnownItem] = {}
        if urls:
            with session_scope(self.engine) as session:
                known = known_items(session, urls)
        stats = self.crawler.stats
        assert stats is not None
        fresh = 0
        next_pages: list[Request] = []
        for entry in batch:
            if isinstance(entry, Request) and entry.meta.get(META_NEXT_PAGE):
                next_pages.append(entry)
                continue
            url = _candidate_url(entry)
            hit = known.get(canonicalize(url)) if url else None
            if hit is None:
                fresh += url is not None
                yield entry
                continue
            if isinstance(entry, Request):
                info = entry.meta.get(META_INFO) or {}
                if changed_since(hit, info.get("title"), info.get("updated")):
                    stats.inc_value("milai/revisions_requested")
                    yield entry.replace(dont_filter=True, meta={**entry.meta, "milai_revise_id": hit.id})
                    continue
            elif changed_since(hit, entry.listing_title, entry.listing_date):
                entry.revise_id = hit.id
                yield entry
                continue
            stats.inc_value("milai/known")
        for request in next_pages:
            if fresh:
                yield request
            else:
                stats.inc_value("milai/pagination_stopped")


def _candidate_url(entry: Any) -> str | None:
    if isinstance(entry, Request) and entry.meta.get(META_ARTICLE):
        return entry.url
    if isinstance(entry, PageItem):
        return entry.url
    return None
