"""Live progress goes to the MILAI_PROGRESS callback; without one the extension is off."""

from __future__ import annotations

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.extensions.progress import ProgressReporter
from tests.crawler.extensions.support import crawler_with_spider


def test_progress_is_off_without_a_callback():
    with pytest.raises(NotConfigured):
        ProgressReporter.from_crawler(crawler_with_spider())
    with pytest.raises(NotConfigured, match="not callable"):
        ProgressReporter.from_crawler(crawler_with_spider(MILAI_PROGRESS="yes"))


def test_progress_reports_the_run_counters_on_each_signal():
    seen: list[tuple[str, dict[str, int]]] = []
    crawler = crawler_with_spider(MILAI_PROGRESS=lambda name, counts: seen.append((name, counts)))
    ext = ProgressReporter.from_crawler(crawler)  # noqa: F841 - signals hold receivers weakly
    crawler.stats.set_value("milai/links", 3)
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    crawler.stats.set_value("milai/new", 2)
    crawler.signals.send_catch_log(signals.item_scraped, item=None, response=None, spider=crawler.spider)
    assert [(name, c["links"], c["new"]) for name, c in seen] == [("ext-src", 3, 0), ("ext-src", 3, 2)]


def test_a_broken_progress_display_does_not_break_the_crawl(caplog: pytest.LogCaptureFixture):
    def broken(name: str, counts: dict[str, int]) -> None:
        raise RuntimeError("terminal gone")

    crawler = crawler_with_spider(MILAI_PROGRESS=broken)
    ext = ProgressReporter.from_crawler(crawler)
    ext.report()  # does not raise
    assert "progress callback failed" in caplog.text
