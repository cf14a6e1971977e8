"""The planner: a new subscription's first digest reaches back a day, never into the archive; a
digest is capped at MAX_BATCH_ITEMS items, the rest go into further batches of the same run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts import planner
from alerts.dispatch import send_due
from milai.config import Settings
from storage.database import session_scope
from storage.models import DeliveryBatch
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_digest_capped_at_100_items_rest_in_next_batch(smtp_server: SmtpServer) -> None:
    assert planner.MAX_BATCH_ITEMS == 100
    subscribe(frequency="daily")
    titles = [f"Autonomous weapons item {n:03d}" for n in range(101)]
    for title in titles:
        add_item(title=title)
    report = send_due(Settings(), force=True)
    assert (report.batches_sent, report.items_sent, report.failed) == (2, 101, 0), str(report)
    first, second = smtp_server.messages
    assert first["Subject"].startswith("MilAI Watch: 100 new items — ")
    assert second["Subject"].startswith("MilAI Watch: 1 new item — ")
    seen = [t for m in (first, second) for t in re.findall(r"Autonomous weapons item \d{3}", _text(m))]
    assert sorted(seen) == titles  # every item once, none lost
    assert first["Message-ID"] != second["Message-ID"]
    assert send_due(Settings(), force=True).batches_sent == 0
    assert len(smtp_server.messages) == 2


def test_cap_applies_to_webhook_digests(
    env: dict[str, str], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planner, "MAX_BATCH_ITEMS", 2)
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    ids = [add_item() for _ in range(5)]
    report = send_due(Settings(), force=True)
    assert (report.batches_sent, report.items_sent) == (3, 5), str(report)
    payloads = receiver.accepted
    assert [len(p["items"]) for p in payloads] == [2, 2, 1]
    assert sorted(i["id"] for p in payloads for i in p["items"]) == ids
    assert len({p["id"] for p in payloads}) == 3
    with session_scope(configured_engine()) as session:
        assert set(session.scalars(select(DeliveryBatch.state))) == {"sent"}


def test_first_digest_includes_the_last_day_but_not_the_archive(smtp_server: SmtpServer) -> None:
    add_item(title="Fetched this morning", fetched_at=datetime.now(UTC) - timedelta(hours=3))
    add_item(title="Fetched last week", fetched_at=datetime.now(UTC) - timedelta(days=7))
    subscribe()
    report = send_due(Settings(), force=True)
    assert report.items_sent == 1
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "Fetched this morning" in text and "Fetched last week" not in text
