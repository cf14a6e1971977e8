"""The run counters and status of one source crawl, from its Scrapy stats."""

from __future__ import annotations

from typing import Any

from crawler.meta import STAT_ERRORS, STAT_LISTING_FAILURES

STAT_STATUS = "milai/status"  # ok | failed | interrupted: set by the run recorder when the spider closes


def counters(stats: dict[str, Any]) -> dict[str, int]:
    """The run counters from a crawler's stats."""
    return {
        # requests that went out: answers from the HTTP cache (robots.txt kept for a day) are not requests
        "requests": max(0, int(stats.get("downloader/request_count", 0)) - int(stats.get("httpcache/hit", 0))),
        "links": int(stats.get("milai/links", 0)),
        "fetched": int(stats.get("milai/fetched", 0)),
        "new": int(stats.get("milai/new", 0)),
        "updated": int(stats.get("milai/updated", 0)),
        "duplicate": int(stats.get("milai/duplicate", 0)),
        "off_topic": int(stats.get("milai/off_topic", 0)),
        "errors": int(stats.get(STAT_ERRORS, 0)),
        # links not followed: not http(s), or longer than URLLENGTH_LIMIT; refused by the network guard;
        # items whose text was cut at the length cap (crawler.bounds)
        "skipped": int(stats.get("milai/skipped_scheme", 0)) + int(stats.get("milai/url_too_long", 0)),
        "refused": int(stats.get("milai/refused_address", 0)),
        "robots_skipped": int(stats.get("milai/robots_skipped", 0)),  # disallowed by robots.txt: not errors
        "truncated": int(stats.get("milai/truncated", 0)),
    }


def run_status(stats: dict[str, Any], reason: str) -> str:
    """`failed` when the listing could not be read (and yielded nothing) or the crawl was cut short;
    `interrupted` when it was stopped on request (SIGTERM/SIGINT: service shutdown), which is no failure."""
    if reason == "shutdown":
        return "interrupted"
    if stats.get(STAT_LISTING_FAILURES, 0) and not stats.get("milai/links", 0):
        return "failed"
    return "ok" if reason == "finished" else "failed"
