"""The crawl run recorder: a `crawl_runs` row per source crawl, with its status, counters, health and heartbeat."""

from __future__ import annotations

import logging
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from sqlalchemy import Engine
from twisted.internet import task
from twisted.python.failure import Failure

from crawler.diagnosis import run_facts
from crawler.extensions.counters import STAT_STATUS, counters, run_status
from crawler.meta import META_LISTING, STAT_LAST_ERROR, count_error
from crawler.settings import crawl_engine
from storage.database import session_scope
from storage.health import record_run_facts
from storage.items import finish_run, get_source, start_run
from storage.runs import HEARTBEAT, close_stale_runs, heartbeat

logger = logging.getLogger(__name__)

class CrawlRunRecorder:
    """Opens a CrawlRun when the source's spider opens and closes it with counters and health; counts errors
    raised in spider callbacks. Off (NotConfigured) without MILAI_DATABASE_URL."""

    def __init__(self, crawler: Crawler, engine: Engine) -> None:
        self.crawler = crawler
        self.engine = engine
        self.run_id: int | None = None
        self._beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("MILAI_DATABASE_URL")
        if not url:
            raise NotConfigured("MILAI_DATABASE_URL is not set: no crawl runs recorded")
        ext = cls(crawler, crawl_engine(crawler.settings))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.spider_error, signal=signals.spider_error)
        return ext

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

    def spider_closed(self, spider: Spider, reason: str) -> None:
        assert self.crawler.stats is not None
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        stats = self.crawler.stats.get_stats()
        status = run_status(stats, reason)
        error = stats.get(STAT_LAST_ERROR)
        if reason != "finished" and not error:
            error = f"crawl ended: {reason}"
        self.crawler.stats.set_value(STAT_STATUS, status)
        if error:
            self.crawler.stats.set_value(STAT_LAST_ERROR, error)
        if self.run_id is None:
            return
        with session_scope(self.engine) as session:
            finish_run(session, self.run_id, status=status, counters=counters(stats), error=error)
            record_run_facts(session, self.run_id, run_facts(stats))  # the run's health verdict (storage.health)
