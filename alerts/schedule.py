"""When a subscription is due: the slot of its daily or weekly digest in its own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.models import Subscription


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
