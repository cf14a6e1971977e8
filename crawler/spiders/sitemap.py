"""The `sitemap` kind: sitemap indexes, urlsets and news sitemaps, with an optional URL pattern."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from scrapy.http import Response

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
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
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
                if loc:
                    yield self.listing_request(response.urljoin(loc))
            return
        for node in root:
            loc = _child_text(node, "loc")
            if not loc or (self.pattern and not self.pattern.search(loc)):
                continue
            yield self.entry(
                response.urljoin(loc),
                title=_child_text(node, "news", "title"),
                date=_child_text(node, "news", "publication_date"),
                updated=_child_text(node, "lastmod"),
            )
