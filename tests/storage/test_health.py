"""Source health read from crawl runs and the source's own history, on both dialects: silence learnt from
publishing intervals (k configurable), streaks (since), changes between runs, and sources crawled before 0009."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from storage.database import session_scope
from storage.health import classify_run, health_changes, source_health, usual_interval
from storage.models import CrawlRun, Item, Source

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _source(session, name: str = "weekly", **kw) -> Source:
    fields = {"enabled": True, "consecutive_failures": 0, "ever_yielded": False, "config": {}, **kw}
    source = Source(name=name, publisher="Examples", kind="feed", url="https://example.org/feed", **fields)
    session.add(source)
    session.flush()
    return source


def _run(session, source: Source, at: datetime, health: str = "ok", reason: str = "2 link(s), 1 new",
         **kw) -> CrawlRun:
    run = CrawlRun(source_id=source.id, started_at=at, finished_at=at, status="ok", links=2, new=1,
                   health=health, health_reason=reason, **kw)
    session.add(run)
    session.flush()
    return run


def _items(session, source: Source, dates: list[datetime]) -> None:
    for i, when in enumerate(dates):
        session.add(Item(canonical_url=f"https://example.org/{source.name}/{i}", url=f"https://example.org/{i}",
                         source_id=source.id, title=f"item {i}", text="", published=when, fetched_at=when))
    session.flush()


def test_a_source_is_silent_after_k_times_its_own_publishing_interval(engine: Engine):
    with session_scope(engine) as session:
        source = _source(session)
        weekly = [NOW - timedelta(days=30) - timedelta(weeks=w) for w in range(8)]  # last item 30 days ago
        _items(session, source, weekly)
        _run(session, source, NOW - timedelta(hours=3))
        silent = source_health(session, source, now=NOW, silent_factor=4)
        assert silent.state == "silent"
        assert silent.interval == timedelta(weeks=1)
        assert "no new item for 30 days (usually one every 7 days" in silent.reason
        assert silent.since == weekly[0]
        # k is configurable: with k = 5 thirty days are not yet silence for a weekly source
        assert source_health(session, source, now=NOW, silent_factor=5).state == "ok"


def test_a_daily_source_is_silent_sooner_than_a_weekly_one(engine: Engine):
    with session_scope(engine) as session:
        daily, weekly = _source(session, "daily"), _source(session, "weekly")
        _items(session, daily, [NOW - timedelta(days=5 + d) for d in range(10)])
        _items(session, weekly, [NOW - timedelta(days=5) - timedelta(weeks=w) for w in range(10)])
        for source in (daily, weekly):
            _run(session, source, NOW - timedelta(hours=1))
        assert source_health(session, daily, now=NOW).state == "silent"
        assert source_health(session, weekly, now=NOW).state == "ok"


def test_too_little_history_never_makes_a_source_silent(engine: Engine):
    with session_scope(engine) as session:
        source = _source(session)
        _items(session, source, [NOW - timedelta(days=400 + d) for d in range(3)])
        _run(session, source, NOW - timedelta(hours=1))
        health = source_health(session, source, now=NOW)
        assert health.state == "ok" and health.interval is None


def test_the_health_streak_says_since_when(engine: Engine):
    with session_scope(engine) as session:
        source = _source(session)
        _run(session, source, NOW - timedelta(days=3))
        first_block = _run(session, source, NOW - timedelta(days=2), "blocked", "the listing answers HTTP 403")
        _run(session, source, NOW - timedelta(days=1), "blocked", "the listing answers HTTP 403")
        health = source_health(session, source, now=NOW)
        assert (health.state, health.since) == ("blocked", first_block.finished_at)
        assert "HTTP 403" in health.reason and "feed or sitemap" in health.action


def test_only_changes_of_health_are_reported(engine: Engine):
    with session_scope(engine) as session:
        source, quiet = _source(session, "changing"), _source(session, "steady")
        runs = [_run(session, source, NOW - timedelta(hours=5 - i), state, state)
                for i, state in enumerate(["ok", "ok", "not_found", "not_found", "ok"])]
        steady = [_run(session, quiet, NOW - timedelta(hours=5 - i)) for i in range(3)]
        changes = health_changes(session, [r.id for r in runs + steady])
        assert [(s.name, r.health, prev) for s, r, prev in changes] == [
            ("changing", "not_found", "ok"), ("changing", "ok", "not_found")]
        # a first verdict that is a problem is a change too (a new source that never worked)
        fresh = _source(session, "fresh")
        first = _run(session, fresh, NOW, "no_links", "no links found")
        assert [(s.name, prev) for s, _, prev in health_changes(session, [first.id])] == [("fresh", None)]


def test_sources_crawled_before_runs_had_verdicts_keep_a_truthful_health(engine: Engine):
    with session_scope(engine) as session:
        failing = _source(session, "old-failing", last_run_at=NOW, consecutive_failures=2, last_error="HTTP 500")
        never = _source(session, "old-never", last_run_at=NOW, last_links_found=0)
        new = _source(session, "brand-new")
        disabled = _source(session, "off")
        assert source_health(session, failing, now=NOW).state == "failing"
        assert source_health(session, never, now=NOW).state == "no_links"
        assert source_health(session, new, now=NOW).state == "never_crawled"
        assert source_health(session, disabled, now=NOW, enabled=False).state == "disabled"


def test_run_verdicts_in_order_of_what_the_listing_answered():
    def run(**kw) -> CrawlRun:
        base = {"status": "ok", "links": 0, "new": 0, "robots_skipped": 0}
        return CrawlRun(**{**base, **kw})

    assert classify_run(run(listing_status=200, links=3, new=1), linked_before=False)[0] == "ok"
    assert classify_run(run(listing_status=200), linked_before=False)[0] == "no_links"
    assert classify_run(run(listing_status=200), linked_before=True)[0] == "layout_changed"
    assert classify_run(run(listing_status=401, status="failed"), linked_before=True)[0] == "blocked"
    assert classify_run(run(listing_status=200, problem="challenge:Akamai"), linked_before=True)[0] == "blocked"
    assert classify_run(run(robots_status=403, listing_status=200), linked_before=False)[0] == "blocked"
    assert classify_run(run(robots_status=403, listing_status=200, links=4), linked_before=False)[0] == "ok"
    assert classify_run(run(listing_status=502, status="failed"), linked_before=True)[0] == "failing"
    assert classify_run(run(status="failed", problem="network", error_summary="TCPTimedOutError"),
                        linked_before=True) == ("failing", "the listing could not be fetched: TCPTimedOutError")
    assert classify_run(run(listing_status=200, status="failed", problem="not_well_formed"),
                        linked_before=True)[0] == "not_well_formed"


def test_usual_interval_is_the_median_gap_with_a_floor():
    hourly = [NOW - timedelta(hours=h) for h in range(10)]
    assert usual_interval(hourly) == timedelta(hours=6)  # the floor: bursts do not make 1-hour silences
    mixed = [NOW - timedelta(days=d) for d in (0, 1, 2, 3, 30)]
    assert usual_interval(mixed) == timedelta(days=1)
    assert usual_interval(mixed[:4]) is None
