"""The pipeline's worker processes (crawler.pipelines_pool, MILAI_EXTRACT_WORKERS): a real crawl through them
stores what an in-process crawl stores; a worker that dies loses no other page and the crawl goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import ROOT, crawl, items
from tests.crawler.sites import OFF_TOPIC, ON_TOPIC, Article, make_articles, make_pdf, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

FIELDS = ("canonical_url", "title", "text", "summary", "language", "published", "date_origin", "relevant", "score",
          "matches", "content_hash", "minhash", "text_truncated")


def _stored(url: str) -> list[tuple[object, ...]]:
    """The stored items' fields, by URL (the pipeline is concurrent: ids follow the order pages come back)."""
    return sorted((*(getattr(item, f) for f in FIELDS), item.duplicate_of_id is None) for item in items(url))


def test_a_crawl_through_worker_processes_stores_what_an_in_process_crawl_stores(
    site: LoopbackSite, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    robots(site)
    arts = make_articles(ON_TOPIC[:4] + OFF_TOPIC[:3])
    serve_articles(site, arts)
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name="pool-feed", publisher="P", kind="feed", url=site.url("/feed.xml"), language="en")
    pooled_db = sqlite_env["MILAI_DATABASE_URL"]
    pooled = crawl(tmp_path, [src], env={"MILAI_EXTRACT_WORKERS": "2"})
    plain_db = f"sqlite:///{tmp_path / 'in-process.sqlite3'}"
    plain = crawl(tmp_path, [src], env={"MILAI_EXTRACT_WORKERS": "0", "MILAI_DATABASE_URL": plain_db})
    assert pooled["pool-feed"]["new"] == plain["pool-feed"]["new"] == len(arts)
    assert pooled["pool-feed"]["errors"] == plain["pool-feed"]["errors"] == 0
    stored = _stored(pooled_db)
    assert len(stored) == len(arts)
    assert stored == _stored(plain_db)
    assert any(row[FIELDS.index("relevant")] for row in stored) and all(row[FIELDS.index("minhash")] for row in stored)


def test_pdfs_and_pdf_link_pages_go_through_the_worker_processes_and_keep_the_sources_time_zone(
    site: LoopbackSite, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    """follow_pdfs: the spider's extraction of the page (for its PDF links) and the PDFs' text go through the
    worker processes as HTML pages do, storing what the in-process crawl stores; a zone-less page time is read
    in the source's time zone there too."""
    robots(site)
    page = Article("/news/gge-report", "Report of the group of governmental experts", ON_TOPIC[0][1],
                   extra_head='<meta property="article:published_time" content="2025-09-20T09:30:00">',
                   links=["/docs/CCW_GGE.1_2025_2.pdf"])
    serve_articles(site, [page])
    report = ("Report of the 2025 session of the group of governmental experts on lethal autonomous weapons "
              "systems, CCW/GGE.1/2025/2, on emerging technologies in the area of autonomous weapons.")
    site.add("/docs/CCW_GGE.1_2025_2.pdf", make_pdf([report], title="Report of the 2025 session"),
             content_type="application/pdf")
    site.add("/feed.xml", rss(site.base, [page]), content_type="application/rss+xml")
    src = SourceConfig(name="pool-pdfs", publisher="P", kind="feed", url=site.url("/feed.xml"), language="en",
                       follow_pdfs=True, timezone="Asia/Seoul")
    pooled_db = sqlite_env["MILAI_DATABASE_URL"]
    pooled = crawl(tmp_path, [src], env={"MILAI_EXTRACT_WORKERS": "1"})
    plain_db = f"sqlite:///{tmp_path / 'in-process.sqlite3'}"
    plain = crawl(tmp_path, [src], env={"MILAI_EXTRACT_WORKERS": "0", "MILAI_DATABASE_URL": plain_db})
    assert pooled["pool-pdfs"]["new"] == plain["pool-pdfs"]["new"] == 2
    assert pooled["pool-pdfs"]["errors"] == plain["pool-pdfs"]["errors"] == 0
    stored = _stored(pooled_db)
    assert stored == _stored(plain_db)
    by_url = {row[0].rsplit("/", 1)[-1]: row for row in stored}
    published = FIELDS.index("published")
    assert by_url["gge-report"][published].replace(tzinfo=None) == datetime(2025, 9, 20, 0, 30)  # 09:30 in Seoul
    pdf = by_url["CCW_GGE.1_2025_2.pdf"]
    assert "CCW/GGE.1/2025/2" in pdf[FIELDS.index("text")] and pdf[FIELDS.index("language")] == "en"


def crash_on(value: str) -> str:
    """A worker's job for the test below: `crash` kills its worker process, anything else comes back."""
    if value == "crash":
        os._exit(3)
    if value == "raise":
        raise ValueError("extraction failed")
    time.sleep(0.2)
    return value.upper()


_PROBE = """
import asyncio, json, sys
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from crawler.pipelines_pool import ExtractPool
from tests.crawler.test_pipelines_pool import crash_on

pool = ExtractPool(2)
results = {}

async def one(value):
    try:
        results[value] = await pool.run(crash_on, value)
    except Exception as exc:
        results[value] = type(exc).__name__

async def main():
    await asyncio.gather(*(one(v) for v in ["a", "b", "crash", "raise", "c", "d"]))
    results["after"] = await pool.run(crash_on, "e")
    results["restarts"] = pool.restarts
    pool.close()

def start():
    d = Deferred.fromFuture(asyncio.ensure_future(main()))
    d.addBoth(lambda _: reactor.stop())

reactor.callWhenRunning(start)
reactor.run()
print(json.dumps(results))
"""


def test_a_worker_process_that_dies_loses_no_other_job_and_the_pool_goes_on() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: results[k] for k in "abcd"} == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert results["crash"] == "BrokenProcessPool"  # the page that kills its worker, after its tries
    assert results["raise"] == "ValueError"  # an extraction's own exception comes back as it is
    assert results["after"] == "E" and results["restarts"] >= 1


def test_the_crawlers_of_a_process_share_one_pool_until_the_last_one_leaves() -> None:
    """`milai crawl` runs a crawler per source: they share MILAI_EXTRACT_WORKERS processes, not one pool each; the
    pool closes with the last of them, and a crawler started later gets a new one."""
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from crawler.pipelines_pool import ExtractPool

    first, second, later = (Crawler(Spider, {"MILAI_EXTRACT_WORKERS": 1}) for _ in range(3))
    pool = ExtractPool.of(first)
    pool.join(first)
    assert ExtractPool.of(second) is pool and pool.enabled
    pool.join(second)
    assert ExtractPool.of(Crawler(Spider, {"MILAI_EXTRACT_WORKERS": 0})) is not pool  # another size: its own
    pool.leave(first)
    pool.leave(first)  # every stage of a crawler leaves: once counts
    assert pool.enabled and ExtractPool.of(second) is pool
    pool.leave(second)
    assert not pool.enabled
    fresh = ExtractPool.of(later)
    assert fresh is not pool and fresh.enabled
    fresh.join(later)
    fresh.leave(later)


def test_unset_extract_workers_extract_in_process_first_then_in_the_spare_cores() -> None:
    """MILAI_EXTRACT_WORKERS unset: the first AUTO_AFTER pages of a crawl process are extracted in it (a small
    scheduled crawl never starts worker processes), the later ones in `default_workers()` processes; a set count
    is used from the first page, 0 never."""
    from scrapy import Spider
    from scrapy.crawler import Crawler

    from crawler.pipelines_pool import AUTO_AFTER, ExtractPool, default_workers

    auto = Crawler(Spider, {"MILAI_EXTRACT_AUTO_AFTER": 3})
    pool = ExtractPool.of(auto)
    pool.join(auto)
    try:
        assert (pool.workers, pool.after) == (default_workers(), 3)
        for _ in range(3):
            pool.count_page()
            assert not pool.enabled
        pool.count_page()
        assert pool.enabled == (default_workers() > 0)
    finally:
        pool.leave(auto)
    assert ExtractPool.of(Crawler(Spider, {})).after == AUTO_AFTER
    set_count, none = Crawler(Spider, {"MILAI_EXTRACT_WORKERS": 1}), Crawler(Spider, {"MILAI_EXTRACT_WORKERS": 0})
    assert ExtractPool.of(set_count).enabled and ExtractPool.of(set_count).after == 0
    off = ExtractPool.of(none)
    for _ in range(AUTO_AFTER + 1):
        off.count_page()
    assert not off.enabled
    ExtractPool.of(set_count).close()


def test_an_automatic_crawl_stores_what_an_in_process_crawl_stores_across_the_hand_over(
    site: LoopbackSite, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    """With the count unset and the hand-over after 3 pages, the first pages are extracted in the crawl process and
    the rest in a worker process: the items are those of a crawl all in-process."""
    robots(site)
    arts = make_articles(ON_TOPIC[:4] + OFF_TOPIC[:3])
    serve_articles(site, arts)
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name="auto-feed", publisher="P", kind="feed", url=site.url("/feed.xml"), language="en")
    auto_db = sqlite_env["MILAI_DATABASE_URL"]  # the Scrapy setting None: MILAI_EXTRACT_WORKERS unset
    auto = crawl(tmp_path, [src], overrides={"MILAI_EXTRACT_AUTO_AFTER": 3, "MILAI_EXTRACT_WORKERS": None})
    plain_db = f"sqlite:///{tmp_path / 'in-process.sqlite3'}"
    plain = crawl(tmp_path, [src], env={"MILAI_EXTRACT_WORKERS": "0", "MILAI_DATABASE_URL": plain_db})
    assert auto["auto-feed"]["new"] == plain["auto-feed"]["new"] == len(arts)
    assert _stored(auto_db) == _stored(plain_db)


def test_the_automatic_count_is_one_worker_per_core_at_most_four_and_none_on_a_single_core(monkeypatch) -> None:
    from crawler import pipelines_pool

    for cores, workers in ((None, 0), (1, 0), (2, 2), (3, 3), (4, 4), (16, 4)):
        monkeypatch.setattr(pipelines_pool.os, "cpu_count", lambda cores=cores: cores)
        assert pipelines_pool.default_workers() == workers


def test_the_worker_processes_start_in_the_background_and_take_over_once_up() -> None:
    """At AUTO_AFTER // WARM_SHARE pages a thread starts the pool's processes (the first submission to a new pool
    waits for the fork server's start, which on the reactor thread stalled the crawl); the pages go to them as soon
    as they are up, before AUTO_AFTER pages."""
    from crawler.pipelines_pool import WARM_SHARE, ExtractPool

    pool = ExtractPool(2, after=3 * WARM_SHARE)
    try:
        for _ in range(2):
            pool.count_page()
        assert pool._warming is None and pool._executor is None  # a crawl of two pages starts nothing
        pool.count_page()
        assert pool._warming is not None
        pool._warming.join(timeout=60)
        assert not pool._warming.is_alive()
        executor = pool._executor
        assert executor is not None
        processes = executor._processes  # both forked ahead, before any page was sent to them
        assert len(processes) == 2 and all(p.is_alive() for p in processes.values())
        assert pool.pages < pool.after and pool.enabled  # up: no need to wait for AUTO_AFTER pages
        for _ in range(3 * WARM_SHARE - 2):
            pool.count_page()
        assert pool.enabled and pool._executor is executor
        assert executor.submit(os.getpid).result(timeout=30) in processes
    finally:
        pool.close()
    closed = ExtractPool(2, after=WARM_SHARE)
    closed.close()
    closed.count_page()  # the background start finds the pool closed: nothing starts, nothing raises
    assert closed._warming is not None
    closed._warming.join(timeout=30)
    assert closed._executor is None


_WAITS = """
import asyncio, json, os
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from crawler.pipelines_pool import WARM_SHARE, ExtractPool

pool = ExtractPool(2, after=WARM_SHARE)
events = []

async def main():
    for _ in range(WARM_SHARE + 1):  # the start begins at page 1; then past AUTO_AFTER before it is over
        pool.count_page()
    assert pool.enabled and not pool._ready
    reactor.callLater(0, lambda: events.append(["reactor ran", pool._started, len(pool._waiting)]))
    pids = await asyncio.gather(*(pool.run(os.getpid) for _ in range(3)))
    events.append(["pages done", pool._ready, len(set(pids) - {os.getpid()}) >= 1, len(pool._waiting)])
    pool.close()

reactor.callWhenRunning(lambda: Deferred.fromFuture(asyncio.ensure_future(main())).addBoth(lambda _: reactor.stop()))
reactor.run()
print(json.dumps(events))
"""


def test_pages_past_the_hand_over_wait_for_a_start_under_way_without_blocking_the_reactor() -> None:
    """A page sent to the pool while its processes are still starting waits on a Deferred, not in a submission
    that blocks the reactor thread until the fork server is up: the reactor runs other calls meanwhile."""
    done = subprocess.run([sys.executable, "-c", _WAITS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    events = json.loads(done.stdout.strip().splitlines()[-1])
    assert events == [["reactor ran", False, 3], ["pages done", True, True, 0]]


def worker_state(_: int) -> tuple[int, int, int, bool, bool]:
    """Run in a worker process: its pid, its frozen objects, whether the MinHash permutations are made, whether
    the fork server preloaded the models (crawler.pool_preload) and whether the language identifier is loaded."""
    import gc

    from crawler import extract
    from crawler.dedup import permutations

    time.sleep(0.1)  # keep both workers busy, so that the jobs spread over them
    return (os.getpid(), gc.get_freeze_count(), permutations.cache_info().currsize,
            "crawler.pool_preload" in sys.modules, extract._load_identifier.cache_info().currsize == 1)


_STARTED = """
import asyncio, json
from twisted.internet import asyncioreactor
asyncioreactor.install()
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from crawler.pipelines_pool import ExtractPool
from tests.crawler.test_pipelines_pool import worker_state

pool = ExtractPool(2)
results = []

async def main():
    results.extend(await asyncio.gather(*(pool.run(worker_state, n) for n in range(6))))
    pool.close()

reactor.callWhenRunning(lambda: Deferred.fromFuture(asyncio.ensure_future(main())).addBoth(lambda _: reactor.stop()))
reactor.run()
print(json.dumps(results))
"""


def test_each_worker_process_starts_with_its_models_loaded_and_frozen() -> None:
    """The pool's initializer loads the models and permutations before a worker's first page and freezes what
    start-up made (gc.freeze): no first page of a worker pays the model load, no full collection walks them."""
    done = subprocess.run([sys.executable, "-c", _STARTED], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 6
    for _pid, frozen, permutations_made, preloaded, identifier_loaded in results:
        assert frozen > 20_000 and permutations_made == 1
        assert preloaded and identifier_loaded  # loaded once in the fork server, inherited by each worker
