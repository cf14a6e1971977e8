"""`milai status`: the scheduler leader, the crawl job queue and the workers alive with their last heartbeat."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from milai.cli.common import WIDE, fit, settings_of, table_console


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
    out = table_console()
    out.print(f"scheduler leader: {status.leader or 'none'} ({status.election})", highlight=False)
    if not status.redis:
        out.print("single node: crawl jobs go to the worker inside `milai run` (no MILAI_REDIS_URL)")
        return
    if status.queue_error:
        out.print(f"crawl job queue: {status.queue_error}")
        return
    out.print(f"crawl jobs queued: {status.queued}, queued or running: {len(status.pending)}")
    out.print(_table(workers, out.width))


def _table(workers: list[dict[str, object]], width: int) -> Table:
    """One column per field when wide; below WIDE, three columns of two-line cells (each cell wraps), so a long
    worker id (host:pid:role:…) or a long list of sources being crawled fits a narrow terminal or a pipe."""
    title = f"{len(workers)} worker(s) alive"
    if width >= WIDE:
        table = Table("id", "role", "last heartbeat", "jobs done", "crawling", title=title)
        for row in workers:
            table.add_row(str(row["id"]), str(row["role"]), f"{row['last_heartbeat_s']} s ago",
                          str(row["jobs_done"]), ", ".join(row["crawling"]) or "-")  # type: ignore[arg-type]
        return fit(table, width, {"id": 3, "crawling": 2})
    table = Table("worker", "heartbeat", "crawling", title=title)
    for row in workers:
        table.add_row(f"{row['id']}\n({row['role']})", f"{row['last_heartbeat_s']} s ago\n{row['jobs_done']} jobs done",
                      ", ".join(row["crawling"]) or "-")  # type: ignore[arg-type]
    return fit(table, width, {"worker": 3, "crawling": 2})
