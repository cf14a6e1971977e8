"""Per-domain politeness for a whole cluster: one DOWNLOAD_DELAY slot per host in Redis.

Scrapy's DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN are per crawler: two sources on one host,
crawled by two workers (or by two spiders of one process), would each keep their own delay, and the host
would see the sum. With MILAI_REDIS_URL this downloader middleware makes the delay hold for the cluster:
before a request goes to the network it takes the host's slot, `SET milai:polite:<host> NX PX <delay>`
(prefix: MILAI_REDIS_PREFIX); while another worker holds the slot it waits the slot's remaining time
(PTTL) and tries again. So requests to one host start at least DOWNLOAD_DELAY apart across every worker;
Scrapy's own per-crawler delay and AutoThrottle still apply on top. It sits after the HTTP cache: an
answer from the cache waits for nobody.

Without Redis (one process) or with DOWNLOAD_DELAY 0 it is disabled (NotConfigured).
"""

from __future__ import annotations

import logging
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import task

logger = logging.getLogger(__name__)

SLOT_KEY = "polite:%s"  # after MILAI_REDIS_PREFIX
MAX_WAITS = 10_000  # a slot taken again and again for this long is a bug somewhere: send anyway, loudly


class ClusterDelayMiddleware:
    """Requests to one host start at least DOWNLOAD_DELAY apart across the cluster."""

    def __init__(self, crawler: Crawler, client: Any, delay: float, prefix: str = "milai:") -> None:
        self.crawler = crawler
        self.prefix = prefix
        self.redis = client
        self.delay_ms = max(1, int(delay * 1000))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("REDIS_URL")
        delay = crawler.settings.getfloat("DOWNLOAD_DELAY")
        if not url or delay <= 0 or not crawler.settings.getbool("MILAI_CLUSTER_DELAY", True):
            raise NotConfigured
        import redis

        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        return cls(crawler, client, delay, crawler.settings.get("MILAI_REDIS_PREFIX") or "milai:")

    async def process_request(self, request: Request) -> None:
        from twisted.internet import reactor

        host = urlparse_cached(request).hostname or ""
        key = self.prefix + SLOT_KEY % host.lower()
        for _ in range(MAX_WAITS):
            if self.redis.set(key, b"1", px=self.delay_ms, nx=True):
                return None
            left = self.redis.pttl(key)
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("milai/cluster_delay_waits")
            await maybe_deferred_to_future(task.deferLater(reactor, max(left, 1) / 1000.0, lambda: None))
        logger.error("host %s: the cluster delay slot stayed taken; sending %s anyway", host, request.url[:200])
        return None
