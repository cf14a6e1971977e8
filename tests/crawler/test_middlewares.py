"""The skip-known middleware (incremental crawling): each canonical URL requested once per crawl whatever its
spelling, disguised URLs stored once, known URLs and fetched mirrors skipped before fetching, revisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from crawler.catalogue import SourceConfig
from storage.database import make_engine, session_scope
from storage.models import UrlAlias
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items
from tests.crawler.sites import ON_TOPIC, Article, article_html, atom, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def test_disguised_urls_are_stored_once(site: LoopbackSite, milai_env, tmp_path: Path):
    robots(site)
    [a, b] = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    crawl(tmp_path, [_feed(site)])

    # the same page under tracking parameters, https, a trailing slash, a mirror declaring rel=canonical;
    # plus b, whose page declares a canonical on another site (ignored)
    site.add(a.path + "/", article_html(a))
    site.add("/mirror/copy-of-a", article_html(replace(a, canonical=site.url(a.path))))
    site.add(b.path, article_html(replace(b, canonical="https://elsewhere.example.org/b")))
    https_a = site.url(a.path).replace("http://", "https://")
    disguises = [
        Article(a.path + "?utm_source=newsletter&utm_medium=email", a.title, a.paragraphs, a.date),
        Article(a.path + "/", a.title, a.paragraphs, a.date),
        Article("/mirror/copy-of-a", a.title, a.paragraphs, a.date),
        b,
    ]
    feed = rss(site.base, disguises).replace(f"<link>{site.base}{a.path}/</link>", f"<link>{https_a}/</link>")
    site.add("/feed.xml", feed, content_type="application/rss+xml")
    site.clear_log()
    summary = crawl(tmp_path, [_feed(site)])["ministry"]

    # known spellings are skipped before fetching; the mirror is fetched but recognised by rel=canonical
    assert article_hits(site, "/news/") == [b.path]
    assert article_hits(site, "/mirror/") == ["/mirror/copy-of-a"]
    assert summary["new"] == 1 and summary["duplicate"] == 1
    stored = items(milai_env["MILAI_DATABASE_URL"])
    assert len(stored) == 2
    assert {i.canonical_url for i in stored} == {
        site.url(a.path).replace("http://", "https://"),
        site.url(b.path).replace("http://", "https://"),
    }


def test_changed_title_in_feed_records_a_revision(site: LoopbackSite, milai_env, tmp_path: Path):
    robots(site)
    [a, b] = make_articles(ON_TOPIC[:2])
    a.updated = b.updated = datetime(2025, 9, 2, tzinfo=UTC)
    serve_articles(site, [a, b])
    site.add("/atom.xml", atom(site.base, [a, b]), content_type="application/atom+xml")
    crawl(tmp_path, [_feed(site, "/atom.xml")])

    corrected = replace(a, title=a.title + " (corrected)", updated=datetime.now(UTC),
                        paragraphs=[*a.paragraphs, "This article was corrected to fix the list of participants."])
    serve_articles(site, [corrected])
    site.add("/atom.xml", atom(site.base, [corrected, b]), content_type="application/atom+xml")
    site.clear_log()
    summary = crawl(tmp_path, [_feed(site, "/atom.xml")])["ministry"]

    assert article_hits(site) == [a.path]
    assert (summary["new"], summary["updated"]) == (0, 1)
    stored = items(milai_env["MILAI_DATABASE_URL"])
    assert len(stored) == 2
    item = next(i for i in stored if i.url.endswith(a.path))
    assert item.revision == 2 and item.updated_at is not None
    assert item.title.endswith("(corrected)")
    assert [r.title for r in item.revisions] == [a.title]

    # unchanged since: a third crawl fetches nothing
    site.clear_log()
    crawl(tmp_path, [_feed(site, "/atom.xml")])
    assert article_hits(site) == []


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
