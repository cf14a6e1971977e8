"""A crawl_runs row per source crawl with status and counters; callback errors counted; off without a database."""

from __future__ import annotations

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from sqlalchemy import select
from twisted.python.failure import Failure

from crawler.catalogue import SourceConfig
from crawler.extensions.runs import CrawlRunRecorder
from storage.database import session_scope
from storage.items import sync_sources
from storage.models import CrawlRun, Source
from tests.crawler.extensions.support import SOURCE, crawler_with_spider


def test_the_run_recorder_is_off_without_a_database():
    with pytest.raises(NotConfigured):
        CrawlRunRecorder.from_crawler(crawler_with_spider())


def test_a_run_is_opened_and_closed_with_status_counters_and_health(db_url: str, engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        sync_sources(session, [SourceConfig.model_validate(SOURCE)])
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    ext = CrawlRunRecorder.from_crawler(crawler)  # noqa: F841 - signals hold receivers weakly
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    with session_scope(engine) as session:
        assert [r.status for r in session.scalars(select(CrawlRun))] == ["running"]
    crawler.stats.set_value("milai/links", 2)
    crawler.stats.set_value("milai/new", 1)
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    assert crawler.stats.get_value("milai/status") == "ok"
    with session_scope(engine) as session:
        run = session.scalars(select(CrawlRun)).one()
        source = session.scalars(select(Source)).one()
        assert (run.status, run.links, run.new, run.error_summary) == ("ok", 2, 1, None)
        assert source.last_success_at is not None


def test_an_error_in_a_listing_callback_fails_a_run_that_found_nothing(db_url: str):
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    recorder = CrawlRunRecorder.from_crawler(crawler)
    listing = type("R", (), {"url": "https://example.org/feed.xml", "meta": {"milai_listing": True}})()
    recorder.spider_error(Failure(ValueError("bad feed")), listing, crawler.spider)
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    stats = crawler.stats.get_stats()
    assert (stats["milai/errors"], stats["milai/listing_failures"], stats["milai/status"]) == (1, 1, "failed")
    assert stats["milai/last_error"] == "ValueError: bad feed (https://example.org/feed.xml)"
