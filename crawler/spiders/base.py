"""The catalogue-driven spider base: listing requests, article requests or items, error accounting."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import scrapy
from scrapy.exceptions import DownloadCancelledError
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from w3lib.encoding import http_content_type_encoding

from crawler.catalogue import SourceConfig
from crawler.dates import parse_date
from crawler.items import PageItem
from crawler.pdf import PDF_MAX_BYTES, is_pdf
from crawler.urls import canonicalize

PDF_RE = re.compile(r"\.pdf(?:$|[?#])", re.IGNORECASE)

# request.meta keys shared with the middlewares and the extension
META_LISTING = "milai_listing"  # a feed/sitemap/listing/API request (conditional GET, never skipped)
META_ARTICLE = "milai_article"  # an article request, dropped when its canonical URL is known
META_INFO = "milai_info"  # what the listing said: title, date, summary, updated
META_NEXT_PAGE = "milai_next_page"  # a further listing page: dropped when the page before held nothing new
META_PDF = "milai_pdf"  # a request for a PDF link: too large -> an item without text, not an error


def parse_when(value: Any, lang: str | None = None) -> datetime | None:
    """A tz-aware datetime from a listing's date text (multilingual), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    return parse_date(str(value), lang)


def clean(value: Any) -> str | None:
    """Whitespace-collapsed text, or None when empty."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def count_error(stats: StatsCollector, message: str, *, listing: bool) -> None:
    """Count a crawl error against the source; an error of a listing request also counts as a listing failure."""
    stats.inc_value("milai/errors")
    stats.set_value("milai/last_error", message)
    if listing:
        stats.inc_value("milai/listing_failures")


class SourceSpider(scrapy.Spider):
    """One catalogue source. Subclasses parse their kind of listing in `parse_listing`."""

    kind: ClassVar[str] = ""
    source: SourceConfig

    def __init__(self, source: SourceConfig | dict[str, Any], *args: Any, **kwargs: Any) -> None:
        cfg = source if isinstance(source, SourceConfig) else SourceConfig.model_validate(source)
        super().__init__(*args, name=cfg.name, **kwargs)
        self.source = cfg
        self.allowed_domains: list[str] = []
        # article URLs (canonical keys) that failed in this crawl -> (message, permanent), and those fetched;
        # crawler.extensions.CrawlRunRecorder records them (bounded retries across crawls)
        self.failed_urls: dict[str, tuple[str, bool]] = {}
        self.fetched_urls: set[str] = set()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.listing_request(self.source.url)

    # --- requests -------------------------------------------------------------------------------------------

    def listing_request(self, url: str, **kwargs: Any) -> scrapy.Request:
        """A listing request: always sent (the HTTP cache turns it into a conditional GET)."""
        meta = {META_LISTING: True, **kwargs.pop("meta", {})}
        kwargs.setdefault("callback", self.parse_listing)
        kwargs.setdefault("headers", self.source.headers or None)
        return scrapy.Request(url, meta=meta, dont_filter=True, errback=self.on_error, **kwargs)

    def entry(
        self,
        url: str,
        *,
        title: Any = None,
        date: Any = None,
        summary: Any = None,
        updated: Any = None,
        text: Any = None,
    ) -> scrapy.Request | PageItem:
        """One listed article: a request for its page, or an item straight from the listing."""
        self.crawler.stats.inc_value("milai/links")
        info = {
            "title": clean(title),
            "date": parse_when(date, self.source.language),
            "summary": clean(summary),
            "updated": parse_when(updated, self.source.language),
            "text": clean(text),
        }
        pdf_link = bool(PDF_RE.search(url))
        if not self.source.follow:
            return self.listing_item(url, info, kind="pdf" if pdf_link else "article")
        meta: dict[str, Any] = {META_ARTICLE: True, META_INFO: info, "dont_cache": True}
        if pdf_link:  # fetched for its text; beyond the PDF size cap the download stops (item without text)
            meta.update({META_PDF: True, "download_maxsize": PDF_MAX_BYTES})
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            headers=self.source.headers or None,
            meta=meta,
        )

    def listing_item(self, url: str, info: dict[str, Any], kind: str = "document") -> PageItem:
        return PageItem(
            source=self.source.name,
            url=url,
            kind=kind,
            listing_title=info.get("title"),
            listing_date=info.get("date") or info.get("updated"),
            listing_summary=info.get("summary"),
            listing_text=info.get("text") or info.get("summary"),
            language_hint=self.source.language,
        )

    # --- callbacks ------------------------------------------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse_article(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("milai/fetched")
        self.fetched_urls.update({canonicalize(response.request.url), canonicalize(response.url)})
        info = response.meta.get(META_INFO) or {}
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        pdf = is_pdf(response.body, ctype)
        item = self.listing_item(response.url, info, kind="pdf" if pdf else "article")
        item.revise_id = response.meta.get("milai_revise_id")
        item.content_type = ctype or None
        item.body = response.body
        # the charset the server declared, not Scrapy's guess: extract.decode_html weighs it against the bytes
        item.encoding = http_content_type_encoding(ctype) if ctype else None
        if not pdf:
            item.listing_text = None
            if self.source.follow_pdfs:
                yield from self.pdf_links(item)
        yield item

    def pdf_links(self, item: PageItem) -> Iterator[Any]:
        """Entries for the PDF links of an article page (the page is extracted here, once, for the pipeline)."""
        from crawler.pipelines import extract_html

        item.extracted = extract_html(item)
        for link in item.extracted.pdf_links:
            self.crawler.stats.inc_value("milai/pdf_links")
            yield self.entry(link)

    def on_error(self, failure: Failure) -> Iterator[PageItem]:
        """Count a failed request against this source; a failed listing fails the source."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if request is not None and request.meta.get(META_PDF) and failure.check(DownloadCancelledError, CancelledError):
            # a PDF beyond the size cap: recorded with what the listing said, no text (not a crawl error)
            self.logger.info("source %s: PDF larger than the cap, stored without text (%s)", self.source.name, url)
            self.crawler.stats.inc_value("milai/pdf_too_large")
            yield self.listing_item(url, request.meta.get(META_INFO) or {}, kind="pdf")
            return
        response = getattr(failure.value, "response", None)
        if response is not None:
            reason = f"HTTP {response.status}"
        else:
            reason = failure.getErrorMessage() or failure.type.__name__
        message = f"{failure.type.__name__}: {reason} ({url})"
        self.logger.warning("source %s: %s", self.source.name, message)
        if request is not None and request.meta.get(META_ARTICLE) and not request.meta.get(META_LISTING):
            # too large stays too large; anything else is retried on later crawls, with backoff
            permanent = bool(failure.check(DownloadCancelledError, CancelledError))
            self.failed_urls[canonicalize(url)] = (message, permanent)
        count_error(self.crawler.stats, message, listing=request is not None and bool(request.meta.get(META_LISTING)))

    def listing_failed(self, message: str) -> None:
        """A listing that answered but could not be used (malformed feed, bad JSON)."""
        self.logger.warning("source %s: %s", self.source.name, message)
        count_error(self.crawler.stats, message, listing=True)
