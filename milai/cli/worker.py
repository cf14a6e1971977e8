"""`milai worker`: a long-lived crawl worker (jobs from the Redis queue) or a digest/webhook sender."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from milai.cli.common import fail, settings_of, setup_logging


class Role(StrEnum):
    crawl = "crawl"
    sender = "sender"


def worker_cmd(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option("--role", help="crawl: take crawl jobs from the queue; sender: send digests.")
                    ] = Role.crawl,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64,
                                             help="Sources crawled at once by this worker (crawl role).")] = 2,
    exit_when_idle: Annotated[float | None, typer.Option("--exit-when-idle", min=0,
                                                         help="Stop after this many seconds with nothing to do.")
                              ] = None,
    ttl: Annotated[float, typer.Option("--heartbeat-ttl", min=1, max=600,
                                       help="Seconds without a heartbeat after which other workers take this one's "
                                            "jobs.")] = 30.0,
    interval: Annotated[float | None, typer.Option("--interval", min=1,
                                                   help="Seconds between send runs (sender role; default "
                                                        "MILAI_DIGEST_CHECK_MINUTES).")] = None,
) -> None:
    """Run one worker of a distributed deployment until SIGTERM / Ctrl-C (see docs/deploy.md)."""
    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    if role is Role.sender:
        from scheduler.sender import run_sender

        run_sender(interval or settings.digest_check_minutes * 60.0, settings=settings)
        return
    if not settings.redis_url:
        fail("milai worker takes its jobs from Redis: set MILAI_REDIS_URL (on one machine, `milai run` "
             "has a worker built in)")
    from crawler.worker import CrawlWorker
    from milai.jobqueue import get_queue

    CrawlWorker(get_queue(settings), settings=settings, concurrency=concurrency,
                exit_when_idle=exit_when_idle, ttl=ttl).run()

