"""`milai run`: the whole service in one process — the elected scheduler (crawls, digests), the web app and,
unless told not to, one crawl worker.

The composition lives here, at the edge: the scheduler, the worker and the web app know nothing of each other.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
from typing import Annotated

import typer

from milai.cli.common import EXIT_RUNTIME, fail, settings_of, setup_logging

log = logging.getLogger("milai.scheduler")


def run_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default MILAI_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MILAI_PORT or 8000).")] = None,
    initial_crawl: Annotated[bool, typer.Option("--initial-crawl/--no-initial-crawl",
                                                help="Crawl every source once at start-up.")] = True,
    worker: Annotated[bool, typer.Option("--worker/--no-worker",
                                         help="Run a crawl worker in this process (off when `milai worker`s crawl).")
                      ] = True,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64,
                                             help="Sources the worker crawls at once.")] = 2,
) -> None:
    """Run the scheduler (crawls and digests) and the web API until Ctrl-C / SIGTERM."""
    import uvicorn

    from api.app import create_app
    from crawler.catalogue import configured_catalogue
    from scheduler.leader import AnotherSchedulerRuns
    from scheduler.node import EmbeddedWorker, SchedulerNode
    from storage.database import engine_of, ensure_schema

    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    if not worker and not settings.redis_url:
        fail("--no-worker needs MILAI_REDIS_URL: without Redis only this process' worker can crawl")
    sources = configured_catalogue(settings)
    ensure_schema(engine_of(settings))
    node = SchedulerNode(settings, sources, initial_crawl=initial_crawl)
    try:
        node.start()  # a second scheduler on one SQLite file stops here
    except AnotherSchedulerRuns as exc:
        fail(str(exc), code=EXIT_RUNTIME)
    crawl_worker = EmbeddedWorker(settings, concurrency=concurrency) if worker else None
    if crawl_worker is not None:
        crawl_worker.start()
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings), host=host or settings.host, port=port or settings.port,
        log_level=settings.log_level.lower(),
    ))
    # uvicorn handles SIGINT/SIGTERM itself, then restores the previous handlers and re-raises the signal;
    # these handlers make that re-raise harmless so the clean-up below runs and the exit status is 0.
    received: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        server.should_exit = True  # a signal before uvicorn's own handlers are in place still stops the server

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: a stuck service shows its stacks
    try:
        server.run()
    finally:
        log.info("shutting down: stopping scheduler and running crawls")
        node.stop()
        if crawl_worker is not None:
            crawl_worker.stop()
        log.info("stopped%s", f" on signal {received[0]}" if received else "")
