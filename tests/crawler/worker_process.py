"""A real long-lived CrawlWorker (crawler.worker) in a child process, driven one job at a time from a test.

    with WorkerProcess(tmp_path, [SourceConfig(...)]) as worker:
        summary = worker.crawl("name")        # -> the job's SourceSummary as a dict

The child runs one CrawlWorker (one reactor, many crawls, as `milai worker` does) on the in-process job
queue, with the current MILAI_* environment plus FAST_ENV; each `crawl` queues the name and waits for the
worker's summary of that job, so the test can change its loopback site between crawls.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from crawler.catalogue import SourceConfig
from tests.crawler.helpers import FAST_ENV, write_catalogue

JOB_TIMEOUT = 120.0


def _child(conn: Any, env: dict[str, str], catalogue: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    try:
        from crawler.worker import CrawlWorker
        from milai.config import Settings
        from milai.jobqueue import LocalJobQueue

        queue = LocalJobQueue()
        summaries: list[Any] = []
        done = threading.Condition()

        def on_summary(summary: Any) -> None:
            with done:
                summaries.append(summary)
                done.notify_all()

        worker = CrawlWorker(queue, settings=Settings(), catalogue_path=Path(catalogue), concurrency=1, poll=0.1,
                             ttl=30, on_summary=on_summary)

        def drive() -> None:
            try:
                worker.started.wait(60)
                while True:
                    name = conn.recv()
                    if name is None:
                        break
                    with done:
                        before = len(summaries)
                        queue.put(name, "test")
                        if not done.wait_for(lambda b=before: len(summaries) > b, JOB_TIMEOUT):
                            conn.send(("error", f"job {name} gave no summary in {JOB_TIMEOUT:.0f} s"))
                            break
                        conn.send(("ok", asdict(summaries[-1])))
            except BaseException:
                conn.send(("error", traceback.format_exc()))
            finally:
                worker.stop()

        threading.Thread(target=drive, daemon=True).start()
        worker.run(install_signal_handlers=False)
        conn.send(("stopped", worker.jobs_done))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class WorkerProcess:
    """One CrawlWorker child process over the catalogue `sources` (written to tmp_path)."""

    def __init__(self, tmp_path: Path, sources: list[SourceConfig], env: dict[str, str] | None = None) -> None:
        self.catalogue = write_catalogue(tmp_path / "worker-sources.yaml", sources)
        self.env = {**os.environ, **FAST_ENV, **(env or {})}
        self.ctx = multiprocessing.get_context("spawn")
        self.conn: Any = None
        self.proc: Any = None

    def __enter__(self) -> WorkerProcess:
        parent, child = self.ctx.Pipe()
        self.conn = parent
        self.proc = self.ctx.Process(target=_child, args=(child, self.env, str(self.catalogue)), daemon=True)
        self.proc.start()
        child.close()
        return self

    def crawl(self, name: str) -> dict[str, Any]:
        """Queue `name`, wait for the worker to finish that job, return its summary."""
        self.conn.send(name)
        if not self.conn.poll(JOB_TIMEOUT + 30):
            raise AssertionError(f"the worker did not answer for job {name}")
        status, payload = self.conn.recv()
        if status != "ok":
            raise AssertionError(f"worker failed:\n{payload}")
        return payload

    def __exit__(self, exc_type: object, *exc: object) -> None:
        stopped: tuple[str, Any] = ("error", "the worker did not stop in 60 s")
        try:
            self.conn.send(None)
            if self.conn.poll(60):
                stopped = self.conn.recv()
        finally:
            self.proc.join(30)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(10)
            self.conn.close()
        if exc_type is None:
            assert stopped[0] == "stopped", stopped[1]
