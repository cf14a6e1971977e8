"""The `sitemap` kind: sitemap indexes, urlsets and news sitemaps, with an optional URL pattern."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

from lxml import etree
from scrapy.http import Response, XmlResponse
from scrapy.spiders import SitemapSpider as ScrapySitemapSpider
from scrapy.utils.gz import gzip_magic_number

from crawler.spiders.base import SourceSpider


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(node: Any, *path: str) -> str | None:
    """Text of the first descendant matching the local-name path (namespace-agnostic)."""
    current = [node]
    for name in path:
        current = [c for n in current for c in n if _local(c.tag) == name]
        if not current:
            return None
    text = (current[0].text or "").strip()
    return text or None


def _entries(root: Any) -> Iterator[dict[str, Any]]:
    """The <sitemap> or <url> rows of an index or urlset as Scrapy's sitemap entries are (`loc`, `lastmod`),
    with a news sitemap's `title` and `date`; rows without a <loc> are left out."""
    for node in root:
        loc = _child_text(node, "loc")
        if loc:
            yield {
                "loc": loc,
                "lastmod": _child_text(node, "lastmod"),
                "title": _child_text(node, "news", "title"),
                "date": _child_text(node, "news", "publication_date"),
            }


class SitemapSpider(SourceSpider, ScrapySitemapSpider):
    """Follow sub-sitemaps of an index; each matching <url> becomes an article (lastmod = update time).

    Built on Scrapy's SitemapSpider for reading a sitemap response: a gzipped sitemap (.xml.gz) is
    decompressed up to DOWNLOAD_MAXSIZE (or the request's `download_maxsize`; no gzip bomb), with a warning
    beyond DOWNLOAD_WARNSIZE. Requests are the catalogue spider's listing requests (conditional GET, error
    accounting); entries are read here, news titles and dates included, and pass `sitemap_filter`."""

    kind = "sitemap"
    name = "sitemap"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pattern = re.compile(self.source.pattern) if self.source.pattern else None

    def sitemap_body(self, response: Response) -> bytes | None:
        """The sitemap XML of `response`, decompressed by Scrapy's SitemapSpider within the size cap;
        None (the listing counted as failed) when it is too large once decompressed or a broken gzip file."""
        gzipped = gzip_magic_number(response)  # a .xml.gz file (Content-Encoding is undone by the middleware)
        if gzipped and isinstance(response, XmlResponse):  # gzip bytes labelled as XML: decompress them too
            response = Response(response.url, body=response.body, request=response.request)
        try:
            body = self._get_sitemap_body(response)
        except (OSError, EOFError, struct.error, zlib.error) as exc:
            self.listing_failed(f"broken gzipped sitemap: {exc!r} ({response.url})")
            return None
        if body is not None:
            return body
        if gzipped:  # Scrapy stopped decompressing at the cap
            limit = int(response.meta.get("download_maxsize", self._max_size))
            self.crawler.stats.inc_value("milai/decompression_too_large")
            self.listing_failed(f"gzipped sitemap larger than {limit} bytes when decompressed ({response.url})")
            return None
        return response.body  # not labelled XML nor named .xml: parsed all the same (or "not a sitemap")

    def parse_listing(self, response: Response) -> Iterator[Any]:
        body = self.sitemap_body(response)
        if body is None or not body.strip():
            return
        parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser=parser)
        if root is None or _local(root.tag) not in ("sitemapindex", "urlset"):
            self.listing_failed(f"not a sitemap ({response.url})")
            return
        if _local(root.tag) == "sitemapindex":
            for row in self.sitemap_filter(_entries(root)):
                url = self.absolute(response, row["loc"])
                request = self.listing_request(url) if url else None
                if request is not None:
                    yield request
            return
        for row in self.sitemap_filter(_entries(root)):
            loc = row["loc"]
            if self.pattern and not self.pattern.search(loc):
                continue
            url = self.absolute(response, loc)
            listed = url and self.entry(url, title=row["title"], date=row["date"], updated=row["lastmod"])
            if listed:
                yield listed
