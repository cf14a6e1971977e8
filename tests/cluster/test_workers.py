"""Long-lived crawl workers on one Redis queue and one PostgreSQL database, as separate processes.

Three workers and a scheduler crawl a loopback web of 60 sources: every article is fetched once across
the workers and stored once. A worker killed with SIGKILL in the middle of a crawl: another one takes the
job up (after the dead one's heartbeat expires), resumes its unfinished requests from the shared
scrapy-redis frontier, and nothing is lost or stored twice.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from milai.jobqueue import RedisJobQueue
from storage.database import make_engine, session_scope
from storage.models import CrawlRun, Item, Source
from tests.cluster.conftest import REDIS_URL, Processes, cluster_env
from tests.cluster.web import Web
from tests.crawler.helpers import write_catalogue
from tests.support.site import LoopbackSite

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stored(db_url: str) -> tuple[int, int, dict[str, list[str]]]:
    """(items, distinct canonical URLs, run statuses by source)."""
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            n = session.scalar(select(func.count(Item.id))) or 0
            distinct = session.scalar(select(func.count(func.distinct(Item.canonical_url)))) or 0
            runs: dict[str, list[str]] = {}
            for name, status in session.execute(select(Source.name, CrawlRun.status).join(CrawlRun)
                                                .order_by(CrawlRun.id)):
                runs.setdefault(name, []).append(status)
            return int(n), int(distinct), runs
    finally:
        engine.dispose()


def test_three_workers_fetch_every_article_once_and_store_it_once(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    web = Web(site, sources=60, per_source=2)
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path)
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    workers = [processes.start(["worker", "--concurrency", "2"], env, f"worker-{i}") for i in range(3)]
    wait_for(lambda: len(queue.workers()) == 3, 90, "three workers to report")
    scheduler = processes.start(["scheduler", "--election-interval", "1"], env, "scheduler")
    # the leader's start-up crawl queues all 60 sources once; the workers drain the queue
    wait_for(lambda: len(queue.offers()) >= 60 and not queue.pending(), 240, "the 60 crawl jobs to finish")
    # heartbeats (every 10 s) carry each worker's count of jobs done
    wait_for(lambda: sum(w.jobs_done for w in queue.workers()) >= 60, 30, "the heartbeats to count 60 jobs")
    by_worker = {w.id: w.jobs_done for w in queue.workers()}
    fetches = web.article_fetches()
    assert set(fetches) == set(web.article_paths), "some article was never fetched"
    assert [p for p, n in fetches.items() if n != 1] == [], "some article was fetched more than once"
    items, distinct, runs = stored(pg_url)
    assert items == distinct == len(web.article_paths) == 120
    assert sorted(runs) == sorted(web.names) and all(r == ["ok"] for r in runs.values())
    assert sum(by_worker.values()) == 60
    assert sum(1 for n in by_worker.values() if n) >= 2, f"the work was not shared: {by_worker}"
    assert [o.reason for o in queue.offers()] == ["startup"] * 60
    for proc in [*workers, scheduler]:
        proc.send_signal(signal.SIGTERM)
    for proc in [*workers, scheduler]:
        assert proc.wait(timeout=60) == 0, processes.output(proc)[-3000:]
    assert queue.workers() == []  # a worker leaving cleanly says so


def test_a_worker_killed_mid_crawl_is_taken_over_with_nothing_lost_or_stored_twice(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    import redis

    web = Web(site, sources=1, per_source=40, delay=0.15, prefix="slow")
    [name] = web.names
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_CONCURRENT_REQUESTS_PER_DOMAIN=2)
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    client = redis.Redis.from_url(REDIS_URL)
    frontier = f"{redis_prefix}frontier:{name}:requests"
    first = processes.start(["worker", "--heartbeat-ttl", "3"], env, "worker-first")
    wait_for(lambda: len(queue.workers()) == 1, 90, "the first worker to report")
    queue.put(name, "manual")
    wait_for(lambda: sum(web.article_fetches().values()) >= 8, 120, "the crawl to be under way", poll=0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    left = client.zcard(frontier)
    assert left > 0, "the dead worker left no unfinished requests in the frontier"
    fetched_before = set(web.article_fetches())
    stored_before = stored(pg_url)[0]
    in_flight = 40 - stored_before - left  # taken from the frontier by the dead worker, not stored
    second = processes.start(["worker", "--heartbeat-ttl", "3"], env, "worker-second")
    wait_for(lambda: not queue.pending(), 180, "the job to be taken up and finished")
    fetches = web.article_fetches()
    assert set(fetches) == set(web.article_paths), "an article of the killed crawl was lost"
    twice = sorted(p for p, n in fetches.items() if n > 1)
    # only requests the dead worker had taken from the frontier and not finished (downloading, waiting in its
    # downloader, or items in its pipeline) are fetched again; what it stored and what it left queued are not
    assert set(twice) <= fetched_before and len(twice) <= in_flight, (twice, in_flight)
    items, distinct, runs = stored(pg_url)
    assert items == distinct == 40
    assert runs[name][-1] == "ok"
    assert not client.exists(frontier), "the finished crawl left its frontier behind"
    log = processes.output(second)
    assert "resuming" in log and "requeued 1 job(s) of stopped worker(s)" in log, log[-3000:]
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0


def test_a_worker_stopped_with_sigterm_hands_its_crawl_back_at_once_and_another_resumes_it(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    import redis

    web = Web(site, sources=1, per_source=30, delay=0.15, prefix="stopped")
    [name] = web.names
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_CONCURRENT_REQUESTS_PER_DOMAIN=2)
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    client = redis.Redis.from_url(REDIS_URL)
    frontier = f"{redis_prefix}frontier:{name}:requests"
    first = processes.start(["worker"], env, "worker-first")
    wait_for(lambda: len(queue.workers()) == 1, 90, "the first worker to report")
    queue.put(name, "manual")
    wait_for(lambda: sum(web.article_fetches().values()) >= 5, 120, "the crawl to be under way", poll=0.05)
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0, processes.output(first)[-3000:]
    # handed back at once (no heartbeat to expire): queued again, frontier kept, the worker gone from status
    assert queue.length() == 1 and queue.pending() == {name} and queue.workers() == []
    assert client.zcard(frontier) > 0
    second = processes.start(["worker"], env, "worker-second")
    wait_for(lambda: not queue.pending(), 180, "the job to be resumed and finished")
    fetches = web.article_fetches()
    assert set(fetches) == set(web.article_paths)
    items, distinct, runs = stored(pg_url)
    assert items == distinct == 30
    assert runs[name] == ["interrupted", "ok"]  # the stopped run is no failure of the source
    assert "resuming" in processes.output(second)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0


def test_one_press_release_on_two_sites_crawled_by_two_workers_at_once_is_one_story(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    from datetime import UTC, datetime

    from crawler.catalogue import SourceConfig
    from tests.cluster.web import article_text
    from tests.crawler.sites import Article, article_html, rss

    other = LoopbackSite().start()
    try:
        releases = 8
        sources = []
        for n, (host, extra) in enumerate([(site, ""), (other, " Republished by the alliance's press office.")]):
            articles = []
            for i in range(releases):
                paras = article_text(500 + i)
                paras[-1] += extra  # the same text, with a line of the republisher's own: a near-duplicate
                articles.append(Article(f"/press/{i:03d}", f"Press release {i} on military artificial intelligence",
                                        paras, date=datetime(2025, 10, 1 + i, 9, tzinfo=UTC)))
            for a in articles:
                host.add(a.path, article_html(a, host.base))
            host.add("/feed.xml", rss(host.base, articles), content_type="application/rss+xml")
            host.add("/robots.txt", "User-agent: *\nDisallow:\n", content_type="text/plain")
            sources.append(SourceConfig(name=f"site-{n}", publisher=f"Publisher {n}", kind="feed",
                                        url=host.url("/feed.xml"), language="en"))
        catalogue = write_catalogue(tmp_path / "sources.yaml", sources)
        env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path)
        queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
        for i in range(2):
            processes.start(["worker", "--concurrency", "1"], env, f"worker-{i}")
        wait_for(lambda: len(queue.workers()) == 2, 90, "two workers to report")
        for s in sources:
            queue.put(s.name, "manual")
        wait_for(lambda: not queue.pending(), 180, "both crawls to finish")
        engine = make_engine(pg_url)
        try:
            with session_scope(engine) as session:
                rows = session.execute(select(Item.id, Item.title, Item.duplicate_of_id, Item.source_id)).all()
        finally:
            engine.dispose()
        assert len(rows) == 2 * releases
        by_title: dict[str, list[tuple[int, int | None, int | None]]] = {}
        for item_id, title, duplicate_of, source_id in rows:
            by_title.setdefault(title, []).append((item_id, duplicate_of, source_id))
        assert len(by_title) == releases
        for title, copies in by_title.items():
            originals = [c for c in copies if c[1] is None]
            duplicates = [c for c in copies if c[1] is not None]
            # one story: exactly one original, the other site's copy points at it (never two originals)
            assert len(originals) == 1 and len(duplicates) == 1, (title, copies)
            assert duplicates[0][1] == originals[0][0] and duplicates[0][2] != originals[0][2]
    finally:
        other.stop()
