"""The `json` kind: a GET or POST search API; result list, fields and paging from the catalogue."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response
from w3lib.url import add_or_replace_parameter

from crawler.meta import META_NEXT_PAGE
from crawler.spiders.base import SourceSpider


def dig(data: Any, path: str | None) -> Any:
    """Follow a dotted path ("rawResponse.rawResults", "url.raw", "results.0.link") through dicts and lists."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


class JsonSpider(SourceSpider):
    """Page through an API until a page holds nothing new (or `max_pages`)."""

    kind = "json"
    name = "json"
    page_size = 0  # results on the first page (the page size when the API does not page by offset)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        request = self.page_request(0)
        if request is not None:
            yield request

    def page_request(self, index: int) -> scrapy.Request | None:
        src = self.source
        page = src.page_start + index * src.page_step
        meta: dict[str, Any] = {"milai_page_index": index}
        if index:
            meta[META_NEXT_PAGE] = True
        url = src.url
        headers = {"Accept": "application/json", **src.headers}
        if src.method == "POST":
            body = copy.deepcopy(src.body) if src.body is not None else {}
            if src.page_param and isinstance(body, dict):
                _set(body, src.page_param, page)
            return self.listing_request(
                url, method="POST", body=json.dumps(body), meta=meta,
                headers={"Content-Type": "application/json", **headers},
            )
        if src.page_param:
            url = add_or_replace_parameter(url, src.page_param, str(page))
        return self.listing_request(url, meta=meta, headers=headers)

    def parse_listing(self, response: Response) -> Iterator[Any]:
        src = self.source
        if not response.body.strip():
            return
        try:
            data = json.loads(response.body)
        except ValueError as exc:
            self.listing_failed(f"invalid JSON: {exc} ({response.url})")
            return
        results = dig(data, src.items)
        if not isinstance(results, list):
            self.listing_failed(f"no result list at {src.items!r} ({response.url})")
            return
        for result in results:
            link = dig(result, src.link_field or "url")
            if not isinstance(link, str) or not link.strip():
                continue
            link = link.strip()
            if src.link_prefix and not link.startswith(("http://", "https://")):
                link = src.link_prefix.rstrip("/") + "/" + link.lstrip("/")
            url = self.absolute(response, link)
            listed = url and self.entry(
                url,
                title=dig(result, src.title_field) if src.title_field else None,
                date=dig(result, src.date_field) if src.date_field else None,
                summary=dig(result, src.summary_field) if src.summary_field else None,
            )
            if listed:
                yield listed
        index = int(response.meta.get("milai_page_index", 0))
        # the page size: the offset step when the API pages by offset, else what a full first page held;
        # a page with fewer results than that is the last one (no request for an empty page after it)
        size = src.page_step if src.page_step > 1 else self.page_size
        if index == 0:
            self.page_size = len(results)
        if size and len(results) < size:
            self.crawler.stats.inc_value("milai/pagination_last_page")
            return
        if results and src.page_param and index + 1 < src.max_pages:
            request = self.page_request(index + 1)
            if request is not None:
                yield request
