"""Per-domain politeness for a whole cluster, in Redis: a DOWNLOAD_DELAY slot and a concurrency limit per host.

Scrapy's DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN are per crawler: two sources on one host,
crawled by two workers (or by two spiders of one process), would each keep their own delay and their own
concurrency, and the host would see the sum. With MILAI_REDIS_URL this download handler makes both hold for
the cluster (keys after MILAI_REDIS_PREFIX):

* **concurrency** (`ClusterConcurrency`): a fair semaphore with leases, the sorted set `conc:<host>` of
  lease tokens scored by their expiry (Redis' clock). A request takes a lease when fewer than
  CONCURRENT_REQUESTS_PER_DOMAIN are unexpired and it is first in line (waiters are served in the order they
  came, so no worker starves another), and gives it back when its answer (or failure) arrives; otherwise it
  asks again shortly (10 ms doubling to 100 ms). A worker killed mid-request cannot give its leases back:
  they expire after DOWNLOAD_TIMEOUT + LEASE_MARGIN seconds (MILAI_CLUSTER_LEASE_SECS), longer than any
  download may last.
* **delay** (`ClusterDelay`): before a request goes to the network it takes the host's slot,
  `SET polite:<host> NX PX <delay>`; while another worker holds the slot it waits the slot's remaining time
  (PTTL) and tries again. So requests to one host start at least DOWNLOAD_DELAY apart across every worker.

Scrapy's own per-crawler delay, concurrency and AutoThrottle still apply on top. Being the download handler,
it runs after the HTTP cache middleware: an answer from the cache waits for nobody and holds no lease.

Without Redis (one process) nothing here is used; MILAI_CLUSTER_DELAY / MILAI_CLUSTER_CONCURRENCY false (Scrapy
settings) turn either part off, and DOWNLOAD_DELAY 0 the delay.
"""

from __future__ import annotations

import logging
import uuid
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
LEASES_KEY = "conc:%s"  # after MILAI_REDIS_PREFIX; the line of waiters: + ":line", ":asked", ":ticket"
MAX_WAITS = 10_000  # a slot taken again and again for this long is a bug somewhere: send anyway, loudly
LEASE_MARGIN = 30.0  # seconds a lease outlives DOWNLOAD_TIMEOUT (only a dead holder's lease ever expires)
POLL_FIRST, POLL_MAX = 0.01, 0.1  # seconds between tries for a lease: doubling from the first to the most
STALE_WAITER = 2.0  # seconds: a waiter that has not asked for this long has gone (cancelled, dead) and loses its place

# A fair semaphore: a request waits in line (KEYS[2], by ticket; KEYS[3] when each waiter last asked) and takes
# a lease (KEYS[1], scored by expiry) when it is among the first `free` in line. Expired leases and waiters that
# stopped asking (cancelled, dead) are dropped first. Without the line, a worker giving a lease back and taking
# the next one in the same instant would starve the workers that poll. Every key outlives every lease.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, limit, lease, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - stale)
for _, waiter in ipairs(gone) do
  redis.call('ZREM', KEYS[2], waiter)
  redis.call('ZREM', KEYS[3], waiter)
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
redis.call('ZADD', KEYS[3], now, token)
local free = limit - redis.call('ZCARD', KEYS[1])
local granted = 0
if redis.call('ZRANK', KEYS[2], token) < free then
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  redis.call('ZADD', KEYS[1], now + lease, token)
  granted = 1
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], lease) end
return granted
"""

_clients: dict[str, Any] = {}


def redis_client(url: str) -> Any:
    """One Redis client (connection pool) per URL per process, shared by the crawls of a long-lived worker."""
    import redis

    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
    return client


def _host(request: Request) -> str:
    return (urlparse_cached(request).hostname or "").lower()


async def sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))


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
        return cls(redis_client(url), delay, settings.get("MILAI_REDIS_PREFIX") or "milai:")

    async def wait(self, request: Request, crawler: Crawler | None = None) -> None:
        """Return once this process holds `request`'s host slot (SET NX PX), waiting out other holders."""
        host = _host(request)
        key = self.prefix + SLOT_KEY % host
        for _ in range(MAX_WAITS):
            if self.redis.set(key, b"1", px=self.delay_ms, nx=True):
                return
            left = self.redis.pttl(key)
            if crawler is not None and crawler.stats is not None:
                crawler.stats.inc_value("milai/cluster_delay_waits")
            await sleep(max(left, 1) / 1000.0)
        logger.error("host %s: the cluster delay slot stayed taken; sending %s anyway", host, request.url[:200])


class ClusterConcurrency:
    """At most `limit` requests in flight to one host across every process sharing the Redis (leases)."""

    def __init__(self, client: Any, limit: int, lease: float, prefix: str = "milai:") -> None:
        self.redis = client
        self.limit = max(1, limit)
        self.lease_ms = max(1000, int(lease * 1000))
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ClusterConcurrency | None:
        url = settings.get("REDIS_URL")
        if not url or not settings.getbool("MILAI_CLUSTER_CONCURRENCY", True):
            return None
        lease = settings.getfloat("MILAI_CLUSTER_LEASE_SECS") or settings.getfloat("DOWNLOAD_TIMEOUT") + LEASE_MARGIN
        return cls(redis_client(url), settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"), lease,
                   settings.get("MILAI_REDIS_PREFIX") or "milai:")

    def key(self, host: str) -> str:
        return self.prefix + LEASES_KEY % host.lower()

    def try_acquire(self, host: str, token: str) -> bool:
        """Take a lease on `host` for `token` if one is free and `token` is first in line for it; otherwise
        `token` keeps (or takes) its place in line, which it keeps while it asks again within STALE_WAITER."""
        key = self.key(host)
        keys = [key, key + ":line", key + ":asked", key + ":ticket"]
        return bool(self._acquire(keys=keys, args=[token, self.limit, self.lease_ms, int(STALE_WAITER * 1000)]))

    def release(self, host: str, token: str) -> None:
        self.redis.zrem(self.key(host), token)

    def in_flight(self, host: str) -> int:
        """Leases out on `host` (expired ones included until the next acquire drops them)."""
        return int(self.redis.zcard(self.key(host)))

    async def acquire(self, request: Request, crawler: Crawler | None = None) -> tuple[str, str]:
        """Wait for a lease on `request`'s host; returns (host, token) to release."""
        host, token = _host(request), uuid.uuid4().hex
        pause = POLL_FIRST
        for _ in range(MAX_WAITS):
            if self.try_acquire(host, token):
                return host, token
            if crawler is not None and crawler.stats is not None:
                crawler.stats.inc_value("milai/cluster_concurrency_waits")
            await sleep(pause)
            pause = min(pause * 2, POLL_MAX)
        logger.error("host %s: no cluster concurrency lease came free; sending %s anyway", host, request.url[:200])
        return host, token


class ClusterPolitenessHTTPHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler, holding a host lease and the host's delay slot for each request.

    The download handler is the last step before the network: Scrapy's own per-slot delay and concurrency
    limits have already let the request through, so the lease and the slot are taken when the request really
    leaves (a downloader middleware would take them before the local delay, too early, and hold a lease while
    the request waits in the local queue). Download timeouts start after the wait, inside the HTTP/1.1 handler."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.crawler = crawler
        self.concurrency = ClusterConcurrency.from_settings(crawler.settings)
        self.gate = ClusterDelay.from_settings(crawler.settings)

    async def download_request(self, request: Request) -> Response:
        lease = await self.concurrency.acquire(request, self.crawler) if self.concurrency is not None else None
        try:
            if self.gate is not None:
                await self.gate.wait(request, self.crawler)
            return await super().download_request(request)
        finally:
            if lease is not None and self.concurrency is not None:
                self.concurrency.release(*lease)
