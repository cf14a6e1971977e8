"""`milai run`: the whole service (scheduler + web API + a crawl worker) in one process."""

from __future__ import annotations

import typer

from milai.cli.common import fail, setup_logging


def run_cmd(
    host: str | None = typer.Option(None, help="Address to listen on (default MILAI_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default MILAI_PORT or 8000)."),
    initial_crawl: bool = typer.Option(True, "--initial-crawl/--no-initial-crawl",
                                       help="Crawl every source once at start-up."),
    worker: bool = typer.Option(True, "--worker/--no-worker",
                                help="Run a crawl worker in this process (off when `milai worker`s crawl)."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, max=64, help="Sources the worker crawls at once."),
) -> None:
    """Run the scheduler (crawls and digests) and the web API until Ctrl-C / SIGTERM."""
    from milai.config import get_settings
    from scheduler.leader import AnotherSchedulerRuns
    from scheduler.service import run_service

    settings = get_settings()
    setup_logging(settings.log_level)
    if not worker and not settings.redis_url:
        fail("--no-worker needs MILAI_REDIS_URL: without Redis only this process' worker can crawl")
    try:
        run_service(host, port, initial_crawl=initial_crawl, embedded_worker=worker, worker_concurrency=concurrency)
    except AnotherSchedulerRuns as exc:
        fail(str(exc), code=1)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
