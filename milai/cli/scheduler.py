"""`milai scheduler`: the scheduler alone (leader or standby), without the web API or a worker."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from milai.cli.common import EXIT_RUNTIME, fail, settings_of, setup_logging


def scheduler_cmd(
    ctx: typer.Context,
    initial_crawl: Annotated[bool, typer.Option("--initial-crawl/--no-initial-crawl",
                                                help="Queue every source once when first elected.")] = True,
    interval: Annotated[float, typer.Option("--election-interval", min=0.2, max=10.0,
                                            help="Seconds between election rounds (failover time).")] = 5.0,
) -> None:
    """Take part in the scheduler election; while leader, queue due crawls and send due digests."""
    from scheduler.leader import AnotherSchedulerRuns
    from scheduler.node import SchedulerNode

    settings = settings_of(ctx)
    setup_logging(settings.log_level)
    if not settings.redis_url:
        fail("milai scheduler queues crawls for `milai worker` processes: set MILAI_REDIS_URL "
             "(on one machine, `milai run` schedules and crawls)")
    from crawler.catalogue import configured_catalogue
    from storage.database import engine_of, ensure_schema

    ensure_schema(engine_of(settings))
    sources = list(configured_catalogue(settings))
    node = SchedulerNode(settings, sources, initial_crawl=initial_crawl, interval=interval)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node.start()
    except AnotherSchedulerRuns as exc:
        fail(str(exc), code=EXIT_RUNTIME)
    try:
        stop.wait()
    finally:
        node.stop()

