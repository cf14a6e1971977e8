"""A scheduler node: leader election around APScheduler, and the embedded crawl worker of `milai run`.

`SchedulerNode` is what `milai run` and `milai scheduler` start. It joins the election (scheduler.leader);
while elected it runs APScheduler with the crawl and digest jobs (scheduler.service), which put due
sources on the job queue (milai.jobqueue); when it loses the leadership it stops APScheduler and
stands by. The start-up crawl runs only when a process is elected the moment it starts (a restart, or the
first node): a standby taking over later runs the jobs that are due, it does not crawl everything again.

`EmbeddedWorker` runs a crawler.worker.CrawlWorker -- its own Twisted reactor -- in a thread of this
process, taking from the same queue: on one machine (SQLite, no Redis) the in-process queue, so
`milai run` crawls with no child process per crawl; with Redis one more worker of the cluster.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from crawler.catalogue import SourceConfig
from milai.config import Settings
from scheduler.leader import DEFAULT_INTERVAL, Election, Leadership, election_for

log = logging.getLogger("milai.scheduler")


class SchedulerNode:
    """APScheduler while elected leader, nothing while standing by."""

    def __init__(self, settings: Settings, sources: list[SourceConfig], *, initial_crawl: bool = True,
                 interval: float = DEFAULT_INTERVAL, election: Election | None = None) -> None:
        self.settings = settings
        self.sources = sources
        self.initial_crawl = initial_crawl
        self.election = election or election_for(settings.effective_database_url, settings.redis_url,
                                                 interval=interval, redis_prefix=settings.redis_prefix)
        self.leadership = Leadership(self.election, self._elected, self._demoted, interval=interval)
        self.scheduler: Any = None
        self._starting = False
        self._lock = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    def start(self) -> None:
        """Join the election (raises scheduler.leader.AnotherSchedulerRuns on a second SQLite scheduler)."""
        self._starting = True
        try:
            self.leadership.start()
        finally:
            self._starting = False

    def stop(self) -> None:
        self.leadership.stop()

    def _elected(self) -> None:
        from scheduler.service import DIGEST_JOB, MEMORY, build_scheduler, schedule_jobs

        with self._lock:
            scheduler = build_scheduler(self.settings)
            scheduler.start(paused=True)
            job_ids = schedule_jobs(scheduler, self.sources, self.settings,
                                    initial_crawl=self.initial_crawl and self._starting)
            if not self._starting:  # a takeover (or the way back from an outage): check what is due at once
                scheduler.modify_job(DIGEST_JOB, jobstore=MEMORY, next_run_time=datetime.now(UTC))
            scheduler.resume()
            self.scheduler = scheduler
        log.info("scheduler leading with %d jobs for %d sources", len(job_ids), len(self.sources))

    def _demoted(self) -> None:
        with self._lock:
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=False)
                self.scheduler = None


class EmbeddedWorker:
    """A CrawlWorker in a thread of this process (its reactor runs there, without signal handlers). A database
    that cannot be used while the worker starts (before its reactor runs) is waited out, one line per try."""

    RETRY_SECONDS = 10.0

    def __init__(self, settings: Settings, *, concurrency: int = 2) -> None:
        from milai.jobqueue import get_queue

        self.settings = settings
        self.queue = get_queue(settings)
        self.concurrency = concurrency
        self.worker: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="milai-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from crawler.worker import CrawlWorker
        from scheduler.outage import database_unavailable
        from storage.dberrors import describe

        try:
            while not self._stopping.is_set():
                self.worker = CrawlWorker(self.queue, settings=self.settings, concurrency=self.concurrency)
                self._ready.set()
                try:
                    self.worker.run(install_signal_handlers=False)
                    return
                except Exception as exc:
                    if self.worker.started.is_set() or not database_unavailable(exc):
                        raise  # a reactor cannot run twice: only a start that never reached it is retried
                    log.warning("crawl worker: %s; starting again in %.0fs",
                                describe(exc, self.settings.effective_database_url), self.RETRY_SECONDS)
                    self._stopping.wait(self.RETRY_SECONDS)
        except Exception:
            log.exception("the embedded crawl worker stopped")
        finally:
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()  # a start waiting out an outage gives up
        self._ready.wait(timeout)
        if self.worker is not None:
            try:
                self.worker.stop()  # still starting: it stops as soon as its reactor runs, taking no job
            except Exception:  # the reactor is not running (any more)
                pass
        self._thread.join(timeout)
