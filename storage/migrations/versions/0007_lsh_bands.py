"""item_bands: the near-duplicate index in the database (MinHash LSH band keys of every first copy)

Until now every crawl process rebuilt a datasketch MinHashLSH index in memory from items.minhash before it
stored its first item (40 s and 1.9 GB at 200,000 signatures). The bands now live in a table indexed by
(band, key), written with the item and read by one indexed query per lookup (storage.near_duplicates).
The backfill computes the bands of every first copy with a signature, in batches, with the band function
of storage.near_duplicates (datasketch's b, r and band ranges for the 0.5 threshold).

Revision ID: 0007_lsh_bands
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_lsh_bands"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "item_bands",
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("band", "key", "item_id", name="pk_item_bands"),
    )
    op.create_index("ix_item_bands_item_id", "item_bands", ["item_id"])
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> int:
    """Bands of every first copy with a signature; returns the rows written."""
    from storage.near_duplicates import band_keys, decode_signature

    items = sa.table("items", sa.column("id"), sa.column("minhash"), sa.column("duplicate_of_id"))
    bands = sa.table("item_bands", sa.column("band"), sa.column("key"), sa.column("item_id"))
    last, written = 0, 0
    while True:
        rows = conn.execute(
            sa.select(items.c.id, items.c.minhash)
            .where(items.c.duplicate_of_id.is_(None), items.c.minhash.is_not(None), items.c.id > last)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return written
        values = []
        for item_id, sig in rows:
            decoded = decode_signature(sig)
            if decoded is not None:
                values += [{"item_id": item_id, "band": b, "key": k} for b, k in band_keys(decoded)]
        if values:
            conn.execute(sa.insert(bands), values)
            written += len(values)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_item_bands_item_id", table_name="item_bands")
    op.drop_table("item_bands")
