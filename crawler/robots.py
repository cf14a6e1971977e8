"""robots.txt per RFC 9309: an unreachable robots.txt (network error, timeout, 5xx) means "disallow all"."""

from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.utils.httpobj import urlparse_cached


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
