"""`milai run`: APScheduler (crawl job per source, digest job) beside the uvicorn web API and a crawl worker."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta

import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.catalogue import SourceConfig, load_catalogue
from milai.config import Settings, get_settings
from scheduler import jobs
from scheduler.polling import PollFacts, PollPolicy, next_interval, next_poll
from storage.database import ensure_schema, get_engine, session_scope
from storage.health import poll_facts
from storage.runs import close_stale_runs

log = logging.getLogger("milai.scheduler")

CRAWL_PREFIX = "crawl:"
DIGEST_JOB = "digest"
STARTUP_CRAWL_JOB = "startup-crawl"


def build_scheduler() -> BackgroundScheduler:
    """A scheduler whose jobs persist in the service database (SQLAlchemy job store)."""
    engine = ensure_schema(get_engine())
    with session_scope(engine) as session:  # runs of crawls killed with the last service are not running
        close_stale_runs(session)
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        executors={"default": ThreadPoolExecutor(max_workers=3)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15 * 60},
        timezone=UTC,
    )


def schedule_jobs(
    scheduler: BackgroundScheduler,
    sources: list[SourceConfig],
    settings: Settings | None = None,
    *,
    initial_crawl: bool = True,
) -> list[str]:
    """(Re)register one crawl job per enabled source and the digest job; drop jobs of removed sources."""
    settings = settings or get_settings()
    wanted: set[str] = set()
    global _scheduler
    _scheduler = scheduler
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
    scheduler.add_job(
        jobs.send_digests,
        IntervalTrigger(minutes=settings.digest_check_minutes, timezone=UTC),
        id=DIGEST_JOB,
        name="send due digests",
        replace_existing=True,
    )
    if initial_crawl:
        scheduler.add_job(
            jobs.crawl, args=[None], id=STARTUP_CRAWL_JOB, name="crawl everything once at start-up",
            next_run_time=datetime.now(UTC), replace_existing=True,
        )
    return sorted(job.id for job in scheduler.get_jobs())


_scheduler: BackgroundScheduler | None = None


def policy(settings: Settings) -> PollPolicy:
    return PollPolicy(timedelta(minutes=settings.poll_min_minutes), timedelta(hours=settings.poll_max_hours))


def schedule_adaptive(scheduler: BackgroundScheduler, name: str, settings: Settings | None = None, *,
                      now: datetime | None = None, first: bool = False, queued: bool = False) -> datetime:
    """(Re)register the one-shot crawl job of source `name` at its next adaptive poll; returns that time.
    `first`: the start-up crawl covers now, so a never-crawled source waits one minimum interval; `queued`: a
    crawl was just queued, so the next poll is one interval from now (not from the last finished run)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    with session_scope(get_engine()) as session:
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
    if _scheduler is not None and _scheduler.running:
        schedule_adaptive(_scheduler, name, queued=True)


def run_service(host: str | None = None, port: int | None = None, *, initial_crawl: bool = True,
                embedded_worker: bool = True, worker_concurrency: int = 2) -> None:
    """Run scheduler (when elected leader: scheduler.node), the web API and, unless told not to, one embedded
    crawl worker, until SIGINT/SIGTERM (uvicorn handles the signals)."""
    from api.app import create_app
    from scheduler.node import EmbeddedWorker, SchedulerNode

    settings = get_settings()
    sources = load_catalogue()
    ensure_schema(get_engine())
    node = SchedulerNode(settings, sources, initial_crawl=initial_crawl)
    node.start()  # a second scheduler on one SQLite file stops here (scheduler.leader.AnotherSchedulerRuns)
    worker = EmbeddedWorker(settings, concurrency=worker_concurrency) if embedded_worker else None
    if worker is not None:
        worker.start()
    config = uvicorn.Config(
        create_app(), host=host or settings.host, port=port or settings.port,
        log_level=settings.log_level.lower(),
    )
    server = uvicorn.Server(config)
    # uvicorn handles SIGINT/SIGTERM itself, then restores the previous handlers and re-raises the signal;
    # these handlers make that re-raise harmless so the clean-up below runs and the exit status is 0.
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    try:
        server.run()
    finally:
        log.info("shutting down: stopping scheduler and running crawls")
        node.stop()
        if worker is not None:
            worker.stop()
        log.info("stopped%s", f" on signal {received[0]}" if received else "")
