"""Crawl runs left `running` by a killed process are closed as `interrupted` at the next start; live ones are not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from storage.database import make_engine, session_scope
from storage.items import get_source, start_run
from storage.models import CrawlRun, Source, utcnow
from storage.runs import INTERRUPTED_MESSAGE, close_stale_runs, heartbeat
from tests.crawler.helpers import FAST_ENV, ROOT, crawl, source_row, write_catalogue
from tests.crawler.sites import ON_TOPIC, article_html, make_articles, robots, rss
from tests.support.site import LoopbackSite, Page, Request


def _runs(url: str) -> list[CrawlRun]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))
    finally:
        engine.dispose()


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
