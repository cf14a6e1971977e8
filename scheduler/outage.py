"""Riding out a database outage: the scheduler's job store and jobs log one line and try again.

APScheduler keeps its jobs in the service database. While that database cannot be used, every
wake-up of the scheduler would fail with a many-line SQLAlchemy error (and a failure outside
`get_due_jobs` would end the scheduler's thread for good). `OutageTolerantJobStore` turns every
"database unavailable" error into one line naming the cause and the place, and keeps the scheduler
waking up every `RETRY_SECONDS` until the database answers again; jobs due meanwhile run then
(coalesced into one run each).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy.exc import SQLAlchemyError

from storage.dberrors import describe, is_unavailable

log = logging.getLogger("milai.scheduler")

RETRY_SECONDS = 10  # APScheduler's own jobstore_retry_interval


class DatabaseUnavailable(RuntimeError):
    """A job-store call failed because the database cannot be used; the message is one line."""


class OutageTolerantJobStore(SQLAlchemyJobStore):
    """The SQLAlchemy job store, with database outages reported in one line and retried."""

    def _unavailable(self, exc: SQLAlchemyError) -> str:
        return describe(exc, self.engine.url.render_as_string(hide_password=True))

    def get_due_jobs(self, now: datetime) -> list[Any]:
        try:
            due: list[Any] = super().get_due_jobs(now)  # APScheduler is untyped
            return due
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            # APScheduler logs "Error getting due jobs from job store 'default': <this>" and retries
            raise DatabaseUnavailable(self._unavailable(exc)) from None

    def get_next_run_time(self) -> datetime | None:
        try:
            when: datetime | None = super().get_next_run_time()
            return when
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            log.warning("scheduler: %s; retrying in %ss", self._unavailable(exc), RETRY_SECONDS)
            return datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS)

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            # the stored next run time stays as it was: the job is due again once the database is back
            log.warning("scheduler: %s; job %s keeps its old next run time", self._unavailable(exc), job.id)


def database_unavailable(exc: BaseException) -> bool:
    """For jobs: True when `exc` means the database cannot be used right now."""
    return isinstance(exc, SQLAlchemyError) and is_unavailable(exc)
