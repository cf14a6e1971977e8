"""item_labels: readers' "relevant" / "not relevant" verdicts on items, with the text version they judged.

Revision ID: 0010_item_labels
Revises: 0009_stories
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_item_labels"
down_revision = "0009_stories"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_item_labels_item_id", "item_labels", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_item_labels_item_id", "item_labels")
    op.drop_table("item_labels")
