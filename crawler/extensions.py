"""Per-source accounting: a CrawlRun row per crawl, source health, and live progress callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from twisted.internet import task
from twisted.python.failure import Failure

from crawler.diagnosis import run_facts
from crawler.spiders.base import META_LISTING, count_error
from storage.database import get_engine, session_scope
from storage.health import record_run_facts
from storage.items import finish_run, forget_url_failures, get_source, record_url_failure, start_run
from storage.runs import HEARTBEAT, close_stale_runs, heartbeat

logger = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, int]], None]


def counters(stats: dict[str, Any]) -> dict[str, int]:
    """The run counters from a crawler's stats."""
    return {
        # requests that went out: answers from the HTTP cache (robots.txt kept for a day) are not requests
        "requests": max(0, int(stats.get("downloader/request_count", 0)) - int(stats.get("httpcache/hit", 0))),
        "links": int(stats.get("milai/links", 0)),
        "fetched": int(stats.get("milai/fetched", 0)),
        "new": int(stats.get("milai/new", 0)),
        "updated": int(stats.get("milai/updated", 0)),
        "duplicate": int(stats.get("milai/duplicate", 0)),
        "off_topic": int(stats.get("milai/off_topic", 0)),
        "errors": int(stats.get("milai/errors", 0)),
        # links not followed: not http(s), or longer than URLLENGTH_LIMIT; refused by the network guard;
        # items whose text was cut at the length cap (crawler.bounds)
        "skipped": int(stats.get("milai/skipped_scheme", 0)) + int(stats.get("milai/url_too_long", 0)),
        "refused": int(stats.get("milai/refused_address", 0)),
        "robots_skipped": int(stats.get("milai/robots_skipped", 0)),  # disallowed by robots.txt: not errors
        "truncated": int(stats.get("milai/truncated", 0)),
    }


def run_status(stats: dict[str, Any], reason: str) -> str:
    """`failed` when the listing could not be read (and yielded nothing) or the crawl was cut short;
    `interrupted` when it was stopped on request (SIGTERM/SIGINT: service shutdown), which is no failure."""
    if reason == "shutdown":
        return "interrupted"
    if stats.get("milai/listing_failures", 0) and not stats.get("milai/links", 0):
        return "failed"
    return "ok" if reason == "finished" else "failed"


class CrawlRunRecorder:
    """Opens a CrawlRun when the source's spider opens and closes it with counters and health."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.engine = get_engine(crawler.settings.get("MILAI_DATABASE_URL"))
        self.progress: Progress | None = crawler.settings.get("MILAI_PROGRESS")
        self.run_id: int | None = None
        self._beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        for signal in (signals.item_scraped, signals.item_dropped, signals.response_received):
            crawler.signals.connect(ext.report, signal=signal)
        return ext

    @property
    def _stats(self) -> dict[str, Any]:
        assert self.crawler.stats is not None
        return self.crawler.stats.get_stats()

    def spider_opened(self, spider: Spider) -> None:
        with session_scope(self.engine) as session:
            source = get_source(session, spider.name)
            if source is None:
                logger.warning("source %s is not in the sources table; no crawl run recorded", spider.name)
                return
            closed = close_stale_runs(session)
            if closed:
                logger.warning("closed %d crawl run(s) left running by a stopped process as interrupted", closed)
            self.run_id = start_run(session, source).id
        self._beat = task.LoopingCall(self._heartbeat)
        self._beat.start(HEARTBEAT.total_seconds(), now=False)
        self.report()

    def _heartbeat(self) -> None:
        """Renew this run's heartbeat, so no other process takes it for one left by a killed crawl."""
        if self.run_id is None:
            return
        try:
            with session_scope(self.engine) as session:
                heartbeat(session, self.run_id)
        except Exception:  # a missed beat is harmless; the next one retries
            logger.warning("crawl run %s: heartbeat not recorded", self.run_id, exc_info=True)

    def spider_error(self, failure: Failure, response: Any, spider: Spider) -> None:
        assert self.crawler.stats is not None
        message = f"{failure.type.__name__}: {failure.getErrorMessage()} ({getattr(response, 'url', '?')})"
        count_error(self.crawler.stats, message, listing=response is not None and bool(response.meta.get(META_LISTING)))

    def report(self, *args: Any, **kwargs: Any) -> None:
        if self.progress is not None and self.crawler.spider is not None:
            try:
                self.progress(self.crawler.spider.name, counters(self._stats))
            except Exception:  # a broken progress display must not break the crawl
                logger.exception("progress callback failed")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        stats = self._stats
        status = run_status(stats, reason)
        error = stats.get("milai/last_error")
        if reason != "finished" and not error:
            error = f"crawl ended: {reason}"
        self.crawler.stats.set_value("milai/status", status)
        if error:
            self.crawler.stats.set_value("milai/last_error", error)
        self.report()
        if reason != "shutdown":  # requests cut short by a stop are not the URL's fault
            self._record_urls(spider)
        if self.run_id is None:
            return
        with session_scope(self.engine) as session:
            finish_run(session, self.run_id, status=status, counters=counters(stats), error=error)
            record_run_facts(session, self.run_id, run_facts(stats))  # the run's health verdict (storage.health)

    def _record_urls(self, spider: Spider) -> None:
        """Failed article URLs back off across crawls (storage.items.record_url_failure); fetched ones are cleared."""
        failed: dict[str, tuple[str, bool]] = getattr(spider, "failed_urls", {}) or {}
        fetched: set[str] = getattr(spider, "fetched_urls", set()) or set()
        if not failed and not fetched:
            return
        try:
            with session_scope(self.engine) as session:
                forget_url_failures(session, fetched - failed.keys())
                for url, (message, permanent) in failed.items():
                    record_url_failure(session, url, message, permanent=permanent)
        except Exception:  # bookkeeping must not turn a finished crawl into a failed one
            logger.exception("source %s: could not record failed URLs", spider.name)
