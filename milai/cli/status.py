"""`milai status`: the scheduler leader, the crawl job queue and the workers alive with their last heartbeat."""

from __future__ import annotations

import json
import time
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
    out = table_console()
    out.print(f"scheduler leader: {leader or 'none'} ({election.kind})", highlight=False)
    if not settings.redis_url:
        out.print("single node: crawl jobs go to the worker inside `milai run` (no MILAI_REDIS_URL)")
        return
    out.print(f"crawl jobs queued: {report['queued']}, queued or running: {len(report['pending'])}")  # type: ignore[arg-type]
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
