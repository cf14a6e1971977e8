"""Crawl runs that outlive their process: heartbeats of live runs, and closing the ones whose heartbeat stopped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, update
from sqlalchemy.orm import Session

from storage.models import CrawlRun, utcnow

# A live crawl renews its heartbeat every HEARTBEAT; a run silent for STALE_AFTER is taken as dead.
HEARTBEAT = timedelta(seconds=60)
STALE_AFTER = timedelta(minutes=5)
INTERRUPTED_MESSAGE = "the crawl process stopped without closing this run (killed, crashed or the machine went down)"


def heartbeat(session: Session, run_id: int, now: datetime | None = None) -> None:
    """Mark run `run_id` as still alive."""
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.status == "running")
                    .values(heartbeat_at=now or utcnow()))


def close_stale_runs(session: Session, now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> int:
    """Close as `interrupted` every `running` run whose heartbeat (or start, for rows from before heartbeats)
    is older than `stale_after`; a run still renewing its heartbeat elsewhere is left alone. Returns how many."""
    cutoff = (now or utcnow()) - stale_after
    last_sign = func.coalesce(CrawlRun.heartbeat_at, CrawlRun.started_at)
    result = cast(CursorResult[Any], session.execute(
        update(CrawlRun)
        .where(CrawlRun.status == "running", or_(CrawlRun.heartbeat_at < cutoff,
                                                  (CrawlRun.heartbeat_at.is_(None)) & (CrawlRun.started_at < cutoff)))
        .values(status="interrupted", finished_at=last_sign,
                error_summary=func.coalesce(CrawlRun.error_summary, INTERRUPTED_MESSAGE))
        .execution_options(synchronize_session=False)
    ))  # an UPDATE's result: a CursorResult with a rowcount
    return int(result.rowcount or 0)
