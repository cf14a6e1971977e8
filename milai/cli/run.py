"""`milai run`: the whole service in one process — the scheduler (crawls, digests) beside the web app.

The composition lives here, at the edge: the scheduler and the web app know nothing of each other.
"""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer

from milai.cli.common import settings_of, setup_logging

log = logging.getLogger("milai.scheduler")


def run_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default MILAI_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default MILAI_PORT or 8000).")] = None,
    initial_crawl: Annotated[bool, typer.Option("--initial-crawl/--no-initial-crawl",
                                                help="Crawl every source once at start-up.")] = True,
) -> None:
    """Run the scheduler (crawls and digests) and the web API until Ctrl-C / SIGTERM."""
    import uvicorn

    from api.app import create_app
    from crawler.catalogue import catalogue_path, load_catalogue
    from scheduler.service import start_scheduler, stop_scheduler

    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    sources = load_catalogue(catalogue_path(settings.sources))
    scheduler = start_scheduler(settings, sources, initial_crawl=initial_crawl)
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings), host=host or settings.host, port=port or settings.port,
        log_level=settings.log_level.lower(),
    ))
    # uvicorn handles SIGINT/SIGTERM itself, then restores the previous handlers and re-raises the signal;
    # these handlers make that re-raise harmless so the clean-up below runs and the exit status is 0.
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    try:
        server.run()
    finally:
        stop_scheduler(scheduler)
        log.info("stopped%s", f" on signal {received[0]}" if received else "")
