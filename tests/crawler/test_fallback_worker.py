"""Fallback through a real long-lived CrawlWorker (crawler.worker, as `milai worker` runs it): loopback sites,
a real SQLite database, one reactor for every job.

A configured feed that keeps answering 404 is replaced by the feed the site announces (discovery runs inside
the worker, records no crawl run); later jobs crawl the replacement without discovering again.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from crawler.catalogue import SourceConfig
from storage.database import make_engine, session_scope
from storage.health import health_of_sources
from storage.models import CrawlRun, Source
from tests.crawler import helpers
from tests.crawler.helpers import items, source_row
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.crawler.worker_process import WorkerProcess
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

HOME = ("<html><head><link rel='alternate' type='application/rss+xml' href='/rss/all.xml'></head>"
        "<body><p>Ministry of Examples</p></body></html>")


def moved_feed_site(site: LoopbackSite, n: int = 2) -> list:
    robots(site)
    arts = make_articles(ON_TOPIC[:n])
    serve_articles(site, arts)
    site.add("/", HOME)
    site.add("/rss/all.xml", rss(site.base, arts), content_type="application/rss+xml")
    return arts


def test_a_worker_replaces_a_feed_that_keeps_failing_with_the_discovered_one(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    arts = moved_feed_site(site)
    src = SourceConfig(name="moved-feed", publisher="Examples", kind="feed", url=site.url("/cps/rss/old.xml"),
                       language="en")
    db = sqlite_env["MILAI_DATABASE_URL"]
    with WorkerProcess(tmp_path, [src]) as worker:
        for _ in range(3):  # not found three times: no discovery yet
            assert worker.crawl("moved-feed")["new"] == 0
        assert not site.hits("/rss/all.xml") and not site.hits("/")
        summary = worker.crawl("moved-feed")  # discovery, then the discovered feed, in the same job
        assert (summary["status"], summary["new"]) == ("ok", 2)
        assert site.hits("/") and site.hits("/rss/all.xml")
        site.clear_log()
        again = worker.crawl("moved-feed")  # the replacement again, no discovery
        assert again["status"] == "ok"
        assert site.hits("/rss/all.xml") and not site.hits("/cps/rss/old.xml") and not site.hits("/")
    assert {i.title for i in items(db)} == {a.title for a in arts}
    source, runs = source_row(db, "moved-feed")
    assert source.fallback["entry"] == {"kind": "feed", "url": site.url("/rss/all.xml")}
    assert [r.health for r in runs] == ["not_found"] * 3 + ["ok", "ok"]
    engine = make_engine(db)
    try:
        with session_scope(engine) as session:
            health = health_of_sources(session)["moved-feed"]
            # discovery is no crawl of a source: no run, no sources row of its own
            assert session.scalar(select(func.count()).select_from(CrawlRun)) == 5
            assert list(session.scalars(select(Source.name))) == ["moved-feed"]
    finally:
        engine.dispose()
    assert health.state == "ok"
    assert health.reason.startswith(f"using discovered feed {site.url('/rss/all.xml')} since ")
