"""The delivery ledger: claim -> send -> mark, so a crash neither loses nor duplicates.

The planner (alerts.planner) stores due deliveries as batches with a payload snapshot; the ledger
hands each batch to exactly one sender at a time and records the outcome.

A sender claims batches in bulk (state `sending`, `claimed_at`; on PostgreSQL with
`SELECT ... FOR UPDATE SKIP LOCKED`, on both dialects with an UPDATE that repeats the condition, so
several senders can run at once), sends them outside any transaction, then marks batches,
deliveries and attempt rows in one transaction per group. The claim is
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
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, true, update
from sqlalchemy.orm import Session

from storage.database import session_scope
from storage.models import Delivery, DeliveryAttempt, DeliveryBatch, Subscription

DEFAULT_LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
CLAIM_RETRIES = 20  # candidates tried when other senders win the race for them

log = logging.getLogger("milai.alerts")


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
    label: str | None = None


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
    engine: Engine,
    now: datetime | None = None,
    *,
    force: bool = False,
    lease: timedelta = DEFAULT_LEASE,
    channels: Iterable[str] = ("email", "webhook"),
    exclude: Iterable[str] = (),
) -> Claim | None:
    """Claim the oldest sendable batch (see `claim_many`), or None."""
    claims = claim_many(engine, now, force=force, lease=lease, channels=channels, exclude=exclude, limit=1)
    return claims[0] if claims else None


def claim_many(
    engine: Engine,
    now: datetime | None = None,
    *,
    force: bool = False,
    lease: timedelta = DEFAULT_LEASE,
    channels: Iterable[str] = ("email", "webhook"),
    exclude: Iterable[str] = (),
    limit: int = 1,
    per_subscription: int | None = None,
) -> list[Claim]:
    """Claim up to `limit` of the oldest sendable batches in one transaction: pending, failed and
    due for retry at `now` (any, with `force`), or abandoned in `sending` for longer than `lease`.
    With `per_subscription`, at most that many (the oldest) of each subscription, so that one
    subscription's backlog does not fill the whole group and subscriptions can be sent in parallel.

    `claimed_at` is stamped, and the lease measured, with the database clock at the moment of the
    claim (`db_now`), whatever `now` says: `now` only decides which retries are due.

    Exactly once between concurrent senders: PostgreSQL locks the candidates with
    `FOR UPDATE SKIP LOCKED` (another sender's candidates are skipped, not waited for); on both
    dialects the claiming UPDATE repeats the sendable condition, so a batch another sender took
    between our SELECT and our UPDATE is not taken again (SQLite serialises writers, PostgreSQL
    re-checks the condition on the row it waited for), and RETURNING says which ones we won. Losing
    every candidate of a round moves on to the next candidates rather than giving up.
    """
    now = now or datetime.now(UTC)
    retry_due = or_(
        DeliveryBatch.next_attempt_at.is_(None), DeliveryBatch.next_attempt_at <= now
    ) if not force else true()
    skip = list(exclude)
    channels = list(channels)
    for _ in range(CLAIM_RETRIES):
        with session_scope(engine) as session:
            claimed_at = db_now(session)
            sendable = or_(
                and_(DeliveryBatch.state.in_(("pending", "failed")), retry_due),
                and_(DeliveryBatch.state == "sending", DeliveryBatch.claimed_at < claimed_at - lease),
            )
            where = (
                Subscription.active.is_(True),
                Subscription.channel.in_(channels),
                DeliveryBatch.id.not_in(skip),
                sendable,
            )
            stmt = (
                select(DeliveryBatch.id)
                .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
                .where(*where)
                .order_by(DeliveryBatch.created_at, DeliveryBatch.id)
                .limit(limit)
            )
            if per_subscription is not None:
                # the oldest few of each subscription; FOR UPDATE is not allowed beside a window
                # function, so the window picks ids and the outer query locks them
                rank = func.row_number().over(
                    partition_by=DeliveryBatch.subscription_id, order_by=(DeliveryBatch.created_at, DeliveryBatch.id)
                ).label("rank")
                ranked = (
                    select(DeliveryBatch.id, rank)
                    .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
                    .where(*where)
                    .subquery()
                )
                stmt = (
                    select(DeliveryBatch.id)
                    .where(DeliveryBatch.id.in_(select(ranked.c.id).where(ranked.c.rank <= per_subscription)))
                    .order_by(DeliveryBatch.created_at, DeliveryBatch.id)
                    .limit(limit)
                )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=DeliveryBatch)
            candidates = list(session.scalars(stmt))
            if not candidates:
                return []
            won = set(session.scalars(
                update(DeliveryBatch)
                .where(DeliveryBatch.id.in_(candidates), sendable)
                .values(state="sending", claimed_at=claimed_at)
                .returning(DeliveryBatch.id)
                .execution_options(synchronize_session=False)
            ))
            if not won:  # other senders got there first (SQLite has no SKIP LOCKED): try the next ones
                skip += candidates
                continue
            rows = session.execute(
                select(DeliveryBatch, Subscription)
                .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
                .where(DeliveryBatch.id.in_(won))
                .order_by(DeliveryBatch.created_at, DeliveryBatch.id)
            ).all()
            return [
                Claim(
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
                    label=subscription.label,
                )
                for batch, subscription in rows
            ]
    return []


def renew(engine: Engine, claim: Claim | Sequence[Claim]) -> bool:
    """Heartbeat: stamp the claim(s) with the database clock again while still being sent; True
    when any of them was still ours to renew."""
    ids = [claim.batch_id] if isinstance(claim, Claim) else [c.batch_id for c in claim]
    with session_scope(engine) as session:
        return bool(session.execute(
            update(DeliveryBatch)
            .where(DeliveryBatch.id.in_(ids), DeliveryBatch.state == "sending")
            .values(claimed_at=db_now(session))
            .execution_options(synchronize_session=False)
        ).rowcount)


class Heartbeat:
    """`with Heartbeat(engine, claims, lease):` renews the claim(s) every lease/3 while the body runs,
    so a send that takes longer than the lease (a stalled SMTP server) is never taken for abandoned.
    A sender that dies stops renewing, and its claims expire after the lease as before."""

    def __init__(self, engine: Engine, claim: Claim | Sequence[Claim], lease: timedelta) -> None:
        self.engine = engine
        self.claims = [claim] if isinstance(claim, Claim) else list(claim)
        self.interval = max(lease.total_seconds() / 3, 0.05)
        self._stop = threading.Event()
        name = f"lease-{self.claims[0].batch_id}" if self.claims else "lease"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not renew(self.engine, self.claims):
                    return
            except Exception:  # noqa: BLE001 - a failed renewal must not break the send
                log.warning("could not renew the claims on %d batch(es)", len(self.claims), exc_info=True)

    def __enter__(self) -> Heartbeat:
        if self.claims:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


# --- mark -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """A claimed batch the receiver accepted, to be marked by `mark_sent_many`."""

    claim: Claim
    status_code: int | None = None
    duration_ms: int | None = None


def mark_sent(
    engine: Engine, claim: Claim, now: datetime, *, status_code: int | None = None,
    duration_ms: int | None = None,
) -> int:
    """Batch, its deliveries, the attempt log and the subscription, in one transaction; returns items."""
    return mark_sent_many(engine, [Sent(claim, status_code, duration_ms)], now)[claim.batch_id]


def mark_sent_many(engine: Engine, sent: Sequence[Sent], now: datetime) -> dict[str, int]:
    """Mark many accepted batches in one transaction (batches, their deliveries, one attempt row
    each, their subscriptions); returns the number of items of each batch."""
    if not sent:
        return {}
    ids = [s.claim.batch_id for s in sent]
    counts = dict.fromkeys(ids, 0)
    with session_scope(engine) as session:
        session.execute(
            update(DeliveryBatch)
            .where(DeliveryBatch.id.in_(ids))
            .values(
                state="sent", sent_at=now, attempts=DeliveryBatch.attempts + 1,
                next_attempt_at=None, last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
        for batch_id, count in session.execute(
            select(Delivery.batch_id, func.count(Delivery.id))
            .where(Delivery.batch_id.in_(ids))
            .group_by(Delivery.batch_id)
        ):
            counts[batch_id] = int(count)
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_(ids))
            .values(state="sent", sent_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(insert(DeliveryAttempt), [
            {"batch_id": s.claim.batch_id, "at": now, "ok": True, "status_code": s.status_code,
             "duration_ms": s.duration_ms}
            for s in sent
        ])
        session.execute(
            update(Subscription)
            .where(Subscription.id.in_({s.claim.subscription_id for s in sent}))
            .values(last_sent_at=now, failing_since=None)
            .execution_options(synchronize_session=False)
        )
    return counts


def backoff(attempts: int, max_attempts: int = 12) -> timedelta:
    """Exponential backoff with jitter: 1 min, 2, 4 … capped at 6 h, each scaled by 0.5-1.0."""
    exponent = max(0, min(attempts, max_attempts) - 1)
    delay = min(BACKOFF_BASE * (2**exponent), BACKOFF_CAP)
    return delay * random.uniform(0.5, 1.0)


def mark_failed(
    engine: Engine, claim: Claim, now: datetime, error: str, *,
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


def pending_counts(engine: Engine, channel: str) -> int:
    """How many unsent batches active subscriptions of `channel` have."""
    with session_scope(engine) as session:
        return session.scalar(
            select(func.count(DeliveryBatch.id))
            .join(Subscription, Subscription.id == DeliveryBatch.subscription_id)
            .where(Subscription.active.is_(True), Subscription.channel == channel,
                   DeliveryBatch.state.in_(("pending", "failed", "sending")))
        ) or 0
