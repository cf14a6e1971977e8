"""`milai run`: APScheduler (crawl job per source, digest job) beside the uvicorn web API and a crawl worker."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.catalogue import SourceConfig, load_catalogue
from milai.config import Settings, get_settings
from scheduler import jobs
from storage.database import ensure_schema, get_engine, session_scope
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
    for source in sources:
        if not source.enabled:
            continue
        job_id = CRAWL_PREFIX + source.name
        wanted.add(job_id)
        scheduler.add_job(
            jobs.crawl_source,
            CronTrigger.from_crontab(source.schedule or settings.default_schedule, timezone=UTC),
            args=[source.name],
            id=job_id,
            name=f"crawl {source.name}",
            replace_existing=True,
        )
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
