"""A real (unstarted) Scrapy crawler with a catalogue spider, for driving one extension through its signals."""

from __future__ import annotations

from typing import Any

from scrapy.crawler import Crawler
from scrapy.signalmanager import SignalManager
from scrapy.utils.test import get_crawler

from crawler.spiders.feed import FeedSpider

SOURCE = {"name": "ext-src", "publisher": "Examples", "kind": "feed", "url": "https://example.org/feed.xml"}


def crawler_with_spider(**settings: Any) -> Crawler:
    crawler = get_crawler(FeedSpider, settings)
    crawler.spider = FeedSpider.from_crawler(crawler, source=SOURCE)
    crawler.signals = SignalManager(crawler)  # only the extension under test listens (no reactor runs)
    return crawler
