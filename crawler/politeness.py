"""Per-domain politeness for a whole cluster: one DOWNLOAD_DELAY slot per host in Redis.

Scrapy's DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN are per crawler: two sources on one host,
crawled by two workers (or by two spiders of one process), would each keep their own delay, and the host
would see the sum. With MILAI_REDIS_URL this download handler makes the delay hold for the cluster:
before a request goes to the network it takes the host's slot, `SET milai:polite:<host> NX PX <delay>`
(prefix: MILAI_REDIS_PREFIX); while another worker holds the slot it waits the slot's remaining time
(PTTL) and tries again. So requests to one host start at least DOWNLOAD_DELAY apart across every worker;
Scrapy's own per-crawler delay and AutoThrottle still apply on top. Being the download handler, it runs
after the HTTP cache middleware: an answer from the cache waits for nobody.

Without Redis (one process) or with DOWNLOAD_DELAY 0 (or MILAI_CLUSTER_DELAY false) it waits for nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import task

logger = logging.getLogger(__name__)

SLOT_KEY = "polite:%s"  # after MILAI_REDIS_PREFIX
MAX_WAITS = 10_000  # a slot taken again and again for this long is a bug somewhere: send anyway, loudly


_clients: dict[str, Any] = {}


def _client(url: str) -> Any:
    """One Redis client (connection pool) per URL per process, shared by the crawls of a long-lived worker."""
    import redis

    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    return client


class ClusterDelay:
    """Requests to one host start at least `delay` seconds apart across every process sharing the Redis."""

    def __init__(self, client: Any, delay: float, prefix: str = "milai:") -> None:
        self.redis = client
        self.delay_ms = max(1, int(delay * 1000))
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ClusterDelay | None:
        url = settings.get("REDIS_URL")
        delay = settings.getfloat("DOWNLOAD_DELAY")
        if not url or delay <= 0 or not settings.getbool("MILAI_CLUSTER_DELAY", True):
            return None
        return cls(_client(url), delay, settings.get("MILAI_REDIS_PREFIX") or "milai:")

    async def wait(self, request: Request, crawler: Crawler | None = None) -> None:
        """Return once this process holds `request`'s host slot (SET NX PX), waiting out other holders."""
        from twisted.internet import reactor

        host = urlparse_cached(request).hostname or ""
        key = self.prefix + SLOT_KEY % host.lower()
        for _ in range(MAX_WAITS):
            if self.redis.set(key, b"1", px=self.delay_ms, nx=True):
                return
            left = self.redis.pttl(key)
            if crawler is not None and crawler.stats is not None:
                crawler.stats.inc_value("milai/cluster_delay_waits")
            await maybe_deferred_to_future(task.deferLater(reactor, max(left, 1) / 1000.0, lambda: None))
        logger.error("host %s: the cluster delay slot stayed taken; sending %s anyway", host, request.url[:200])


class ClusterDelayHTTPHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler, taking the host's cluster slot right before each request is sent.

    The download handler is the last step before the network: Scrapy's own per-slot delay and concurrency
    limits have already let the request through, so the slot is taken when the request really leaves
    (a downloader middleware would take it before the local delay, too early). Download timeouts start
    after the wait, inside the HTTP/1.1 handler."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.crawler = crawler
        self.gate = ClusterDelay.from_settings(crawler.settings)

    async def download_request(self, request: Request) -> Response:
        if self.gate is not None:
            await self.gate.wait(request, self.crawler)
        return await super().download_request(request)
