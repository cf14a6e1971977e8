"""`milai scheduler`: the scheduler alone (leader or standby), without the web API or a worker."""

from __future__ import annotations

import signal
import threading

import typer

from milai.cli.common import fail, setup_logging


def scheduler_cmd(
    initial_crawl: bool = typer.Option(True, "--initial-crawl/--no-initial-crawl",
                                       help="Queue every source once when first elected."),
    interval: float = typer.Option(5.0, "--election-interval", min=0.2, max=10.0,
                                   help="Seconds between election rounds (failover time)."),
) -> None:
    """Take part in the scheduler election; while leader, queue due crawls and send due digests."""
    from milai.config import get_settings
    from scheduler.leader import AnotherSchedulerRuns
    from scheduler.node import SchedulerNode

    settings = get_settings()
    setup_logging(settings.log_level)
    if not settings.redis_url:
        fail("milai scheduler queues crawls for `milai worker` processes: set MILAI_REDIS_URL "
             "(on one machine, `milai run` schedules and crawls)")
    from crawler.catalogue import load_catalogue
    from storage.database import ensure_schema

    ensure_schema()
    node = SchedulerNode(settings, list(load_catalogue()), initial_crawl=initial_crawl, interval=interval)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node.start()
    except AnotherSchedulerRuns as exc:
        fail(str(exc), code=1)
    try:
        stop.wait()
    finally:
        node.stop()


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_cmd)
