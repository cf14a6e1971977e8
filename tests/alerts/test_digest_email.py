"""The digest email: delivered once, never empty, escaped, subjects in the subscriber's time zone,
raw List-Unsubscribe headers on the wire, human reasons for each item.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header

from sqlalchemy import func, select

from alerts.digest_email import build_digest
from alerts.dispatch import send_due
from milai.config import Settings
from storage.database import session_scope
from storage.models import Delivery, DeliveryAttempt, DeliveryBatch, Subscription
from tests.alerts.conftest import add_item, subscribe
from tests.alerts.servers import RawSmtp
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

    report = send_due(Settings(), force=True)
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
        again = send_due(Settings(), force=True)
        assert again.batches_sent == 0
    assert len(smtp_server.messages) == 1

    add_item(title="New item on drones and AI")
    send_due(Settings(), force=True)
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
    report = send_due(Settings(), force=True)
    assert report.items_sent == 1
    body = _text(smtp_server.messages[0])
    assert "Article en français" in body
    assert "Old archive item" not in body and "English item" not in body and "Other source" not in body


def test_hostile_titles_escaped_and_no_header_injection(smtp_server: SmtpServer) -> None:
    subscribe()
    add_item(
        title="Drones\r\nBcc: victim@example.org\r\nX-Evil: 1 <script>alert(1)</script>",
        summary='<img src=x onerror="alert(2)"><b>bold</b> claim & counter-claim',
    )
    assert send_due(Settings(), force=True).batches_sent == 1
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
    report = send_due(Settings(), force=True)
    assert report.items_sent == 1, str(report)
    body = _text(smtp_server.messages[0])
    assert "CCW talks on autonomous weapons" in body and "Your saved search" in body
    assert "cyber" not in body.split("Your saved search")[1].split("\n", 1)[1]
    assert send_due(Settings(), force=True).batches_sent == 0  # non-matching items were recorded as skipped


def test_failed_daily_digest_does_not_spawn_a_second_one(
    use_smtp: Callable[[str | None], None], env: dict[str, str]
) -> None:
    port = free_port()
    use_smtp(f"smtp://127.0.0.1:{port}")
    sid = subscribe(frequency="daily", delivery_hour=7)
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    assert send_due(Settings(), datetime(2026, 11, 29, 7, 5, tzinfo=UTC)).failed == 1
    add_item(fetched_at=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    with SmtpServer(port=port) as server:
        report = send_due(Settings(), datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # retry of the 07:00 digest only
        assert (report.batches_sent, report.items_sent) == (1, 1), str(report)
        assert send_due(Settings(), datetime(2026, 11, 30, 7, 1, tzinfo=UTC)).items_sent == 1
        assert len(server.messages) == 2


def test_subject_date_in_subscriber_time_zone(smtp_server: SmtpServer) -> None:
    sid = subscribe(frequency="daily", delivery_hour=7, timezone="Pacific/Auckland")
    with session_scope(configured_engine()) as session:
        session.get(Subscription, sid).created_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    add_item(fetched_at=datetime(2026, 11, 28, 13, 0, tzinfo=UTC))
    # 29 Nov 19:00 UTC is 30 Nov 08:00 in Auckland (UTC+13): due, and dated the 30th there
    assert send_due(Settings(), datetime(2026, 11, 29, 19, 0, tzinfo=UTC)).batches_sent == 1
    [message] = smtp_server.messages
    assert message["Subject"] == "MilAI Watch: 1 new item — 30 Nov 2026"
    assert _text(message).startswith("MilAI Watch: 1 new item — 30 Nov 2026")


def test_subject_date_west_of_utc(smtp_server: SmtpServer) -> None:
    subscribe(frequency="immediate", timezone="America/Los_Angeles")
    add_item(title="First")
    add_item(title="Second")
    # 29 Nov 03:00 UTC is still 28 Nov (19:00) in Los Angeles
    assert send_due(Settings(), datetime(2026, 11, 29, 3, 0, tzinfo=UTC), force=True).batches_sent == 1
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
    assert send_due(Settings()).batches_sent == 1
    add_item(title="One")
    add_item(title="Two")
    assert send_due(Settings()).batches_sent == 1  # still one message per run
    add_item(title="A very long title " * 30)
    assert send_due(Settings()).batches_sent == 1
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
    assert send_due(Settings(), force=True).batches_sent == 1
    assert smtp_server.messages[0]["Subject"].startswith("MilAI Watch: 1 new item — ")


def test_list_unsubscribe_is_raw_on_the_wire(env: dict[str, str], use_smtp: Callable[[str | None], None]) -> None:
    title = "Économie des armes autonomes : le débat reprend à Genève — ministères et ONG s'opposent"
    with RawSmtp() as smtp:
        use_smtp(smtp.url())
        sid = subscribe(frequency="immediate")
        add_item(title=title)
        assert send_due(Settings(), force=True).batches_sent == 1
    with session_scope(configured_engine()) as session:
        token = session.get(Subscription, sid).unsubscribe_token
        batch_id = session.scalar(select(DeliveryBatch.id))
    [raw] = smtp.raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    lines = head.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert f"List-Unsubscribe: <http://127.0.0.1:8000/unsubscribe/{token}>".encode() in lines
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert f"Message-ID: <{batch_id}@localhost>".encode() in lines
    assert b"=?" not in b"".join(line for line in lines if line.lower().startswith(b"list-unsubscribe"))
    # the non-ASCII subject is still RFC 2047-encoded, in words of at most 75 characters
    match = re.search(rb"^Subject: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)
    assert match is not None
    folded = match.group(1)
    assert b"=?utf-8?" in folded.lower()
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?[qQbB]\?[^?]*\?=", folded))
    unfolded = re.sub(rb"\r\n[ \t]", b" ", folded).decode("ascii")
    assert str(make_header(decode_header(unfolded))) == f"MilAI Watch: {title}"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == f"MilAI Watch: {title}"


RAW_MATCHES = [
    "strong:autonomous weapons", "strong:Autonomous Weapons", "ai:artificial intelligence", "mil:weapons",
    "mil:drones", "neg:fisheries", "rule:title-ai+mil", "rule:near-ai+mil x10", "rule:title+body-ai+mil",
]


def test_email_shows_human_reasons(env: dict[str, str], use_smtp: Callable[[str | None], None]) -> None:
    with RawSmtp() as smtp:
        use_smtp(smtp.url())
        subscribe(frequency="immediate", query="drones OR NATO")
        add_item(title="Drones at the UN", text="Drones were discussed.", matches=RAW_MATCHES)
        assert send_due(Settings(), force=True).batches_sent == 1
    message = message_from_bytes(smtp.raw[0], policy=policy.default)
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        # grouped for people, without rule codes (storage.matches)
        assert "Why it matched: Named topic: autonomous weapons · AI: artificial intelligence · " \
            "Military: weapons, drones" in body
        assert "Your search matched: drones" in body
        assert "rule:" not in body and "strong:" not in body and "fisheries" not in body


def test_two_saved_searches_get_subjects_naming_them(smtp_server: SmtpServer) -> None:
    subscribe(query="drones", target="a@example.org")
    subscribe(query='"autonomous weapons"', target="a@example.org")
    subscribe(target="a@example.org")  # everything on-topic: the plain subject
    add_item(title="Drones and autonomous weapons", text="Military drones and autonomous weapons.")
    assert send_due(Settings(), datetime(2026, 11, 29, 8, 0, tzinfo=UTC), force=True).batches_sent == 3
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == ['MilAI Watch · "autonomous weapons": 1 new item — 29 Nov 2026',
                        "MilAI Watch · drones: 1 new item — 29 Nov 2026",
                        "MilAI Watch: 1 new item — 29 Nov 2026"]
