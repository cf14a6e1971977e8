"""robots.txt per RFC 9309: rules obeyed; unreachable (5xx) robots.txt means the site is not crawled this run."""

from __future__ import annotations

from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler.helpers import article_hits, crawl
from tests.crawler.sites import ON_TOPIC, make_articles, rss, serve_articles
from tests.support.site import LoopbackSite


def _source(site: LoopbackSite) -> SourceConfig:
    return SourceConfig(name="ministry", publisher="Ministry", kind="feed", url=site.url("/feed.xml"), language="en")


def _publish(site: LoopbackSite) -> None:
    articles = make_articles(ON_TOPIC[:2])
    serve_articles(site, articles)
    site.add("/feed.xml", rss(site.base, articles), content_type="application/rss+xml")


def test_robots_txt_server_error_means_disallow_all(site: LoopbackSite, milai_env, tmp_path: Path) -> None:
    _publish(site)
    site.add("/robots.txt", "temporarily unavailable", status=503, content_type="text/plain")
    result = crawl(tmp_path, [_source(site)])["ministry"]
    assert result["status"] == "failed"
    assert "robots.txt" in result["error"] and "503" in result["error"]
    assert not site.hits("/feed.xml") and not article_hits(site, "/news/")


def test_missing_robots_txt_allows_crawling(site: LoopbackSite, milai_env, tmp_path: Path) -> None:
    _publish(site)  # no /robots.txt at all: 404 means "no rules"
    result = crawl(tmp_path, [_source(site)])["ministry"]
    assert result["status"] == "ok" and result["new"] == 2
    assert site.hits("/robots.txt")
