"""The scheduler: one crawl job per source in the SQLAlchemy job store, and `milai run` end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from crawler.catalogue import SourceConfig
from scheduler.service import CRAWL_PREFIX, DIGEST_JOB, STARTUP_CRAWL_JOB, build_scheduler, schedule_jobs
from storage.database import make_engine, session_scope
from storage.models import Source
from tests.e2e.sitebuilder import build_site
from tests.support.site import LoopbackSite


def _src(name: str, schedule: str | None = None, enabled: bool = True) -> SourceConfig:
    return SourceConfig(name=name, publisher="P", kind="feed", url=f"https://example.org/{name}.xml",
                        schedule=schedule, enabled=enabled)


def test_jobs_per_source_persist_and_follow_the_catalogue(milai_env: dict[str, str]) -> None:
    scheduler = build_scheduler()
    scheduler.start(paused=True)
    try:
        ids = schedule_jobs(scheduler, [_src("src-a", "*/5 * * * *"), _src("src-b"), _src("src-c", enabled=False)],
                            initial_crawl=False)
        assert ids == sorted([CRAWL_PREFIX + "src-a", CRAWL_PREFIX + "src-b", DIGEST_JOB])
        job_a = scheduler.get_job(CRAWL_PREFIX + "src-a")
        assert "*/5" in str(job_a.trigger)
        # a source removed from the catalogue loses its job; the start-up crawl is added on request
        ids = schedule_jobs(scheduler, [_src("src-b")], initial_crawl=True)
        assert ids == sorted([CRAWL_PREFIX + "src-b", DIGEST_JOB, STARTUP_CRAWL_JOB])
        scheduler.remove_job(STARTUP_CRAWL_JOB)  # never let a test crawl the real catalogue
    finally:
        scheduler.shutdown(wait=False)
    # the jobs live in the database (SQLAlchemy job store) and survive the process
    again = build_scheduler()
    again.start(paused=True)
    try:
        assert CRAWL_PREFIX + "src-b" in {j.id for j in again.get_jobs()}
    finally:
        again.shutdown(wait=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_milai_run_crawls_survives_a_dead_source_and_stops_on_sigterm(
    milai_env: dict[str, str], tmp_path: Path, site: LoopbackSite
) -> None:
    build_site(site, None)
    dead_port = _free_port()  # nothing listens there: connection refused, like a dead host
    catalogue = tmp_path / "sources.yaml"
    catalogue.write_text(f"""sources:
  - name: dead-source
    publisher: Gone
    kind: feed
    url: http://127.0.0.1:{dead_port}/feed.xml
  - name: live-source
    publisher: Test Ministry
    kind: feed
    url: {site.base}/feed.xml
""", encoding="utf-8")
    port = _free_port()
    env = {**os.environ, **milai_env, "MILAI_SOURCES": str(catalogue), "MILAI_DOWNLOAD_DELAY": "0",
           "MILAI_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "milai", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        engine = make_engine(milai_env["MILAI_DATABASE_URL"])
        deadline = time.monotonic() + 120
        health = None
        crawled = False
        while time.monotonic() < deadline and not (health == 200 and crawled):
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    health = resp.status
            except OSError:
                health = None
            try:
                with session_scope(engine) as session:
                    rows = {s.name: s for s in session.scalars(select(Source))}
                    crawled = (
                        "live-source" in rows and rows["live-source"].last_success_at is not None
                        and "dead-source" in rows and rows["dead-source"].consecutive_failures >= 1
                    )
            except Exception:
                crawled = False
        assert health == 200 and crawled, "service did not come up and crawl both sources"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sources", timeout=5) as resp:
            sources = json.loads(resp.read())
        assert {"dead-source", "live-source"} <= {s["name"] for s in sources}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        engine.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
