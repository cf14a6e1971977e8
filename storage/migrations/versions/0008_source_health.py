"""Source health from crawl runs: what the listing answered (HTTP status, robots.txt status, challenge or parse
problem), links skipped by robots.txt, and the health verdict of each run (storage.health), so a change of health
is seen by comparing a run with the one before it.

Also: crawl_runs.retry_after / max_age (seconds the listing's Retry-After and Cache-Control asked for: adaptive
polling), sources.fallback (a discovered replacement crawled while the configured URL keeps failing),
crawl_runs.notified_at (the run's verdict was looked at for operator alerts, alerts.operator) and
subscriptions.purpose ("digest", or "operator": the admin channel that receives health changes through the
delivery ledger and never item digests).

Revision ID: 0008_source_health
Revises: 0007_lsh_bands
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_source_health"
down_revision = "0007_lsh_bands"
branch_labels = None
depends_on = None

_COLUMNS = ("listing_status", "robots_status", "robots_skipped", "problem", "health", "health_reason", "notified_at",
            "retry_after", "max_age")


def upgrade() -> None:
    op.add_column("crawl_runs", sa.Column("listing_status", sa.Integer(), nullable=True))
    op.add_column("crawl_runs", sa.Column("robots_status", sa.Integer(), nullable=True))
    op.add_column("crawl_runs", sa.Column("robots_skipped", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("crawl_runs", sa.Column("problem", sa.String(length=200), nullable=True))
    op.add_column("crawl_runs", sa.Column("health", sa.String(length=20), nullable=True))
    op.add_column("crawl_runs", sa.Column("health_reason", sa.Text(), nullable=True))
    op.add_column("crawl_runs", sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("crawl_runs", sa.Column("retry_after", sa.Integer(), nullable=True))
    op.add_column("crawl_runs", sa.Column("max_age", sa.Integer(), nullable=True))
    op.create_index("ix_crawl_runs_source_finished", "crawl_runs", ["source_id", "finished_at"])
    op.add_column("sources", sa.Column("fallback", sa.JSON(), nullable=True))
    op.add_column("subscriptions", sa.Column("purpose", sa.String(length=20), nullable=False,
                                             server_default="digest"))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("fallback")
    op.drop_index("ix_crawl_runs_source_finished", table_name="crawl_runs")
    with op.batch_alter_table("crawl_runs") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
