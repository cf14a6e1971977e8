"""The delivery ledger: plan -> claim -> send -> mark, so a crash neither loses nor duplicates.

Every (subscription, item) pair gets exactly one `Delivery` row (unique constraint; inserts use
ON CONFLICT DO NOTHING, so concurrent planners are harmless): `pending` when the item matches the
subscription, `skipped` when it does not (so it is never examined again). Pending deliveries are
grouped into a `DeliveryBatch` whose id is the stable webhook-id / Message-ID seed; the batch
payload (a snapshot of the items) is stored with it, so any re-send is byte-for-byte the same
message.

A sender claims one batch at a time (state `sending`, `claimed_at`; on PostgreSQL with
`SELECT ... FOR UPDATE SKIP LOCKED` so several senders can run at once), sends it outside any
transaction, then marks batch, deliveries and an attempt row in one transaction. The claim is
stamped with the database clock at the moment it is taken and renewed (heartbeat) while the
message is being sent; a claim not renewed for longer than the lease, by the database clock, is
considered abandoned (the sender died) and is claimed again.

The one unavoidable window: the message was handed to the SMTP server (or the receiver answered
2xx) but the process died before the "sent" transaction committed. The batch is then re-sent once
after the lease expires, with the same Message-ID / webhook-id, so mail clients, receivers and
people can recognise the duplicate. Nothing is ever lost.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time as clock
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session, selectinload

from alerts.render import item_snapshot, item_text, load_relations
from alerts.subscriptions import compile_matcher
from milai.config import get_settings
from storage.database import session_scope
from storage.models import Delivery, DeliveryAttempt, DeliveryBatch, Item, Subscription

PAYLOAD_TYPE = "milai.digest"
PAYLOAD_VERSION = 1
DEFAULT_LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
MAX_BATCH_ITEMS = 100  # one digest (email or webhook delivery) carries at most this many items
CLAIM_RETRIES = 20  # candidates tried when other senders win the race for them

log = logging.getLogger("milai.alerts")


# --- schedule -------------------------------------------------------------------------------

def last_slot(subscription: Subscription, now: datetime) -> datetime:
    """The most recent scheduled send time at or before `now` (daily or weekly on Monday)."""
    tz = ZoneInfo(subscription.timezone or "UTC")
    local_now = now.astimezone(tz)
    day: date = local_now.date()
    slot = datetime.combine(day, time(subscription.delivery_hour), tzinfo=tz)
    if slot > local_now:
        day -= timedelta(days=1)
    if subscription.frequency == "weekly":
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(subscription.delivery_hour), tzinfo=tz).astimezone(UTC)


def is_due(subscription: Subscription, now: datetime, last_batch_at: datetime | None = None) -> bool:
    """Immediate: every run. Daily/weekly: one batch per slot, not before the first slot after creation.

    A slot with nothing new produces no batch, so items arriving later that day go out at the next
    run; still at most one digest per slot.
    """
    if subscription.frequency == "immediate":
        return True
    marks = (subscription.last_sent_at, subscription.created_at, last_batch_at)
    return last_slot(subscription, now) > max(d for d in marks if d is not None)


# --- plan -----------------------------------------------------------------------------------

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


def record_deliveries(session: Session, subscription: Subscription) -> int:
    """Insert one ledger row per new on-topic original item fetched since the subscription began.

    "Since" reaches back `MILAI_SUBSCRIPTION_BACKFILL_HOURS` (default 24) before the subscription was
    created, so a new subscriber's first digest holds the day's news rather than nothing, never the archive.

    Returns how many became pending (matched); the others are recorded as `skipped`.
    """
    already = exists().where(Delivery.subscription_id == subscription.id, Delivery.item_id == Item.id)
    stmt = (
        select(Item)
        .where(
            Item.relevant.is_(True),
            Item.duplicate_of_id.is_(None),
            Item.fetched_at >= subscription.created_at - timedelta(hours=get_settings().subscription_backfill_hours),
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
    return sum(1 for row in rows if row["state"] == "pending")


def new_batch_id() -> str:
    """Unique and roughly time-ordered, so batches of one run go out in item order."""
    return f"msg_{clock.time_ns():016x}{secrets.token_hex(8)}"


def _payload(subscription: Subscription, batch_id: str, items: list[Item], now: datetime) -> dict[str, Any]:
    session = object_session(subscription)
    relations = load_relations(session, [item.id for item in items]) if session is not None else {}
    return {
        "type": PAYLOAD_TYPE,
        "version": PAYLOAD_VERSION,
        "id": batch_id,
        "subscription": subscription.id,
        "created": now.isoformat(),
        "items": [item_snapshot(item, relations.get(item.id), query=subscription.query) for item in items],
    }


def create_batches(session: Session, subscription: Subscription, now: datetime) -> list[str]:
    """Group the subscription's unbatched pending deliveries into batches; returns their ids.

    One batch per item for immediate webhooks, one per run otherwise, but never more than
    MAX_BATCH_ITEMS items in a batch: the rest go into further batches of the same run (in item
    order), which are sent one after the other. Safe against a concurrent planner: a delivery is
    moved into a batch only while it has none.
    """
    pending = list(
        session.scalars(
            select(Delivery.id)
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
    created = []
    for group in groups:
        batch_id = new_batch_id()
        batch = DeliveryBatch(id=batch_id, subscription_id=subscription.id, state="pending", created_at=now)
        session.add(batch)
        session.flush()
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(group), Delivery.batch_id.is_(None))
            .values(batch_id=batch_id)
            .execution_options(synchronize_session=False)
        )
        items = list(
            session.scalars(
                select(Item)
                .join(Delivery, Delivery.item_id == Item.id)
                .where(Delivery.batch_id == batch_id)
                .options(
                    selectinload(Item.source),
                    selectinload(Item.duplicates).selectinload(Item.source),
                )
                .order_by(Item.published.desc().nulls_last(), Item.id)
            )
        )
        if not items:  # a concurrent planner took them
            session.delete(batch)
            continue
        batch.payload = _payload(subscription, batch_id, items, now)
        created.append(batch_id)
    return created


def plan(engine: Engine | None, now: datetime, *, force: bool = False) -> list[str]:
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
            record_deliveries(session, subscription)
            last_batch_at = session.scalar(
                select(func.max(DeliveryBatch.created_at)).where(DeliveryBatch.subscription_id == subscription.id)
            )
            if force or is_due(subscription, now, last_batch_at):
                created += create_batches(session, subscription, now)
    return created


# --- claim ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A batch this sender owns until it marks it (or the lease runs out)."""

    batch_id: str
    claimed_at: datetime
    attempts: int
    payload: dict[str, Any]
    subscription_id: int
    channel: str
    target: str
    secret: str | None
    unsubscribe_token: str
    query: str | None
    frequency: str = "daily"
    timezone: str = "UTC"


def db_now(session: Session) -> datetime:
    """The database's clock (PostgreSQL `clock_timestamp()`; SQLite lives on this host, so its clock).

    Claims are stamped and leases measured with it, so senders on hosts whose clocks disagree, or a
    run that passes a simulated `now`, never see a fresh claim as abandoned.
    """
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.clock_timestamp()))
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def claim_next(
    engine: Engine | None,
    now: datetime | None = None,
    *,
    force: bool = False,
    lease: timedelta = DEFAULT_LEASE,
    channels: Iterable[str] = ("email", "webhook"),
    exclude: Iterable[str] = (),
) -> Claim | None:
    """Claim the oldest sendable batch: pending, failed and due for retry at `now` (any, with
    `force`), or abandoned in `sending` for longer than `lease`.

    `claimed_at` is stamped, and the lease measured, with the database clock at the moment of the
    claim (`db_now`), whatever `now` says: `now` only decides which retries are due. Losing a race
    for a batch (SQLite has no SKIP LOCKED) moves on to the next candidate rather than giving up.
    """
    now = now or datetime.now(UTC)
    retry_due = or_(
        DeliveryBatch.next_attempt_at.is_(None), DeliveryBatch.next_attempt_at <= now
    ) if not force else True
    skip = list(exclude)
    for _ in range(CLAIM_RETRIES):
        with session_scope(engine) as session:
            claimed_at = db_now(session)
            stmt = (
                select(DeliveryBatch)
                .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
                .where(
                    Subscription.active.is_(True),
                    Subscription.channel.in_(list(channels)),
                    DeliveryBatch.id.not_in(skip),
                    or_(
                        and_(DeliveryBatch.state.in_(("pending", "failed")), retry_due),
                        and_(DeliveryBatch.state == "sending", DeliveryBatch.claimed_at < claimed_at - lease),
                    ),
                )
                .order_by(DeliveryBatch.created_at, DeliveryBatch.id)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=DeliveryBatch)
            batch = session.scalar(stmt)
            if batch is None:
                return None
            previous = (
                DeliveryBatch.claimed_at.is_(None) if batch.claimed_at is None
                else DeliveryBatch.claimed_at == batch.claimed_at
            )
            won = session.execute(
                update(DeliveryBatch)
                .where(DeliveryBatch.id == batch.id, DeliveryBatch.state == batch.state, previous)
                .values(state="sending", claimed_at=claimed_at)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not won:  # another sender got there first (SQLite has no SKIP LOCKED): try the next one
                skip.append(batch.id)
                continue
            subscription = session.get(Subscription, batch.subscription_id)
            assert subscription is not None
            return Claim(
                batch_id=batch.id,
                claimed_at=claimed_at,
                attempts=batch.attempts,
                payload=dict(batch.payload or {}),
                subscription_id=subscription.id,
                channel=subscription.channel,
                target=subscription.target,
                secret=subscription.secret,
                unsubscribe_token=subscription.unsubscribe_token,
                query=subscription.query,
                frequency=subscription.frequency,
                timezone=subscription.timezone or "UTC",
            )
    return None


def renew(engine: Engine | None, claim: Claim) -> bool:
    """Heartbeat: stamp the claim with the database clock again while it is still being sent."""
    with session_scope(engine) as session:
        return bool(session.execute(
            update(DeliveryBatch)
            .where(DeliveryBatch.id == claim.batch_id, DeliveryBatch.state == "sending")
            .values(claimed_at=db_now(session))
            .execution_options(synchronize_session=False)
        ).rowcount)


class Heartbeat:
    """`with Heartbeat(engine, claim, lease):` renews the claim every lease/3 while the body runs,
    so a send that takes longer than the lease (a stalled SMTP server) is never taken for abandoned.
    A sender that dies stops renewing, and its claim expires after the lease as before."""

    def __init__(self, engine: Engine | None, claim: Claim, lease: timedelta) -> None:
        self.engine, self.claim = engine, claim
        self.interval = max(lease.total_seconds() / 3, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{claim.batch_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not renew(self.engine, self.claim):
                    return
            except Exception:  # noqa: BLE001 - a failed renewal must not break the send
                log.warning("could not renew the claim on batch %s", self.claim.batch_id, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- mark -----------------------------------------------------------------------------------

def mark_sent(
    engine: Engine | None, claim: Claim, now: datetime, *, status_code: int | None = None,
    duration_ms: int | None = None,
) -> int:
    """Batch, its deliveries, the attempt log and the subscription, in one transaction; returns items."""
    with session_scope(engine) as session:
        session.execute(
            update(DeliveryBatch)
            .where(DeliveryBatch.id == claim.batch_id)
            .values(
                state="sent", sent_at=now, attempts=DeliveryBatch.attempts + 1,
                next_attempt_at=None, last_error=None,
            )
        )
        count = session.execute(
            update(Delivery)
            .where(Delivery.batch_id == claim.batch_id)
            .values(state="sent", sent_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.add(DeliveryAttempt(
            batch_id=claim.batch_id, at=now, ok=True, status_code=status_code, duration_ms=duration_ms,
        ))
        session.execute(
            update(Subscription)
            .where(Subscription.id == claim.subscription_id)
            .values(last_sent_at=now, failing_since=None)
        )
        return int(count or 0)


def backoff(attempts: int, max_attempts: int = 12) -> timedelta:
    """Exponential backoff with jitter: 1 min, 2, 4 … capped at 6 h, each scaled by 0.5-1.0."""
    exponent = max(0, min(attempts, max_attempts) - 1)
    delay = min(BACKOFF_BASE * (2**exponent), BACKOFF_CAP)
    return delay * random.uniform(0.5, 1.0)


def mark_failed(
    engine: Engine | None, claim: Claim, now: datetime, error: str, *,
    status_code: int | None = None, duration_ms: int | None = None,
    max_failure_days: float = 3.0, max_attempts: int = 12,
) -> bool:
    """Log the attempt and schedule the retry; pause the subscription when it has failed too long.

    Returns True when the subscription was paused.
    """
    error = error[:1000]
    with session_scope(engine) as session:
        batch = session.get(DeliveryBatch, claim.batch_id)
        subscription = session.get(Subscription, claim.subscription_id)
        if batch is None or subscription is None:  # deleted meanwhile
            return False
        session.add(DeliveryAttempt(
            batch_id=batch.id, at=now, ok=False, status_code=status_code, error=error,
            duration_ms=duration_ms,
        ))
        if batch.state == "sent":  # another sender delivered it meanwhile: log the attempt only
            return False
        batch.attempts += 1
        batch.state = "failed"
        batch.last_error = error
        batch.next_attempt_at = now + backoff(batch.attempts, max_attempts)
        subscription.failing_since = subscription.failing_since or now
        if now - subscription.failing_since >= timedelta(days=max_failure_days):
            subscription.active = False
            subscription.paused_reason = (
                f"paused automatically: deliveries failing since "
                f"{subscription.failing_since:%Y-%m-%d %H:%M} UTC (last error: {error[:200]})"
            )
            return True
        return False


def pending_counts(engine: Engine | None, channel: str) -> int:
    """How many unsent batches active subscriptions of `channel` have."""
    with session_scope(engine) as session:
        return session.scalar(
            select(func.count(DeliveryBatch.id))
            .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
            .where(Subscription.active.is_(True), Subscription.channel == channel,
                   DeliveryBatch.state.in_(("pending", "failed", "sending")))
        ) or 0
