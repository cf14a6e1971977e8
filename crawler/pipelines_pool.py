"""Page extraction, classification and signatures in worker processes: the other cores for the pipeline
(MILAI_EXTRACT_WORKERS).

Extraction (lxml, trafilatura, htmldate, language detection), the relevance verdict and the MinHash
signature are pure CPU work on one item's bytes or text, and the worker threads of crawler.workers share one
GIL with the reactor (every GIL hand-over then costs the reactor up to a switch interval). Here that work runs
in one ProcessPoolExecutor per crawl process, shared by its crawlers (forkserver processes that import
crawler.extract, the classifier and crawler.dedup once), awaited from the stage's coroutine through a Deferred,
so the item goes on through the pipeline in order once its result is back. An HTML page takes one round trip:
the extract stage's call also classifies and signs the page's expected fields (`extract_ahead`), and the
classify and dedup stages use those results when the item's fields are exactly what they were computed on (else
they make their own call); the stages apply the results exactly as in-process.

A worker process that dies (killed, out of memory, a crash in C code) breaks the executor and fails every
extraction in flight: the pool is replaced and each such extraction is tried again, up to BROKEN_TRIES times in
all, so the pages that shared the pool with a crashing one are not lost; an exception raised by the extraction
itself comes back as it is (the pipeline counts it as an item error, as in-process). `workers=0`: no processes,
extraction stays in the pipeline's worker thread."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredLock

from crawler.bounds import SUMMARY_MAX_CHARS, Limits, cut_html, cut_text, cut_title, storable
from crawler.dedup import content_fingerprint, fingerprint_comparable, permutations, signature
from crawler.extract import Extracted, detect_language, extract_page, summarize
from crawler.pdf import PdfDoc, read_pdf
from crawler.relevance import Classification, classify
from crawler.symbols import find_symbols
from milai.heap import freeze_startup_objects
from storage.index_terms import search_columns

logger = logging.getLogger(__name__)

T = TypeVar("T")

BROKEN_TRIES = 3  # attempts of one extraction when worker processes die under it
# imported once by the fork server, inherited by every worker process; crawler.pool_preload also loads the
# models there (load_models), so each worker forks with them instead of loading its own
PRELOAD = ["crawler.extract", "crawler.relevance", "crawler.dedup", "crawler.pdf", "crawler.pool_preload"]


# MILAI_EXTRACT_WORKERS unset: pages are extracted in the crawl process until it has extracted this many (a
# scheduled crawl of a few new items never pays the worker processes' start), then in default_workers()
# processes (the Scrapy setting MILAI_EXTRACT_AUTO_AFTER overrides it)
AUTO_AFTER = 50
# ... or fewer: the worker processes are started in a thread of their own once it has extracted
# AUTO_AFTER // WARM_SHARE pages, and take the pages over as soon as they are up. The first submission to a new
# pool blocks until the fork server has imported PRELOAD and forked (~1.4 s on 2 cores), which on the reactor
# thread stalled the whole crawl; and pages extracted in the crawl process share its GIL with the reactor.
WARM_SHARE = 5


def default_workers() -> int:
    """Processes for a machine: one per core, at most 4; 0 on a single core. Not cores - 1: the crawl process
    uses less than a core (it waits on the network and on the workers), and the kernel gives its idle share to
    a worker; on 2 cores bench/crawl measured 0.72x the bare spider with 2 workers against 0.58x with 1."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(4, cores)


def reactor_running() -> bool:
    """True inside a crawl (tests that drive pipelines by hand have no running reactor: no pool then)."""
    from twisted.internet import reactor

    return bool(getattr(reactor, "running", False))


def extract_body(
    body: bytes, url: str, encoding: str | None, language_hint: str | None, limits: Limits, zone: str | None = None,
) -> tuple[Extracted, bool]:
    """crawler.article.extract_html for a worker process: the page extracted (zone-less times in the source's
    IANA `zone`), and whether it was cut."""
    cut_body, cut = cut_html(body, limits.html_bytes)
    return extract_page(cut_body, url, encoding=encoding, language_hint=language_hint, zone=zone), cut


@dataclass(frozen=True)
class PdfRead:
    """A fetched PDF read: its text and metadata, the summary and language of its text."""

    doc: PdfDoc
    summary: str | None
    language: str | None


def read_pdf_body(body: bytes, max_decompressed: int, language_hint: str | None) -> PdfRead:
    """A PDF's text and metadata (crawler.pdf.read_pdf, never raises), summarised and its language detected (the
    PDF's /Lang and the source's language as priors; without text, the /Lang alone); in-process or in a worker."""
    doc = read_pdf(body, max_decompressed=max_decompressed)
    if doc.text:
        return PdfRead(doc, summarize(doc.text), detect_language(doc.text, declared=doc.language, hint=language_hint))
    return PdfRead(doc, None, (doc.language or "")[:2].lower() or None)


CLASSIFY_MAX_CHARS = 200_000  # the relevance scorer reads at most this much text per item


@dataclass(frozen=True)
class Ahead:
    """The classify and dedup stages' results for an HTML page, computed in the worker call that extracts it (one
    round trip per page), on the title, text and language the page is expected to reach those stages with
    (`expected_fields`). A stage uses them only when the item's fields are exactly these (`fits`); otherwise it
    computes its own, so they save work and never change a result."""

    title: str
    text: str
    language: str | None
    verdict: Classification
    keys: tuple[str | None, bytes | None]
    store: StoreAhead | None = None

    def fits(self, title: str, text: str, language: str | None) -> bool:
        """True when these results were computed on exactly these inputs."""
        return self.text == text and self.title == title and self.language == language


@dataclass(frozen=True)
class StoreAhead:
    """What the store stage derives from an item's fields (storage.index_terms' search columns, whether its
    fingerprint is comparable, its document symbols), computed in the same worker call on the title, summary,
    text and language the page is expected to be stored with; the store stage uses them only when the item's
    fields are exactly these (`fits`), else it computes its own."""

    title: str
    summary: str | None
    text: str
    language: str | None
    search: tuple[str, str]
    comparable: bool
    symbols: tuple[str, ...]

    def fits(self, title: str, summary: str | None, text: str, language: str | None) -> bool:
        return self.text == text and self.title == title and self.summary == summary and self.language == language


def store_ahead(title: str, summary: str | None, text: str, language: str | None) -> StoreAhead:
    """The store stage's derived fields of an item (`StoreAhead`)."""
    return StoreAhead(title, summary, text, language, search_columns(title, summary, text, language),
                      fingerprint_comparable(text), tuple(find_symbols(text)) if text else ())


def title_from_url(url: str) -> str:
    """A title for a page that has none: the last part of its URL path, dashes and underscores as spaces."""
    tail = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return tail.replace("-", " ").replace("_", " ") or url


def expected_fields(
    ex: Extracted, url: str, listing_title: str | None, listing_text: str | None, listing_summary: str | None,
    language_hint: str | None, limits: Limits,
) -> tuple[str, str, str | None]:
    """The title, text and language an extracted HTML page reaches the classify stage with, as the extract and
    normalise stages make them (listing fallbacks, the caps, storable strings)."""
    title = cut_title(ex.title or listing_title or title_from_url(url), limits.title_chars)[0]
    text = cut_text(ex.text or listing_text or listing_summary or "", limits.text_chars)[0]
    return storable(title), storable(text), storable(ex.language or language_hint)


def extract_ahead(
    body: bytes, url: str, encoding: str | None, language_hint: str | None, limits: Limits, zone: str | None,
    listing: tuple[str | None, str | None, str | None],
) -> tuple[Extracted, bool, Ahead]:
    """`extract_body`, then the verdict and dedup keys of the page's expected fields: the pipeline's whole pure
    work on an HTML page in one worker call. `listing`: the item's listing title, text and summary."""
    ex, cut = extract_body(body, url, encoding, language_hint, limits, zone)
    title, text, language = expected_fields(ex, url, *listing, language_hint, limits)
    summary = ex.summary or listing[2]  # as the extract stage makes it, cut to its cap, then the normalise stage
    summary = storable(cut_text(summary, SUMMARY_MAX_CHARS)[0] if summary else summary)
    return ex, cut, Ahead(title, text, language, classify_text(title, text[:CLASSIFY_MAX_CHARS], language),
                          dedup_keys(text), store_ahead(title, summary, text, language))


def classify_text(title: str, text: str, language: str | None) -> Classification:
    """The relevance verdict (crawler.relevance.classify) in a worker process."""
    return classify(title, text, language)


def dedup_keys(text: str) -> tuple[str | None, bytes | None]:
    """The text fingerprint and MinHash signature of an item's text (None, None without text)."""
    if not text.strip():
        return None, None
    return content_fingerprint(text), signature(text)


def load_models() -> None:
    """Load what the pipeline's pure work otherwise loads at its first page: the language identifier, the
    relevance lexicons (English) and the MinHash permutations (start_worker, crawler.worker.warm_up)."""
    sample = "Ministers discussed the military use of artificial intelligence."
    detect_language(sample)
    classify("Military AI", sample, "en")
    permutations()


def start_worker() -> int:
    """Each worker process's initializer: `load_models` now (they load lazily, so the first page of every
    worker paid for them, once per worker), then move what start-up made out of the cyclic collector's reach
    (milai.heap), as the crawl process does. Returns the number of frozen objects."""
    load_models()
    return freeze_startup_objects()


class ExtractPool:
    """A lazily started ProcessPoolExecutor of `workers` processes, replaced when it breaks; `close` ends it.

    The crawlers of one process (`milai crawl` runs one per source) share one pool of their worker count
    (`of`): MILAI_EXTRACT_WORKERS processes for the process, not for each source, each loading the language model
    and lexicons once. A crawler's pipeline `join`s it and `leave`s it when its spider closes; the last one to
    leave closes it, and a crawler started after that gets a new pool."""

    def __init__(self, workers: int, after: int = 0) -> None:
        self.workers = workers
        self.after = after  # pages the process extracts itself before the workers take over
        self.pages = 0  # pages seen by the extract stages of the pool's crawlers (`count_page`)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0
        self._retries = DeferredLock()
        self._users: weakref.WeakSet[Any] = weakref.WeakSet()
        self._warming: threading.Thread | None = None
        self._ready = False  # the background start has its processes up (past their initializer)
        self._started = False  # the background start is over (up, or given up)
        self._waiting: list[Deferred[None]] = []  # pages waiting on the reactor thread for it to be over

    @classmethod
    def of(cls, crawler: Any) -> ExtractPool:
        """The process's open pool sized by the crawler's MILAI_EXTRACT_WORKERS (0: none, all in the crawl process;
        unset: `default_workers()` of them once the process has extracted AUTO_AFTER pages itself)."""
        setting = crawler.settings.get("MILAI_EXTRACT_WORKERS")
        if setting is None:
            workers, after = default_workers(), crawler.settings.getint("MILAI_EXTRACT_AUTO_AFTER", AUTO_AFTER)
        else:
            workers, after = int(setting), 0
        with _shared_lock:
            pool = _SHARED.get((workers, after))
            if pool is None or pool._closed:
                pool = _SHARED[(workers, after)] = cls(workers, after)
            return pool

    def join(self, crawler: Any) -> None:
        """`crawler` uses the pool until it `leave`s."""
        with _shared_lock:
            self._users.add(crawler)

    def leave(self, crawler: Any) -> None:
        """`crawler` is done with the pool (any number of times); the last user to leave closes it."""
        with _shared_lock:
            self._users.discard(crawler)
            last = not self._users
        if last:
            self.close()

    def count_page(self) -> None:
        """One more page reached an extract stage (on the reactor thread); at the `warm` point, the worker
        processes start in the background."""
        self.pages += 1
        if self.pages == max(1, self.after // WARM_SHARE):
            self.warm()

    def warm(self) -> None:
        """Start the worker processes in a thread of their own (once), not in the first page's submission."""
        if self.workers <= 0 or self._warming is not None:
            return
        self._warming = threading.Thread(target=self._start_processes, name="milai-extract-pool-start", daemon=True)
        self._warming.start()

    def _start_processes(self) -> None:
        try:
            executor = self._current()
            # each submission finding no idle worker forks one more; a result comes after its initializer
            started = [executor.submit(os.getpid) for _ in range(self.workers)]
            for future in started:
                future.result()
            self._ready = True
        except (RuntimeError, BrokenProcessPool):  # closed or broken meanwhile: the pages' own calls see to it
            logger.debug("the extraction worker processes did not start ahead", exc_info=True)
        finally:
            with self._lock:
                self._started = True
                waiting, self._waiting = self._waiting, []
            if waiting:
                from twisted.internet import reactor

                for deferred in waiting:
                    reactor.callFromThread(deferred.callback, None)

    async def _until_started(self) -> None:
        """Wait (without blocking the reactor thread) for a background start still under way."""
        with self._lock:
            if self._warming is None or self._started:
                return
            deferred: Deferred[None] = Deferred()
            self._waiting.append(deferred)
        await maybe_deferred_to_future(deferred)

    @property
    def enabled(self) -> bool:
        """True when pages go to the worker processes: there are some, open, and past the in-process start (its
        AUTO_AFTER pages, or fewer when the processes started in the background are up before them)."""
        return self.workers > 0 and not self._closed and (self.after == 0 or self._ready or self.pages > self.after)

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the extraction pool is closed")
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(PRELOAD)
                self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                                     initializer=start_worker)
            return self._executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Forget a broken executor (once, whichever of its failed extractions notices first)."""
        with self._lock:
            if self._executor is broken:
                self._executor = None
                self.restarts += 1
                logger.warning("an extraction worker process died; starting new ones")
        broken.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process, awaited from a Scrapy coroutine on the reactor thread. After a
        worker died under it, the call is tried again alone (one retry in flight at a time), so a page that
        kills its worker takes no innocent retry down with it."""
        for attempt in range(1, BROKEN_TRIES + 1):
            retry = attempt > 1
            if retry:
                await maybe_deferred_to_future(self._retries.acquire())
            else:  # a page past AUTO_AFTER while the processes are still starting: its submission would block
                await self._until_started()
            try:
                executor = self._current()
                try:
                    future = executor.submit(fn, *args)
                except BrokenProcessPool:  # broke between two submissions
                    self._replace(executor)
                    continue
                try:
                    return await maybe_deferred_to_future(_deferred(future))
                except BrokenProcessPool:
                    self._replace(executor)
                    if attempt == BROKEN_TRIES:
                        raise
            finally:
                if retry:
                    self._retries.release()
        raise BrokenProcessPool(f"extraction worker processes died {BROKEN_TRIES} times")

    def close(self) -> None:
        """Stop the worker processes (with the crawler: the pipeline's close_spider)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_SHARED: dict[tuple[int, int], ExtractPool] = {}  # the process's open pool of each (worker count, in-process start)
_shared_lock = threading.Lock()


def _deferred(future: Future[T]) -> Deferred[T]:
    """A Deferred that fires on the reactor thread with the result of a concurrent.futures Future."""
    from twisted.internet import reactor

    deferred: Deferred[T] = Deferred()

    def settle(done: Future[T]) -> None:
        exc = done.exception()
        if exc is not None:
            deferred.errback(exc)
        else:
            deferred.callback(done.result())

    future.add_done_callback(lambda done: reactor.callFromThread(settle, done))
    return deferred
