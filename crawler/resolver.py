"""The crawler's connect-time network guard: the DNS resolver Scrapy installs (TWISTED_DNS_RESOLVER).

Why a resolver: every connection Scrapy's HTTP/1.1 download handler opens -- article and listing
requests, redirects, retries, robots.txt -- goes through Twisted's HostnameEndpoint, which asks
`reactor.nameResolver` for the host's addresses and connects to exactly the addresses it is given
(an IP literal is "resolved" the same way). Filtering the answer here therefore checks the addresses
really connected to, when connecting: a DNS answer that changes after an earlier check (DNS rebinding)
cannot reach a refused address, and nothing that opens a connection can skip the check.

The resolver is process-wide and never sees the request, so it applies the process-wide rule: a
refused address (milai.netguard.refusal: loopback, private, link-local, CGNAT, metadata, …) is handed
to Twisted only for a host:port that is the configured origin of a source crawled in this process, or
that MILAI_NETWORK_ALLOWLIST trusts. The per-source rule -- a source may reach a private address only
at its *own* origin -- and the reasons and counts are enforced before a request is sent by the
downloader middleware crawler.guard.NetworkGuardMiddleware, which asks this resolver for the same
(cached) answer through `lookup`.

Answers are cached per host name (Scrapy's DNS cache, unfiltered); the filter runs on every delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy.crawler import Crawler
from scrapy.resolver import CachingHostnameResolver
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IHostResolution, IResolutionReceiver
from zope.interface import implementer

from milai.netguard import (
    DEFAULT_PORTS,
    Allowlist,
    IPAddress,
    configured_allowlist,
    normalise_host,
    refusal,
)

logger = logging.getLogger(__name__)

Origin = tuple[str, str, int]  # (scheme, host, port) of a configured source URL

_origins: set[tuple[str, int]] = set()  # (host, port) of every source origin crawled in this process


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, host normalised as the guard compares it; None otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, normalise_host(parts.hostname), port or DEFAULT_PORTS[scheme]


def register_origin(url: str) -> Origin | None:
    """Trust `url`'s origin process-wide at connect time (the middleware narrows it to its own source)."""
    origin = origin_of(url)
    if origin is not None:
        _origins.add(origin[1:])
    return origin


def trusted_origins() -> frozenset[tuple[str, int]]:
    return frozenset(_origins)


def ip_of(address: Any) -> IPAddress | None:
    """The ipaddress object of a Twisted IPv4Address / IPv6Address."""
    import ipaddress

    host = getattr(address, "host", None)
    if not isinstance(host, str):
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


@implementer(IResolutionReceiver)
class _GuardedReceiver:
    """Passes on the resolved addresses the policy allows; logs the refused ones."""

    def __init__(self, receiver: IResolutionReceiver, resolver: GuardedResolver, host: str, port: int) -> None:
        self.receiver, self.resolver, self.host, self.port = receiver, resolver, host, port
        self.refused: list[str] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 - Twisted's interface
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        ip = ip_of(address)
        why = "not an IP address" if ip is None else self.resolver.refusal(ip, self.host, self.port)
        if why:
            self.refused.append(why)
        else:
            self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        if self.refused:
            logger.warning("network guard: not connecting to %s:%s: %s", self.host, self.port, "; ".join(self.refused))
        self.receiver.resolutionComplete()


@implementer(IResolutionReceiver)
class AddressCollector:
    """Collects every resolved address (no filtering) into a Deferred."""

    def __init__(self) -> None:
        self.addresses: list[IPAddress] = []
        self.done: Deferred[list[IPAddress]] = Deferred()

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802
        pass

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        ip = ip_of(address)
        if ip is not None and ip not in self.addresses:
            self.addresses.append(ip)

    def resolutionComplete(self) -> None:  # noqa: N802
        self.done.callback(self.addresses)


class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching IPv4/IPv6 resolver, handing Twisted only the addresses the network guard allows."""

    def __init__(self, reactor: Any, cache_size: int, allowlist: Allowlist | None = None) -> None:
        super().__init__(reactor, cache_size)
        self.allowlist = allowlist if allowlist is not None else Allowlist()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> Self:
        cache_size = crawler.settings.getint("DNSCACHE_SIZE") if crawler.settings.getbool("DNSCACHE_ENABLED") else 0
        allowlist = configured_allowlist(crawler.settings.get("MILAI_NETWORK_ALLOWLIST") or "")
        return cls(reactor, cache_size, allowlist)

    def refusal(self, address: IPAddress, host: str, port: int) -> str | None:
        """Why connecting to `address` for `host`:`port` is refused (process-wide rule), or None."""
        return refusal(address, host, port, allowlist=self.allowlist, origins=_origins)

    def resolveHostName(  # noqa: N802 - Twisted's interface
        self,
        resolutionReceiver: IResolutionReceiver,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        guarded = _GuardedReceiver(resolutionReceiver, self, hostName, portNumber)
        return super().resolveHostName(guarded, hostName, portNumber, addressTypes, transportSemantics)

    def lookup(self, host: str, port: int) -> Deferred[list[IPAddress]]:
        """Every address of `host` (unfiltered, cached like the answers Twisted connects with)."""
        collector = AddressCollector()
        super().resolveHostName(collector, host, port)
        return collector.done
