"""What a source's listing and robots.txt answered in a crawl, as facts for its health (storage.health).

An extension watches every response: for the source's listing requests it keeps the HTTP status of the first
listing answer and notices bot-challenge pages (Akamai "Access Denied", Cloudflare "Just a moment…"), which
sites serve with 403/429/503 or even 200; for robots.txt it keeps the status (a 401/403 robots.txt is a
block, not "no rules"). `run_facts` turns the crawl stats into the columns of `crawl_runs`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler.meta import META_LISTING

STAT_LISTING_STATUS = "milai/listing_status"
STAT_ROBOTS_STATUS = "milai/robots_status"
STAT_CHALLENGE = "milai/challenge"  # the vendor whose challenge page answered: "Akamai", "Cloudflare", …
STAT_ROBOTS_SKIPPED = "milai/robots_skipped"  # links robots.txt disallows: skipped, never errors
STAT_LISTING_ROBOTS = "milai/listing_robots"  # the listing itself is disallowed by robots.txt
STAT_NOT_WELL_FORMED = "milai/not_well_formed"  # a listing that answered but could not be read
STAT_RETRY_AFTER = "milai/retry_after"  # seconds the listing's Retry-After asks to wait (adaptive polling)
STAT_MAX_AGE = "milai/max_age"  # seconds of the listing's Cache-Control max-age
STAT_FALLBACK = "milai/fallback"  # the crawl used a discovered replacement of the configured URL (crawler.fallback)

_SNIFF_BYTES = 16_384
_CHALLENGES: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    # the dots and '#' of Akamai's page are character references: errors&#46;edgesuite&#46;net, Reference&#32;&#35;18…
    ("Akamai", re.compile(rb"errors(?:\.|&#46;)edgesuite(?:\.|&#46;)net|"
                          rb"<title>\s*Access Denied\s*</title>.*Reference(?:\s|&#32;)+(?:#|&#35;)", re.I | re.S)),
    ("Cloudflare", re.compile(rb"<title>\s*(?:Just a moment|Attention Required!)|cf-browser-verification|"
                              rb"/cdn-cgi/challenge-platform|cf_chl_opt", re.I)),
    ("Imperva", re.compile(rb"_Incapsula_Resource|Incapsula incident ID", re.I)),
    ("DataDome", re.compile(rb"captcha-delivery\.com|geo\.captcha-delivery", re.I)),
)


def challenge_vendor(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """The bot-protection vendor whose challenge or block page `body` is, or None for a real answer."""
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return "Cloudflare"
    head = body[:_SNIFF_BYTES]
    for vendor, pattern in _CHALLENGES:
        if pattern.search(head):
            return vendor
    if status in (401, 403) and headers.get("server", "").lower().startswith("akamaighost"):
        return "Akamai"
    return None


def _headers(response: Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, values in response.headers.items():
        if values:
            out[key.decode("latin-1").lower()] = values[0].decode("latin-1")
    return out


def retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int((when - (now or datetime.now(UTC))).total_seconds()))


def max_age(value: str | None) -> int | None:
    """The s-maxage or max-age of a Cache-Control header in seconds, or None."""
    if not value:
        return None
    found = re.findall(r"\b(s-maxage|max-age)\s*=\s*\"?(\d+)", value.lower())
    ages = dict(found)
    age = ages.get("s-maxage", ages.get("max-age"))
    return int(age) if age is not None else None


def is_robots_request(request: Request) -> bool:
    return bool(request.meta.get("dont_obey_robotstxt")) and urlsplit(request.url).path == "/robots.txt"


class ListingDiagnosis:
    """Record the first listing answer's status, robots.txt's status and any challenge page in the crawl stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        """Which entry this crawl uses (crawler.fallback), known before any answer."""
        stats = self.crawler.stats
        assert stats is not None
        if getattr(spider, "fallback", False):
            stats.set_value(STAT_FALLBACK, True)

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        stats = self.crawler.stats
        assert stats is not None
        robots = is_robots_request(request)
        if not robots and not request.meta.get(META_LISTING):
            return
        key = STAT_ROBOTS_STATUS if robots else STAT_LISTING_STATUS
        headers = _headers(response)
        if stats.get_value(key) is None:
            stats.set_value(key, response.status)
            if not robots:
                wait, age = retry_after(headers.get("retry-after")), max_age(headers.get("cache-control"))
                if wait is not None:
                    stats.set_value(STAT_RETRY_AFTER, wait)
                if age is not None:
                    stats.set_value(STAT_MAX_AGE, age)
        vendor = challenge_vendor(response.status, headers, response.body)
        if vendor and stats.get_value(STAT_CHALLENGE) is None:
            stats.set_value(STAT_CHALLENGE, vendor)
            if robots:
                stats.set_value("milai/challenge_on", "robots.txt")


def run_facts(stats: dict[str, Any]) -> dict[str, Any]:
    """The crawl_runs columns a crawl's stats give (storage.health.record_run_facts)."""
    problem: str | None = None
    vendor = stats.get(STAT_CHALLENGE)
    if vendor:
        problem = f"challenge:{vendor}"
    elif stats.get(STAT_LISTING_ROBOTS):
        problem = "robots_disallowed"
    elif stats.get(STAT_NOT_WELL_FORMED):
        problem = "not_well_formed"
    elif stats.get("milai/listing_failures") and stats.get(STAT_LISTING_STATUS) is None:
        problem = "robots_unreachable" if stats.get("robotstxt/unreachable") else "network"
    return {
        "listing_status": stats.get(STAT_LISTING_STATUS),
        "robots_status": stats.get(STAT_ROBOTS_STATUS),
        "robots_skipped": int(stats.get(STAT_ROBOTS_SKIPPED, 0)),
        "problem": problem,
        "listing_failures": int(stats.get("milai/listing_failures", 0)),
        "retry_after": stats.get(STAT_RETRY_AFTER),
        "max_age": stats.get(STAT_MAX_AGE),
        "fallback": bool(stats.get(STAT_FALLBACK)),
    }
