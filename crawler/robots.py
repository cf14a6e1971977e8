"""robots.txt per RFC 9309: an unreachable robots.txt (network error, timeout, 5xx) means "disallow all";
with Redis, one fetch of a host's robots.txt per TTL for the whole cluster (SharedRobotsTxtMiddleware)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached

from crawler.diagnosis import is_robots_request
from crawler.httpcache import ROBOTSTXT_CACHE_SECS
from crawler.politeness import redis_client, sleep


class _Unreachable:
    """Stands in for a parser when the site's robots.txt could not be read."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, except that it never crawls a site whose robots.txt it could not read.

    Scrapy allows everything when robots.txt fails to download; RFC 9309 §2.3.1.4 asks crawlers to
    assume complete disallow on server or network errors (4xx still means "no rules": allow).
    """

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            self._deny(netloc, f"robots.txt answered HTTP {response.status}")
            return
        await super()._parse_robots(response, netloc, request)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, IgnoreRequest):  # dropped by another middleware: keep Scrapy's behaviour
            super()._robots_error(exc, netloc)
            return
        self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        self._deny(netloc, f"robots.txt unreachable ({type(exc).__name__})")

    def _deny(self, netloc: str, reason: str) -> None:
        self._stats.inc_value("robotstxt/unreachable")
        waiting = self._parsers[netloc]
        self._parsers[netloc] = _Unreachable(reason)  # type: ignore[assignment]
        waiting.callback(self._parsers[netloc])  # type: ignore[union-attr]

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        if isinstance(rp, _Unreachable):
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(f"{rp.reason}: not crawling {urlparse_cached(request).netloc} this run (RFC 9309)")
        super().process_request_2(rp, request)


ROBOTS_KEY = "robots:%s"  # after MILAI_REDIS_PREFIX: the answer to robots.txt URL %s (status, body, type)
FETCHING_KEY = "robots:%s:fetching"  # who fetches it now (the others wait for the answer)
META_FETCHING = "milai_robots_fetching"  # this request fetches robots.txt for the cluster: the lock's token
MAX_SHARED_BYTES = 512 * 1024  # RFC 9309 §2.5: crawlers parse at least 500 KiB; more is not shared
WAIT_FIRST, WAIT_MOST = 0.02, 0.2  # seconds between looks for the answer another worker is fetching


class SharedRobotsTxtMiddleware:
    """With MILAI_REDIS_URL: a host's robots.txt is fetched once per MILAI_ROBOTSTXT_CACHE_SECS across the cluster.

    A downloader middleware that answers the robots.txt request of the robots middleware from Redis when another
    worker fetched it within the TTL. Otherwise one worker takes the fetch lock (`SET NX PX`) and its request
    goes on to the network, through the network guard (which runs before this middleware), the cluster
    politeness handler and any redirects; its final answer (2xx or 4xx, at most 512 KiB; not a 5xx or a network
    error, which mean "disallow" for this crawl only) is stored with the TTL and the lock released. Workers asking
    meanwhile wait for that answer, or fetch for themselves once the lock is gone without one. A stored answer
    carries the flag `cached`, so the local HTTP cache does not store it again."""

    def __init__(self, crawler: Crawler, client: Any, prefix: str, ttl: int, lock_ms: int) -> None:
        self.crawler = crawler
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl
        self.lock_ms = lock_ms

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        url = settings.get("REDIS_URL")
        if not url or not settings.getbool("ROBOTSTXT_OBEY"):
            raise NotConfigured("no REDIS_URL: each crawl reads robots.txt itself (through its HTTP cache)")
        ttl = settings.getint("MILAI_ROBOTSTXT_CACHE_SECS", ROBOTSTXT_CACHE_SECS)
        # the fetch may wait for a lease and the host's delay slot, then take up to DOWNLOAD_TIMEOUT per redirect
        lock_ms = int((2 * settings.getfloat("DOWNLOAD_TIMEOUT", 180) + 10) * 1000)
        return cls(crawler, redis_client(url), settings.get("MILAI_REDIS_PREFIX") or "milai:", ttl, lock_ms)

    def _key(self, url: str) -> str:
        return self.prefix + ROBOTS_KEY % url

    async def process_request(self, request: Request) -> Response | None:
        if not is_robots_request(request) or "redirect_urls" in request.meta or META_FETCHING in request.meta:
            return None
        key, token = self._key(request.url), uuid.uuid4().hex
        pause = WAIT_FIRST
        deadline = time.monotonic() + self.lock_ms / 1000.0
        while time.monotonic() < deadline:
            status, body, content_type = self.redis.hmget(key, "status", "body", "type")
            if status is not None:
                self._count("milai/robots_shared_hits")
                headers = {"Content-Type": content_type} if content_type else {}
                return Response(request.url, status=int(status), headers=headers, body=body or b"",
                                request=request, flags=["cached", "shared"])
            if self.redis.set(self.prefix + FETCHING_KEY % request.url, token, nx=True, px=self.lock_ms):
                request.meta[META_FETCHING] = token
                self._count("milai/robots_shared_fetches")
                return None
            await sleep(pause)
            pause = min(pause * 2, WAIT_MOST)
        return None  # the fetching worker took too long: fetch for this crawl

    def process_response(self, request: Request, response: Response) -> Response:
        token = request.meta.get(META_FETCHING)
        if token is None:
            return response
        first = request.meta.get("redirect_urls", [request.url])[0]
        if response.status < 500 and "shared" not in response.flags and len(response.body) <= MAX_SHARED_BYTES:
            content_type = response.headers.get("Content-Type") or b""
            pipe = self.redis.pipeline()
            pipe.hset(self._key(first), mapping={"status": response.status, "body": response.body,
                                                 "type": content_type})
            pipe.expire(self._key(first), self.ttl)
            pipe.execute()
        self._unlock(first, token)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        token = request.meta.get(META_FETCHING)
        if token is not None:
            self._unlock(request.meta.get("redirect_urls", [request.url])[0], token)

    def _unlock(self, url: str, token: str) -> None:
        key = self.prefix + FETCHING_KEY % url
        if self.redis.get(key) == token.encode():
            self.redis.delete(key)

    def _count(self, key: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key)
