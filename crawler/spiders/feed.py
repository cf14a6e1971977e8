"""The `feed` kind: RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser (tolerant of broken feeds)."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser
from scrapy.http import Response

from crawler import workers
from crawler.dates import parse_date
from crawler.spiders.base import SourceSpider, clean


def _struct_time(entry: Any, key: str) -> datetime | None:
    parsed = entry.get(f"{key}_parsed")
    if parsed:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


@dataclass
class ParsedFeed:
    """What a feed says, as plain data (parsed in a worker thread)."""

    bozo: bool
    problem: str
    total: int  # entries, with or without a link
    entries: list[dict[str, Any]] = field(default_factory=list)  # the entries with a link


def _when(entry: Any, key: str, zone: str | None) -> Any:
    """An entry's date: feedparser's (it reads a zone-less date as UTC), or with a source `zone` the text
    read by crawler.dates (zone-less times in that zone), feedparser's when that finds none."""
    if zone and isinstance(entry.get(key), str) and (local := parse_date(entry[key], zone=zone)) is not None:
        return local
    return _struct_time(entry, key) or entry.get(key)


def read_feed(body: bytes, url: str, content_type: str, zone: str | None = None) -> ParsedFeed:
    """Parse a feed body with feedparser (tolerant of broken feeds): pure CPU work, no Scrapy state."""
    parsed = feedparser.parse(
        body, response_headers={"content-location": url, "content-type": content_type}, sanitize_html=True
    )
    feed = ParsedFeed(bool(parsed.bozo), repr(parsed.get("bozo_exception")), len(parsed.entries))
    for entry in parsed.entries:
        link = FeedSpider._link(entry)
        if not link:
            continue
        published = _when(entry, "published", zone)
        updated = _when(entry, "updated", zone)
        content = entry.get("content") or []
        text = " ".join(c.get("value", "") for c in content) or None
        feed.entries.append({
            "link": link,
            "title": entry.get("title"),
            "date": published or updated,
            "summary": _plain(entry.get("summary")),
            "updated": updated if entry.get("updated") else None,
            "text": _plain(text),
        })
    return feed


class FeedSpider(SourceSpider):
    """Fetch a feed; each entry's link becomes an article request (or an item when follow is false).
    The feed is parsed in a worker thread (crawler.workers): a 10 MB feed takes feedparser seconds."""

    kind = "feed"
    name = "feed"

    async def parse_listing(self, response: Response) -> AsyncIterator[Any]:
        body = response.body
        if not body.strip():
            self.logger.info("source %s: empty feed body (no items)", self.source.name)
            return
        ctype = response.headers.get("Content-Type", b"application/xml").decode("latin-1")
        parsed = await workers.run(len(body), read_feed, body, response.url, ctype, self.source.timezone)
        if parsed.bozo and not parsed.total:
            self.listing_failed(f"malformed feed: {parsed.problem} ({response.url})")
            return
        links = 0
        for entry in parsed.entries:
            links += 1
            url = self.absolute(response, entry.pop("link"))
            listed = url and self.entry(url, **entry)
            if listed:
                yield listed
        if parsed.bozo and not links:
            # feedparser recovered entries from broken XML, but none with a link: a broken feed, not an empty one
            self.listing_failed(
                f"malformed feed: {parsed.problem}; {parsed.total} entries, none with a link ({response.url})"
            )
        elif parsed.bozo:
            self.logger.warning(
                "source %s: feed is not well-formed (%s); %d links recovered (%s)",
                self.source.name, parsed.problem, links, response.url,
            )
            self.crawler.stats.inc_value("milai/warnings")

    @staticmethod
    def _link(entry: Any) -> str | None:
        for link in entry.get("links") or []:
            if link.get("rel", "alternate") == "alternate" and link.get("href"):
                return link["href"]
        if entry.get("link"):
            return entry["link"]
        guid = entry.get("id") or ""
        return guid if guid.startswith(("http://", "https://")) else None


def _plain(html: str | None) -> str | None:
    """Text of an HTML fragment (feed summaries are often HTML)."""
    if not html:
        return None
    if "<" not in html:
        return clean(html)
    from bs4 import BeautifulSoup

    return clean(BeautifulSoup(html, "html.parser").get_text(" "))
