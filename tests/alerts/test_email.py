from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from alerts.digest import send_due
from storage.database import session_scope
from storage.models import Delivery, DeliveryAttempt, DeliveryBatch, Subscription
from tests.alerts.conftest import add_item, subscribe
from tests.support.db import configured_engine
from tests.support.smtp import SmtpServer, free_port


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_digest_delivered_once_and_nothing_empty(smtp_server: SmtpServer) -> None:
    sid = subscribe()
    original = add_item(title="REAIM summit statement", publisher="Kingdom of the Netherlands", source="gov-nl")
    add_item(title="Copy of the statement", publisher="United Nations", source="un-news", duplicate_of=original)
    add_item(title="UN GGE on LAWS", publisher="United Nations", source="un-news")
    add_item(title="Off-topic budget news", relevant=False)

    report = send_due(force=True)
    assert (report.batches_sent, report.items_sent, report.failed) == (1, 2, 0), str(report)
    [message] = smtp_server.messages
    assert message["Subject"].startswith("MilAI Watch: 2 new items — ")
    assert message["To"] == "reader@example.org"
    assert message["From"] == "MilAI Watch <milai@localhost>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with session_scope(configured_engine()) as session:
        sub = session.get(Subscription, sid)
        batch = session.scalar(select(DeliveryBatch))
        assert message["List-Unsubscribe"] == f"<http://127.0.0.1:8000/unsubscribe/{sub.unsubscribe_token}>"
        assert message["Message-ID"] == f"<{batch.id}@localhost>"
        assert batch.state == "sent" and batch.attempts == 1
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 1
        states = sorted(session.scalars(select(Delivery.state)))
        assert states == ["sent", "sent"]
    assert message["Date"]
    text, html = _text(message), _html(message)
    for body in (text, html):
        assert "REAIM summit statement" in body and "UN GGE on LAWS" in body
        assert "Kingdom of the Netherlands" in body
        assert "Also published by" in body
        assert "Why it matched: autonomous weapons" in body
        assert "Copy of the statement" not in body
    assert html.index("Kingdom of the Netherlands") < html.index("UN GGE on LAWS")

    for _ in range(3):
        again = send_due(force=True)
        assert again.batches_sent == 0
    assert len(smtp_server.messages) == 1

    add_item(title="New item on drones and AI")
    send_due(force=True)
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[1]["Subject"].startswith("MilAI Watch: 1 new item — ")
    assert "New item on drones and AI" in _text(smtp_server.messages[1])
    assert "UN GGE on LAWS" not in _text(smtp_server.messages[1])


def test_new_subscription_skips_archive_and_filters(smtp_server: SmtpServer) -> None:
    add_item(title="Old archive item", fetched_at=datetime.now(UTC) - timedelta(days=2))
    subscribe(languages=["fr"], sources=["un-news"])
    add_item(title="English item", language="en")
    add_item(title="Article en français", language="fr")
    add_item(title="Other source", language="fr", source="nato", publisher="NATO")
    report = send_due(force=True)
    assert report.items_sent == 1
    body = _text(smtp_server.messages[0])
    assert "Article en français" in body
    assert "Old archive item" not in body and "English item" not in body and "Other source" not in body


def test_daily_schedule_in_time_zone(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="daily", delivery_hour=7, timezone="Europe/Paris")
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    # 29 Nov 05:30 UTC is 06:30 in Paris: not yet
    assert send_due(datetime(2026, 11, 29, 5, 30, tzinfo=UTC)).batches_sent == 0
    assert smtp_server.messages == []
    # 06:15 UTC is 07:15 in Paris: due
    assert send_due(datetime(2026, 11, 29, 6, 15, tzinfo=UTC)).batches_sent == 1
    assert smtp_server.messages[0]["Subject"].endswith("29 Nov 2026")
    add_item(fetched_at=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    # later the same day: the new item waits for tomorrow's slot
    assert send_due(datetime(2026, 11, 29, 12, 0, tzinfo=UTC)).batches_sent == 0
    assert send_due(datetime(2026, 11, 30, 6, 1, tzinfo=UTC)).items_sent == 1


def test_weekly_waits_for_monday(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="weekly", delivery_hour=7)
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wednesday
    add_item(fetched_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert send_due(datetime(2026, 11, 29, 23, 0, tzinfo=UTC)).batches_sent == 0  # Sunday
    assert send_due(datetime(2026, 11, 30, 7, 5, tzinfo=UTC)).batches_sent == 1  # Monday


def test_smtp_unset_keeps_pending(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    use_smtp(None)
    subscribe()
    add_item()
    report = send_due(force=True)
    assert report.batches_sent == 0 and report.skipped == 1
    assert "MILAI_SMTP_URL is not set" in str(report)
    with SmtpServer() as server:
        use_smtp(server.url())
        assert send_due(force=True).items_sent == 1
        assert len(server.messages) == 1


def test_smtp_down_then_up(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    port = free_port()
    use_smtp(f"smtp://127.0.0.1:{port}")
    subscribe()
    add_item()
    report = send_due(force=True)
    assert report.failed == 1 and "cannot reach SMTP server" in str(report)
    with session_scope(configured_engine()) as session:
        batch = session.scalar(select(DeliveryBatch))
        assert batch.state == "failed" and batch.next_attempt_at is not None
        first_id = batch.id
    assert send_due().failed == 0  # backoff: not retried before next_attempt_at
    with SmtpServer(port=port) as server:
        report = send_due(force=True)
        assert report.batches_sent == 1, str(report)
        assert server.messages[0]["Message-ID"] == f"<{first_id}@localhost>"
        assert send_due(force=True).batches_sent == 0
        assert len(server.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_with_encoded_password(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    with SmtpServer(credentials=("digest@example.org", "p@ss:w/rd")) as server:
        use_smtp(server.url(user="digest%40example.org", password="wrong"))
        subscribe()
        add_item()
        report = send_due(force=True)
        assert report.failed == 1 and "authentication failed" in str(report)
        assert "wrong" not in str(report)
        use_smtp(server.url(user="digest%40example.org", password="p%40ss%3Aw%2Frd"))
        assert send_due(force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_starttls_with_auth(use_smtp: Callable[[str | None], None], env: dict[str, str], tls_dir: Path) -> None:
    with SmtpServer(credentials=("u", "secret"), tls="starttls", cert_dir=tls_dir) as server:
        use_smtp(server.url(user="u", password="secret"))
        subscribe()
        add_item()
        assert send_due(force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_implicit_tls(use_smtp: Callable[[str | None], None], env: dict[str, str], tls_dir: Path) -> None:
    with SmtpServer(tls="implicit", cert_dir=tls_dir) as server:
        use_smtp(server.url())
        subscribe()
        add_item()
        assert send_due(force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_hostile_titles_escaped_and_no_header_injection(smtp_server: SmtpServer) -> None:
    subscribe()
    add_item(
        title="Drones\r\nBcc: victim@example.org\r\nX-Evil: 1 <script>alert(1)</script>",
        summary='<img src=x onerror="alert(2)"><b>bold</b> claim & counter-claim',
    )
    assert send_due(force=True).batches_sent == 1
    [message] = smtp_server.messages
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert smtp_server.envelopes[0][1] == ["reader@example.org"]
    html = _html(message)
    assert "<script" not in html and "onerror" not in html and "<img" not in html
    assert "claim &amp; counter-claim" in html
    assert "Drones Bcc: victim@example.org X-Evil: 1" in html


def test_saved_query_selects_items(smtp_server: SmtpServer) -> None:
    subscribe(query='"autonomous weapons" AND (UN OR CCW) NOT cyber')
    add_item(title="CCW talks on autonomous weapons", text="The CCW met on autonomous weapons.")
    add_item(title="Autonomous weapons and cyber", text="Autonomous weapons, UN, cyber operations.")
    add_item(title="Drone swarms", text="NATO tests drone swarms with AI.")
    report = send_due(force=True)
    assert report.items_sent == 1, str(report)
    body = _text(smtp_server.messages[0])
    assert "CCW talks on autonomous weapons" in body and "Your saved search" in body
    assert "cyber" not in body.split("Your saved search")[1].split("\n", 1)[1]
    assert send_due(force=True).batches_sent == 0  # non-matching items were recorded as skipped


def test_failed_daily_digest_does_not_spawn_a_second_one(
    use_smtp: Callable[[str | None], None], env: dict[str, str]
) -> None:
    port = free_port()
    use_smtp(f"smtp://127.0.0.1:{port}")
    sid = subscribe(frequency="daily", delivery_hour=7)
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    assert send_due(datetime(2026, 11, 29, 7, 5, tzinfo=UTC)).failed == 1
    add_item(fetched_at=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    with SmtpServer(port=port) as server:
        report = send_due(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # retry of the 07:00 digest only
        assert (report.batches_sent, report.items_sent) == (1, 1), str(report)
        assert send_due(datetime(2026, 11, 30, 7, 1, tzinfo=UTC)).items_sent == 1
        assert len(server.messages) == 2
