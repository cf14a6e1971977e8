"""Failed article URLs back off across crawls; fetched ones are cleared; without a database the extension is off."""

from __future__ import annotations

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from sqlalchemy import select

from crawler.extensions.backoff import UrlBackoff
from storage.database import session_scope
from storage.items import MAX_URL_FAILURES, blocked_urls, record_url_failure
from storage.models import UrlAlias
from tests.crawler.extensions.support import crawler_with_spider


def test_backoff_is_off_without_a_database():
    with pytest.raises(NotConfigured):
        UrlBackoff.from_crawler(crawler_with_spider())


def test_failed_urls_back_off_and_fetched_ones_are_forgotten(db_url: str, engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        record_url_failure(session, "https://example.org/news/back", "HTTP 500")
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    ext = UrlBackoff.from_crawler(crawler)  # noqa: F841 - signals hold receivers weakly
    spider = crawler.spider
    spider.failed_urls = {"https://example.org/news/1": ("HTTP 503", False),
                          "https://example.org/news/big": ("too large", True)}
    spider.fetched_urls = {"https://example.org/news/back", "https://example.org/news/1"}
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
    with session_scope(engine) as session:
        rows = {r.url: r.failures for r in session.scalars(select(UrlAlias))}
        blocked = blocked_urls(session, rows)
    assert rows == {"https://example.org/news/1": 1, "https://example.org/news/big": MAX_URL_FAILURES}
    assert blocked == set(rows)


def test_a_crawl_stopped_on_request_records_no_failures(db_url: str, engine):  # type: ignore[no-untyped-def]
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    ext = UrlBackoff.from_crawler(crawler)  # noqa: F841 - signals hold receivers weakly
    crawler.spider.failed_urls = {"https://example.org/news/1": ("cancelled", False)}
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="shutdown")
    with session_scope(engine) as session:
        assert list(session.scalars(select(UrlAlias))) == []
