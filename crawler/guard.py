"""The crawler's per-request network guard: a downloader middleware, first in the chain.

Every request passes it before it is sent, including redirects (Scrapy's RedirectMiddleware schedules
a new request, which goes through the whole chain again), retries and robots.txt requests. It refuses,
counts and explains:

- a scheme other than http/https (`milai/skipped_scheme`; the other download handlers are disabled too);
- a URL longer than URLLENGTH_LIMIT (`milai/url_too_long`);
- a host whose address is private, loopback, link-local, CGNAT, metadata … (milai.netguard) unless the
  request goes to this source's own configured origin (scheme, host, port) or MILAI_NETWORK_ALLOWLIST
  trusts it (`milai/refused_address`, with the reason in the crawl's last_error).

Host names are resolved through the installed resolver's cache (crawler.resolver.GuardedResolver), so the
check sees the answer the connection will use; the resolver re-checks the addresses when connecting.
"""

from __future__ import annotations

import logging
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future

from crawler.resolver import AddressCollector, GuardedResolver, Origin, origin_of
from milai.netguard import (
    ALLOWLIST_HINT,
    DEFAULT_PORTS,
    Allowlist,
    IPAddress,
    configured_allowlist,
    ip_literal,
    normalise_host,
    refusal,
)

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2083  # URLLENGTH_LIMIT: the longest URL the crawler requests or stores
# the longest canonical key (crawler.urls.canonicalize: https, percent-escapes make it a little longer than the
# URL) stored in the unique URL columns: well inside a PostgreSQL B-tree index entry (at most 2,704 bytes)
MAX_KEY_LENGTH = 2600
STAT_SCHEME = "milai/skipped_scheme"
STAT_TOO_LONG = "milai/url_too_long"
STAT_REFUSED = "milai/refused_address"


class RefusedRequest(IgnoreRequest):
    """A request the network guard would not send (scheme, URL length or address)."""


class NetworkGuardMiddleware:
    """Refuse requests to non-http(s) URLs, over-long URLs and private addresses outside this source's origin."""

    def __init__(self, crawler: Crawler, origin: Origin | None, allowlist: Allowlist, max_url_length: int,
                 dns_timeout: float) -> None:
        self.crawler = crawler
        self.origin = origin
        self.allowlist = allowlist
        self.max_url_length = max_url_length
        self.dns_timeout = dns_timeout

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        spider = crawler.spider
        source = getattr(spider, "source", None)
        # the operator-configured URL (crawler.spiders.base.SourceSpider.configured_url), not a discovered one
        configured = getattr(spider, "configured_url", None) or (source.url if source is not None else None)
        origin = origin_of(configured) if configured else None
        return cls(
            crawler,
            origin,
            configured_allowlist(crawler.settings.get("MILAI_NETWORK_ALLOWLIST") or ""),  # crawler.settings
            crawler.settings.getint("URLLENGTH_LIMIT") or MAX_URL_LENGTH,
            crawler.settings.getfloat("DNS_TIMEOUT") or 20.0,
        )

    async def process_request(self, request: Request) -> None:
        url = request.url
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            self._refuse(STAT_SCHEME, f"refusing {url[:200]}: invalid URL ({exc})")
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            self._refuse(STAT_SCHEME, f"refusing {url[:200]}: only http and https URLs are fetched")
        if len(url) > self.max_url_length:
            self._refuse(STAT_TOO_LONG, f"refusing a URL of {len(url)} characters (limit {self.max_url_length}): "
                                        f"{url[:120]}…")
        host = normalise_host(parts.hostname or "")
        if not host:
            self._refuse(STAT_SCHEME, f"refusing {url[:200]}: invalid URL (no host)")
        port = port or DEFAULT_PORTS[scheme]
        if (scheme, host, port) == self.origin:
            return None
        literal = ip_literal(host)
        if literal is not None:
            addresses = [literal]
        elif self.allowlist.names(host, port):
            return None
        else:
            addresses = await self._lookup(host, port)
        for address in addresses:
            why = refusal(address, host, port, allowlist=self.allowlist)
            if why:
                own = f"{self.origin[0]}://{self.origin[1]}:{self.origin[2]}" if self.origin else "none"
                self._refuse(STAT_REFUSED, f"refusing {url[:200]}: {why}, outside the source's origin ({own}); "
                                           f"{ALLOWLIST_HINT}", warn=True)
        return None

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses from the installed resolver (its cache); [] when the name does not resolve
        (the download then fails with the DNS error, as it would without the guard)."""
        from twisted.internet import reactor

        resolver: Any = reactor.nameResolver
        if isinstance(resolver, GuardedResolver):
            done = resolver.lookup(host, port)
        else:  # another resolver configured: check its answer (no connect-time re-check then)
            collector = AddressCollector()
            resolver.resolveHostName(collector, host, port)
            done = collector.done
        done.addTimeout(self.dns_timeout, reactor)
        try:
            return await maybe_deferred_to_future(done)
        except Exception:  # a timeout or resolver failure: let the download report it
            logger.debug("network guard: lookup of %s failed", host, exc_info=True)
            return []

    def _refuse(self, stat: str, message: str, *, warn: bool = False) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(stat)
        name = getattr(self.crawler.spider, "name", "?")
        logger.log(logging.WARNING if warn else logging.INFO, "source %s: %s", name, message)
        raise RefusedRequest(message)

