"""Discovery: what a site offers to crawl, from one page of it, its robots.txt and /sitemap.xml.

Candidates, best first: feeds the page announces (`<link rel="alternate">`: RSS, Atom, JSON Feed) or the URL
itself when it is a feed; sitemaps (robots.txt `Sitemap:` lines, `/sitemap.xml`; news sitemaps first), kept
to the URL's own path when it names a section; and a listing whose repeated link pattern suggests a `links`
selector. Fetched by a spider of the crawl's own (network guard, robots.txt), so nothing escapes the rules.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from lxml import etree
from parsel import Selector
from scrapy.http import Response

from crawler.settings import NOT_A_CRAWL
from crawler.spiders.base import SourceSpider

FEED_TYPES = {
    "application/rss+xml": "rss", "application/atom+xml": "atom", "application/feed+json": "json feed",
    "application/json": "json feed", "application/rdf+xml": "rss", "text/xml": "rss", "application/xml": "rss",
}
MIN_PATTERN_LINKS = 4
_SLUG = re.compile(r"[^/]+$")


@dataclass
class Candidate:
    """One way to crawl the site: a catalogue entry's fields and how it was found."""

    kind: str
    url: str
    found: str  # "RSS feed announced by <link rel=alternate> on https://…"
    fields: dict[str, Any] = field(default_factory=dict)
    rank: int = 0  # lower is better

    def entry(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, **self.fields}


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def sniff(body: bytes, content_type: str) -> str | None:
    """"feed", "sitemap", "news-sitemap", "json-feed" or None (a page) for a response body."""
    head = body[:2048].lstrip()
    ctype = content_type.lower()
    if head.startswith(b"{") and (b'"version"' in body[:4096] and b"jsonfeed.org" in body[:4096]):
        return "json-feed"
    if not (head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed")
            or head.startswith(b"<urlset") or head.startswith(b"<sitemapindex") or "xml" in ctype):
        return None
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    name = _local(root.tag)
    if name in ("rss", "feed", "RDF"):
        return "feed"
    if name in ("urlset", "sitemapindex"):
        return "news-sitemap" if b"sitemap-news" in body[:4096] else "sitemap"
    return None


def _section_pattern(page_url: str) -> str | None:
    """A URL pattern for a sitemap from the page's path when it names a section (`/en/news` -> `/en/news/`)."""
    path = urlsplit(page_url).path.rstrip("/")
    if not path or path.count("/") < 1 or re.search(r"\.\w{2,5}$", path):
        return None
    return re.escape(path) + "/"


def _signature(node: Selector) -> str:
    """A CSS selector for the anchor `node` from its nearest ancestors that carry a class or an id."""
    parts: list[str] = []
    current = node.root.getparent()
    while current is not None and len(parts) < 2 and current.tag not in ("html", "body"):
        classes = [c for c in (current.get("class") or "").split() if re.fullmatch(r"[A-Za-z][\w-]*", c)]
        if current.get("id") and re.fullmatch(r"[A-Za-z][\w-]*", current.get("id")):
            parts.append(f"{current.tag}#{current.get('id')}")
            break
        if classes:
            parts.append(f"{current.tag}.{classes[0]}")
        elif current.tag in ("main", "article", "section", "ul", "ol", "table"):
            parts.append(current.tag)
        current = current.getparent()
    return " ".join(reversed(parts)) + " a" if parts else ""


def listing_pattern(page: Selector, base: str) -> tuple[str, int] | None:
    """(links selector, how many article-like links it finds) for the page's largest group of same-site links
    that share a container and a path shape, or None when no group repeats enough."""
    host = urlsplit(base).netloc
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for anchor in page.css("a[href]"):
        href = (anchor.attrib.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.netloc != host or parts.path.count("/") < 2:
            continue
        shape = _SLUG.sub("", re.sub(r"\d+", "0", parts.path))
        selector = _signature(anchor)
        if selector:
            groups[(selector, shape)].add(url)
    if not groups:
        return None
    by_selector: Counter[str] = Counter()
    for (selector, _), urls in groups.items():
        by_selector[selector] = max(by_selector[selector], len(urls))
    selector, count = by_selector.most_common(1)[0]
    return (selector, count) if count >= MIN_PATTERN_LINKS else None


class DiscoverySpider(SourceSpider):
    """Fetch the page, robots.txt and /sitemap.xml; collect candidates in `self.candidates`."""

    kind = "discover"
    name = "discover"
    # a discovery is no crawl of a source: no crawl-run record, nothing through the item pipelines
    custom_settings = NOT_A_CRAWL

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates: list[Candidate] = []
        self.title: str | None = None
        self.page_status: int | None = None

    async def start(self) -> AsyncIterator[scrapy.Request]:
        url = self.source.url
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        yield scrapy.Request(url, callback=self.parse_page, errback=self.on_error, dont_filter=True,
                             meta={"handle_httpstatus_all": True})
        yield scrapy.Request(origin + "/robots.txt", callback=self.parse_robots, errback=self.on_error,
                             dont_filter=True, meta={"dont_obey_robotstxt": True, "handle_httpstatus_all": True})
        yield scrapy.Request(origin + "/sitemap.xml", callback=self.parse_sitemap, errback=self.on_error,
                             dont_filter=True, meta={"handle_httpstatus_all": True})
        if urlsplit(url).path not in ("", "/"):  # the home page announces the site's feeds too
            yield scrapy.Request(origin + "/", callback=self.parse_home, errback=self.on_error, dont_filter=True,
                                 meta={"handle_httpstatus_all": True})

    def _add(self, candidate: Candidate) -> None:
        if all(c.url != candidate.url or c.kind != candidate.kind for c in self.candidates):
            self.candidates.append(candidate)

    def parse_home(self, response: Response) -> Iterator[Any]:
        """The site's home page: only the feeds it announces count (its links are not the source's listing)."""
        if response.status >= 400 or not hasattr(response, "css"):
            return
        yield from self._announced(response, rank=2)

    def _announced(self, response: Response, rank: int) -> Iterator[Any]:
        for link in response.css("link[rel~=alternate][href], link[rel~=feed][href]"):
            kind = FEED_TYPES.get((link.attrib.get("type") or "").split(";")[0].strip().lower())
            if kind is None:
                continue
            url = response.urljoin(link.attrib["href"])
            found = f"{kind.upper() if kind != 'json feed' else 'JSON Feed'} announced by <link rel=alternate> on " \
                    f"{response.url}"
            if kind == "json feed":
                self._add(Candidate("json", url, found, _JSON_FEED, rank=rank))
            else:
                self._add(Candidate("feed", url, found, rank=rank))
        return iter(())

    def parse_page(self, response: Response) -> Iterator[Any]:
        self.page_status = response.status
        if response.status >= 400:
            return
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1")
        what = sniff(response.body, ctype)
        if what == "feed":
            self._add(Candidate("feed", response.url, "the URL is a feed", rank=0))
            return
        if what == "json-feed":
            self._add(Candidate("json", response.url, "the URL is a JSON Feed", _JSON_FEED, rank=0))
            return
        if what in ("sitemap", "news-sitemap"):
            self._add(self._sitemap(response.url, what, "the URL is a sitemap"))
            return
        if not hasattr(response, "css"):
            return
        self.title = (response.css("meta[property='og:site_name']::attr(content)").get()
                      or response.css("title::text").get() or "").strip() or None
        yield from self._announced(response, rank=1)
        pattern = listing_pattern(response.selector, response.url)
        if pattern:
            selector, count = pattern
            self._add(Candidate("html", response.url, f"a listing: {count} links repeat the pattern {selector!r}",
                                {"links": selector}, rank=4))

    def _sitemap(self, url: str, what: str, found: str) -> Candidate:
        fields: dict[str, Any] = {}
        pattern = _section_pattern(self.source.url)
        if pattern and url != self.source.url:
            fields["pattern"] = pattern
            found += f", kept to URLs under {pattern.replace(chr(92), '')}"
        news = what == "news-sitemap"
        return Candidate("sitemap", url, ("news sitemap: " if news else "sitemap: ") + found, fields,
                         rank=2 if news else 3)

    def parse_robots(self, response: Response) -> Iterator[Any]:
        if response.status >= 400:
            return
        for line in response.text.splitlines() if hasattr(response, "text") else []:
            key, _, value = line.partition(":")
            if key.strip().lower() == "sitemap" and value.strip():
                url = response.urljoin(value.strip())
                yield scrapy.Request(url, callback=self.parse_sitemap, errback=self.on_error, dont_filter=True,
                                     meta={"handle_httpstatus_all": True, "milai_found": "listed in robots.txt"})

    def parse_sitemap(self, response: Response) -> None:
        if response.status >= 400:
            return
        what = sniff(response.body, (response.headers.get("Content-Type") or b"").decode("latin-1"))
        if what in ("sitemap", "news-sitemap"):
            self._add(self._sitemap(response.url, what, response.meta.get("milai_found") or "at /sitemap.xml"))

    def on_error(self, failure: Any) -> Iterator[Any]:  # discovery failures are answers, not crawl errors
        return iter(())


_JSON_FEED = {"items": "items", "link_field": "url", "title_field": "title", "date_field": "date_published",
              "summary_field": "summary"}


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: c.rank)
