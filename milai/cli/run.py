"""`milai run`: the whole service (scheduler + web API) in one process."""

from __future__ import annotations

import typer

from milai.cli.common import setup_logging


def run_cmd(
    host: str | None = typer.Option(None, help="Address to listen on (default MILAI_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default MILAI_PORT or 8000)."),
    initial_crawl: bool = typer.Option(True, "--initial-crawl/--no-initial-crawl",
                                       help="Crawl every source once at start-up."),
) -> None:
    """Run the scheduler (crawls and digests) and the web API until Ctrl-C / SIGTERM."""
    from milai.config import get_settings
    from scheduler.service import run_service

    settings = get_settings()
    setup_logging(settings.log_level)
    run_service(host, port, initial_crawl=initial_crawl)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
