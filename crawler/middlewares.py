"""Skip known article URLs before fetching them (one batched lookup per listing page); stop paging
at the first listing page that holds nothing new.

Known means: stored under that canonical URL, remembered as an alias of a stored item (a mirror fetched
before), or an article URL that failed and is backing off / was given up (storage.items.blocked_urls).
Within one crawl each canonical URL is requested once, whatever spellings the listings use. One bad entry
(a malformed or over-long URL) is dropped and counted, never the page's other entries; when the
callback breaks off, what it listed before still goes through (and the error is raised afterwards)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from sqlalchemy import Engine

from crawler.guard import MAX_KEY_LENGTH, MAX_URL_LENGTH, STAT_TOO_LONG
from crawler.items import PageItem
from crawler.meta import META_ARTICLE, META_INFO, META_LISTING, META_NEXT_PAGE, META_REVISE_ID, count_error
from crawler.settings import crawl_engine
from crawler.urls import canonicalize, is_tracking
from storage.database import session_scope
from storage.items import KnownItem, blocked_urls, known_items

logger = logging.getLogger(__name__)

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

    def __init__(self, crawler: Crawler, engine: Engine, max_url_length: int = MAX_URL_LENGTH) -> None:
        self.crawler = crawler
        self.engine = engine
        self.max_url_length = max_url_length
        self.scheduled: set[str] = set()  # canonical URLs requested (or listed as items) in this crawl

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, crawl_engine(crawler.settings),
                   crawler.settings.getint("URLLENGTH_LIMIT") or MAX_URL_LENGTH)

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        from_listing = bool(getattr(response, "meta", {}).get(META_LISTING)) if response is not None else False
        batch: list[Any] = []
        failure: Exception | None = None
        try:
            async for entry in result:
                batch.append(entry)
        except Exception as exc:  # the callback broke off: what it listed before still goes through
            failure = exc
        keys = self._keys(batch, from_listing)
        known: dict[str, KnownItem] = {}
        blocked: set[str] = set()
        wanted = {key for key in keys.values() if key}
        if wanted:
            with session_scope(self.engine) as session:
                known = known_items(session, wanted)
                blocked = blocked_urls(session, wanted - known.keys())
        chosen = _best_spellings(batch, keys, response)
        stats = self.crawler.stats
        assert stats is not None
        fresh = 0
        next_pages: list[Request] = []
        for entry in batch:
            if isinstance(entry, Request) and entry.meta.get(META_NEXT_PAGE):
                next_pages.append(entry)
                continue
            key = keys.get(id(entry))
            if key is None:
                yield entry
                continue
            if not key:  # dropped by _keys (malformed or over-long URL), counted there
                continue
            if key in self.scheduled or chosen.get(key) is not entry:
                stats.inc_value("milai/duplicate_links")  # another spelling of a page requested in this crawl
                continue
            self.scheduled.add(key)
            if key in blocked:
                stats.inc_value("milai/retry_later")  # failed before: backing off, or given up
                continue
            hit = known.get(key)
            if hit is None:
                fresh += 1
                yield entry
                continue
            if isinstance(entry, Request):
                info = entry.meta.get(META_INFO) or {}
                if changed_since(hit, info.get("title"), info.get("updated")):
                    stats.inc_value("milai/revisions_requested")
                    yield entry.replace(dont_filter=True, meta={**entry.meta, META_REVISE_ID: hit.id})
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
        if failure is not None:
            raise failure

    def _keys(self, batch: list[Any], from_listing: bool) -> dict[int, str]:
        """The canonical key of each article entry (by id); "" for an entry to drop: a URL that cannot be
        parsed (`milai/bad_links`, an error), longer than URLLENGTH_LIMIT or with a canonical key longer
        than MAX_KEY_LENGTH (`milai/url_too_long`)."""
        stats = self.crawler.stats
        assert stats is not None
        keys: dict[int, str] = {}
        for entry in batch:
            url = _candidate_url(entry, from_listing)
            if not url:
                continue
            try:
                key = canonicalize(url)
            except ValueError as exc:
                keys[id(entry)] = ""
                spider = self.crawler.spider
                if hasattr(spider, "bad_link"):
                    spider.bad_link(url, exc)
                else:
                    stats.inc_value("milai/bad_links")
                    count_error(stats, f"skipped a malformed link {url[:200]!r}: {exc}", listing=False)
                continue
            if len(url) > self.max_url_length or len(key) > MAX_KEY_LENGTH:
                keys[id(entry)] = ""
                stats.inc_value(STAT_TOO_LONG)
                logger.info("skipped a URL of %d characters (limit %d): %.120s…", len(url), self.max_url_length, url)
                continue
            keys[id(entry)] = key
        return keys


def _best_spellings(batch: list[Any], keys: dict[int, str], response: Response | None) -> dict[str, Any]:
    """Per canonical URL, the entry whose spelling is most likely to work and is cleanest: the listing's own
    scheme, no tracking parameters or fragment, the shortest."""
    scheme = urlsplit(response.url).scheme if response is not None else "https"
    best: dict[str, tuple[tuple[int, int, int], Any]] = {}
    for entry in batch:
        key = keys.get(id(entry))
        if not key:
            continue
        url = entry.url
        parts = urlsplit(url)
        dirty = bool(parts.fragment) or any(
            is_tracking(p.partition("=")[0]) for p in parts.query.split("&") if p
        )
        rank = (int(parts.scheme.lower() != scheme), int(dirty), len(url))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, entry)
    return {key: entry for key, (_, entry) in best.items()}


def _candidate_url(entry: Any, from_listing: bool) -> str | None:
    """The URL to check for an article request, or for an item listed with its text (follow: false).
    Items from fetched article pages pass: the dedup pipeline counts and aliases them."""
    if isinstance(entry, Request) and entry.meta.get(META_ARTICLE):
        return entry.url
    if isinstance(entry, PageItem) and from_listing:
        return entry.url
    return None
