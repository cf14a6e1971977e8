"""The crawler side of the network guard without a network: settings, origins, the resolver's address
filter, the downloader middleware's refusals, and the skip-known middleware's per-entry handling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler
from twisted.internet.address import IPv4Address, IPv6Address

from crawler.guard import MAX_URL_LENGTH, NetworkGuardMiddleware, RefusedRequest
from crawler.items import PageItem
from crawler.middlewares import SkipKnownUrlsMiddleware
from crawler.resolver import GuardedResolver, _GuardedReceiver, origin_of, register_origin
from crawler.settings import build_settings
from crawler.spiders import FeedSpider
from milai.config import Settings
from milai.netguard import Allowlist


def test_only_http_download_handlers_and_the_guard_first() -> None:
    settings = build_settings(Settings())
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert all(handlers[scheme] is None for scheme in ("file", "data", "s3", "ftp"))
    assert handlers["http"].endswith("HTTP11DownloadHandler") and handlers["https"] == handlers["http"]
    assert settings["TWISTED_DNS_RESOLVER"] == "crawler.resolver.GuardedResolver"
    middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
    assert middlewares["crawler.guard.NetworkGuardMiddleware"] < min(
        v for k, v in middlewares.items() if v is not None and k != "crawler.guard.NetworkGuardMiddleware")
    assert settings.getint("URLLENGTH_LIMIT") == MAX_URL_LENGTH == 2083


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Intranet.Example/feed", ("http", "intranet.example", 80)),
        ("https://intranet.example./feed", ("https", "intranet.example", 443)),
        ("http://127.0.0.1:8080/x", ("http", "127.0.0.1", 8080)),
        ("http://[::1]:81/x", ("http", "::1", 81)),
        ("ftp://example.org/", None),
        ("http://[::1/x", None),
    ],
)
def test_origin_of(url: str, origin: tuple[str, str, int] | None) -> None:
    assert origin_of(url) == origin


class _Receiver:
    """Collects what the guarded receiver passes on (a real IResolutionReceiver)."""

    def __init__(self) -> None:
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802
        pass

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        self.addresses.append(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        self.complete = True


class _Reactor:
    nameResolver = None  # GuardedResolver keeps the reactor's resolver as the one it asks


def _deliver(resolver: GuardedResolver, host: str, port: int, addresses: list[Any]) -> list[str]:
    receiver = _Receiver()
    guarded = _GuardedReceiver(receiver, resolver, host, port)
    guarded.resolutionBegan(None)  # type: ignore[arg-type]
    for address in addresses:
        guarded.addressResolved(address)
    guarded.resolutionComplete()
    assert receiver.complete
    return [a.host for a in receiver.addresses]


def test_the_resolver_passes_on_only_allowed_addresses() -> None:
    answer = [IPv4Address("TCP", "93.184.215.14", 0), IPv4Address("TCP", "127.0.0.1", 0),
              IPv6Address("TCP", "::1", 0), IPv6Address("TCP", "::ffff:10.0.0.1", 0)]
    resolver = GuardedResolver(_Reactor(), 0, Allowlist())
    assert _deliver(resolver, "rebind.example", 8090, answer) == ["93.184.215.14"]
    register_origin("http://rebind.example:8091/feed")  # a configured source's origin: trusted there only
    assert _deliver(resolver, "rebind.example", 8091, answer) == ["93.184.215.14", "127.0.0.1", "::1",
                                                                   "::ffff:10.0.0.1"]
    assert _deliver(resolver, "rebind.example", 8092, answer) == ["93.184.215.14"]
    allowing = GuardedResolver(_Reactor(), 0, Allowlist.parse("10.0.0.0/8"))
    assert _deliver(allowing, "other.example", 80, answer) == ["93.184.215.14", "::ffff:10.0.0.1"]


def _guard(origin: str = "http://127.0.0.1:8000/feed", allow: str = "") -> NetworkGuardMiddleware:
    crawler = get_crawler(FeedSpider)
    crawler.stats.open_spider()  # type: ignore[union-attr]
    return NetworkGuardMiddleware(crawler, origin_of(origin), Allowlist.parse(allow), MAX_URL_LENGTH, 5.0)


@pytest.mark.parametrize(
    ("url", "stat", "message"),
    [
        ("file:///etc/passwd", "milai/skipped_scheme", "only http and https"),
        ("data:text/html,hello", "milai/skipped_scheme", "only http and https"),
        ("ftp://127.0.0.1/file", "milai/skipped_scheme", "only http and https"),
        ("http://127.0.0.1:8001/x", "milai/refused_address", "127.0.0.1 is a loopback address"),
        ("https://127.0.0.1:8000/x", "milai/refused_address", "outside the source's origin"),  # other scheme
        ("http://10.1.2.3/x", "milai/refused_address", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "milai/refused_address", "cloud metadata"),
        ("http://[::ffff:127.0.0.1]:8000/x", "milai/refused_address", "loopback"),
        ("http://[64:ff9b::a00:1]/x", "milai/refused_address", "NAT64 address embedding 10.0.0.1"),
        ("http://127.0.0.1:8000/" + "a" * 2100, "milai/url_too_long", "2083"),
        ("http:///no-host", "milai/skipped_scheme", "no host"),
    ],
)
def test_the_middleware_refuses_and_counts(url: str, stat: str, message: str) -> None:
    guard = _guard()
    with pytest.raises(RefusedRequest, match=message):
        asyncio.run(guard.process_request(Request(url)))
    assert guard.crawler.stats.get_value(stat) == 1  # type: ignore[union-attr]


def test_the_middleware_passes_the_origin_public_and_allowlisted_addresses() -> None:
    guard = _guard(allow="10.0.0.0/8, 127.0.0.1:8001")
    for url in ("http://127.0.0.1:8000/feed", "http://127.0.0.1:8000/news/1", "http://93.184.215.14/",
                "http://10.1.2.3/x", "http://127.0.0.1:8001/x", "http://[2606:4700::1111]/"):
        assert asyncio.run(guard.process_request(Request(url))) is None, url
    assert guard.crawler.stats.get_stats() == {}  # type: ignore[union-attr]


def test_one_bad_entry_does_not_lose_the_others(sqlite_url: str) -> None:
    """A malformed or over-long URL is dropped and counted; when the callback breaks off, the entries it
    yielded before still go through and the error is raised after them."""
    crawler = get_crawler(FeedSpider, {"MILAI_DATABASE_URL": sqlite_url})
    crawler.stats.open_spider()  # type: ignore[union-attr]
    middleware = SkipKnownUrlsMiddleware.from_crawler(crawler)

    def item(url: str) -> PageItem:
        return PageItem(source="s", url=url)

    class Boom(RuntimeError):
        pass

    async def listing() -> AsyncIterator[Any]:
        yield item("https://example.org/a")
        yield item("http://[::1/broken")  # canonicalize raises ValueError
        yield item("https://example.org/" + "x" * 2100)
        yield item("https://example.org/b")
        raise Boom("the callback broke off")

    async def run() -> list[str]:
        out: list[str] = []
        with pytest.raises(Boom):
            async for entry in middleware.process_spider_output(_listing_response(), listing()):
                out.append(entry.url)
        return out

    assert asyncio.run(run()) == ["https://example.org/a", "https://example.org/b"]
    stats = crawler.stats.get_stats()  # type: ignore[union-attr]
    assert (stats["milai/bad_links"], stats["milai/url_too_long"], stats["milai/errors"]) == (1, 1, 1)
    assert "malformed link" in stats["milai/last_error"]


def _listing_response() -> Any:
    from scrapy.http import HtmlResponse

    from crawler.meta import META_LISTING

    request = Request("https://example.org/list", meta={META_LISTING: True})
    return HtmlResponse(request.url, body=b"<html></html>", request=request)
