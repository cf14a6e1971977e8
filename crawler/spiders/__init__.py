"""Generic catalogue-driven spiders, one per source kind."""

from __future__ import annotations

from crawler.spiders.base import SourceSpider
from crawler.spiders.feed import FeedSpider
from crawler.spiders.html import HtmlSpider
from crawler.spiders.json_api import JsonSpider
from crawler.spiders.sitemap import SitemapSpider

SPIDERS: dict[str, type[SourceSpider]] = {
    "feed": FeedSpider,
    "sitemap": SitemapSpider,
    "html": HtmlSpider,
    "json": JsonSpider,
}

__all__ = ["SPIDERS", "FeedSpider", "HtmlSpider", "JsonSpider", "SitemapSpider", "SourceSpider"]
