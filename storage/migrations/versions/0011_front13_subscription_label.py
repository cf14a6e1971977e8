"""subscriptions.label: the name a subscriber gives a saved search, shown in digest subjects and listings.

Revision ID: 0011_front13_subscription_label
Revises: 0010_item_labels
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_front13_subscription_label"
down_revision = "0010_item_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("label")
