"""The `feed` kind: RSS 0.9x/1.0/2.0 and Atom, parsed by feedparser (tolerant of broken feeds)."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
from scrapy.http import Response

from crawler.spiders.base import SourceSpider, clean


def _struct_time(entry: Any, key: str) -> datetime | None:
    parsed = entry.get(f"{key}_parsed")
    if parsed:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


class FeedSpider(SourceSpider):
    """Fetch a feed; each entry's link becomes an article request (or an item when follow is false)."""

    kind = "feed"
    name = "feed"

    def parse_listing(self, response: Response) -> Iterator[Any]:
        body = response.body
        if not body.strip():
            self.logger.info("source %s: empty feed body (no items)", self.source.name)
            return
        parsed = feedparser.parse(
            body,
            response_headers={
                "content-location": response.url,
                "content-type": response.headers.get("Content-Type", b"application/xml").decode("latin-1"),
            },
            sanitize_html=True,
        )
        if parsed.bozo and not parsed.entries:
            self.listing_failed(f"malformed feed: {parsed.get('bozo_exception')!r} ({response.url})")
            return
        links = 0
        for entry in parsed.entries:
            link = self._link(entry)
            if not link:
                continue
            links += 1
            published = _struct_time(entry, "published") or entry.get("published")
            updated = _struct_time(entry, "updated") or entry.get("updated")
            content = entry.get("content") or []
            text = " ".join(c.get("value", "") for c in content) or None
            url = self.absolute(response, link)
            listed = url and self.entry(
                url,
                title=entry.get("title"),
                date=published or updated,
                summary=_plain(entry.get("summary")),
                updated=updated if entry.get("updated") else None,
                text=_plain(text),
            )
            if listed:
                yield listed
        if parsed.bozo and not links:
            # feedparser recovered entries from broken XML, but none with a link: a broken feed, not an empty one
            self.listing_failed(
                f"malformed feed: {parsed.get('bozo_exception')!r}; {len(parsed.entries)} entries, none with a link"
                f" ({response.url})"
            )
        elif parsed.bozo:
            self.logger.warning(
                "source %s: feed is not well-formed (%r); %d links recovered (%s)",
                self.source.name, parsed.get("bozo_exception"), links, response.url,
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
