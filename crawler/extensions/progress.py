"""Live progress: the run counters of each source, handed to a callback as the crawl goes (`milai crawl`
draws them). Off (NotConfigured) unless MILAI_PROGRESS holds a callable `(source name, counters) -> None`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Self

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.extensions.counters import counters

logger = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, int]], None]


class ProgressReporter:
    """Reports the counters when the spider opens and closes, and on every response, item and drop."""

    def __init__(self, crawler: Crawler, progress: Progress) -> None:
        self.crawler = crawler
        self.progress = progress

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        progress = crawler.settings.get("MILAI_PROGRESS")
        if progress is None:
            raise NotConfigured("no MILAI_PROGRESS callback")
        if not callable(progress):
            raise NotConfigured(f"MILAI_PROGRESS is not callable: {progress!r}")
        ext = cls(crawler, progress)
        for signal in (signals.spider_opened, signals.spider_closed, signals.item_scraped, signals.item_dropped,
                       signals.response_received):
            crawler.signals.connect(ext.report, signal=signal)
        return ext

    def report(self, *args: Any, **kwargs: Any) -> None:
        if self.crawler.spider is None or self.crawler.stats is None:
            return
        try:
            self.progress(self.crawler.spider.name, counters(self.crawler.stats.get_stats()))
        except Exception:  # a broken progress display must not break the crawl
            logger.exception("progress callback failed")
