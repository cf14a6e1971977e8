"""Fallback through a real long-lived CrawlWorker (crawler.worker, as `milai worker` runs it): loopback sites,
a real SQLite database, one reactor for every job.

A configured feed that keeps answering 404 is replaced by the feed the site announces (discovery runs inside
the worker, records no crawl run); later jobs crawl the replacement without discovering again. Every so many
crawls the configured URL is probed: when it lists links again the source goes back to it and says so (the
operator hears of it); while it stays dead the probes grow rarer, record nothing and the health does not flap.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from alerts.dispatch import send_due
from crawler.catalogue import SourceConfig
from crawler.fallback import FALLBACK, PRIMARY, PROBE, PROBE_FIRST, PROBE_MAX, Choice, after_probe, plan
from milai.config import Settings
from storage.database import make_engine, session_scope
from storage.health import health_of_sources, set_fallback
from storage.items import sync_sources
from storage.models import CrawlRun, Source
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items, source_row
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.crawler.worker_process import WorkerProcess
from tests.support.site import LoopbackSite
from tests.support.smtp import SmtpServer

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


def _old_feed_hit(site: LoopbackSite, worker: WorkerProcess) -> bool:
    """Crawl once; True when the configured URL was requested (crawled or probed)."""
    site.clear_log()
    summary = worker.crawl("moved-feed")
    assert summary["status"] == "ok", summary
    return bool(site.hits("/cps/rss/old.xml"))


def test_the_configured_url_back_ends_the_fallback_and_the_operator_is_told(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    arts = moved_feed_site(site, n=3)
    src = SourceConfig(name="moved-feed", publisher="Examples", kind="feed", url=site.url("/cps/rss/old.xml"),
                       language="en")
    db = sqlite_env["MILAI_DATABASE_URL"]
    with SmtpServer() as smtp, WorkerProcess(tmp_path, [src]) as worker:
        settings = Settings(smtp_url=smtp.url(), admin_email="ops@example.org")
        for _ in range(3):
            worker.crawl("moved-feed")
        assert worker.crawl("moved-feed")["new"] == 3  # on the discovered feed from here
        send_due(settings)
        assert len(smtp.messages) == 1  # not found, then ok on the discovered feed: one message
        # crawls 2 and 3 on the fallback do not look at the configured URL
        assert [_old_feed_hit(site, worker) for _ in range(PROBE_FIRST - 1)] == [False] * (PROBE_FIRST - 1)
        site.add("/cps/rss/old.xml", rss(site.base, arts[:2]), content_type="application/rss+xml")  # it is back
        site.clear_log()
        worker.crawl("moved-feed")  # the probe finds links: back on the configured URL in this same job
        assert len(site.hits("/cps/rss/old.xml")) == 2  # the probe, then the crawl
        assert not site.hits("/rss/all.xml")
        source, runs = source_row(db, "moved-feed")
        assert source.fallback is None
        assert len(runs) == 3 + 1 + (PROBE_FIRST - 1) + 1  # the probe recorded no run
        last = runs[-1]
        assert last.health == "ok"
        assert last.health_reason.startswith(f"back on the configured URL {site.url('/cps/rss/old.xml')} (it lists "
                                             f"links again; the discovered feed {site.url('/rss/all.xml')} is no "
                                             "longer used); 2 link(s)")
        send_due(settings)  # ok -> ok, but the operator hears that the fallback ended
        assert len(smtp.messages) == 2
        assert smtp.messages[1]["Subject"] == "MilAI Watch: source moved-feed is ok, back on the configured URL"
        body = smtp.messages[1].get_content().replace("\r\n", "\n")
        assert "moved-feed (Examples): ok, back on the configured URL\n" in body and "(was ok)" not in body
        assert "why: back on the configured URL" in body

        assert _old_feed_hit(site, worker) and not site.hits("/rss/all.xml")  # the catalogue entry from now on
        send_due(settings)
        assert len(smtp.messages) == 2  # nothing changed: nothing told
    _, runs = source_row(db, "moved-feed")
    assert not runs[-1].health_reason.startswith("back on") and "using discovered" not in runs[-1].health_reason


def test_a_configured_url_still_dead_is_probed_half_as_often_and_the_health_does_not_flap(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    moved_feed_site(site)
    src = SourceConfig(name="moved-feed", publisher="Examples", kind="feed", url=site.url("/cps/rss/old.xml"),
                       language="en")
    db = sqlite_env["MILAI_DATABASE_URL"]
    with SmtpServer() as smtp, WorkerProcess(tmp_path, [src]) as worker:
        settings = Settings(smtp_url=smtp.url(), admin_email="ops@example.org")
        for _ in range(3):
            worker.crawl("moved-feed")
        assert worker.crawl("moved-feed")["new"] == 2  # discovery (it looks at the URL too), the discovered feed
        send_due(settings)
        told = len(smtp.messages)
        probed = [_old_feed_hit(site, worker) for _ in range(3 * PROBE_FIRST)]
        # crawls 2..3 on the fallback, probe (fails: next after 6 crawls), 5 crawls, probe (fails: next after 12)
        assert probed == [False] * (PROBE_FIRST - 1) + [True] + [False] * (2 * PROBE_FIRST - 1) + [True]
        send_due(settings)
        assert len(smtp.messages) == told  # failed probes change nothing the operator must hear about
    source, runs = source_row(db, "moved-feed")
    assert source.fallback["probe_every"] == 4 * PROBE_FIRST and source.fallback["probes_failed"] == 2
    assert source.fallback["crawls"] == 1
    on_fallback = runs[3:]
    assert len(on_fallback) == 1 + len(probed)  # the probes recorded no run
    assert {r.health for r in on_fallback} == {"ok"}
    assert all(r.health_reason.startswith("using discovered feed") for r in on_fallback)


def test_the_probe_interval_doubles_up_to_its_cap(sqlite_url: str):
    engine = make_engine(sqlite_url)
    src = SourceConfig(name="capped", publisher="Examples", kind="feed", url="http://127.0.0.1:9/old.xml")
    try:
        with session_scope(engine) as session:
            sync_sources(session, [src])
            set_fallback(session, "capped", src.url, {"kind": "feed", "url": "http://127.0.0.1:9/new.xml"}, "test",
                         probe_every=PROBE_MAX // 2)
        intervals = []
        for _ in range(3):
            choice = after_probe(engine, src, 0)
            assert choice.fallback and choice.entry.url == "http://127.0.0.1:9/new.xml"
            with session_scope(engine) as session:
                intervals.append(session.scalars(select(Source).where(Source.name == "capped")).one()
                                 .fallback["probe_every"])
        assert intervals == [PROBE_MAX] * 3
        # due only after PROBE_MAX crawls on the fallback
        modes = [plan(engine, src)[0] for _ in range(PROBE_MAX)]
        assert modes == [FALLBACK] * (PROBE_MAX - 1) + [PROBE]
        # a probe that did not finish (shutdown) changes nothing: the next crawl probes again
        assert after_probe(engine, src, None).fallback
        assert plan(engine, src)[0] == PROBE
    finally:
        engine.dispose()


def test_a_return_found_by_a_probe_is_told_by_the_next_crawl_even_after_a_stop(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    """The probe found the configured URL again, and the worker stopped before crawling it: the next crawl of
    the catalogue entry (here by `crawler.runner`) still says "back on the configured URL", once."""
    arts = moved_feed_site(site)
    site.add("/cps/rss/old.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name="moved-feed", publisher="Examples", kind="feed", url=site.url("/cps/rss/old.xml"),
                       language="en")
    db = sqlite_env["MILAI_DATABASE_URL"]
    engine = make_engine(db)
    try:
        with session_scope(engine) as session:
            sync_sources(session, [src])
            set_fallback(session, "moved-feed", src.url, {"kind": "feed", "url": site.url("/rss/all.xml")}, "test")
        assert after_probe(engine, src, 2) == Choice(src)
        assert plan(engine, src) == (PRIMARY, src)  # ended: the catalogue entry from now on
    finally:
        engine.dispose()
    crawl(tmp_path, [src])
    crawl(tmp_path, [src])
    source, runs = source_row(db, "moved-feed")
    assert source.fallback is None
    assert runs[0].health_reason.startswith(f"back on the configured URL {src.url} (it lists links again; the "
                                            f"discovered feed {site.url('/rss/all.xml')} is no longer used)")
    assert not runs[1].health_reason.startswith("back on")
    assert not site.hits("/rss/all.xml")
