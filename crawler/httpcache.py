"""The HTTP cache policy of a crawl: RFC 2616 conditional GETs, with robots.txt kept for a day.

Each crawl runs in a new process, so without this every poll would start by fetching robots.txt again.
`MilaiCachePolicy` (HTTPCACHE_POLICY) changes two things of Scrapy's RFC2616Policy:

* robots.txt (2xx and 4xx answers) is stored even without validators and is fresh for
  ROBOTSTXT_CACHE_SECS (24 h) when the server gives no freshness of its own (max-age / Expires);
* every other request (feeds, sitemaps, listings, APIs) is always revalidated: no heuristic
  freshness from Last-Modified (a feed last changed a month ago would otherwise count as fresh for three
  days) and no long server max-age, so a poll always asks the server, with If-None-Match /
  If-Modified-Since when the stored answer had an ETag / Last-Modified (the answer is then a 304).
  Permanent redirects (301/308) stay cached as RFC 2616 allows, so a moved feed costs one request too;
* a 5xx answer to a revalidation is not hidden behind the stored copy: the source's health must see it.
"""

from __future__ import annotations

from scrapy.extensions.httpcache import RFC2616Policy
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from scrapy.utils.httpobj import urlparse_cached

ROBOTSTXT_CACHE_SECS = 24 * 3600


def is_robots_txt(request: Request) -> bool:
    return urlparse_cached(request).path == "/robots.txt"


class MilaiCachePolicy(RFC2616Policy):
    """RFC2616Policy with a day-long robots.txt and always-revalidated listings."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.robots_secs = settings.getint("MILAI_ROBOTSTXT_CACHE_SECS", ROBOTSTXT_CACHE_SECS)
        self.listing_max_fresh = settings.getint("MILAI_LISTING_MAX_FRESH_SECS", 0)

    def should_cache_response(self, response: Response, request: Request) -> bool:
        if is_robots_txt(request) and response.status < 500:
            # 404 (no robots.txt: everything allowed) is as worth remembering as a 200
            return b"no-store" not in self._parse_cachecontrol(response) and response.status != 304
        return super().should_cache_response(response, request)

    def _compute_freshness_lifetime(self, response: Response, request: Request, now: float) -> float:
        lifetime = super()._compute_freshness_lifetime(response, request, now)
        if is_robots_txt(request):
            cc = self._parse_cachecontrol(response)
            explicit = b"max-age" in cc or b"Expires" in response.headers
            return lifetime if explicit else float(self.robots_secs)
        if response.status in {300, 301, 308}:
            return lifetime  # a permanent redirect (defense.gov -> war.gov) is followed from the cache
        return min(lifetime, float(self.listing_max_fresh))

    def is_cached_response_valid(self, cachedresponse: Response, response: Response, request: Request) -> bool:
        return response.status == 304
