"""Item pipelines, in ITEM_PIPELINES order: extract → normalise → classify → dedup → store.

Extraction and classification run in worker threads (crawler.workers), so that a heavy page does not stop
the other sources; the extraction of an HTML page itself runs in worker processes when MILAI_EXTRACT_WORKERS
is above 0 (crawler.pipelines_pool: the other cores); dedup and store run on the reactor thread, one item at a
time."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy import Engine

from crawler import workers
from crawler.article import extract_html
from crawler.bounds import SUMMARY_MAX_CHARS, Limits, cut_text, cut_title, storable
from crawler.dedup import fingerprint_comparable
from crawler.extract import Extracted
from crawler.guard import MAX_KEY_LENGTH, MAX_URL_LENGTH, STAT_TOO_LONG
from crawler.items import PageItem
from crawler.pipelines_pool import (
    CLASSIFY_MAX_CHARS,
    ExtractPool,
    PdfRead,
    classify_text,
    dedup_keys,
    extract_ahead,
    reactor_running,
    read_pdf_body,
    title_from_url,
)
from crawler.relevance import classify
from crawler.settings import crawl_engine
from crawler.symbols import find_symbols
from crawler.urls import canonicalize, clean_url, same_site
from storage.database import session_scope
from storage.items import PageRecord, get_source, store_page

logger = logging.getLogger(__name__)

__all__ = ["ClassifyPipeline", "DedupPipeline", "ExtractPipeline", "NormalisePipeline", "StorePipeline",
           "extract_html"]  # extract_html: the spiders' PDF-link lookup still imports it from here

class _ItemStage:
    """A pipeline stage: handles PageItems; an unexpected failure drops the item, is counted, and puts its URL
    into the same backoff as a failed download (crawler.extensions.backoff.UrlBackoff records it), so an item
    that cannot be processed or stored is not tried again on every crawl."""

    stage = "item"

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        assert crawler.stats is not None
        self.stats = crawler.stats
        self.engine: Engine = crawl_engine(crawler.settings)
        self.limits = Limits.from_settings(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        return self.process(item)

    def process(self, item: Any) -> Any:
        """`handle` with the failure accounting (safe to call from a worker thread)."""
        if not isinstance(item, PageItem):
            return item
        try:
            return self.handle(item)
        except DropItem:
            raise
        except Exception as exc:
            raise self.failure(item, exc) from exc

    def failure(self, item: PageItem, exc: BaseException) -> DropItem:
        """Log and count an unexpected failure of this stage on `item`; the DropItem to raise."""
        message = f"{self.stage} failed for {item.url}: {exc!r}"
        logger.error("source %s: %s", item.source, message, exc_info=exc)
        workers.on_reactor(self._failed, item, message)
        return DropItem(message, log_level="ERROR")

    def count(self, key: str, value: int = 1) -> None:
        """Increment a crawl stat (from any thread)."""
        workers.on_reactor(self.stats.inc_value, key, value)

    def _failed(self, item: PageItem, message: str) -> None:
        self.stats.inc_value("milai/errors")
        self.stats.set_value("milai/last_error", message)
        spider = self.crawler.spider
        failed = getattr(spider, "failed_urls", None)
        if isinstance(failed, dict):
            try:
                failed[canonicalize(item.requested_url or item.url)] = (message, False)
            except ValueError:  # an unparsable URL has no backoff key
                pass

    def handle(self, item: PageItem) -> PageItem:  # pragma: no cover - abstract
        raise NotImplementedError


class _OffloadedStage(_ItemStage):
    """A CPU-heavy stage: `handle` runs in a worker thread (crawler.workers), not on the reactor thread; its
    pure part in the crawler's worker processes when there are any (crawler.pipelines_pool)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.pool = ExtractPool.of(crawler)
        self.pool.join(crawler)

    def close_spider(self) -> None:
        self.pool.leave(self.crawler)

    def pooled(self, item: Any) -> bool:
        """True when this item's pure work goes to the worker processes."""
        return isinstance(item, PageItem) and self.pool.enabled and reactor_running()

    def weight(self, item: PageItem) -> int:
        """The input size that picks the worker lane (crawler.workers.HEAVY_BYTES)."""
        return len(item.body or b"") + len(item.text)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageItem):
            return item
        return await workers.run(self.weight(item), self.process, item)


class ExtractPipeline(_OffloadedStage):
    """Title, text, summary, date, language, canonical URL and alternates; listing data as fallback; text,
    title and summary cut to the crawler.bounds caps."""

    stage = "extract"

    async def process_item(self, item: Any) -> Any:
        to_extract = isinstance(item, PageItem) and item.extracted is None and item.body is not None
        if to_extract:
            self.pool.count_page()
        if to_extract and self.pooled(item):
            try:
                if item.kind == "pdf":
                    item.extracted = await self.pool.run(read_pdf_body, item.body, self._max_decompressed(),
                                                         item.language_hint)
                else:
                    item.extracted, cut, item.ahead = await self.pool.run(
                        extract_ahead, item.body, item.url, item.encoding, item.language_hint, self.limits,
                        item.timezone, (item.listing_title, item.listing_text, item.listing_summary))
                    if cut:
                        item.text_truncated = True
            except Exception as exc:
                raise self.failure(item, exc) from exc
            return self.process(item)  # what is left is cheap: on the reactor thread, no thread hand-over
        return await super().process_item(item)

    def _extract_here(self, item: PageItem) -> Extracted:
        """An HTML page extracted in this process, with its verdict and dedup keys made in the same call, as a
        worker process makes them (`extract_ahead`): in this worker thread now, rather than in two more turns of
        the thread lanes behind every page extracted meanwhile (the first pages of a crawl waited seconds there)."""
        assert item.body is not None
        ex, cut, item.ahead = extract_ahead(item.body, item.url, item.encoding, item.language_hint, self.limits,
                                            item.timezone, (item.listing_title, item.listing_text,
                                                            item.listing_summary))
        if cut:
            item.text_truncated = True
        return ex

    def _max_decompressed(self) -> int:
        return self.crawler.settings.getint("DOWNLOAD_MAXSIZE")

    def handle(self, item: PageItem) -> PageItem:
        page_date = None
        if item.kind == "pdf" and item.body is not None:
            page_date = self._pdf(item)
        elif item.extracted is not None or item.body is not None:
            ex = item.extracted if item.extracted is not None else self._extract_here(item)
            item.title = ex.title or ""
            item.text = ex.text or ""
            item.summary = ex.summary
            page_date = ex.published if ex.date_origin == "page" else None
            item.language = ex.language
            item.page_canonical = ex.canonical_url
            item.alternates = dict(ex.alternates)
            item.pdf_links = list(ex.pdf_links)
        item.body = item.extracted = None  # done with the bytes
        item.title = item.title or item.listing_title or title_from_url(item.url)
        item.text = item.text or item.listing_text or item.listing_summary or ""
        item.summary = item.summary or item.listing_summary
        item.language = item.language or item.language_hint
        self._bound(item)
        if page_date is not None and not (item.kind == "pdf" and item.listing_date is not None):
            item.published, item.date_origin = page_date, "page"
        elif item.listing_date is not None:
            item.published, item.date_origin = item.listing_date, "feed"
        else:
            item.published, item.date_origin = None, "none"
        return item

    def _bound(self, item: PageItem) -> None:
        """Cut text, titles and summary to the caps; mark and count what was cut."""
        item.text, cut = cut_text(item.text, self.limits.text_chars)
        if cut or item.text_truncated:
            item.text_truncated = True
            self.count("milai/truncated")
        item.title, cut_title_ = cut_title(item.title, self.limits.title_chars)
        if item.listing_title:
            item.listing_title, cut_listing = cut_title(item.listing_title, self.limits.title_chars)
            cut_title_ = cut_title_ or cut_listing
        if cut_title_:
            self.count("milai/title_truncated")
        if item.summary:
            item.summary = cut_text(item.summary, SUMMARY_MAX_CHARS)[0]

    def _pdf(self, item: PageItem) -> datetime | None:
        """Text and metadata of a PDF (read in a worker process when there are any); a broken one is kept as an
        item without text (counted, not an error). The listing's title and date beat the PDF's own metadata
        (often "Microsoft Word - …")."""
        assert item.body is not None
        read = item.extracted if isinstance(item.extracted, PdfRead) else read_pdf_body(
            item.body, self._max_decompressed(), item.language_hint)
        doc = read.doc
        if doc.error:
            logger.info("source %s: %s (%s)", item.source, doc.error, item.url)
            self.count("milai/pdf_without_text")
        item.text = doc.text
        item.title = item.listing_title or doc.title or ""
        if doc.text:
            item.summary = read.summary
        item.language = read.language
        return doc.created


class NormalisePipeline(_ItemStage):
    """The canonical URL (dedup key) and the URL shown to users: rel=canonical when it stays on the same
    site, else the fetched URL (cleaned of tracking parameters and fragment, its own scheme/host/port)."""

    stage = "normalise"

    _STRING_FIELDS = (
        "url", "listing_title", "listing_summary", "listing_text", "title", "text", "summary", "language",
        "page_canonical", "requested_url",
    )

    def handle(self, item: PageItem) -> PageItem:
        for name in self._STRING_FIELDS:  # what a database rejects (NUL, lone surrogates) never gets that far
            setattr(item, name, storable(getattr(item, name)))
        item.alternates, item.pdf_links = storable(item.alternates), storable(item.pdf_links)
        limit = self.crawler.settings.getint("URLLENGTH_LIMIT") or MAX_URL_LENGTH
        fetched = item.fetched_key = canonicalize(item.url)
        if len(item.url) > limit or len(fetched) > MAX_KEY_LENGTH:
            self.count(STAT_TOO_LONG)
            raise DropItem(f"URL longer than {limit} characters: {item.url[:120]}…", log_level="INFO")
        declared = _absolute(item.url, item.page_canonical)
        if declared and _key_fits(declared, limit) and same_site(declared, item.url):
            item.canonical_url, item.display_url = canonicalize(declared), clean_url(declared)
        else:
            item.canonical_url, item.display_url = fetched, clean_url(item.url)
        alternates = {lang: _absolute(item.url, u) for lang, u in item.alternates.items()}
        item.alternates = {lang: canonicalize(u) for lang, u in alternates.items() if u and _key_fits(u, limit)}
        return item


class ClassifyPipeline(_OffloadedStage):
    """Relevance verdict, score and matched terms for every item, on- or off-topic (on at most
    CLASSIFY_MAX_CHARS of its text, whatever the text cap)."""

    stage = "classify"

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem) and item.ahead is not None and item.ahead.fits(item.title, item.text,
                                                                                    item.language):
            self.apply(item, item.ahead.verdict)  # computed with the extraction, on these very fields
            return item
        if not self.pooled(item):
            return await super().process_item(item)
        try:
            verdict = await self.pool.run(classify_text, item.title, item.text[:CLASSIFY_MAX_CHARS], item.language)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        self.apply(item, verdict)
        return item

    def handle(self, item: PageItem) -> PageItem:
        self.apply(item, classify(item.title, item.text[:CLASSIFY_MAX_CHARS], item.language))
        return item

    def apply(self, item: PageItem, verdict: Any) -> None:
        item.relevant, item.score, item.matches = bool(verdict.relevant), float(verdict.score), verdict.stored()


class DedupPipeline(_OffloadedStage):
    """What the duplicate decision needs, computed in a worker thread: the text fingerprint and the MinHash
    signature. The decision itself is taken by storage.items.store_page, in the
    transaction that stores the item."""

    stage = "dedup"

    def weight(self, item: PageItem) -> int:
        return len(item.text)

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem) and item.ahead is not None:
            ahead, item.ahead = item.ahead, None
            item.store_ahead = ahead.store  # the store stage checks it against the fields it stores
            if ahead.text == item.text:  # computed with the extraction, on this very text
                item.content_hash, item.minhash = ahead.keys
                return item
        if not self.pooled(item):
            return await super().process_item(item)
        try:
            item.content_hash, item.minhash = await self.pool.run(dedup_keys, item.text)
        except Exception as exc:
            raise self.failure(item, exc) from exc
        return item

    def handle(self, item: PageItem) -> PageItem:
        item.content_hash, item.minhash = dedup_keys(item.text)
        return item


class StorePipeline(_ItemStage):
    """One storage call per page (storage.items.store_page): a new item, a marked copy, a revision of a known
    one, or a drop when the URL is stored already."""

    stage = "store"

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._source_id: int | None = None

    def open_spider(self) -> None:
        with session_scope(self.engine) as session:
            source = get_source(session, self.crawler.spider.name if self.crawler.spider else "")
            self._source_id = source.id if source is not None else None

    def record(self, item: PageItem) -> PageRecord:
        ahead, item.store_ahead = item.store_ahead, None
        if ahead is not None and ahead.fits(item.title, item.summary, item.text, item.language):
            comparable, symbols, search = ahead.comparable, ahead.symbols, ahead.search  # made with the extraction
        else:
            comparable = fingerprint_comparable(item.text)
            symbols, search = tuple(find_symbols(item.text)) if item.text else (), None
        return PageRecord(
            canonical_url=item.canonical_url,
            url=item.display_url or clean_url(item.url),
            kind=item.kind,
            title=item.title,
            listing_title=item.listing_title,
            summary=item.summary,
            text=item.text,
            text_truncated=item.text_truncated,
            published=item.published,
            date_origin=item.date_origin,
            language=item.language,
            relevant=item.relevant,
            score=item.score,
            matches=item.matches,
            content_hash=item.content_hash,
            minhash=item.minhash,
            source_id=self._source_id,
            fetched_key=item.fetched_key or None,
            revise_id=item.revise_id,
            match_fingerprint=comparable,
            symbols=symbols,
            alternates=item.alternates,
            search_columns=search,
        )

    def handle(self, item: PageItem) -> PageItem:
        stored = store_page(self.engine, self.record(item))
        if stored.outcome == "vanished":
            raise DropItem(f"revised item {item.revise_id} vanished", log_level="WARNING")
        if stored.outcome == "known":
            self.stats.inc_value("milai/duplicate")
            raise DropItem(f"already stored: {item.canonical_url}", log_level="INFO")
        item.duplicate_of_id, item.duplicate_reason = stored.duplicate_of_id, stored.reason
        if stored.outcome in ("updated", "unchanged"):
            self.stats.inc_value(f"milai/{stored.outcome}")
        elif stored.outcome == "duplicate":
            self.stats.inc_value("milai/duplicate")
        else:
            self.stats.inc_value("milai/new")
            if not item.relevant:
                self.stats.inc_value("milai/off_topic")
        return item


def _key_fits(url: str, limit: int) -> bool:
    """True when `url` and its canonical key are short enough to store (crawler.guard limits)."""
    return len(url) <= limit and len(canonicalize(url)) <= MAX_KEY_LENGTH


def _absolute(base: str, url: str | None) -> str | None:
    """`url` resolved against `base` when it is an http(s) URL; None otherwise (or when unparsable)."""
    if not url:
        return None
    try:
        absolute = urljoin(base, url)
        return absolute if urlsplit(absolute).scheme in ("http", "https") else None
    except ValueError:
        return None

