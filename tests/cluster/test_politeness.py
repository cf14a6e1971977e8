"""Per-host politeness for the cluster: two workers crawling two sources of one host keep DOWNLOAD_DELAY
between their requests to it, as one crawler would (crawler.politeness)."""

from __future__ import annotations

import threading
import time
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
