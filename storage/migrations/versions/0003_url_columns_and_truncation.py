"""URL keys as text (no 2,048-character limit), and items.text_truncated

PostgreSQL rejected canonical URLs of 2,049-2,083 characters (`String(2048)`) in items.canonical_url,
url_aliases.url and pending_alternates.canonical_url; the crawler now bounds URLs itself (URLLENGTH_LIMIT,
2,083 characters as listed, and 2,600 for the canonical key: inside a PostgreSQL B-tree index entry), so
the columns become TEXT. SQLite never enforced VARCHAR lengths (TEXT affinity): there the column types are left as they are
(rebuilding `items` would drop its full-text triggers for nothing).

items.text_truncated marks an item whose text was cut at the crawler's length cap (MILAI_MAX_TEXT_CHARS)
or extracted from the first MILAI_MAX_HTML_BYTES of a larger page.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

URL_COLUMNS = (("items", "canonical_url"), ("url_aliases", "url"), ("pending_alternates", "canonical_url"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in URL_COLUMNS:
            op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(2048), existing_nullable=False)
    op.add_column("items", sa.Column("text_truncated", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("text_truncated")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in URL_COLUMNS:
            op.alter_column(table, column, type_=sa.String(2048), existing_type=sa.Text(), existing_nullable=False,
                            postgresql_using=f"left({column}, 2048)")
