"""A long-lived crawl worker: one Twisted reactor, source names from the job queue, the existing spiders.

`milai worker` (and `milai run`'s embedded worker) runs `CrawlWorker`: one Scrapy `CrawlerProcess`
(the CrawlerRunner that also owns the reactor and installs the guarded resolver, crawler.resolver) is
started once and kept running; each crawl job is one more crawler in it -- the same spider classes,
settings, pipeline and CrawlRun accounting as `python -m crawler.runner`, without a process start and
the imports per job. `concurrency` lanes each take a name from the queue (milai.jobqueue), take the
source's crawl lock (one worker per source across the cluster), crawl it, and tell the queue it is done.

Heartbeats (every `ttl / 3` seconds) renew the worker's entry in the queue and its source locks, and
requeue the jobs of workers whose heartbeat expired. A crawl stopped by a shutdown (SIGTERM) goes back to
the queue; with Redis its unfinished requests stay in the shared frontier (crawler.frontier) and the
next worker resumes them. A worker killed outright is noticed by the others within `ttl` seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.utils.reactor import install_reactor
from twisted.internet import defer, task, threads

from crawler import fallback
from crawler.catalogue import SourceConfig, configured_catalogue, load_catalogue
from crawler.catalogue import catalogue_path as resolve_catalogue
from crawler.extensions.counters import counters
from crawler.runner import SourceSummary
from crawler.settings import build_settings
from crawler.spiders import SPIDERS
from milai.config import Settings
from milai.heap import freeze_startup_objects
from milai.jobqueue import WORKER_TTL, JobQueue, WorkerInfo, new_worker_id
from storage.database import engine_of, ensure_schema, session_scope
from storage.items import sync_sources

logger = logging.getLogger("milai.worker")

SHUTDOWN_REASONS = ("shutdown",)
CRAWL_TIMEOUT_SECONDS = 3 * 60 * 60  # a crawl still running after this is closed and its lane freed


def warm_up(settings: Any) -> list[str]:
    """Import every component a crawl loads (download handlers for http(s), middlewares, extensions, pipelines,
    scheduler, dupefilter) and load the language and relevance models before the worker takes its first job.
    Scrapy imports them when the first crawler is created and the pipeline loads the models at its first item:
    measured with py-spy in `bench/worker.py --scale-only` (load 12 on 2 cores), that was seconds of a fresh
    worker's first job, paid after it had announced itself ready. Returns what could not be imported (an optional
    handler's missing dependency: left to Scrapy to report when a crawl needs it)."""
    from scrapy.utils.misc import load_object

    paths: list[Any] = [settings.get(name) for name in ("SCHEDULER", "DUPEFILTER_CLASS", "SCHEDULER_PRIORITY_QUEUE",
                                                       "STATS_CLASS", "TWISTED_DNS_RESOLVER")]
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    paths += [handlers.get(scheme) for scheme in ("http", "https")]
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES"):
        paths += [path for path, order in settings.getwithbase(name).items() if order is not None]
    failed: list[str] = []
    for path in paths:
        if path is None or not isinstance(path, str):
            continue
        try:
            load_object(path)
        except Exception:
            failed.append(path)
    # the per-process models the pipeline loads lazily: the language identifier (1.5 s measured) and the lexicons
    from crawler.pipelines_pool import load_models

    load_models()
    return failed


class CrawlWorker:
    """Crawl the sources named on `queue`, `concurrency` at a time, in one reactor, until stopped."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        settings: Settings,
        catalogue_path: Path | None = None,
        concurrency: int = 2,
        overrides: dict[str, Any] | None = None,
        worker_id: str | None = None,
        ttl: float = WORKER_TTL,
        poll: float = 1.0,
        exit_when_idle: float | None = None,
        on_summary: Callable[[SourceSummary], None] | None = None,
    ) -> None:
        self.queue = queue
        self.catalogue_path = catalogue_path
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.overrides = {"CLOSESPIDER_TIMEOUT": CRAWL_TIMEOUT_SECONDS, **(overrides or {})}
        self.id = worker_id or new_worker_id("crawl")
        self.ttl = ttl
        self.poll = poll
        self.exit_when_idle = exit_when_idle
        self.on_summary = on_summary
        self.current: set[str] = set()
        self.jobs_done = 0
        self.started_at = time.time()
        self._last_busy = time.monotonic()
        self._stopping = False
        self._reactor_installed = False
        self._catalogue: dict[str, SourceConfig] = {}
        self._catalogue_mtime: tuple[float | None, ...] | None = None
        self._lanes: list[defer.Deferred[None]] = []
        self._beat: task.LoopingCall | None = None
        self.process: CrawlerProcess | None = None
        self.started = threading.Event()  # set once the reactor runs (stop() may be called from then on)

    # --- life cycle -----------------------------------------------------------------------------------------

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Start the reactor and crawl until stopped (SIGTERM/SIGINT, `stop`, or idle when asked). Blocks."""
        engine = self.engine = ensure_schema(engine_of(self.settings))
        self._reload_catalogue(force=True)
        extra = {"MILAI_DATABASE_URL": engine.url.render_as_string(hide_password=False), **self.overrides}
        self.process = CrawlerProcess(build_settings(self.settings, extra))
        # the reactor is installed once, before it runs; every crawler created later verifies it
        install_reactor(self.process.settings["TWISTED_REACTOR"], self.process.settings["ASYNCIO_EVENT_LOOP"])
        self._reactor_installed = True
        from twisted.internet import reactor

        warm_up(self.process.settings)
        freeze_startup_objects()  # the models and components just loaded: out of every later full collection
        reactor.callWhenRunning(self._start)
        reactor.addSystemEventTrigger("before", "shutdown", self._on_shutdown)
        if install_signal_handlers:  # ours, not Scrapy's: the lanes must stop taking jobs before crawls stop
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        logger.info("worker %s started (%d lane(s))", self.id, self.concurrency)
        self.process.start(stop_after_crawl=False, install_signal_handlers=False)
        logger.info("worker %s stopped after %d job(s)", self.id, self.jobs_done)

    def stop(self) -> None:
        """Stop from any thread: running crawls stop (and go back to the queue), then the reactor. Before the
        reactor runs, the worker stops as soon as it does, without taking a job."""
        self._stopping = True
        if not self._reactor_installed:  # run() has not installed the reactor yet: it sees _stopping in _start
            return
        from twisted.internet import reactor

        reactor.callFromThread(self._stop)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """First SIGTERM/SIGINT: stop gracefully (jobs and unfinished requests handed back); second: exit now."""
        from twisted.internet import reactor

        if self._stopping:
            os._exit(128 + signum)
        self._stopping = True
        reactor.callFromThread(self._stop)

    def _stop(self) -> None:
        from twisted.internet import reactor

        self._stopping = True
        if reactor.running:
            reactor.stop()

    def _start(self) -> None:
        if self._stopping:  # stopped while starting: take no job
            self.started.set()
            self._stop()
            return
        self._beat = task.LoopingCall(self._heartbeat)
        self._beat.start(max(self.ttl / 3, 0.2), now=True)
        self._lanes = [self._lane() for _ in range(self.concurrency)]
        self.started.set()

    @defer.inlineCallbacks
    def _on_shutdown(self) -> Any:
        """Before the reactor stops: stop the crawls (CrawlerProcess does), let the lanes hand back their jobs."""
        self._stopping = True
        assert self.process is not None
        yield self.process.stop()
        yield defer.DeferredList(self._lanes)
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        yield threads.deferToThread(self.queue.leave, self.id)

    # --- heartbeat ------------------------------------------------------------------------------------------

    def info(self) -> WorkerInfo:
        return WorkerInfo(id=self.id, role="crawl", host=socket.gethostname(), pid=os.getpid(), beat_at=time.time(),
                          started_at=self.started_at, jobs_done=self.jobs_done, current=sorted(self.current))

    @defer.inlineCallbacks
    def _heartbeat(self) -> Any:
        info = self.info()
        try:
            yield threads.deferToThread(self._beat_blocking, info)
        except Exception:  # Redis away for a moment: the next beat retries
            logger.warning("worker %s: heartbeat failed", self.id, exc_info=True)
        if (self.exit_when_idle is not None and not self.current
                and time.monotonic() - self._last_busy > self.exit_when_idle):
            logger.info("worker %s: idle for %.0f s, stopping", self.id, self.exit_when_idle)
            self._stop()

    def _beat_blocking(self, info: WorkerInfo) -> None:
        self.queue.beat(info, self.ttl)
        for name in info.current:
            if not self.queue.renew_source(name, self.id, self.ttl):
                logger.error("worker %s: lost the crawl lock of %s (heartbeat too late?)", self.id, name)
        moved = self.queue.recover()
        if moved:
            logger.warning("requeued %d job(s) of stopped worker(s): %s", len(moved), ", ".join(moved))
        if self.queue.length():
            self._last_busy = time.monotonic()

    # --- jobs -----------------------------------------------------------------------------------------------

    def _reload_catalogue(self, force: bool = False) -> None:
        """(Re)read the catalogue when its file changed; new entries get their `sources` rows."""
        paths = ([self.catalogue_path] if self.catalogue_path
                 else [resolve_catalogue(self.settings.sources), self.settings.user_sources_path])
        mtime = tuple(p.stat().st_mtime if p.exists() else None for p in paths)
        if not force and mtime == self._catalogue_mtime:
            return
        # without an explicit file: the configured catalogue with the user's own merged over it (docs/sources.md)
        sources = list(load_catalogue(self.catalogue_path) if self.catalogue_path
                       else configured_catalogue(self.settings))
        for attempt in range(3):  # workers starting together may insert the same new rows: the loser retries
            try:
                with session_scope(self.engine) as session:
                    sync_sources(session, sources)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.5 + attempt)
        self._catalogue = {s.name: s for s in sources}
        self._catalogue_mtime = mtime

    @defer.inlineCallbacks
    def _lane(self) -> Any:
        from twisted.internet import reactor

        while not self._stopping:
            try:
                name = yield threads.deferToThread(self.queue.take, self.id, self.poll)
            except Exception:
                logger.warning("worker %s: could not read the job queue", self.id, exc_info=True)
                yield task.deferLater(reactor, self.poll, lambda: None)
                continue
            if name is None:
                continue
            self._last_busy = time.monotonic()
            if self._stopping:
                yield threads.deferToThread(self.queue.release, self.id, name)
                break
            yield self._job(name)
            self._last_busy = time.monotonic()

    @defer.inlineCallbacks
    def _job(self, name: str) -> Any:
        from twisted.internet import reactor

        try:
            yield threads.deferToThread(self._reload_catalogue)
        except Exception:
            logger.exception("worker %s: catalogue could not be read; keeping the last one", self.id)
        source = self._catalogue.get(name)
        if source is None or not source.enabled:
            logger.warning("job %s: no such enabled source in the catalogue; dropped", name)
            yield threads.deferToThread(self.queue.done, self.id, name)
            return
        locked = yield threads.deferToThread(self.queue.lock_source, name, self.id, self.ttl)
        if not locked:  # another worker still crawls it (or died a moment ago and its lock has not expired)
            yield threads.deferToThread(self.queue.release, self.id, name)
            yield task.deferLater(reactor, self.poll, lambda: None)
            return
        self.current.add(name)
        crawler: Crawler | None = None
        error: str | None = None
        try:
            assert self.process is not None
            # a discovered replacement when it keeps failing, after a discovery or a probe (crawler.fallback)
            choice = yield fallback.choose(self.process, self.engine, source)
            if not self._stopping:
                crawler = self.process.create_crawler(SPIDERS[choice.entry.kind])
                yield self.process.crawl(crawler, **choice.spider_kwargs())
        except Exception as exc:  # one broken source must not stop the worker
            logger.exception("source %s: crawl failed", name)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.current.discard(name)
        reason = crawler.stats.get_value("finish_reason") if crawler is not None and crawler.stats else None
        try:
            if reason in SHUTDOWN_REASONS or (self._stopping and reason != "finished"):
                yield threads.deferToThread(self.queue.release, self.id, name)  # resumed by the next worker
            else:
                yield threads.deferToThread(self.queue.done, self.id, name)
                self.jobs_done += 1
            yield threads.deferToThread(self.queue.unlock_source, name, self.id)
        except Exception:
            logger.exception("worker %s: could not record job %s in the queue", self.id, name)
        self._report(source, crawler, error)

    def _report(self, source: SourceConfig, crawler: Crawler | None, error: str | None) -> None:
        stats = crawler.stats.get_stats() if crawler is not None and crawler.stats is not None else {}
        summary = SourceSummary(name=source.name, status=str(stats.get("milai/status", "failed")),
                                error=error or stats.get("milai/last_error"), **counters(stats))
        logger.info("crawl %s: %s fetched=%s new=%s duplicate=%s off_topic=%s errors=%s%s", summary.name,
                    summary.status, summary.fetched, summary.new, summary.duplicate, summary.off_topic,
                    summary.errors, f" ({summary.error})" if summary.error else "")
        if self.on_summary is not None:
            try:
                self.on_summary(summary)
            except Exception:
                logger.exception("summary callback failed")
