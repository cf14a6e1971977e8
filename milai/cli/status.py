"""`milai status`: the scheduler leader, the crawl job queue and the workers alive with their last heartbeat."""

from __future__ import annotations

import json
import time
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
    from scheduler.leader import election_for

    settings = settings_of(ctx)
    election = election_for(settings.effective_database_url, settings.redis_url, redis_prefix=settings.redis_prefix)
    leader = election.holder()
    report: dict[str, object] = {"leader": leader, "election": election.kind, "redis": bool(settings.redis_url)}
    workers: list[dict[str, object]] = []
    if settings.redis_url:
        from milai.jobqueue import RedisJobQueue

        queue = RedisJobQueue(settings.redis_url, prefix=settings.redis_prefix)
        now = time.time()
        report["queued"] = queue.length()
        report["pending"] = sorted(queue.pending())
        for w in queue.workers():
            workers.append({"id": w.id, "role": w.role, "host": w.host, "pid": w.pid,
                            "last_heartbeat_s": round(now - w.beat_at, 1), "jobs_done": w.jobs_done,
                            "crawling": w.current})
    report["workers"] = workers
    if output is OutputFormat.json:
        print(json.dumps(report, indent=2))
        return
    console.print(f"scheduler leader: {leader or 'none'} ({election.kind})")
    if not settings.redis_url:
        console.print("single node: crawl jobs go to the worker inside `milai run` (no MILAI_REDIS_URL)")
        return
    console.print(f"crawl jobs queued: {report['queued']}, queued or running: {len(report['pending'])}")  # type: ignore[arg-type]
    table = Table(title=f"{len(workers)} worker(s) alive")
    for col in ("id", "role", "last heartbeat", "jobs done", "crawling"):
        table.add_column(col)
    for row in workers:
        table.add_row(str(row["id"]), str(row["role"]), f"{row['last_heartbeat_s']} s ago", str(row["jobs_done"]),
                      ", ".join(row["crawling"]) or "-")  # type: ignore[arg-type]
    console.print(table)

