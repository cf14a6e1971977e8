"""The scheduler: one crawl job per source (persisted in the service database) and the digest-check job.

`milai run` (milai/cli/run.py) composes it with the web app; this module knows nothing of the web side.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.catalogue import SourceConfig
from milai.config import Settings
from scheduler import jobs
from scheduler.outage import OutageTolerantJobStore
from scheduler.polling import PollFacts, PollPolicy, next_interval, next_poll
from storage.database import engine_of, ensure_schema, session_scope
from storage.health import poll_facts
from storage.runs import close_stale_runs

log = logging.getLogger("milai.scheduler")

CRAWL_PREFIX = "crawl:"
DIGEST_JOB = "digest"
STARTUP_CRAWL_JOB = "startup-crawl"
MEMORY = "memory"  # job store of the jobs that are not persisted


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    """A scheduler whose crawl jobs persist in the service database (SQLAlchemy job store); the digest job,
    which carries the settings, lives in memory only (re-added at every start, so no secret is stored)."""
    engine = ensure_schema(engine_of(settings))
    with session_scope(engine) as session:  # runs of crawls killed with the last service are not running
        close_stale_runs(session)
    return BackgroundScheduler(
        jobstores={"default": OutageTolerantJobStore(engine=engine, tablename="apscheduler_jobs"),
                   MEMORY: MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=3)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15 * 60},
        timezone=UTC,
    )


def schedule_jobs(
    scheduler: BackgroundScheduler,
    sources: list[SourceConfig],
    settings: Settings,
    *,
    initial_crawl: bool = True,
) -> list[str]:
    """(Re)register one crawl job per enabled source and the digest job; drop jobs of removed sources."""
    wanted: set[str] = set()
    global _scheduler, _settings
    _scheduler, _settings = scheduler, settings
    for source in sources:
        if not source.enabled:
            continue
        job_id = CRAWL_PREFIX + source.name
        wanted.add(job_id)
        if source.schedule or not settings.adaptive_polling:  # a catalogue schedule wins over adaptive polling
            scheduler.add_job(
                jobs.crawl_source,
                CronTrigger.from_crontab(source.schedule or settings.default_schedule, timezone=UTC),
                args=[source.name],
                id=job_id,
                name=f"crawl {source.name}",
                replace_existing=True,
            )
        else:
            schedule_adaptive(scheduler, source.name, settings, first=initial_crawl)
    for job in scheduler.get_jobs():
        if job.id.startswith(CRAWL_PREFIX) and job.id not in wanted:
            job.remove()
    if scheduler.get_job(DIGEST_JOB, jobstore="default") is not None:  # persisted by versions before 0.2
        scheduler.remove_job(DIGEST_JOB, jobstore="default")
    scheduler.add_job(
        jobs.send_digests,
        IntervalTrigger(minutes=settings.digest_check_minutes, timezone=UTC),
        args=[settings],
        jobstore=MEMORY,
        id=DIGEST_JOB,
        name="send due digests",
        replace_existing=True,
    )
    if initial_crawl:
        scheduler.add_job(
            jobs.crawl_startup, args=[sorted(s.name for s in sources if s.enabled)], id=STARTUP_CRAWL_JOB,
            name="crawl everything once at start-up",
            next_run_time=datetime.now(UTC), replace_existing=True,
        )
    return sorted(job.id for job in scheduler.get_jobs())


_scheduler: BackgroundScheduler | None = None  # the running scheduler and its settings (reschedule)
_settings: Settings | None = None


def policy(settings: Settings) -> PollPolicy:
    return PollPolicy(timedelta(minutes=settings.poll_min_minutes), timedelta(hours=settings.poll_max_hours))


def schedule_adaptive(scheduler: BackgroundScheduler, name: str, settings: Settings, *,
                      now: datetime | None = None, first: bool = False, queued: bool = False) -> datetime:
    """(Re)register the one-shot crawl job of source `name` at its next adaptive poll; returns that time.
    `first`: the start-up crawl covers now, so a never-crawled source waits one minimum interval; `queued`: a
    crawl was just queued, so the next poll is one interval from now (not from the last finished run)."""
    now = now or datetime.now(UTC)
    with session_scope(engine_of(settings)) as session:
        facts = PollFacts(**poll_facts(session, name, now))
    rules = policy(settings)
    when, why = next_poll(facts, now, rules)
    if queued:
        interval, why = next_interval(facts, rules)
        when = now + interval
    elif first and facts.last_run_at is None:
        when, why = now + rules.minimum, "after the start-up crawl"
    scheduler.add_job(jobs.crawl_source_adaptive, DateTrigger(when, timezone=UTC), args=[name],
                      id=CRAWL_PREFIX + name, name=f"crawl {name} (adaptive: {why})", replace_existing=True)
    log.info("next crawl of %s at %s (%s)", name, when.isoformat(timespec="minutes"), why)
    return when


def reschedule(name: str) -> None:
    """After an adaptive crawl of `name`: its next poll (called by scheduler.jobs.crawl_source_adaptive)."""
    if _scheduler is not None and _settings is not None and _scheduler.running:
        schedule_adaptive(_scheduler, name, _settings, queued=True)
