"""Subject in the subscriber's time zone, single-item alert subjects, and the digest size cap."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from alerts import ledger
from alerts.compose import build_digest
from alerts.digest import send_due
from storage.database import session_scope
from storage.models import DeliveryBatch, Subscription
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_subject_date_in_subscriber_time_zone(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="daily", delivery_hour=7, timezone="Pacific/Auckland")
    with session_scope() as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    # 29 Nov 19:00 UTC is 30 Nov 08:00 in Auckland (UTC+13): due, and dated the 30th there
    assert send_due(datetime(2026, 11, 29, 19, 0, tzinfo=UTC)).batches_sent == 1
    [message] = smtp_server.messages
    assert message["Subject"] == "MilAI Watch: 1 new item — 30 Nov 2026"
    assert _text(message).startswith("MilAI Watch: 1 new item — 30 Nov 2026")


def test_subject_date_west_of_utc(smtp_server: SmtpServer) -> None:
    subscribe(frequency="immediate", timezone="America/Los_Angeles")
    add_item(title="First")
    add_item(title="Second")
    # 29 Nov 03:00 UTC is still 28 Nov (19:00) in Los Angeles
    assert send_due(datetime(2026, 11, 29, 3, 0, tzinfo=UTC), force=True).batches_sent == 1
    assert smtp_server.messages[0]["Subject"] == "MilAI Watch: 2 new items — 28 Nov 2026"


def test_unknown_stored_time_zone_falls_back_to_utc() -> None:
    item = {
        "id": 1, "url": "https://example.org/1", "title": "T", "published": None, "publisher": "P",
        "language": "en", "summary": "", "matches": [], "also_published_by": [],
    }
    message = build_digest(
        batch_id="msg_1", payload={"created": "2026-11-29T03:00:00+00:00", "items": [item, item]},
        to="a@example.org", mail_from="MilAI Watch <milai@localhost>", unsubscribe_url="http://x/u",
        timezone="Not/AZone",
    )
    assert message["Subject"] == "MilAI Watch: 2 new items — 29 Nov 2026"


def test_immediate_single_item_subject_is_its_title(smtp_server: SmtpServer) -> None:
    subscribe(frequency="immediate")
    add_item(title="Drones\r\nBcc: victim@example.org\r\nX-Evil: 1 <script>alert(1)</script> über")
    assert send_due().batches_sent == 1
    add_item(title="One")
    add_item(title="Two")
    assert send_due().batches_sent == 1  # still one message per run
    add_item(title="A very long title " * 30)
    assert send_due().batches_sent == 1
    first, second, third = smtp_server.messages
    assert first["Subject"] == "MilAI Watch: Drones Bcc: victim@example.org X-Evil: 1 über"
    assert first["Bcc"] is None and first["X-Evil"] is None
    assert smtp_server.envelopes[0][1] == ["reader@example.org"]
    assert re.fullmatch(r"MilAI Watch: 2 new items — \d+ \w{3} \d{4}", second["Subject"])
    subject = third["Subject"]
    assert subject.startswith("MilAI Watch: A very long title") and subject.endswith("…")
    assert len(subject) <= 200 and "\n" not in subject


def test_daily_single_item_keeps_count_subject(smtp_server: SmtpServer) -> None:
    subscribe(frequency="daily")
    add_item(title="Only one")
    assert send_due(force=True).batches_sent == 1
    assert smtp_server.messages[0]["Subject"].startswith("MilAI Watch: 1 new item — ")


def test_digest_capped_at_100_items_rest_in_next_batch(smtp_server: SmtpServer) -> None:
    assert ledger.MAX_BATCH_ITEMS == 100
    subscribe(frequency="daily")
    titles = [f"Autonomous weapons item {n:03d}" for n in range(101)]
    for title in titles:
        add_item(title=title)
    report = send_due(force=True)
    assert (report.batches_sent, report.items_sent, report.failed) == (2, 101, 0), str(report)
    first, second = smtp_server.messages
    assert first["Subject"].startswith("MilAI Watch: 100 new items — ")
    assert second["Subject"].startswith("MilAI Watch: 1 new item — ")
    seen = [t for m in (first, second) for t in re.findall(r"Autonomous weapons item \d{3}", _text(m))]
    assert sorted(seen) == titles  # every item once, none lost
    assert first["Message-ID"] != second["Message-ID"]
    assert send_due(force=True).batches_sent == 0
    assert len(smtp_server.messages) == 2


def test_cap_applies_to_webhook_digests(
    env: dict[str, str], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "MAX_BATCH_ITEMS", 2)
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    ids = [add_item() for _ in range(5)]
    report = send_due(force=True)
    assert (report.batches_sent, report.items_sent) == (3, 5), str(report)
    payloads = receiver.accepted
    assert [len(p["items"]) for p in payloads] == [2, 2, 1]
    assert sorted(i["id"] for p in payloads for i in p["items"]) == ids
    assert len({p["id"] for p in payloads}) == 3
    with session_scope() as session:
        assert set(session.scalars(select(DeliveryBatch.state))) == {"sent"}


def test_two_saved_searches_get_subjects_naming_them(smtp_server: SmtpServer) -> None:
    subscribe(query="drones", target="a@example.org")
    subscribe(query='"autonomous weapons"', target="a@example.org")
    subscribe(target="a@example.org")  # everything on-topic: the plain subject
    add_item(title="Drones and autonomous weapons", text="Military drones and autonomous weapons.")
    assert send_due(datetime(2026, 11, 29, 8, 0, tzinfo=UTC), force=True).batches_sent == 3
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == ['MilAI Watch · "autonomous weapons": 1 new item — 29 Nov 2026',
                        "MilAI Watch · drones: 1 new item — 29 Nov 2026",
                        "MilAI Watch: 1 new item — 29 Nov 2026"]
