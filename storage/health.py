"""The health of each source, told from its crawl runs and its own publishing history.

Every finished run gets a verdict (`classify_run`): what its listing answered decides between *blocked*
(401/403/429, a bot-challenge page, a 401/403 robots.txt, a listing robots.txt disallows), *not found*
(404/410), *failing* (no answer: network, timeout, 5xx, robots.txt unreachable), *not well-formed* (an
answer that could not be read as the configured kind), *layout changed* (no links where earlier runs found
some), *no links* (never found any) and *ok*. On reading (`source_health`) an ok source that has published
nothing for k × its usual interval (learnt from its own items) is *silent*. Each verdict carries a one-line
reason and a suggested action. Links robots.txt disallows are counted as skipped, never as errors.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import CrawlRun, Item, Source, utcnow

OK = "ok"
NO_LINKS = "no_links"
BLOCKED = "blocked"
NOT_FOUND = "not_found"
NOT_WELL_FORMED = "not_well_formed"
LAYOUT_CHANGED = "layout_changed"
SILENT = "silent"
FAILING = "failing"
NEVER_CRAWLED = "never_crawled"
DISABLED = "disabled"
STATES = (OK, NO_LINKS, BLOCKED, NOT_FOUND, NOT_WELL_FORMED, LAYOUT_CHANGED, SILENT, FAILING, NEVER_CRAWLED, DISABLED)
PROBLEMS = frozenset(STATES) - {OK, NEVER_CRAWLED, DISABLED}

LABELS = {
    OK: "ok", NO_LINKS: "no links found", BLOCKED: "blocked", NOT_FOUND: "not found",
    NOT_WELL_FORMED: "not well-formed", LAYOUT_CHANGED: "layout changed", SILENT: "silent", FAILING: "failing",
    NEVER_CRAWLED: "not crawled yet", DISABLED: "disabled",
}
ACTIONS = {
    OK: "nothing to do",
    NO_LINKS: "run `milai sources check NAME` and fix the selectors (links / item_selector) or the URL",
    BLOCKED: "the site refuses automated clients: look for its RSS feed or sitemap, ask the publisher, or disable it",
    NOT_FOUND: "the URL has moved: find the new listing (`milai sources add SITE` discovers feeds and sitemaps)",
    NOT_WELL_FORMED: "the URL no longer serves a valid listing of this kind: check it in a browser and the `kind`",
    LAYOUT_CHANGED: "the page changed: run `milai sources check NAME` and update the selectors",
    SILENT: "check the site by hand: it may have moved its news elsewhere while the old page stays up",
    FAILING: "a network problem: wait for the next crawls; if it persists check the host name and the site",
    NEVER_CRAWLED: "run `milai crawl --source NAME`",
    DISABLED: "enable it in the catalogue when wanted",
}

# silence: no new item for SILENT_FACTOR × the source's usual interval (median gap of its last HISTORY items)
SILENT_FACTOR = 4.0
HISTORY = 30
MIN_HISTORY = 5
MIN_INTERVAL = timedelta(hours=6)  # a burst of same-day items does not make a source "silent" after an hour
_RECENT_RUNS = 50


@dataclass(frozen=True)
class Health:
    """A source's health: its state, why (one line), what to do, since when, and the usual interval if known."""

    state: str
    reason: str
    action: str
    since: datetime | None = None
    interval: timedelta | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.state, self.state)

    @property
    def problem(self) -> bool:
        return self.state in PROBLEMS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["label"] = self.label
        data["since"] = self.since.isoformat() if self.since else None
        data["interval_hours"] = round(self.interval.total_seconds() / 3600, 1) if self.interval else None
        del data["interval"]
        return data


def _robots_note(skipped: int) -> str:
    return f"; {skipped} link(s) skipped (robots)" if skipped else ""


def classify_run(run: CrawlRun, *, linked_before: bool) -> tuple[str, str]:
    """(state, reason) of one finished run; `linked_before`: an earlier run of the source found links."""
    status, problem = run.listing_status, run.problem or ""
    error = (run.error_summary or "").strip()
    if problem.startswith("challenge:"):
        vendor = problem.partition(":")[2]
        answered = f"HTTP {status}" if status else "a page"
        return BLOCKED, f"the site answers {answered} with a {vendor} bot-challenge page"
    if run.robots_status in (401, 403) and not run.links:
        return BLOCKED, f"robots.txt answers HTTP {run.robots_status} (the site blocks automated clients)"
    if status in (401, 403, 429):
        why = {401: "asks for a login", 403: "refuses access", 429: "says too many requests"}[status]
        return BLOCKED, f"the listing answers HTTP {status} (the site {why})"
    if problem == "robots_disallowed":
        return BLOCKED, "robots.txt disallows the listing URL (respected: nothing fetched)"
    if status in (404, 410):
        return NOT_FOUND, f"the listing answers HTTP {status} ({'gone' if status == 410 else 'not found'})"
    if problem == "robots_unreachable":
        cause = re.search(r"unreachable \((\w+)\)|answered (HTTP \d+)", error)
        because = f" ({next(g for g in cause.groups() if g)})" if cause else ""
        return FAILING, f"robots.txt could not be read{because}, so nothing was fetched (RFC 9309)"
    if problem in ("network", "robots_unreachable") or (status is not None and status >= 500) or (
        run.status == "failed" and not run.links and problem != "not_well_formed"
    ):
        detail = f"HTTP {status}" if status and status >= 500 else (error[:200] or "no answer")
        return FAILING, f"the listing could not be fetched: {detail}"
    if problem == "not_well_formed":
        return NOT_WELL_FORMED, f"the listing answered but could not be read: {error[:200] or 'not well-formed'}"
    if not run.links:
        if linked_before:
            return LAYOUT_CHANGED, "no links found although earlier crawls found some (page layout changed?)"
        return NO_LINKS, "no links found on the listing (this source never found any: check the selectors)"
    return OK, f"{run.links} link(s), {run.new} new{_robots_note(run.robots_skipped)}"


def record_run_facts(session: Session, run_id: int, facts: dict[str, Any]) -> CrawlRun:
    """Store what a finished run's listing answered (crawler.diagnosis.run_facts) and the run's verdict."""
    run = session.get_one(CrawlRun, run_id)
    run.listing_status = facts.get("listing_status")
    run.robots_status = facts.get("robots_status")
    run.robots_skipped = int(facts.get("robots_skipped") or 0)
    run.problem = facts.get("problem")
    run.retry_after, run.max_age = facts.get("retry_after"), facts.get("max_age")
    if run.status == "interrupted":
        run.health, run.health_reason = None, "interrupted (stopped on request)"
    else:
        linked_before = bool(session.scalar(
            select(func.count()).select_from(CrawlRun)
            .where(CrawlRun.source_id == run.source_id, CrawlRun.id != run.id, CrawlRun.links > 0)
        )) or _ever_yielded(session, run.source_id)
        run.health, run.health_reason = classify_run(run, linked_before=linked_before)
        source = session.get(Source, run.source_id) if run.source_id is not None else None
        if source is not None and source.fallback and source.fallback.get("entry") and facts.get("fallback"):
            run.health_reason = f"{fallback_note(source.fallback)}; {run.health_reason}"
        elif source is not None and source.fallback and source.fallback.get("returned_from") \
                and source.fallback.get("url") == source.url:  # the first verdict back on the configured URL
            run.health_reason = (f"{RETURNED} {source.url} (it lists links again; the discovered "
                                 f"{source.fallback['returned_from']} is no longer used); {run.health_reason}")
            source.fallback = None
    session.flush()
    return run


def _ever_yielded(session: Session, source_id: int | None) -> bool:
    if source_id is None:
        return False
    source = session.get(Source, source_id)
    return bool(source and source.ever_yielded)


def usual_interval(dates: Sequence[datetime]) -> timedelta | None:
    """The median gap between consecutive publication times (at least MIN_INTERVAL), or None with too few."""
    ordered = sorted(dates)
    if len(ordered) < MIN_HISTORY:
        return None
    gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
    return max(timedelta(seconds=statistics.median(gaps)), MIN_INTERVAL)


def _item_dates(session: Session, source_id: int) -> list[datetime]:
    when = func.coalesce(Item.published, Item.fetched_at)
    rows = session.execute(
        select(Item.published, Item.fetched_at).where(Item.source_id == source_id).order_by(when.desc()).limit(HISTORY)
    )
    return [published or fetched for published, fetched in rows]


def _recent_runs(session: Session, source_id: int) -> list[CrawlRun]:
    """The source's latest finished runs that have a verdict, newest first."""
    return list(session.scalars(
        select(CrawlRun)
        .where(CrawlRun.source_id == source_id, CrawlRun.finished_at.is_not(None), CrawlRun.health.is_not(None))
        .order_by(CrawlRun.id.desc()).limit(_RECENT_RUNS)
    ))


def _legacy(source: Source) -> Health:
    """A source crawled only before runs had verdicts (migration 0009): told from its health fields."""
    if source.consecutive_failures:
        return Health(FAILING, (source.last_error or "the last crawl failed")[:300], ACTIONS[FAILING])
    if source.last_links_found == 0:
        state = LAYOUT_CHANGED if source.ever_yielded else NO_LINKS
        return Health(state, "no links found in the last crawl", ACTIONS[state])
    return Health(OK, "crawled before health was recorded per run", ACTIONS[OK])


def source_health(
    session: Session, source: Source, *, now: datetime | None = None, silent_factor: float = SILENT_FACTOR,
    enabled: bool | None = None,
) -> Health:
    """The health of `source` now: the last run's verdict, since the first run of that streak; an ok source
    with no new item for `silent_factor` × its usual interval is silent."""
    now = now or utcnow()
    if not (source.enabled if enabled is None else enabled):
        return Health(DISABLED, "disabled in the catalogue", ACTIONS[DISABLED])
    runs = _recent_runs(session, source.id)
    if not runs:
        if source.last_run_at is not None or source.consecutive_failures or source.last_links_found is not None:
            return _legacy(source)
        return Health(NEVER_CRAWLED, "not crawled yet", ACTIONS[NEVER_CRAWLED])
    last = runs[0]
    state = last.health or OK
    since = last.finished_at
    for run in runs[1:]:
        if run.health != state:
            break
        since = run.finished_at
    interval = None
    if state == OK:
        dates = _item_dates(session, source.id)
        interval = usual_interval(dates)
        if interval is not None and dates:
            latest = max(dates)
            quiet = now - latest
            if quiet > interval * silent_factor:
                reason = (f"no new item for {_span(quiet)} (usually one every {_span(interval)}; "
                          f"silent after {silent_factor:g}×)")
                return Health(SILENT, reason, ACTIONS[SILENT], since=latest, interval=interval)
    reason = last.health_reason or LABELS.get(state, state)
    return Health(state, reason, ACTIONS.get(state, ""), since=since, interval=interval)


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"


def health_of_sources(
    session: Session, names: Iterable[str] | None = None, *, now: datetime | None = None,
    silent_factor: float = SILENT_FACTOR, enabled: dict[str, bool] | None = None,
) -> dict[str, Health]:
    """The health of the named sources (default: all stored), by name; `enabled` overrides the stored flag
    (the catalogue read now is the truth)."""
    query = select(Source)
    if names is not None:
        query = query.where(Source.name.in_(list(names)))
    out: dict[str, Health] = {}
    for source in session.scalars(query):
        flag = (enabled or {}).get(source.name)
        out[source.name] = source_health(session, source, now=now, silent_factor=silent_factor, enabled=flag)
    return out


def returned(run: CrawlRun) -> bool:
    """True for the run that went back from a fallback to the configured URL (a change worth telling)."""
    return (run.health_reason or "").startswith(RETURNED)


def health_changes(session: Session, run_ids: Iterable[int]) -> list[tuple[Source, CrawlRun, str | None]]:
    """For each of the finished runs `run_ids` whose verdict differs from its source's previous verdict:
    (source, run, previous state or None for a first verdict that is a problem). Going back from a fallback to
    the configured URL is a change too, even when both verdicts are ok."""
    out: list[tuple[Source, CrawlRun, str | None]] = []
    for run in session.scalars(select(CrawlRun).where(CrawlRun.id.in_(list(run_ids))).order_by(CrawlRun.id)):
        if run.health is None or run.source_id is None:
            continue
        previous = session.scalar(
            select(CrawlRun.health)
            .where(CrawlRun.source_id == run.source_id, CrawlRun.id < run.id, CrawlRun.health.is_not(None))
            .order_by(CrawlRun.id.desc()).limit(1)
        )
        if (previous == run.health and not returned(run)) or (previous is None and run.health == OK):
            continue
        source = session.get_one(Source, run.source_id)
        out.append((source, run, previous))
    return out


def unnotified_changes(session: Session) -> tuple[list[int], list[tuple[Source, CrawlRun, str | None]]]:
    """The finished runs with a verdict nobody looked at yet for operator alerts, and among them the health
    changes (source, run, previous state): what one operator message of this run tells."""
    ids = list(session.scalars(
        select(CrawlRun.id).where(CrawlRun.health.is_not(None), CrawlRun.notified_at.is_(None),
                                  CrawlRun.finished_at.is_not(None)).order_by(CrawlRun.id)
    ))
    return ids, health_changes(session, ids)


def mark_notified(session: Session, run_ids: Sequence[int], now: datetime | None = None) -> None:
    """Record that the runs' verdicts were handled (told, or nothing changed)."""
    for start in range(0, len(run_ids), 500):
        session.execute(update(CrawlRun).where(CrawlRun.id.in_(run_ids[start:start + 500]))
                        .values(notified_at=now or utcnow()).execution_options(synchronize_session=False))


def poll_facts(session: Session, name: str, now: datetime | None = None) -> dict[str, Any]:
    """What adaptive polling needs about source `name` (scheduler.polling.PollFacts fields)."""
    now = now or utcnow()
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return {}
    when = func.coalesce(Item.published, Item.fetched_at)  # published last week: an import of old items is no rate
    new_last_week = session.scalar(
        select(func.count()).select_from(Item)
        .where(Item.source_id == source.id, when >= now - timedelta(days=7), when <= now)
    ) or 0
    last = session.scalars(
        select(CrawlRun).where(CrawlRun.source_id == source.id, CrawlRun.finished_at.is_not(None),
                               CrawlRun.status != "interrupted")
        .order_by(CrawlRun.id.desc()).limit(1)
    ).first()
    return {
        "new_last_week": int(new_last_week),
        "consecutive_failures": source.consecutive_failures or 0,
        "last_run_at": last.finished_at if last else source.last_run_at,
        "listing_status": last.listing_status if last else None,
        "retry_after": last.retry_after if last else None,
        "max_age": last.max_age if last else None,
    }


RETURNED = "back on the configured URL"  # the reason of the first run after a fallback ended (crawler.fallback)

# A configured URL that keeps failing in these ways is replaced by what discovery finds on the same site.
FALLBACK_STATES = frozenset({NOT_FOUND, NOT_WELL_FORMED, LAYOUT_CHANGED})
FALLBACK_AFTER = 3


def active_fallback(session: Session, name: str, configured_url: str) -> dict[str, Any] | None:
    """The discovered replacement source `name` is crawled with, while its catalogue URL is `configured_url`
    (a catalogue edit of the URL ends the fallback)."""
    source = session.scalar(select(Source).where(Source.name == name))
    fallback = source.fallback if source is not None else None
    if not fallback or fallback.get("url") != configured_url or not fallback.get("entry"):
        return None  # none, another URL's, or ended (a probe found the configured URL again)
    return fallback


def needs_fallback(session: Session, name: str, after: int = FALLBACK_AFTER) -> bool:
    """True when the last `after` verdicts of source `name` are all failures a discovery may mend."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return False
    states = list(session.scalars(
        select(CrawlRun.health).where(CrawlRun.source_id == source.id, CrawlRun.health.is_not(None))
        .order_by(CrawlRun.id.desc()).limit(after)
    ))
    return len(states) == after and all(s in FALLBACK_STATES for s in states)


def set_fallback(session: Session, name: str, configured_url: str, entry: dict[str, Any], found: str,
                 now: datetime | None = None, probe_every: int = 3) -> None:
    """Crawl source `name` through the discovered `entry` from now on; `crawls` counts the crawls on it since
    the last probe of the configured URL (this one is the first), due every `probe_every` crawls."""
    store_fallback(session, name, {"url": configured_url, "entry": entry, "found": found,
                                   "since": (now or utcnow()).isoformat(timespec="seconds"),
                                   "crawls": 1, "probe_every": probe_every, "probes_failed": 0})


def store_fallback(session: Session, name: str, fallback: dict[str, Any] | None) -> None:
    """Replace source `name`'s fallback record (None: back on the configured URL)."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is not None:
        source.fallback = fallback
        session.flush()


def probe_failed(session: Session, name: str, *, cap: int, now: datetime | None = None) -> int:
    """A probe of the configured URL of source `name` found nothing: probe half as often (at most every `cap`
    crawls); this crawl, on the fallback, counts as the first of the new interval. Returns the interval."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None or not source.fallback:
        return cap
    current = dict(source.fallback)
    every = min(int(current.get("probe_every", 1)) * 2, cap)
    current.update(crawls=1, probe_every=every, probes_failed=int(current.get("probes_failed", 0)) + 1,
                   last_probe=(now or utcnow()).isoformat(timespec="seconds"))
    store_fallback(session, name, current)
    return every


def fallback_note(fallback: dict[str, Any]) -> str:
    entry = fallback.get("entry") or {}
    since = str(fallback.get("since", "?"))[:16].replace("T", " ")
    return (f"using discovered {entry.get('kind', '?')} {entry.get('url', '?')} since {since} "
            f"({fallback.get('found', 'discovery')}), the configured URL kept failing")
