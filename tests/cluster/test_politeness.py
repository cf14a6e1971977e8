"""Per-host politeness for the cluster: two workers crawling two sources of one host keep DOWNLOAD_DELAY
between their requests to it and CONCURRENT_REQUESTS_PER_DOMAIN requests in flight at most, as one crawler
would (crawler.politeness)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from milai.jobqueue import RedisJobQueue
from tests.cluster.conftest import REDIS_URL, Processes, cluster_env
from tests.cluster.test_workers import wait_for
from tests.cluster.web import Web
from tests.crawler.helpers import write_catalogue
from tests.support.site import LoopbackSite, Page, Request

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

DELAY = 0.5


def test_two_workers_on_one_host_keep_the_download_delay_between_them(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    web = Web(site, sources=2, per_source=5, prefix="polite")
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()
    for path, entry in list(site.pages.items()):
        def stamped(request: Request, entry: Page = entry) -> Page:  # type: ignore[assignment]
            with lock:
                arrivals.append((time.monotonic(), request.path))
            return entry
        site.pages[path] = stamped
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_DOWNLOAD_DELAY=DELAY,
                      MILAI_HTTPCACHE="false")
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    for i in range(2):
        processes.start(["worker", "--concurrency", "1"], env, f"worker-{i}")
    wait_for(lambda: len(queue.workers()) == 2, 90, "two workers to report")
    for name in web.names:
        queue.put(name, "manual")
    wait_for(lambda: not queue.pending(), 180, "both crawls to finish")
    assert sum(web.article_fetches().values()) == 10
    by_source = {p.split("/")[1] for _, p in arrivals if p != "/robots.txt"}
    assert by_source == set(web.names)  # both sources really were crawled, by two workers at once
    times = sorted(t for t, _ in arrivals)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # requests to the host start DOWNLOAD_DELAY apart across both workers (a little slack for the loopback hop)
    assert min(gaps) >= DELAY - 0.1, sorted(gaps)[:5]


class ConnectionCounter:
    """Wraps every page of a loopback site: counts the requests being answered at once, overall and per source."""

    def __init__(self, site: LoopbackSite, hold: float) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.spans: dict[str, list[float]] = {}  # source -> [first arrival, last departure]
        for path, entry in list(site.pages.items()):
            site.pages[path] = self._wrap(path, entry, hold if "/news/" in path else 0.0)

    def _wrap(self, path: str, entry: Page | Callable[[Request], Page], hold: float) -> Callable[[Request], Page]:
        source = path.split("/")[1]

        def counted(request: Request) -> Page:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                span = self.spans.setdefault(source, [time.monotonic(), 0.0])
            try:
                time.sleep(hold)
                return entry(request) if callable(entry) else entry
            finally:
                with self.lock:
                    self.now -= 1
                    span[1] = time.monotonic()

        return counted


def test_two_workers_on_one_host_keep_concurrent_requests_per_domain_between_them(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    per_source = 20  # long enough (~3 s alone at 2 x 0.3 s) that the two crawls overlap even on a loaded machine
    web = Web(site, sources=2, per_source=per_source, prefix="conc")
    counter = ConnectionCounter(site, hold=0.3)
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    # no delay: only the concurrency limit stands between the two workers' 2 + 2 requests and the host
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_DOWNLOAD_DELAY=0,
                      MILAI_CONCURRENT_REQUESTS_PER_DOMAIN=2, MILAI_HTTPCACHE="false")
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    for i in range(2):
        processes.start(["worker", "--concurrency", "1"], env, f"worker-{i}")
    wait_for(lambda: len(queue.workers()) == 2, 90, "two workers to report")
    for name in web.names:
        queue.put(name, "manual")
    wait_for(lambda: not queue.pending(), 180, "both crawls to finish")
    assert sum(web.article_fetches().values()) == 2 * per_source
    (a_start, a_end), (b_start, b_end) = (counter.spans[n] for n in web.names)
    assert a_start < b_end and b_start < a_end, counter.spans  # the two crawls overlapped in time
    # together the two workers never had more than CONCURRENT_REQUESTS_PER_DOMAIN requests at the host...
    assert counter.most <= 2, counter.most
    # ...and the limit was used, not replaced by one request at a time
    assert counter.most == 2
    # no lease left behind: every request gave its lease back
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    assert client.zcard(f"{redis_prefix}conc:127.0.0.1") == 0


def test_host_leases_are_served_in_order_and_a_dead_holders_lease_expires(redis_prefix: str) -> None:
    import redis

    from crawler.politeness import ClusterConcurrency

    gate = ClusterConcurrency(redis.Redis.from_url(REDIS_URL), limit=2, lease=1.0, prefix=redis_prefix)
    assert gate.try_acquire("example.org", "a") and gate.try_acquire("example.org", "b")
    assert not gate.try_acquire("example.org", "waiting")  # full: in line now
    assert gate.try_acquire("other.example", "c")  # hosts are independent
    gate.release("example.org", "a")
    assert not gate.try_acquire("example.org", "newcomer")  # the free lease is the first waiter's...
    assert gate.try_acquire("example.org", "waiting")  # ...who takes it when it asks again
    assert not gate.try_acquire("example.org", "newcomer")
    # "b" and "waiting" die holding their leases: after the lease time they are free again
    time.sleep(1.1)
    assert gate.try_acquire("example.org", "newcomer")
    assert gate.in_flight("example.org") == 1


def test_two_workers_fetch_a_hosts_robots_txt_once_and_both_obey_it(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite, processes: Processes
) -> None:
    import redis

    web = Web(site, sources=2, per_source=4, prefix="rob")
    site.add("/robots.txt", "User-agent: *\nDisallow: /rob-000/news/000\nDisallow: /rob-001/news/000\n",
             content_type="text/plain")
    catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
    # no local HTTP cache: what keeps the second worker (and the second round) from fetching is Redis
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_HTTPCACHE="false")
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    for i in range(2):
        processes.start(["worker", "--concurrency", "1"], env, f"worker-{i}")
    wait_for(lambda: len(queue.workers()) == 2, 90, "two workers to report")
    for _ in range(2):  # two rounds: both sources at once, then both again
        for name in web.names:
            queue.put(name, "manual")
        wait_for(lambda: not queue.pending(), 180, "both crawls to finish")
    assert len(site.hits("/robots.txt")) == 1
    feeds = [r.path for r in site.requests if r.path.endswith("/feed.xml")]
    assert sorted(feeds) == sorted(f"/{n}/feed.xml" for n in web.names for _ in range(2))  # four crawls ran
    fetched = web.article_fetches()
    # both crawls obeyed the one copy: the disallowed article of each source never fetched, the others once
    assert sorted(fetched) == sorted(p for p in web.article_paths if not p.endswith("/news/000"))
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}robots:{site.url('/robots.txt')}"
    assert client.hget(key, "status") == b"200" and 0 < client.ttl(key) <= 24 * 3600


def test_a_shared_robots_txt_is_fetched_through_the_network_guard(
    pg_url: str, redis_prefix: str, tmp_path: Path, site: LoopbackSite
) -> None:
    import redis

    from tests.crawler.helpers import crawl

    elsewhere = LoopbackSite().start()  # another origin on loopback: private, not the source's own
    try:
        elsewhere.add("/robots.txt", "User-agent: *\nDisallow:\n", content_type="text/plain")
        web = Web(site, sources=1, per_source=1, prefix="guarded")
        site.add("/robots.txt", "", status=302, headers={"Location": elsewhere.url("/robots.txt")})
        catalogue = write_catalogue(tmp_path / "sources.yaml", web.sources())
        env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_HTTPCACHE="false")
        crawl(tmp_path, web.sources(), env=env)
        assert site.hits("/robots.txt") and not elsewhere.hits(), "the redirect left the source's origin"
        client = redis.Redis.from_url(REDIS_URL)
        assert not client.exists(f"{redis_prefix}robots:{site.url('/robots.txt')}")  # no answer: nothing shared
        assert not client.exists(f"{redis_prefix}robots:{site.url('/robots.txt')}:fetching")  # lock given back
    finally:
        elsewhere.stop()
