"""The schedule: daily digests at the subscriber's hour in their time zone, weekly ones on Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.dispatch import send_due
from milai.config import Settings
from storage.database import session_scope
from storage.models import Subscription
from tests.alerts.conftest import add_item, subscribe
from tests.support.db import configured_engine
from tests.support.smtp import SmtpServer


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_daily_schedule_in_time_zone(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="daily", delivery_hour=7, timezone="Europe/Paris")
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    # 29 Nov 05:30 UTC is 06:30 in Paris: not yet
    assert send_due(Settings(), datetime(2026, 11, 29, 5, 30, tzinfo=UTC)).batches_sent == 0
    assert smtp_server.messages == []
    # 06:15 UTC is 07:15 in Paris: due
    assert send_due(Settings(), datetime(2026, 11, 29, 6, 15, tzinfo=UTC)).batches_sent == 1
    assert smtp_server.messages[0]["Subject"].endswith("29 Nov 2026")
    add_item(fetched_at=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    # later the same day: the new item waits for tomorrow's slot
    assert send_due(Settings(), datetime(2026, 11, 29, 12, 0, tzinfo=UTC)).batches_sent == 0
    assert send_due(Settings(), datetime(2026, 11, 30, 6, 1, tzinfo=UTC)).items_sent == 1


def test_weekly_waits_for_monday(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="weekly", delivery_hour=7)
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wednesday
    add_item(fetched_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert send_due(Settings(), datetime(2026, 11, 29, 23, 0, tzinfo=UTC)).batches_sent == 0  # Sunday
    assert send_due(Settings(), datetime(2026, 11, 30, 7, 5, tzinfo=UTC)).batches_sent == 1  # Monday
