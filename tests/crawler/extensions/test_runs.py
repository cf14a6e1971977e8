"""The run recorder: a crawl_runs row per source crawl with status and counters, source health (failure
streaks, a layout-changed warning), the heartbeat that tells a killed crawl's run from a live one, a stop on
request recorded as interrupted; callback errors counted; off without a database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from sqlalchemy import select, update
from twisted.python.failure import Failure

from crawler.catalogue import SourceConfig
from crawler.extensions.counters import run_status
from crawler.extensions.runs import CrawlRunRecorder
from storage.database import make_engine, session_scope
from storage.items import LAYOUT_WARNING, finish_run, get_source, start_run, sync_sources
from storage.models import CrawlRun, Source, utcnow
from storage.runs import INTERRUPTED_MESSAGE, close_stale_runs, heartbeat
from tests.crawler import helpers
from tests.crawler.extensions.support import SOURCE, crawler_with_spider
from tests.crawler.helpers import FAST_ENV, ROOT, crawl, source_row, write_catalogue
from tests.crawler.sites import (
    ON_TOPIC,
    article_html,
    make_articles,
    robots,
    rss,
    serve_articles,
)
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env


def test_the_run_recorder_is_off_without_a_database():
    with pytest.raises(NotConfigured):
        CrawlRunRecorder.from_crawler(crawler_with_spider())


def test_a_run_is_opened_and_closed_with_status_counters_and_health(db_url: str, engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        sync_sources(session, [SourceConfig.model_validate(SOURCE)])
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    ext = CrawlRunRecorder.from_crawler(crawler)  # noqa: F841 - signals hold receivers weakly
    crawler.signals.send_catch_log(signals.spider_opened, spider=crawler.spider)
    with session_scope(engine) as session:
        assert [r.status for r in session.scalars(select(CrawlRun))] == ["running"]
    crawler.stats.set_value("milai/links", 2)
    crawler.stats.set_value("milai/new", 1)
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    assert crawler.stats.get_value("milai/status") == "ok"
    with session_scope(engine) as session:
        run = session.scalars(select(CrawlRun)).one()
        source = session.scalars(select(Source)).one()
        assert (run.status, run.links, run.new, run.error_summary) == ("ok", 2, 1, None)
        assert source.last_success_at is not None


def test_an_error_in_a_listing_callback_fails_a_run_that_found_nothing(db_url: str):
    crawler = crawler_with_spider(MILAI_DATABASE_URL=db_url)
    recorder = CrawlRunRecorder.from_crawler(crawler)
    listing = type("R", (), {"url": "https://example.org/feed.xml", "meta": {"milai_listing": True}})()
    recorder.spider_error(Failure(ValueError("bad feed")), listing, crawler.spider)
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    stats = crawler.stats.get_stats()
    assert (stats["milai/errors"], stats["milai/listing_failures"], stats["milai/status"]) == (1, 1, "failed")
    assert stats["milai/last_error"] == "ValueError: bad feed (https://example.org/feed.xml)"


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def _runs(url: str) -> list[CrawlRun]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))
    finally:
        engine.dispose()


def test_shutdown_is_interrupted_not_failed(sqlite_env):
    assert run_status({}, "shutdown") == "interrupted"
    assert run_status({"milai/listing_failures": 1}, "shutdown") == "interrupted"
    engine = make_engine(sqlite_env["MILAI_DATABASE_URL"])
    from storage.database import ensure_schema

    ensure_schema(engine)
    with session_scope(engine) as session:
        source = Source(name="s", publisher="p", kind="feed", url="http://x", consecutive_failures=2,
                        ever_yielded=True)
        session.add(source)
        session.flush()
        run = start_run(session, source)
        finish_run(session, run.id, status="interrupted", counters={"new": 1}, error="crawl ended: shutdown")
        assert source.consecutive_failures == 2 and source.last_error is None
        assert run.status == "interrupted"
    engine.dispose()


def test_sigterm_to_a_running_crawl_records_an_interrupted_run(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    release = threading.Event()

    def slow(req: Request) -> Page:
        release.wait(60)
        return Page(article_html(a))

    site.add(a.path, slow)
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    catalogue = write_catalogue(tmp_path / "sources.yaml", [_feed(site)])
    env = {**os.environ, **FAST_ENV, "MILAI_DOWNLOAD_TIMEOUT": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120  # waits for the event; no assertion on how long anything takes
        while not site.hits(a.path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert site.hits(a.path), "the article request never arrived"
        proc.send_signal(signal.SIGTERM)
        release.set()
        out, err = proc.communicate(timeout=120)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    summaries = {s["name"]: s for s in json.loads(out)}
    assert summaries["ministry"]["status"] == "interrupted"
    source, runs = source_row(sqlite_env["MILAI_DATABASE_URL"], "ministry")
    assert runs[-1].status == "interrupted"
    assert source.consecutive_failures == 0 and source.last_error is None
    assert "RANDOMIZE_DOWNLOAD_DELAY" not in err


def test_health_flags_a_source_whose_links_vanish_and_counts_failures(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    old_layout = "<ul class='news'>" + "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts) + "</ul>"
    new_layout = "<div class='cards'>" + "".join(f'<div data-href="{a.path}">{a.title}</div>' for a in arts) + "</div>"
    src = _src(site, "html", "/news", links="ul.news a")
    url = sqlite_env["MILAI_DATABASE_URL"]

    def run(body: str | None) -> tuple:
        if body is None:
            site.add("/news", "server error", status=500, content_type="text/plain")
        else:
            site.add("/news", body)
        summary = crawl(tmp_path, [src])["src"]
        source, _runs = source_row(url, "src")
        return summary["status"], source.warning, source.consecutive_failures

    assert run(old_layout) == ("ok", None, 0)
    assert run(new_layout) == ("ok", LAYOUT_WARNING, 0)  # the layout changed: no links, flagged
    assert run(None) == ("failed", LAYOUT_WARNING, 1)
    assert run(None) == ("failed", LAYOUT_WARNING, 2)
    assert run(old_layout) == ("ok", None, 0)  # links are back: warning cleared, streak reset
    source, runs = source_row(url, "src")
    assert [r.links for r in runs] == [2, 0, 0, 0, 2]
    assert [r.status for r in runs] == ["ok", "ok", "failed", "failed", "ok"]
    assert source.last_error and "500" in source.last_error and source.last_links_found == 2


def test_a_source_that_never_yielded_is_not_flagged(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    site.add("/news", "<p>nothing yet</p>")
    crawl(tmp_path, [_src(site, "html", "/news", links="ul.news a")])
    source, _ = source_row(sqlite_env["MILAI_DATABASE_URL"], "src")
    assert source.warning is None and not source.ever_yielded and source.last_links_found == 0


def test_only_runs_whose_heartbeat_stopped_are_closed(engine) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with session_scope(engine) as s:
        src = Source(name="s", publisher="P", kind="feed", url="http://127.0.0.1/f.xml")
        s.add(src)
        s.flush()
        dead = start_run(s, src)
        live = start_run(s, src)
        legacy = start_run(s, src)
        done = start_run(s, src)
        dead.heartbeat_at = now - timedelta(minutes=10)
        live.heartbeat_at = now - timedelta(minutes=1)
        legacy.heartbeat_at, legacy.started_at = None, now - timedelta(hours=2)  # a row from before heartbeats
        done.status, done.heartbeat_at = "ok", now - timedelta(days=1)
        ids = (dead.id, live.id, legacy.id, done.id)
    with session_scope(engine) as s:
        assert close_stale_runs(s, now) == 2
    with session_scope(engine) as s:
        rows = {r.id: r for r in s.scalars(select(CrawlRun))}
        assert [rows[i].status for i in ids] == ["interrupted", "running", "interrupted", "ok"]
        assert rows[ids[0]].finished_at == now - timedelta(minutes=10)  # when it was last seen alive
        assert rows[ids[2]].finished_at == now - timedelta(hours=2)
        assert rows[ids[0]].error_summary == INTERRUPTED_MESSAGE
        assert rows[ids[1]].finished_at is None
    with session_scope(engine) as s:
        heartbeat(s, ids[1], now + timedelta(minutes=30))
        assert close_stale_runs(s, now + timedelta(minutes=33)) == 0  # the renewed run is still alive
        assert close_stale_runs(s, now + timedelta(minutes=36)) == 1


def test_kill_9_mid_crawl_leaves_a_run_the_next_crawl_closes(site: LoopbackSite, milai_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = milai_env["MILAI_DATABASE_URL"]
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    release = threading.Event()

    def slow(req: Request) -> Page:
        release.wait(60)
        return Page(article_html(a))

    site.add(a.path, slow)
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    feed = {"name": "ministry", "publisher": "Ministry", "kind": "feed", "url": f"{site.base}/feed.xml",
            "language": "en"}
    catalogue = write_catalogue(tmp_path / "sources.yaml", [feed])
    env = {**os.environ, **FAST_ENV, "MILAI_DOWNLOAD_TIMEOUT": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # waits for the request; no assertion on how long anything takes
        while not site.hits(a.path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert site.hits(a.path), "the article request never arrived"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    [killed] = _runs(url)
    assert killed.status == "running" and killed.heartbeat_at is not None
    # Six minutes pass without a heartbeat (moved back instead of waited for); a run alive elsewhere keeps beating.
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            s.execute(update(CrawlRun).where(CrawlRun.id == killed.id)
                      .values(heartbeat_at=utcnow() - timedelta(minutes=6)))
            source = get_source(s, "ministry")
            assert source is not None
            alive_id = start_run(s, source).id
    finally:
        engine.dispose()
    summary = crawl(tmp_path, [feed])
    assert summary["ministry"]["status"] == "ok"
    _, runs = source_row(url, "ministry")
    by_id = {r.id: r for r in runs}
    assert by_id[killed.id].status == "interrupted" and by_id[killed.id].error_summary == INTERRUPTED_MESSAGE
    assert by_id[alive_id].status == "running"
    assert runs[-1].status == "ok" and runs[-1].new == 1
