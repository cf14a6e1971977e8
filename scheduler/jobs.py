"""Job functions the scheduler runs: crawls go on the job queue (milai.jobqueue), digests in-process.

A crawl is no longer a child process per source: the scheduler only queues the source's name, and a
long-lived worker (crawler.worker: `milai run`'s embedded one, or `milai worker` processes on any machine
with MILAI_REDIS_URL) crawls it. A source already queued or being crawled is not queued twice.
"""

from __future__ import annotations

import logging

log = logging.getLogger("milai.scheduler")


def enqueue(names: list[str], reason: str) -> list[str]:
    """Queue the named sources; returns those queued now (the others are queued or running already)."""
    from milai.jobqueue import get_queue

    queue = get_queue()
    queued = [name for name in names if queue.put(name, reason)]
    skipped = len(names) - len(queued)
    log.info("queued %d crawl job(s) (%s)%s", len(queued), reason,
             f"; {skipped} already queued or running" if skipped else "")
    return queued


def crawl(source_names: list[str] | None = None) -> list[str]:
    """Queue the named sources (every enabled one of the catalogue when None: the start-up crawl)."""
    if source_names is None:
        from crawler.catalogue import load_catalogue

        source_names = [s.name for s in load_catalogue() if s.enabled]
        return enqueue(source_names, "startup")
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


def send_digests() -> str:
    """Deliver every digest and webhook that is due."""
    from alerts.digest import send_due

    report = send_due()
    log.info("digest run: %s", report)
    return str(report)


def terminate_children() -> None:
    """Kept for callers of the process-per-crawl era: crawls now run in workers, there are no children."""
    return None
