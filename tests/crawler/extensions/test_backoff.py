"""URL backoff: failed article URLs are retried on later crawls with backoff, then given up (too large: at once);
recovered ones are stored and forgotten; without a database the extension is off."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from sqlalchemy import select, update

from crawler.catalogue import SourceConfig
from crawler.extensions.backoff import UrlBackoff
from storage.database import make_engine, session_scope
from storage.items import MAX_URL_FAILURES, blocked_urls, record_url_failure
from storage.models import UrlAlias, utcnow
from tests.crawler import helpers
from tests.crawler.extensions.support import crawler_with_spider
from tests.crawler.helpers import article_hits, crawl
from tests.crawler.sites import ON_TOPIC, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


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


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def _set_failure(db_url: str, *, failures: int | None = None, due: bool = True) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        values: dict = {"retry_after": utcnow() - timedelta(minutes=1)} if due else {}
        if failures is not None:
            values["failures"] = failures
        session.execute(update(UrlAlias).values(**values))
    engine.dispose()


def _failures(db_url: str) -> dict[str, tuple[int, bool]]:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = {r.url: (r.failures, r.retry_after is not None) for r in session.scalars(select(UrlAlias))}
    engine.dispose()
    return rows


def test_failing_article_is_retried_with_backoff_then_given_up(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    site.add(a.path, "boom", status=500, content_type="text/plain")
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    db = sqlite_env["MILAI_DATABASE_URL"]
    key = site.url(a.path).replace("http://", "https://")

    assert crawl(tmp_path, [_feed(site)])["ministry"]["errors"] == 1
    assert _failures(db) == {key: (1, True)}

    site.clear_log()  # backing off: the next poll does not ask again
    summary = crawl(tmp_path, [_feed(site)])["ministry"]
    assert article_hits(site) == [] and summary["errors"] == 0 and summary["status"] == "ok"

    _set_failure(db)  # the backoff has passed: one more try
    site.clear_log()
    crawl(tmp_path, [_feed(site)])
    assert article_hits(site) == [a.path]
    assert _failures(db) == {key: (2, True)}

    _set_failure(db, failures=MAX_URL_FAILURES - 1)  # the last try fails: given up
    crawl(tmp_path, [_feed(site)])
    assert _failures(db) == {key: (MAX_URL_FAILURES, False)}
    _set_failure(db)
    site.clear_log()
    crawl(tmp_path, [_feed(site)])
    assert article_hits(site) == []


def test_recovered_article_is_stored_and_its_failure_forgotten(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    site.add(a.path, "boom", status=503, content_type="text/plain")
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    db = sqlite_env["MILAI_DATABASE_URL"]
    crawl(tmp_path, [_feed(site)])
    assert len(_failures(db)) == 1

    serve_articles(site, [a])
    _set_failure(db)
    assert crawl(tmp_path, [_feed(site)])["ministry"]["new"] == 1
    assert _failures(db) == {}


def test_oversized_article_is_not_fetched_again(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [b])
    site.add(a.path, article_html(replace(a, paragraphs=[*a.paragraphs, "x " * 200_000])))
    site.add("/feed.xml", rss(site.base, [a, b]), content_type="application/rss+xml")
    env = {"MILAI_DOWNLOAD_MAXSIZE": "100000"}

    first = crawl(tmp_path, [_feed(site)], env=env)["ministry"]
    assert (first["new"], first["errors"]) == (1, 1)
    assert list(_failures(sqlite_env["MILAI_DATABASE_URL"]).values()) == [(MAX_URL_FAILURES, False)]

    site.clear_log()
    second = crawl(tmp_path, [_feed(site)], env=env)["ministry"]
    assert article_hits(site) == [] and second["errors"] == 0
