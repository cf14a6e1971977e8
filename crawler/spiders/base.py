"""The catalogue-driven spider base: listing requests, article requests or items, error accounting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import scrapy
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from w3lib.encoding import http_content_type_encoding

from crawler import workers
from crawler.article import extract_html
from crawler.bounds import Limits, storable
from crawler.catalogue import SourceConfig
from crawler.dates import parse_date
from crawler.guard import STAT_SCHEME, RefusedRequest
from crawler.items import PageItem
from crawler.meta import META_ARTICLE, META_INFO, META_LISTING, META_PDF, META_REVISE_ID, count_error
from crawler.pdf import PDF_MAX_BYTES, is_pdf, is_pdf_link
from crawler.pipelines_pool import ExtractPool, extract_ahead, reactor_running
from crawler.resolver import register_origin
from crawler.urls import canonicalize

FETCHED_SCHEMES = ("http", "https")


def parse_when(value: Any, lang: str | None = None, zone: str | None = None) -> datetime | None:
    """A tz-aware datetime from a listing's date text (multilingual; zone-less times in the IANA `zone`), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
    return parse_date(str(value), lang, zone)


def clean(value: Any) -> str | None:
    """Whitespace-collapsed text, or None when empty."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def scheme_of(url: str) -> str:
    """The lower-cased scheme of `url` ("" when it has none)."""
    head, sep, _ = url.strip().partition(":")
    return head.lower() if sep and head.replace("+", "").replace("-", "").replace(".", "").isalnum() else ""


class SourceSpider(scrapy.Spider):
    """One catalogue source. Subclasses parse their kind of listing in `parse_listing`."""

    kind: ClassVar[str] = ""
    source: SourceConfig

    def __init__(self, source: SourceConfig | dict[str, Any], *args: Any, configured_url: str | None = None,
                 **kwargs: Any) -> None:
        cfg = source if isinstance(source, SourceConfig) else SourceConfig.model_validate(source)
        super().__init__(*args, name=cfg.name, **kwargs)
        self.source = cfg
        # the URL the operator configured, whose origin (scheme, host, port) alone may be a private address: the
        # catalogue entry's, also when this crawl goes through a discovered replacement (crawler.fallback) or
        # checks a candidate discovered from it (crawler.check) -- what a site announces never widens it
        self.configured_url = configured_url or cfg.url
        register_origin(self.configured_url)  # the connect-time guard lets this source reach it (crawler.resolver)
        self.allowed_domains: list[str] = []
        # article URLs (canonical keys) that failed in this crawl -> (message, permanent), and those fetched;
        # crawler.extensions.backoff.UrlBackoff records them (bounded retries across crawls)
        self.failed_urls: dict[str, tuple[str, bool]] = {}
        self.fetched_urls: set[str] = set()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        request = self.listing_request(self.source.url)  # the catalogue only accepts http(s) URLs
        if request is not None:
            yield request

    # --- requests -------------------------------------------------------------------------------------------

    def fetchable(self, url: str) -> bool:
        """True for an http(s) URL; any other scheme (mailto:, javascript:, file:, data:, ftp:, tel:, …) is
        skipped and counted (`milai/skipped_scheme`), never requested nor stored."""
        if scheme_of(url) in FETCHED_SCHEMES:
            return True
        self.crawler.stats.inc_value(STAT_SCHEME)
        self.logger.debug("source %s: skipped a link that is not http(s): %.200s", self.source.name, url)
        return False

    def absolute(self, response: Response, link: str) -> str | None:
        """`link` resolved against the page; None (counted as a bad link) when it cannot be parsed."""
        try:
            return response.urljoin(link.strip())
        except ValueError as exc:
            self.bad_link(link, exc)
            return None

    def bad_link(self, url: str, exc: Exception) -> None:
        """A listed URL that cannot be requested (malformed): skipped, counted as an error of the source."""
        self.crawler.stats.inc_value("milai/bad_links")
        count_error(self.crawler.stats, f"skipped a malformed link {url[:200]!r}: {exc}", listing=False)
        self.logger.warning("source %s: skipped a malformed link %.200r: %s", self.source.name, url, exc)

    def listing_request(self, url: str, **kwargs: Any) -> scrapy.Request | None:
        """A listing request: always sent (the HTTP cache turns it into a conditional GET); None when
        `url` is not a fetchable http(s) URL (skipped and counted)."""
        if not self.fetchable(url):
            return None
        meta = {META_LISTING: True, **kwargs.pop("meta", {})}
        kwargs.setdefault("callback", self.parse_listing)
        kwargs.setdefault("headers", self.source.headers or None)
        try:
            return scrapy.Request(url, meta=meta, dont_filter=True, errback=self.on_error, **kwargs)
        except ValueError as exc:
            self.bad_link(url, exc)
            return None

    def entry(
        self,
        url: str,
        *,
        title: Any = None,
        date: Any = None,
        summary: Any = None,
        updated: Any = None,
        text: Any = None,
    ) -> scrapy.Request | PageItem | None:
        """One listed article: a request for its page, or an item straight from the listing; None when the
        URL is skipped (not http(s): counted as `milai/skipped_scheme`) or malformed (`milai/bad_links`)."""
        if not self.fetchable(url):
            return None
        info = {
            "title": clean(title),
            "date": parse_when(date, self.source.language, self.source.timezone),
            "summary": clean(summary),
            "updated": parse_when(updated, self.source.language, self.source.timezone),
            "text": clean(text),
        }
        pdf_link = is_pdf_link(url)
        meta: dict[str, Any] = {META_ARTICLE: True, META_INFO: info, "dont_cache": True}
        if pdf_link:  # fetched for its text; beyond the PDF size cap the download stops (item without text)
            meta.update({META_PDF: True, "download_maxsize": PDF_MAX_BYTES})
        try:
            request = scrapy.Request(
                url,
                callback=self.parse_article,
                errback=self.on_error,
                headers=self.source.headers or None,
                meta=meta,
            )
        except ValueError as exc:  # e.g. an invalid IPv6 host or port: this entry only, not the page
            self.bad_link(url, exc)
            return None
        self.crawler.stats.inc_value("milai/links")
        if not self.source.follow:  # a URL that could be requested, stored as the item's link (NUL-free)
            return self.listing_item(storable(url), info, kind="pdf" if pdf_link else "article")
        return request

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
            timezone=self.source.timezone,
        )

    # --- callbacks ------------------------------------------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        self.crawler.stats.inc_value("milai/fetched")
        requested = (response.meta.get("redirect_urls") or [response.request.url])[0]
        self.fetched_urls.update({canonicalize(requested), canonicalize(response.url)})
        info = response.meta.get(META_INFO) or {}
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        pdf = is_pdf(response.body, ctype)
        item = self.listing_item(response.url, info, kind="pdf" if pdf else "article")
        item.revise_id = response.meta.get(META_REVISE_ID)
        item.content_type = ctype or None
        item.body = response.body
        # the charset the server declared, not Scrapy's guess: extract.decode_html weighs it against the bytes
        item.encoding = http_content_type_encoding(ctype) if ctype else None
        item.requested_url = requested
        if not pdf:
            item.listing_text = None
            if self.source.follow_pdfs:
                async for entry in self.pdf_links(item):
                    yield entry
        yield item

    async def pdf_links(self, item: PageItem) -> AsyncIterator[Any]:
        """Entries for the PDF links of an article page (the page is extracted here, once, for the pipeline, as
        the pipeline would: in the crawler's worker processes when there are any, else in a worker thread)."""
        limits = Limits.from_settings(self.settings)
        pool = ExtractPool.of(self.crawler)
        if item.body is not None:
            pool.count_page()
        if pool.enabled and reactor_running() and item.body is not None:
            item.extracted, cut, item.ahead = await pool.run(
                extract_ahead, item.body, item.url, item.encoding, item.language_hint, limits, item.timezone,
                (item.listing_title, item.listing_text, item.listing_summary))  # one call, as the pipeline's
            if cut:
                item.text_truncated = True
        else:
            item.extracted = await workers.run(len(item.body or b""), extract_html, item, limits)
        for link in item.extracted.pdf_links:
            self.crawler.stats.inc_value("milai/pdf_links")
            entry = self.entry(link)
            if entry is not None:
                yield entry

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
        if failure.check(IgnoreRequest) and str(failure.value).startswith("Forbidden by robots.txt"):
            self.robots_skipped(url, listing=request is not None and bool(request.meta.get(META_LISTING)))
            return
        response = getattr(failure.value, "response", None)
        if response is not None:
            reason = f"HTTP {response.status}"
        else:
            reason = failure.getErrorMessage() or failure.type.__name__
        refused = bool(failure.check(RefusedRequest))
        if refused:  # logged and counted by the guard; no backoff: the next crawl checks again (allow-list)
            message = f"network guard: {reason}"
        else:
            message = f"{failure.type.__name__}: {reason} ({url})"
            self.logger.warning("source %s: %s", self.source.name, message)
        article = request is not None and request.meta.get(META_ARTICLE) and not request.meta.get(META_LISTING)
        if article and not refused:
            # too large stays too large; anything else is retried on later crawls, with backoff; keyed by the
            # URL the listing gave (before redirects), which is what the skip-known middleware looks up
            assert request is not None
            listed = (request.meta.get("redirect_urls") or [url])[0]
            permanent = bool(failure.check(DownloadCancelledError, CancelledError))
            self.failed_urls[canonicalize(listed)] = (message, permanent)
        count_error(self.crawler.stats, message, listing=request is not None and bool(request.meta.get(META_LISTING)))

    def robots_skipped(self, url: str, *, listing: bool) -> None:
        """A link robots.txt disallows: skipped and counted (`milai/robots_skipped`), no error of the source;
        a disallowed listing leaves the source without links, which its health says (storage.health)."""
        stats = self.crawler.stats
        stats.inc_value("milai/robots_skipped")
        self.logger.info("source %s: skipped (robots.txt disallows) %.200s", self.source.name, url)
        if listing:
            stats.inc_value("milai/listing_robots")
            stats.inc_value("milai/listing_failures")
            stats.set_value("milai/last_error", f"robots.txt disallows the listing {url[:300]}")

    def listing_failed(self, message: str) -> None:
        """A listing that answered but could not be used (malformed feed, bad JSON)."""
        self.logger.warning("source %s: %s", self.source.name, message)
        self.crawler.stats.inc_value("milai/not_well_formed")
        count_error(self.crawler.stats, message, listing=True)
