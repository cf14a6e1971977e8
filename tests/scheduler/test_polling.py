"""Adaptive polling on a simulated clock: Miniflux's rule (a week / last week's new items, between a minimum
and a maximum), failure backoff, Retry-After / 429 and Cache-Control max-age honoured, a schedule wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from crawler.catalogue import SourceConfig
from crawler.diagnosis import max_age, retry_after
from milai.config import Settings
from scheduler.polling import PollFacts, PollPolicy, next_interval, next_poll
from scheduler.service import CRAWL_PREFIX, build_scheduler, schedule_jobs
from storage.database import session_scope
from storage.health import poll_facts
from storage.models import CrawlRun, Item, Source
from tests.support.db import configured_engine

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = PollPolicy(minimum=timedelta(minutes=30), maximum=timedelta(hours=24))


def test_the_interval_is_a_week_over_last_weeks_new_items_within_bounds():
    def hours(new: int) -> float:
        return next_interval(PollFacts(new_last_week=new), POLICY)[0].total_seconds() / 3600

    assert hours(28) == 6.0  # four a day: every six hours
    assert hours(14) == 12.0
    assert hours(3) == 24.0  # a week / 3 = 56 h, kept at the maximum
    assert hours(0) == 24.0  # nothing new: the maximum
    assert hours(1000) == 0.5  # a firehose: the minimum
    assert next_interval(PollFacts(new_last_week=28), POLICY)[1] == "28 new item(s) last week"


def test_failures_back_off_and_the_site_is_obeyed():
    busy = PollFacts(new_last_week=1000, consecutive_failures=3)
    assert next_interval(busy, POLICY)[0] == timedelta(hours=4)  # 30 min doubled three times
    assert next_interval(PollFacts(new_last_week=1000, consecutive_failures=12), POLICY)[0] == timedelta(hours=24)
    asked, why = next_interval(PollFacts(new_last_week=1000, listing_status=503, retry_after=7200), POLICY)
    assert asked == timedelta(hours=2) and "Retry-After" in why
    limited, why = next_interval(PollFacts(new_last_week=1000, listing_status=429), POLICY)
    assert limited == timedelta(hours=1) and "HTTP 429" in why
    assert next_interval(PollFacts(new_last_week=1000, retry_after=30 * 86400), POLICY)[0] == timedelta(days=7)
    cached, why = next_interval(PollFacts(new_last_week=1000, max_age=3600), POLICY)
    assert cached == timedelta(hours=1) and "max-age 3600" in why
    assert next_interval(PollFacts(new_last_week=28, max_age=60), POLICY)[0] == timedelta(hours=6)  # only a floor


def test_the_next_poll_follows_the_last_run_on_a_simulated_clock():
    facts = PollFacts(new_last_week=28, last_run_at=NOW - timedelta(hours=2))
    assert next_poll(facts, NOW, POLICY)[0] == NOW + timedelta(hours=4)
    late = PollFacts(new_last_week=28, last_run_at=NOW - timedelta(hours=30))
    assert next_poll(late, NOW, POLICY)[0] == NOW  # overdue: now
    assert next_poll(PollFacts(), NOW, POLICY) == (NOW, "never crawled")


def test_header_values_are_read_in_seconds():
    assert retry_after("120") == 120
    assert retry_after("Thu, 03 Dec 2026 13:00:00 GMT", now=NOW) == 3600
    assert retry_after("soon") is None and retry_after(None) is None
    assert max_age("public, max-age=600") == 600
    assert max_age('max-age=600, s-maxage="60"') == 60
    assert max_age("no-cache") is None


def _source_with_history(session, name: str, per_day: int, last_run: datetime, **run: object) -> None:
    source = Source(name=name, publisher="P", kind="feed", url=f"https://example.org/{name}",
                    consecutive_failures=0, ever_yielded=True, config={}, enabled=True)
    session.add(source)
    session.flush()
    for day in range(10):  # ten days of history, `per_day` items a day
        for n in range(per_day):
            when = NOW - timedelta(days=day, hours=n + 1)
            session.add(Item(canonical_url=f"https://example.org/{name}/{day}/{n}", url="https://example.org/x",
                             source_id=source.id, title="t", text="", published=when, fetched_at=when))
    session.add(CrawlRun(source_id=source.id, started_at=last_run, finished_at=last_run, status="ok", **run))
    session.flush()


def test_storage_counts_last_weeks_items_and_the_last_runs_answer(engine: Engine):
    with session_scope(engine) as session:
        _source_with_history(session, "daily-four", 4, NOW - timedelta(hours=1), listing_status=200, max_age=300)
        _source_with_history(session, "limited", 1, NOW - timedelta(minutes=5), listing_status=429, retry_after=600)
        facts = PollFacts(**poll_facts(session, "daily-four", NOW))
        assert facts.new_last_week == 28 and facts.max_age == 300
        assert next_poll(facts, NOW, POLICY)[0] == NOW + timedelta(hours=5)
        limited = PollFacts(**poll_facts(session, "limited", NOW))
        assert (limited.new_last_week, limited.listing_status, limited.retry_after) == (7, 429, 600)
        assert next_poll(limited, NOW, POLICY)[0] == NOW - timedelta(minutes=5) + timedelta(hours=24)
        assert poll_facts(session, "no-such-source", NOW) == {}


def test_sources_without_a_schedule_get_an_adaptive_job_and_a_schedule_wins(milai_env):
    with session_scope(configured_engine()) as session:
        _source_with_history(session, "adaptive", 4, datetime.now(UTC) - timedelta(hours=1), listing_status=200)
    scheduler = build_scheduler(Settings())
    scheduler.start(paused=True)
    try:
        sources = [SourceConfig(name="adaptive", publisher="P", kind="feed", url="https://example.org/a.xml"),
                   SourceConfig(name="fixed", publisher="P", kind="feed", url="https://example.org/f.xml",
                                schedule="*/5 * * * *")]
        schedule_jobs(scheduler, sources, Settings(), initial_crawl=False)
        adaptive, fixed = scheduler.get_job(CRAWL_PREFIX + "adaptive"), scheduler.get_job(CRAWL_PREFIX + "fixed")
        assert isinstance(adaptive.trigger, DateTrigger) and isinstance(fixed.trigger, CronTrigger)
        wait = adaptive.next_run_time - datetime.now(UTC)
        # 4 a day for the last week (28, one may fall outside the window by now): about six hours after the run
        assert timedelta(hours=4) < wait < timedelta(hours=6), wait
        assert "adaptive" in adaptive.name
    finally:
        scheduler.shutdown(wait=False)


def test_a_queued_adaptive_crawl_waits_one_interval_even_when_overdue(milai_env):
    """The adaptive job only queues the crawl: its next poll is one interval from now, so an overdue source
    whose crawl waits in the queue does not fire the job again at once."""
    from scheduler.service import schedule_adaptive

    with session_scope(configured_engine()) as session:
        _source_with_history(session, "overdue", 4, datetime.now(UTC) - timedelta(days=3), listing_status=200)
    scheduler = build_scheduler(Settings())
    scheduler.start(paused=True)
    try:
        now = datetime.now(UTC)
        assert schedule_adaptive(scheduler, "overdue", Settings(), now=now) == now  # overdue: now
        when = schedule_adaptive(scheduler, "overdue", Settings(), now=now, queued=True)
        assert timedelta(hours=5) <= when - now <= timedelta(hours=24)
        assert scheduler.get_job(CRAWL_PREFIX + "overdue").next_run_time == when
    finally:
        scheduler.shutdown(wait=False)
