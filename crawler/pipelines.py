"""Item pipelines, in ITEM_PIPELINES order: extract → normalise → classify → dedup → store."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Self
from urllib.parse import urljoin, urlsplit

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from crawler.dedup import NearDuplicateIndex, content_fingerprint, find_duplicate
from crawler.extract import Extracted, detect_language, extract_page, summarize
from crawler.items import PageItem
from crawler.pdf import read_pdf
from crawler.relevance import classify
from crawler.symbols import find_symbols
from crawler.urls import canonicalize, clean_url, same_site
from storage.database import get_engine, session_scope
from storage.items import add_item, get_item_by_url, get_source, remember_alias, revise_item
from storage.links import link_translations
from storage.models import Item, ItemSymbol, utcnow

logger = logging.getLogger(__name__)


class _ItemStage:
    """A pipeline stage: handles PageItems; an unexpected failure drops the item and is counted."""

    stage = "item"

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        assert crawler.stats is not None
        self.stats = crawler.stats
        self.engine: Engine = get_engine(crawler.settings.get("MILAI_DATABASE_URL"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageItem):
            return item
        try:
            return self.handle(item)
        except DropItem:
            raise
        except Exception as exc:
            message = f"{self.stage} failed for {item.url}: {exc!r}"
            logger.exception("source %s: %s", item.source, message)
            self.stats.inc_value("milai/errors")
            self.stats.set_value("milai/last_error", message)
            raise DropItem(message, log_level="ERROR") from exc

    def handle(self, item: PageItem) -> PageItem:  # pragma: no cover - abstract
        raise NotImplementedError


# The legacy encoding a page in this language most likely uses when its declared UTF-8 is wrong (the
# WHATWG locale defaults); Latin-script languages fall back to windows-1252.
_LEGACY_ENCODINGS = {
    "ko": "cp949", "ja": "shift_jis", "zh": "gb18030", "ru": "cp1251", "uk": "cp1251", "bg": "cp1251",
    "ar": "cp1256", "fa": "cp1256", "he": "cp1255", "el": "cp1253", "tr": "cp1254", "pl": "cp1250",
    "cs": "cp1250", "sk": "cp1250", "hu": "cp1250", "hr": "cp1250", "sl": "cp1250", "ro": "cp1250",
    "lt": "cp1257", "lv": "cp1257", "et": "cp1257", "vi": "cp1258", "th": "cp874",
}


def encoding_hint(body: bytes, declared: str | None, language: str | None) -> str | None:
    """The encoding to offer extract_page for a page whose header declared `declared`.

    A page declared UTF-8 whose bytes are not UTF-8 (and that names no charset of its own) is in the legacy
    encoding of its language, not whatever a byte-statistics guess says (short French text in windows-1252
    is easily taken for windows-1250). Otherwise the declared charset is passed on as it is; extract_page
    still prefers bytes that are valid UTF-8 over a declared ISO-8859-1.
    """
    from w3lib.encoding import html_body_declared_encoding, read_bom, resolve_encoding

    resolved = resolve_encoding(declared) if declared else None
    if resolved != "utf-8" or not language or body.isascii() or read_bom(body)[0]:
        return declared
    try:
        body.decode("utf-8")
        return declared
    except UnicodeDecodeError:
        pass
    if html_body_declared_encoding(body):
        return declared
    return _LEGACY_ENCODINGS.get(language[:2].lower(), "cp1252")


def extract_html(item: PageItem) -> Extracted:
    """The fetched article page of `item` extracted, decoded as `encoding_hint` suggests."""
    assert item.body is not None
    encoding = encoding_hint(item.body, item.encoding, item.language_hint)
    return extract_page(item.body, item.url, encoding=encoding, language_hint=item.language_hint)


class ExtractPipeline(_ItemStage):
    """Title, text, summary, date, language, canonical URL and alternates; listing data as fallback."""

    stage = "extract"

    def handle(self, item: PageItem) -> PageItem:
        page_date = None
        if item.kind == "pdf" and item.body is not None:
            page_date = self._pdf(item)
        elif item.extracted is not None or item.body is not None:
            ex = item.extracted if item.extracted is not None else extract_html(item)
            item.title = ex.title or ""
            item.text = ex.text or ""
            item.summary = ex.summary
            page_date = ex.published if ex.date_origin == "page" else None
            item.language = ex.language
            item.page_canonical = ex.canonical_url
            item.alternates = dict(ex.alternates)
            item.pdf_links = list(ex.pdf_links)
        item.body = item.extracted = None  # done with the bytes
        item.title = item.title or item.listing_title or _title_from_url(item.url)
        item.text = item.text or item.listing_text or item.listing_summary or ""
        item.summary = item.summary or item.listing_summary
        item.language = item.language or item.language_hint
        if page_date is not None and not (item.kind == "pdf" and item.listing_date is not None):
            item.published, item.date_origin = page_date, "page"
        elif item.listing_date is not None:
            item.published, item.date_origin = item.listing_date, "feed"
        else:
            item.published, item.date_origin = None, "none"
        return item

    def _pdf(self, item: PageItem) -> datetime | None:
        """Text and metadata of a PDF; a broken one is kept as an item without text (counted, not an error).
        The listing's title and date beat the PDF's own metadata (often "Microsoft Word - …")."""
        assert item.body is not None
        doc = read_pdf(item.body)
        if doc.error:
            logger.info("source %s: %s (%s)", item.source, doc.error, item.url)
            self.stats.inc_value("milai/pdf_without_text")
        item.text = doc.text
        item.title = item.listing_title or doc.title or ""
        if doc.text:
            item.summary = summarize(doc.text)
            item.language = detect_language(doc.text, declared=doc.language, hint=item.language_hint)
        else:
            item.language = (doc.language or "")[:2].lower() or None
        return doc.created


class NormalisePipeline(_ItemStage):
    """The canonical URL (dedup key) and the URL shown to users: rel=canonical when it stays on the same
    site, else the fetched URL (cleaned of tracking parameters and fragment, its own scheme/host/port)."""

    stage = "normalise"

    def handle(self, item: PageItem) -> PageItem:
        fetched = item.fetched_key = canonicalize(item.url)
        declared = urljoin(item.url, item.page_canonical) if item.page_canonical else None
        if declared and urlsplit(declared).scheme in ("http", "https") and same_site(declared, item.url):
            item.canonical_url, item.display_url = canonicalize(declared), clean_url(declared)
        else:
            item.canonical_url, item.display_url = fetched, clean_url(item.url)
        item.alternates = {lang: canonicalize(u) for lang, u in item.alternates.items() if u}
        return item


class ClassifyPipeline(_ItemStage):
    """Relevance verdict, score and matched terms for every item, on- or off-topic."""

    stage = "classify"

    def handle(self, item: PageItem) -> PageItem:
        verdict = classify(item.title, item.text, item.language)
        item.relevant, item.score, item.matches = bool(verdict.relevant), float(verdict.score), verdict.stored()
        return item


_indexes: dict[str, NearDuplicateIndex] = {}
_index_lock = threading.Lock()


def shared_index(engine: Engine) -> NearDuplicateIndex:
    """One near-duplicate index per database per process, shared by all the crawl's spiders."""
    key = str(engine.url)
    with _index_lock:
        if key not in _indexes:
            with session_scope(engine) as session:
                _indexes[key] = NearDuplicateIndex.from_session(session)
        return _indexes[key]


class DedupPipeline(_ItemStage):
    """Exact canonical URL (drop), exact content fingerprint and near-duplicate text (keep, marked)."""

    stage = "dedup"

    def handle(self, item: PageItem) -> PageItem:
        item.content_hash = content_fingerprint(item.text) if item.text.strip() else None
        index = shared_index(self.engine)
        if item.text.strip():
            item.minhash = index.signature(item.text)
        if item.revise_id is not None:
            return item
        with session_scope(self.engine) as session:
            match = find_duplicate(session, index, text=item.text, canonical_url=item.canonical_url,
                                   fingerprint=item.content_hash, signature=item.minhash)
            if match is not None and match.reason != "url":
                item.duplicate_of_id, item.duplicate_reason = match.item_id, match.reason
                target = session.get(Item, match.item_id)
                if target is not None and target.duplicate_of_id is not None:  # the first copy, never another copy
                    item.duplicate_of_id = target.duplicate_of_id
        if match is not None and match.reason == "url":
            self.stats.inc_value("milai/duplicate")
            remember_fetched_alias(self.engine, item, match.item_id)
            raise DropItem(f"already stored: {item.canonical_url}", log_level="INFO")
        return item


class StorePipeline(_ItemStage):
    """Insert new items (with symbols and translation links) or record a revision of a known one."""

    stage = "store"

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._source_id: int | None = None

    def open_spider(self) -> None:
        with session_scope(self.engine) as session:
            source = get_source(session, self.crawler.spider.name if self.crawler.spider else "")
            self._source_id = source.id if source is not None else None

    def handle(self, item: PageItem) -> PageItem:
        fields = {
            "url": item.display_url or clean_url(item.url),
            "kind": item.kind,
            "title": item.title,
            "listing_title": item.listing_title,
            "summary": item.summary,
            "text": item.text,
            "published": item.published,
            "date_origin": item.date_origin,
            "language": item.language,
            "relevant": item.relevant,
            "score": item.score,
            "matches": item.matches,
            "content_hash": item.content_hash,
            "minhash": item.minhash,
        }
        if item.revise_id is not None:
            self._revise(item, fields)
            return item
        try:
            with session_scope(self.engine) as session:
                row = add_item(
                    session,
                    canonical_url=item.canonical_url,
                    source_id=self._source_id,
                    duplicate_of_id=item.duplicate_of_id,
                    **fields,
                )
                self._attach(session, row, item)
                item_id = row.id
        except IntegrityError as exc:  # stored meanwhile by another spider of this crawl
            self.stats.inc_value("milai/duplicate")
            with session_scope(self.engine) as session:
                stored = get_item_by_url(session, item.canonical_url)
                stored_id = stored.id if stored is not None else None
            remember_fetched_alias(self.engine, item, stored_id)
            raise DropItem(f"already stored: {item.canonical_url}", log_level="INFO") from exc
        remember_fetched_alias(self.engine, item, item_id)
        if item.minhash is not None and item.duplicate_of_id is None:
            shared_index(self.engine).add(item_id, item.minhash)
        if item.duplicate_of_id is not None:
            self.stats.inc_value("milai/duplicate")
        else:
            self.stats.inc_value("milai/new")
            if not item.relevant:
                self.stats.inc_value("milai/off_topic")
        return item

    def _revise(self, item: PageItem, fields: dict[str, Any]) -> None:
        with session_scope(self.engine) as session:
            row = session.get(Item, item.revise_id)
            if row is None:
                raise DropItem(f"revised item {item.revise_id} vanished", log_level="WARNING")
            if revise_item(session, row, **fields):
                self._attach(session, row, item)
                self.stats.inc_value("milai/updated")
            else:
                row.listing_title = item.listing_title or row.listing_title
                row.fetched_at = utcnow()  # seen again: the listing's update time is now accounted for
                self.stats.inc_value("milai/unchanged")

    @staticmethod
    def _attach(session: Any, row: Item, item: PageItem) -> None:
        """Document symbols and hreflang translation links."""
        if item.text:
            have = {s.symbol for s in row.symbols}
            for symbol in dict.fromkeys(find_symbols(item.text)):
                if symbol not in have:
                    row.symbols.append(ItemSymbol(symbol=symbol))
        # always: a page stored later may resolve alternates that earlier pages named
        link_translations(session, row, item.alternates or {})
        session.flush()


def remember_fetched_alias(engine: Engine, item: PageItem, item_id: int | None) -> None:
    """A fetched URL stored under another key (a mirror declaring rel=canonical) is remembered as an alias,
    so the next crawl skips it before fetching."""
    if item_id is None or not item.fetched_key or item.fetched_key == item.canonical_url:
        return
    try:
        with session_scope(engine) as session:
            remember_alias(session, item.fetched_key, item_id)
    except IntegrityError:  # recorded meanwhile by another spider of this crawl
        logger.debug("alias %s recorded concurrently", item.fetched_key)


def _title_from_url(url: str) -> str:
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return tail.replace("-", " ").replace("_", " ") or url
