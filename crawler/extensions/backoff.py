"""URL-failure backoff: article URLs that failed in a crawl are retried on later crawls with backoff (or given
up, when permanent); URLs fetched again are cleared (storage.items.record_url_failure / forget_url_failures).

The spiders collect `failed_urls` and `fetched_urls` (crawler.spiders.base.SourceSpider; the pipelines add
items they could not process); this extension writes them when the spider closes. The skip-known middleware
(crawler.middlewares) reads them back before requesting."""

from __future__ import annotations

import logging
from typing import Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from sqlalchemy import Engine

from crawler.settings import crawl_engine
from storage.database import session_scope
from storage.items import forget_url_failures, record_url_failure

logger = logging.getLogger(__name__)


class UrlBackoff:
    """Records the spider's failed and fetched article URLs at close. Off (NotConfigured) without
    MILAI_DATABASE_URL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("MILAI_DATABASE_URL")
        if not url:
            raise NotConfigured("MILAI_DATABASE_URL is not set: no URL backoff")
        ext = cls(crawl_engine(crawler.settings))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if reason == "shutdown":  # requests cut short by a stop are not the URL's fault
            return
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
