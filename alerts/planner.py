"""The planner: which new items each subscription gets, grouped into batches that are due.

Every (subscription, item) pair gets exactly one `Delivery` row (unique constraint; inserts use
ON CONFLICT DO NOTHING, so concurrent planners are harmless): `pending` when the item matches the
subscription, `skipped` when it does not (so it is never examined again), `superseded` when it was a
story's original, still waiting (pending, in no batch), and an earlier-published copy took the story
over (storage.stories): the new original is delivered instead, so the subscriber gets the story once.
When the copy was already batched or sent, the new original is delivered marked `original_of` (the
copies received and when): not a new item, and digests list it apart. Pending deliveries of a
due subscription (alerts.schedule) are grouped into a `DeliveryBatch` whose id is the stable
webhook-id / Message-ID seed; the batch payload (a snapshot of the items, alerts.snapshots) is
stored with it, so any re-send is byte-for-byte the same message. The ledger (alerts.ledger) then
hands batches to senders exactly once.
"""

from __future__ import annotations

import secrets
import time as clock
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session, selectinload

from alerts.schedule import is_due
from alerts.snapshots import TITLE_CHARS, item_snapshot, item_text, load_relations, plain_text
from alerts.subscriptions import compile_matcher
from storage.database import session_scope
from storage.models import Delivery, DeliveryBatch, Item, Subscription
from storage.search.dates import as_utc

PAYLOAD_TYPE = "milai.digest"
PAYLOAD_VERSION = 1
MAX_BATCH_ITEMS = 100  # one digest (email or webhook delivery) carries at most this many items
DEFAULT_BACKFILL = timedelta(hours=24)  # MILAI_SUBSCRIPTION_BACKFILL_HOURS' default


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _matches(subscription: Subscription, item: Item, matcher: Any) -> bool:
    source = item.source
    if subscription.sources and (source is None or source.name not in subscription.sources):
        return False
    if subscription.publishers and (source is None or source.publisher not in subscription.publishers):
        return False
    if subscription.languages and (item.language or "").lower() not in subscription.languages:
        return False
    return bool(matcher(item_text(item), item.language))


def record_deliveries(session: Session, subscription: Subscription, *, backfill: timedelta = DEFAULT_BACKFILL) -> int:
    """Insert one ledger row per new on-topic original item fetched since the subscription began.

    "Since" reaches back `backfill` (MILAI_SUBSCRIPTION_BACKFILL_HOURS, default 24 h) before the subscription
    was created, so a new subscriber's first digest holds the day's news rather than nothing, never the archive.

    Returns how many became pending (matched); the others are recorded as `skipped`.
    """
    already = exists().where(Delivery.subscription_id == subscription.id, Delivery.item_id == Item.id)
    stmt = (
        select(Item)
        .where(
            Item.relevant.is_(True),
            Item.duplicate_of_id.is_(None),
            Item.fetched_at >= subscription.created_at - backfill,
            ~already,
        )
        .options(selectinload(Item.source))
        .order_by(Item.id)
    )
    items = list(session.scalars(stmt))
    if not items:
        return 0
    matcher = compile_matcher(subscription.query)
    rows = [
        {
            "subscription_id": subscription.id,
            "item_id": item.id,
            "state": "pending" if _matches(subscription, item, matcher) else "skipped",
        }
        for item in items
    ]
    insert = _insert(session)
    for start in range(0, len(rows), 500):
        session.execute(insert(Delivery).values(rows[start:start + 500]).on_conflict_do_nothing())
    matched = [item.id for item, row in zip(items, rows, strict=True) if row["state"] == "pending"]
    supersede_copies(session, subscription.id, matched)
    return len(matched)


def supersede_copies(session: Session, subscription_id: int, original_ids: list[int]) -> int:
    """The subscription's deliveries of copies of these (new) originals that are still pending in no
    batch become `superseded`: the original goes out instead of them. Returns how many.

    The UPDATE repeats "in no batch", so a copy a concurrent planner has just batched is left alone
    (its original is then marked `original_of` when it is batched, see `received_copies`)."""
    changed = 0
    for chunk in _chunks(original_ids):
        copies = select(Item.id).where(Item.duplicate_of_id.in_(chunk)).scalar_subquery()
        result = session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == subscription_id, Delivery.item_id.in_(copies),
                   Delivery.state == "pending", Delivery.batch_id.is_(None))
            .values(state="superseded")
            .execution_options(synchronize_session=False)
        )
        changed += cast("CursorResult[Any]", result).rowcount or 0
    return changed


def received_copies(
    session: Session, subscription_id: int, item_ids: list[int], *, besides: Sequence[str] = (),
) -> dict[int, dict[str, Any]]:
    """{original id: its `original_of` field} for the items whose story the subscriber has already got
    through another copy: that copy's delivery is in a batch (other than `besides`, the batches being
    made) or sent. `received` is the earliest time one of them was sent (or, not sent yet, batched);
    `copies` lists them ({id, title, url, publisher}, in the order received)."""
    found: dict[int, list[tuple[datetime, int]]] = {}
    skip = set(besides)
    for chunk in _chunks(item_ids):
        # the copies first, alone (an index lookup whatever SQLite's statistics say), then their deliveries by
        # the (subscription, item) key: joined in one statement, stale statistics made SQLite walk every
        # delivery of the subscription
        original_of = {
            copy_id: original for copy_id, original in session.execute(
                select(Item.id, Item.duplicate_of_id).where(Item.duplicate_of_id.in_(chunk))
            ) if original is not None
        }
        for copy_chunk in _chunks(list(original_of)):
            for copy_id, batch_id, sent_at, batch_sent_at, batched_at in session.execute(
                select(Delivery.item_id, Delivery.batch_id, Delivery.sent_at, DeliveryBatch.sent_at,
                       DeliveryBatch.created_at)
                .join(DeliveryBatch, DeliveryBatch.id == Delivery.batch_id)
                .where(Delivery.subscription_id == subscription_id, Delivery.item_id.in_(copy_chunk),
                       Delivery.state.in_(("pending", "sent")))
            ):
                if batch_id in skip:
                    continue
                when = as_utc(sent_at or batch_sent_at or batched_at)
                found.setdefault(original_of[copy_id], []).append((when, copy_id))
    if not found:
        return {}
    copy_ids = sorted({copy_id for entries in found.values() for _, copy_id in entries})
    copies: dict[int, Item] = {}
    for chunk in _chunks(copy_ids):
        for copy in session.scalars(select(Item).where(Item.id.in_(chunk)).options(selectinload(Item.source))):
            copies[copy.id] = copy
    out: dict[int, dict[str, Any]] = {}
    for original, entries in found.items():
        entries.sort()
        out[original] = {
            "received": entries[0][0].isoformat(),
            "copies": [copy_reference(copies[copy_id]) for _, copy_id in entries if copy_id in copies],
        }
    return out


def copy_reference(item: Item) -> dict[str, Any]:
    """A copy the subscriber received, as `original_of.copies` lists it."""
    return {
        "id": item.id,
        "title": plain_text(item.title, TITLE_CHARS) or (item.url or item.canonical_url),
        "url": item.url or item.canonical_url,
        "publisher": item.source.publisher if item.source else None,
    }


def new_batch_id() -> str:
    """Unique and roughly time-ordered, so batches of one run go out in item order."""
    return f"msg_{clock.time_ns():016x}{secrets.token_hex(8)}"


def _payload(
    subscription: Subscription, batch_id: str, items: list[Item], now: datetime,
    relations: dict[int, dict[str, list[dict[str, Any]]]] | None = None,
    received: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if relations is None:
        session = object_session(subscription)
        relations = load_relations(session, [item.id for item in items]) if session is not None else {}
    received = received or {}
    return {
        "type": PAYLOAD_TYPE,
        "version": PAYLOAD_VERSION,
        "id": batch_id,
        "subscription": subscription.id,
        "label": subscription.label,  # the subscriber's name for the saved search (None when unnamed)
        "created": now.isoformat(),
        "items": [
            item_snapshot(item, relations.get(item.id), query=subscription.query, original_of=received.get(item.id))
            for item in items
        ],
    }


_CHUNK = 500  # ids per IN (...) list


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[start:start + _CHUNK] for start in range(0, len(values), _CHUNK)]


def create_batches(session: Session, subscription: Subscription, now: datetime) -> list[str]:
    """Group the subscription's unbatched pending deliveries into batches; returns their ids.

    One batch per item for immediate webhooks, one per run otherwise, but never more than
    MAX_BATCH_ITEMS items in a batch: the rest go into further batches of the same run (in item
    order), which are sent one after the other. Safe against a concurrent planner: a delivery is
    moved into a batch only while it has none (a batch left without deliveries is dropped).

    All batches of a run are made in a handful of statements (batches inserted together, deliveries
    moved by one executemany, items and their relations loaded once), so ten thousand immediate
    webhooks are planned in seconds.
    """
    pending = list(
        session.execute(
            select(Delivery.id, Delivery.item_id)
            .where(
                Delivery.subscription_id == subscription.id,
                Delivery.state == "pending",
                Delivery.batch_id.is_(None),
            )
            .order_by(Delivery.item_id)
        )
    )
    if not pending:
        return []
    per_item = subscription.channel == "webhook" and subscription.frequency == "immediate"
    size = 1 if per_item else max(1, MAX_BATCH_ITEMS)
    groups = [pending[start:start + size] for start in range(0, len(pending), size)]
    batch_ids = [new_batch_id() for _ in groups]
    session.execute(insert(DeliveryBatch), [
        {"id": batch_id, "subscription_id": subscription.id, "state": "pending", "created_at": now}
        for batch_id in batch_ids
    ])
    table = Delivery.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("delivery_id"), table.c.batch_id.is_(None))
        .values(batch_id=bindparam("new_batch_id")),
        [{"delivery_id": row.id, "new_batch_id": batch_id}
         for batch_id, group in zip(batch_ids, groups, strict=True) for row in group],
    )
    members: dict[str, list[int]] = {batch_id: [] for batch_id in batch_ids}
    for chunk in _chunks(batch_ids):
        for batch_id, item_id in session.execute(
            select(Delivery.batch_id, Delivery.item_id).where(Delivery.batch_id.in_(chunk))
        ):
            members[batch_id].append(item_id)
    item_ids = [item_id for ids in members.values() for item_id in ids]
    items: dict[int, Item] = {}
    for chunk in _chunks(item_ids):
        for item in session.scalars(
            select(Item).where(Item.id.in_(chunk)).options(
                selectinload(Item.source), selectinload(Item.duplicates).selectinload(Item.source),
            )
        ):
            items[item.id] = item
    relations = load_relations(session, item_ids)
    received = received_copies(session, subscription.id, item_ids, besides=batch_ids)

    def order(item: Item) -> tuple[bool, float, int]:  # published desc, nulls last, then id
        published = item.published
        if published is not None and published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        return (published is None, -published.timestamp() if published else 0.0, item.id)

    created: list[str] = []
    payloads: list[dict[str, Any]] = []
    empty: list[str] = []
    for batch_id in batch_ids:
        batch_items = sorted((items[i] for i in members[batch_id]), key=order)
        if not batch_items:  # a concurrent planner took them
            empty.append(batch_id)
            continue
        payload = _payload(subscription, batch_id, batch_items, now, relations, received)
        payloads.append({"id": batch_id, "payload": payload})
        created.append(batch_id)
    if payloads:
        session.execute(update(DeliveryBatch), payloads)  # by primary key, one executemany
    for chunk in _chunks(empty):
        session.execute(delete(DeliveryBatch).where(DeliveryBatch.id.in_(chunk)))
    return created


def plan(
    engine: Engine, now: datetime, *, force: bool = False, backfill: timedelta = DEFAULT_BACKFILL,
) -> list[str]:
    """Record new deliveries for every active subscription and batch those that are due."""
    with session_scope(engine) as session:
        ids = list(session.scalars(select(Subscription.id).where(Subscription.active.is_(True),
                                                                 Subscription.purpose == "digest")))
    created: list[str] = []
    for subscription_id in ids:
        with session_scope(engine) as session:
            subscription = session.get(Subscription, subscription_id, with_for_update=True)
            if subscription is None or not subscription.active:
                continue
            record_deliveries(session, subscription, backfill=backfill)
            last_batch_at = session.scalar(
                select(func.max(DeliveryBatch.created_at)).where(DeliveryBatch.subscription_id == subscription.id)
            )
            if force or is_due(subscription, now, last_batch_at):
                created += create_batches(session, subscription, now)
    return created
