"""`milai status`: the scheduler leader, the crawl job queue and the workers alive with their last heartbeat."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from milai.cli.common import console, settings_of


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def status_cmd(
    ctx: typer.Context,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
) -> None:
    """Show who leads the scheduling, how many crawl jobs wait, and which workers are alive."""
    from dataclasses import asdict

    from milai.cluster import cluster_status
    from storage.database import engine_of

    settings = settings_of(ctx)
    status = cluster_status(settings, engine_of(settings))
    workers = [asdict(w) for w in status.workers]
    report: dict[str, object] = {"leader": status.leader, "election": status.election, "redis": status.redis}
    if status.redis:
        report |= {"queued": status.queued, "pending": status.pending, "queue_error": status.queue_error}
    report["workers"] = workers
    if output is OutputFormat.json:
        print(json.dumps(report, indent=2))
        return
    console.print(f"scheduler leader: {status.leader or 'none'} ({status.election})")
    if not status.redis:
        console.print("single node: crawl jobs go to the worker inside `milai run` (no MILAI_REDIS_URL)")
        return
    if status.queue_error:
        console.print(f"crawl job queue: {status.queue_error}")
        return
    console.print(f"crawl jobs queued: {status.queued}, queued or running: {len(status.pending)}")
    table = Table(title=f"{len(workers)} worker(s) alive")
    for col in ("id", "role", "last heartbeat", "jobs done", "crawling"):
        table.add_column(col)
    for w in status.workers:
        table.add_row(w.id, w.role, f"{w.last_heartbeat_s} s ago", str(w.jobs_done), ", ".join(w.crawling) or "-")
    console.print(table)
