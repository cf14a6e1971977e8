"""The `html` kind: a listing page with CSS selectors for links (or whole entries) and pagination.
An XML listing (served as XML) is read with its namespaces removed, so selectors name plain elements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector, SelectorList
from scrapy.http import Response

from crawler.meta import META_NEXT_PAGE
from crawler.spiders.base import SourceSpider, clean


def _hrefs(nodes: SelectorList[Selector]) -> list[tuple[str, str | None]]:
    """(href, link text) pairs from a selection of <a> elements, attributes or strings."""
    out: list[tuple[str, str | None]] = []
    for node in nodes:
        if isinstance(node.root, str):
            out.append((node.root.strip(), None))
            continue
        anchor = node if node.xpath("self::a") else node.css("a[href]")[:1]
        href = anchor.xpath("@href").get() if anchor else None
        if href:
            out.append((href.strip(), clean(" ".join(anchor.xpath(".//text()").getall()))))
    return out


class HtmlSpider(SourceSpider):
    """Links from `links` (or entries from `item_selector` when follow is false), then `next_page`."""

    kind = "html"
    name = "html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link_regex = re.compile(self.source.link_regex) if self.source.link_regex else None

    def link_url(self, response: Response, value: str) -> str | None:
        """The absolute article URL for a selected link value: `link_regex` applied (group 1, or the whole
        match), formatted into `link_template`, resolved relative to the page; None when the regex misses or
        the result is not an http(s) URL (counted)."""
        value = value.strip()
        if self.link_regex is not None:
            match = self.link_regex.search(value)
            if match is None:
                return None
            value = match.group(1) if match.re.groups else match.group(0)
        if self.source.link_template:
            value = self.source.link_template.replace("{}", value)
        url = self.absolute(response, value)
        return url if url is not None and self.fetchable(url) else None

    def parse_listing(self, response: Response) -> Iterator[Any]:
        src = self.source
        page = int(response.meta.get("milai_page", 1))
        if response.selector.type == "xml":  # an XML listing (e.g. MARCXML search results): plain-name selectors
            response.selector.remove_namespaces()
        if src.item_selector:
            for node in response.css(src.item_selector):
                pairs = _hrefs(node.css(src.links) if src.links else node.css("a[href]"))
                if not pairs:
                    continue
                url = next((u for u in (self.link_url(response, h) for h, _ in pairs) if u), None)
                if url is None:
                    continue
                text = pairs[0][1]
                listed = self.entry(
                    url,
                    title=self._text(node, src.title_selector) or text,
                    date=self._text(node, src.date_selector),
                    summary=self._text(node, src.summary_selector),
                    text=" ".join(node.css("::text").getall()) if not src.follow else None,
                )
                if listed:
                    yield listed
        else:
            seen: set[str] = set()
            for href, text in _hrefs(response.css(src.links or "a[href]")):
                url = self.link_url(response, href)
                if url is not None and url not in seen:
                    seen.add(url)
                    listed = self.entry(url, title=text)
                    if listed:
                        yield listed
        if src.next_page and page < src.max_pages:
            nxt = _hrefs(response.css(src.next_page))
            url = self.absolute(response, nxt[0][0]) if nxt else None
            request = url and self.listing_request(url, meta={"milai_page": page + 1, META_NEXT_PAGE: True})
            if request:
                yield request

    @staticmethod
    def _text(node: Selector, css: str | None) -> str | None:
        if not css:
            return None
        sel = node.css(css)
        if not sel:
            return None
        first = sel[0]
        if isinstance(first.root, str):
            return clean(first.root)
        return clean(first.attrib.get("datetime") or " ".join(first.css("::text").getall()))
