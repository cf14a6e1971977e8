"""The `sitemap` kind: sitemap indexes, urlsets and news sitemaps, with an optional URL pattern."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from scrapy.http import Response
from scrapy.utils.gz import gunzip

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


class SitemapSpider(SourceSpider):
    """Follow sub-sitemaps of an index; each matching <url> becomes an article (lastmod = update time)."""

    kind = "sitemap"
    name = "sitemap"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pattern = re.compile(self.source.pattern) if self.source.pattern else None

    def parse_listing(self, response: Response) -> Iterator[Any]:
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a .xml.gz file (Content-Encoding is undone by HttpCompressionMiddleware)
            limit = int(response.meta.get("download_maxsize") or self.settings.getint("DOWNLOAD_MAXSIZE"))
            try:
                body = gunzip(body, max_size=limit)  # Scrapy's capped gunzip: no gzip bomb
            except ValueError as exc:  # _DecompressionMaxSizeExceeded
                self.crawler.stats.inc_value("milai/decompression_too_large")
                self.listing_failed(f"gzipped sitemap larger than {limit} bytes when decompressed: {exc} "
                                    f"({response.url})")
                return
            except (OSError, EOFError) as exc:
                self.listing_failed(f"broken gzipped sitemap: {exc!r} ({response.url})")
                return
        if not body.strip():
            return
        parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser=parser)
        if root is None or _local(root.tag) not in ("sitemapindex", "urlset"):
            self.listing_failed(f"not a sitemap ({response.url})")
            return
        if _local(root.tag) == "sitemapindex":
            for node in root:
                loc = _child_text(node, "loc")
                url = self.absolute(response, loc) if loc else None
                request = self.listing_request(url) if url else None
                if request is not None:
                    yield request
            return
        for node in root:
            loc = _child_text(node, "loc")
            if not loc or (self.pattern and not self.pattern.search(loc)):
                continue
            url = self.absolute(response, loc)
            listed = url and self.entry(
                url,
                title=_child_text(node, "news", "title"),
                date=_child_text(node, "news", "publication_date"),
                updated=_child_text(node, "lastmod"),
            )
            if listed:
                yield listed
