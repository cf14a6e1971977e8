"""Feed kind end to end: loopback RSS/Atom sites crawled in a child process into SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items, source_row
from tests.crawler.sites import OFF_TOPIC, ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def feed_source(site: LoopbackSite, name: str = "example-feed", path: str = "/feed.xml", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Ministry of Examples", kind="feed", url=site.url(path),
                        language="en", **kw)


def test_feed_crawl_stores_new_items_then_fetches_only_new(site: LoopbackSite, milai_env, tmp_path: Path):
    articles = make_articles(ON_TOPIC[:3] + OFF_TOPIC)
    robots(site)
    serve_articles(site, articles)
    site.add("/feed.xml", rss(site.base, articles), content_type="application/rss+xml")
    src = feed_source(site)

    summary = crawl(tmp_path, [src])["example-feed"]
    assert summary["status"] == "ok"
    assert (summary["links"], summary["fetched"], summary["new"], summary["off_topic"]) == (4, 4, 4, 1)
    stored = items(milai_env["MILAI_DATABASE_URL"])
    assert len(stored) == 4
    first = next(i for i in stored if i.url.endswith(articles[0].path))
    assert first.title == ON_TOPIC[0][0]
    assert "human control over autonomous weapon systems" in first.text
    assert first.published is not None and first.published.date().isoformat() == "2025-09-01"
    assert first.language == "en"
    assert first.canonical_url.startswith("https://127.0.0.1:")
    assert sorted(i.relevant for i in stored) == [False, True, True, True]
    assert all(i.matches for i in stored if i.relevant)

    # second crawl: nothing new, no article refetched
    site.clear_log()
    summary = crawl(tmp_path, [src])["example-feed"]
    assert article_hits(site) == []
    assert (summary["status"], summary["links"], summary["new"], summary["fetched"]) == ("ok", 4, 0, 0)

    # a new article is published: only it is fetched
    newer = make_articles(ON_TOPIC[3:], start_day=20)
    serve_articles(site, newer)
    site.add("/feed.xml", rss(site.base, newer + articles), content_type="application/rss+xml")
    site.clear_log()
    summary = crawl(tmp_path, [src])["example-feed"]
    assert article_hits(site) == [newer[0].path]
    assert summary["new"] == 1
    assert len(items(milai_env["MILAI_DATABASE_URL"])) == 5

    source, runs = source_row(milai_env["MILAI_DATABASE_URL"], "example-feed")
    assert [r.new for r in runs] == [4, 0, 1]
    assert all(r.status == "ok" for r in runs)
    assert source.last_success_at is not None and source.consecutive_failures == 0
    assert source.ever_yielded and source.last_links_found == 5


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def test_malformed_feed_with_linkless_entries_is_an_error(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    broken = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>Broken & <b>item'
    site.add("/broken.xml", broken, content_type="application/rss+xml")

    summary = crawl(tmp_path, [_feed(site, "/broken.xml", name="broken")])["broken"]

    assert summary["status"] == "failed" and summary["errors"] == 1 and summary["links"] == 0
    assert "malformed feed" in (summary["error"] or "")
    source, runs = source_row(sqlite_env["MILAI_DATABASE_URL"], "broken")
    assert source.consecutive_failures == 1 and "malformed feed" in (source.last_error or "")
    assert runs[-1].status == "failed"
