"""`milai worker`: a long-lived crawl worker (jobs from the Redis queue) or a digest/webhook sender."""

from __future__ import annotations

import typer

from milai.cli.common import fail, setup_logging


def worker_cmd(
    role: str = typer.Option("crawl", "--role", help="crawl: take crawl jobs from the queue; sender: send digests."),
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, max=64,
                                    help="Sources crawled at once by this worker (crawl role)."),
    exit_when_idle: float | None = typer.Option(None, "--exit-when-idle", min=0,
                                                help="Stop after this many seconds with nothing to do."),
    ttl: float = typer.Option(30.0, "--heartbeat-ttl", min=1, max=600,
                              help="Seconds without a heartbeat after which other workers take this one's jobs."),
    interval: float | None = typer.Option(None, "--interval", min=1,
                                          help="Seconds between send runs (sender role; default "
                                               "MILAI_DIGEST_CHECK_MINUTES)."),
) -> None:
    """Run one worker of a distributed deployment until SIGTERM / Ctrl-C (see docs/deploy.md)."""
    from milai.config import get_settings

    settings = get_settings()
    setup_logging(settings.log_level)
    if role == "sender":
        from scheduler.sender import run_sender

        run_sender(interval or settings.digest_check_minutes * 60.0)
        return
    if role != "crawl":
        fail("--role must be crawl or sender")
    if not settings.redis_url:
        fail("milai worker takes its jobs from Redis: set MILAI_REDIS_URL (on one machine, `milai run` "
             "has a worker built in)")
    from crawler.worker import CrawlWorker
    from milai.jobqueue import get_queue

    CrawlWorker(get_queue(settings.redis_url), concurrency=concurrency, exit_when_idle=exit_when_idle, ttl=ttl).run()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
