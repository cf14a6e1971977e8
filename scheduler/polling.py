"""Adaptive polling: when to crawl a source next, from its observed publishing rate and what it asked for.

Miniflux's rule: the interval is a week divided by the number of new items of the last week, kept between a
minimum and a maximum (no new item: the maximum). Failures back off (the minimum doubled per consecutive
failure, at most the maximum); a 429 or a `Retry-After` is honoured (never sooner than asked, at most a week);
`Cache-Control: max-age` is a floor (polling sooner gets the same listing). A catalogue `schedule` wins over
all of this (scheduler.service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WEEK = timedelta(days=7)
TOO_MANY_REQUESTS_WAIT = timedelta(hours=1)  # a 429 without Retry-After


@dataclass(frozen=True)
class PollFacts:
    """What storage knows about a source for its next poll (storage.health.poll_facts)."""

    new_last_week: int = 0
    consecutive_failures: int = 0
    last_run_at: datetime | None = None
    listing_status: int | None = None
    retry_after: int | None = None  # seconds
    max_age: int | None = None  # seconds


@dataclass(frozen=True)
class PollPolicy:
    minimum: timedelta = timedelta(minutes=30)
    maximum: timedelta = timedelta(hours=24)


def next_interval(facts: PollFacts, policy: PollPolicy = PollPolicy()) -> tuple[timedelta, str]:
    """(interval until the next poll, why) for a source."""
    if facts.new_last_week > 0:
        interval = min(max(WEEK / facts.new_last_week, policy.minimum), policy.maximum)
        why = f"{facts.new_last_week} new item(s) last week"
    else:
        interval, why = policy.maximum, "no new item last week"
    if facts.consecutive_failures:
        backoff = min(policy.minimum * (2 ** min(facts.consecutive_failures, 20)), policy.maximum)
        if backoff > interval:
            interval, why = backoff, f"backing off after {facts.consecutive_failures} failure(s)"
    if facts.max_age and timedelta(seconds=facts.max_age) > interval:
        interval = min(timedelta(seconds=facts.max_age), policy.maximum)
        why += f"; Cache-Control max-age {facts.max_age} s"
    asked = timedelta(seconds=facts.retry_after) if facts.retry_after else None
    if facts.listing_status == 429 and asked is None:
        asked = TOO_MANY_REQUESTS_WAIT
    if asked is not None and asked > interval:
        interval = min(asked, WEEK)
        why = f"the site asked to wait {int(asked.total_seconds())} s" + (
            " (HTTP 429)" if facts.listing_status == 429 else " (Retry-After)")
    return interval, why


def next_poll(facts: PollFacts, now: datetime, policy: PollPolicy = PollPolicy()) -> tuple[datetime, str]:
    """When to crawl next: the last run plus the interval (not before `now`); a source never crawled: now."""
    if facts.last_run_at is None:
        return now, "never crawled"
    interval, why = next_interval(facts, policy)
    return max(now, facts.last_run_at + interval), why
