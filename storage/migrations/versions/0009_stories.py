"""Stories: language versions (hreflang translation links) join their copies' story, and every story's
original becomes its earliest published copy (publication day, then first seen, then id), as
storage.stories keeps it from now on. Data only: `items.duplicate_of_id` names the original.

Revision ID: 0009_stories
Revises: 0008_source_health
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009_stories"
down_revision = "0008_source_health"
branch_labels = None
depends_on = None

_BATCH = 500


def _day(value: object) -> date:
    if value is None:
        return date.max
    if isinstance(value, str):  # SQLite hands back the stored text
        value = datetime.fromisoformat(value.replace(" ", "T"))
    return value.date() if isinstance(value, datetime) else date.max


def _when(value: object) -> str:
    return "" if value is None else str(value).replace(" ", "T")


def upgrade() -> None:
    conn = op.get_bind()
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for a, b in conn.execute(sa.text("SELECT id, duplicate_of_id FROM items WHERE duplicate_of_id IS NOT NULL")):
        union(a, b)
    for a, b in conn.execute(sa.text("SELECT item_id, other_id FROM item_links WHERE kind = 'translation'")):
        union(a, b)
    groups: dict[int, list[int]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    members = sorted(parent)
    facts: dict[int, tuple[object, ...]] = {}
    for i in range(0, len(members), _BATCH):
        chunk = members[i:i + _BATCH]
        rows = conn.execute(sa.text("SELECT id, published, fetched_at, duplicate_of_id FROM items WHERE id IN :ids")
                            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": chunk})
        for row in rows:
            facts[row[0]] = (_day(row[1]), _when(row[2]), row[0], row[3])
    update = sa.text("UPDATE items SET duplicate_of_id = :root WHERE id = :id")
    for ids in groups.values():
        present = [i for i in ids if i in facts]
        if len(present) < 2:
            continue
        root = min(present, key=lambda i: facts[i][:3])
        for i in present:
            want = None if i == root else root
            if facts[i][3] != want:
                conn.execute(update, {"root": want, "id": i})


def downgrade() -> None:
    """Nothing to undo: the rows stay valid copies of their stories."""
