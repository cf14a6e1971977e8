"""crawl_runs.heartbeat_at: a live crawl renews it, so a run left `running` by a killed process can be told
from one still going (on this or another machine) and closed as `interrupted`.

Revision ID: 0006
Revises: 0005_search_filter_keys
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_search_filter_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("crawl_runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("heartbeat_at")
