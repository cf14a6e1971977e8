"""Job functions the scheduler runs: crawls go on the job queue (milai.jobqueue), digests in-process.

A crawl is no longer a child process per source: the scheduler only queues the source's name, and a
long-lived worker (crawler.worker: `milai run`'s embedded one, or `milai worker` processes on any machine
with MILAI_REDIS_URL) crawls it. A source already queued or being crawled is not queued twice.
"""

from __future__ import annotations

import logging

from milai.config import Settings

log = logging.getLogger("milai.scheduler")


def enqueue(names: list[str], reason: str) -> list[str]:
    """Queue the named sources; returns those queued now (the others are queued or running already)."""
    from milai.jobqueue import get_queue

    # a job APScheduler's store persisted carries only source names: its run is an entry point, read here
    queue = get_queue(Settings())
    queued = [name for name in names if queue.put(name, reason)]
    skipped = len(names) - len(queued)
    log.info("queued %d crawl job(s) (%s)%s", len(queued), reason,
             f"; {skipped} already queued or running" if skipped else "")
    return queued


def crawl_startup(source_names: list[str]) -> list[str]:
    """The start-up crawl: queue every enabled source of the catalogue (names given by the scheduler)."""
    return enqueue(source_names, "startup")


def crawl(source_names: list[str]) -> list[str]:
    """Queue the named sources now (a manual crawl)."""
    return enqueue(source_names, "manual")


def crawl_source(name: str) -> list[str]:
    """The scheduled job of one source (the name APScheduler's job store keeps)."""
    return enqueue([name], "schedule")


def crawl_source_adaptive(name: str) -> list[str]:
    """The adaptive job of one source: queue its crawl, then its next poll one interval from now (what storage
    knows of its rate, failures and the site's Retry-After / max-age: scheduler.polling)."""
    try:
        return enqueue([name], "adaptive")
    finally:
        from scheduler.service import reschedule

        reschedule(name)


def send_digests(settings: Settings) -> str:
    """Deliver every digest and webhook that is due."""
    from alerts.dispatch import send_due
    from scheduler.outage import database_unavailable
    from storage.dberrors import describe

    try:
        report = send_due(settings)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # one line; nothing is lost (the ledger is in that database): the next check sends it
        message = describe(exc, settings.effective_database_url)
        log.error("digest run skipped: %s; next try at the next check", message)
        return message
    log.info("digest run: %s", report)
    return str(report)
