"""crawler/middlewares.py: one request per canonical URL in a crawl, known URLs and mirrors skipped, failing URLs
retried with backoff."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from crawler.catalogue import SourceConfig
from storage.database import make_engine, session_scope
from storage.items import MAX_URL_FAILURES
from storage.models import UrlAlias, utcnow
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items
from tests.crawler.sites import ON_TOPIC, Article, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def _adds_up(s: dict) -> bool:
    return s["fetched"] == s["new"] + s["updated"] + s["duplicate"]


def _disguised_feed(site: LoopbackSite, a: Article, b: Article) -> None:
    """A feed listing `a` five ways (tracking parameters, https + fragment, trailing slash, a mirror) and `b`."""
    site.add(a.path + "/", article_html(a))
    site.add("/mirror/copy-of-a", article_html(replace(a, canonical=site.url(a.path))))
    spellings = [
        Article(a.path + "?utm_source=rss&utm_medium=feed", a.title, a.paragraphs, a.date),
        Article(a.path + "/", a.title, a.paragraphs, a.date),
        Article(a.path + "?utm_medium=email#top", a.title, a.paragraphs, a.date),
        Article("/mirror/copy-of-a", a.title, a.paragraphs, a.date),
        a,
        b,
    ]
    feed = rss(site.base, spellings).replace(
        f"<link>{site.base}{a.path}?utm_medium=email#top</link>",
        f"<link>{site.base.replace('http://', 'HTTPS://')}{a.path}?utm_medium=email#top</link>",
    )
    site.add("/feed.xml", feed, content_type="application/rss+xml")


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


def test_disguised_spellings_in_one_listing_are_fetched_once(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    _disguised_feed(site, a, b)

    summary = crawl(tmp_path, [_feed(site)])["ministry"]

    # a once (the clean http spelling, not the https one the site cannot serve), the mirror once, b once
    assert sorted(article_hits(site, "/news/")) == sorted([a.path, b.path])
    assert article_hits(site, "/mirror/") == ["/mirror/copy-of-a"]
    assert summary["errors"] == 0
    assert (summary["new"], summary["duplicate"]) == (2, 1)
    assert _adds_up(summary), summary
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert {i.url for i in stored} == {site.url(a.path), site.url(b.path)}
    assert {i.canonical_url for i in stored} == {site.url(p).replace("http://", "https://") for p in (a.path, b.path)}


def test_fetched_mirror_is_remembered_and_not_fetched_again(site: LoopbackSite, milai_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    _disguised_feed(site, a, b)
    crawl(tmp_path, [_feed(site)])
    url = milai_env["MILAI_DATABASE_URL"]
    engine = make_engine(url)
    with session_scope(engine) as session:
        aliases = {row.url: row.item_id for row in session.scalars(select(UrlAlias))}
    engine.dispose()
    assert list(aliases) == [site.url("/mirror/copy-of-a").replace("http://", "https://")]

    site.clear_log()
    summary = crawl(tmp_path, [_feed(site)])["ministry"]
    assert article_hits(site, "/news/") == [] and article_hits(site, "/mirror/") == []
    assert (summary["fetched"], summary["new"], summary["duplicate"], summary["errors"]) == (0, 0, 0, 0)
    assert len(items(url)) == 2


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
