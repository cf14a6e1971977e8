"""A copy delivered before its earlier-published original arrives (issue 13): the subscriber gets the
story once as news. A copy still waiting (pending, in no batch) is superseded and the original goes out
instead; a copy already batched or sent makes the original go out marked `original_of` (webhooks: the
payload field; email: its own section, not counted as a new item). Both dialects, real aiosmtpd and a
real loopback webhook receiver.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from alerts import planner
from alerts.dispatch import send_due
from milai.config import Settings
from storage.database import session_scope
from storage.models import Delivery, DeliveryBatch, Item, Source
from storage.stories import settle
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAY = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def republished_copy() -> int:
    """A government's republication of a UN story, crawled first: the story's original for now."""
    return add_item(title="Government statement on lethal autonomous weapons", publisher="Government of X",
                    source="gov")


def un_original_of(copy_id: int) -> int:
    """The UN original, published a day earlier, stored later as a copy of `copy_id` and settled the
    way the store stage does (storage.stories.settle): it takes the story over."""
    with session_scope(configured_engine()) as session:
        source = session.scalar(select(Source).where(Source.name == "un-news"))
        if source is None:
            source = Source(name="un-news", publisher="United Nations", kind="feed", url="https://un.example/feed")
            session.add(source)
            session.flush()
        item = Item(
            canonical_url=f"https://un.example/story/{copy_id}", url=f"https://un.example/story/{copy_id}",
            source_id=source.id, title="UN talks on lethal autonomous weapons", summary="The original.",
            text="States discussed autonomous weapons systems.", published=DAY - timedelta(days=1),
            language="en", relevant=True, score=1.0, matches=["autonomous weapons"], duplicate_of_id=copy_id,
            fetched_at=datetime.now(UTC) + timedelta(seconds=2),
        )
        session.add(item)
        session.flush()
        assert settle(session, item) == item.id  # the earlier copy is now the original
        return item.id


def states() -> dict[int, str]:
    with session_scope(configured_engine()) as session:
        return dict(session.execute(select(Delivery.item_id, Delivery.state)).all())


def items_of(payloads: list[dict]) -> list[tuple[int, dict | None]]:  # type: ignore[type-arg]
    return [(item["id"], item["original_of"]) for payload in payloads for item in payload["items"]]


def test_a_waiting_copy_is_superseded_and_only_the_original_is_delivered(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    copy = republished_copy()
    assert send_due(Settings()).batches_sent == 0  # recorded, not due yet: pending in no batch
    assert states() == {copy: "pending"}
    original = un_original_of(copy)
    report = send_due(Settings(), force=True)
    assert report.batches_sent == 1 and report.items_sent == 1, str(report)
    assert items_of(receiver.accepted) == [(original, None)]  # news, not marked: the copy never went out
    [payload] = receiver.accepted
    assert payload["version"] == 1
    assert payload["items"][0]["also_published_by"][0]["publisher"] == "Government of X"
    assert states() == {copy: "superseded", original: "sent"}
    assert send_due(Settings(), force=True).batches_sent == 0
    assert len(receiver.requests) == 1


def test_a_sent_copy_makes_the_original_arrive_marked_not_as_news(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    copy = republished_copy()
    assert send_due(Settings()).batches_sent == 1
    with session_scope(configured_engine()) as session:
        sent_at = session.scalar(select(Delivery.sent_at).where(Delivery.item_id == copy))
    assert sent_at is not None
    original = un_original_of(copy)
    assert send_due(Settings()).batches_sent == 1
    [(first, none), (second, marked)] = items_of(receiver.accepted)
    assert (first, none, second) == (copy, None, original)
    assert marked is not None
    assert datetime.fromisoformat(marked["received"]).replace(tzinfo=None) == sent_at.replace(tzinfo=None)
    with session_scope(configured_engine()) as session:
        url = session.scalar(select(Item.url).where(Item.id == copy))
    assert marked["copies"] == [{"id": copy, "title": "Government statement on lethal autonomous weapons",
                                 "url": url, "publisher": "Government of X"}]
    assert receiver.accepted[1]["version"] == 1
    assert states() == {copy: "sent", original: "sent"}
    assert send_due(Settings(), force=True).batches_sent == 0
    assert len(receiver.requests) == 2


def test_a_batched_copy_goes_out_and_the_original_follows_marked_with_the_day_it_was_batched(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    copy = republished_copy()
    planned = datetime.now(UTC)
    assert len(planner.plan(configured_engine(), planned, force=True)) == 1  # batched, not sent
    original = un_original_of(copy)
    assert send_due(Settings(), force=True).batches_sent == 2
    assert items_of(receiver.accepted)[0] == (copy, None)  # the older batch first
    second, marked = items_of(receiver.accepted)[1]
    assert second == original and marked is not None
    assert datetime.fromisoformat(marked["received"]) == planned  # batched then, not yet sent then
    assert states() == {copy: "sent", original: "sent"}


def test_an_original_the_subscription_does_not_want_leaves_the_copy_to_be_delivered(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily", sources=["gov"])
    copy = republished_copy()
    send_due(Settings())
    original = un_original_of(copy)
    assert send_due(Settings(), force=True).batches_sent == 1
    assert items_of(receiver.accepted) == [(copy, None)]  # the copy is what this subscriber asked for
    assert states() == {copy: "sent", original: "skipped"}


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_digest_lists_the_original_apart_and_does_not_count_it_as_new(smtp_server: SmtpServer) -> None:
    subscribe(frequency="daily", timezone="Europe/Paris", label="LAWS")
    copy = republished_copy()
    assert send_due(Settings(), force=True).batches_sent == 1
    original = un_original_of(copy)
    add_item(title="Drone swarms tested by the navy", source="navy", publisher="Navy News")
    assert send_due(Settings(), force=True).batches_sent == 1
    first, second = smtp_server.messages
    assert "1 new item" in first["Subject"]
    assert "MilAI Watch · LAWS: 1 new item — " in second["Subject"]  # the original is not news
    text = _text(second)
    news, _, originals = text.partition("== Originals of stories you already received ==")
    assert "Drone swarms tested by the navy" in news and "UN talks on lethal autonomous weapons" not in news
    with session_scope(configured_engine()) as session:
        sent_at = session.scalar(select(Delivery.sent_at).where(Delivery.item_id == copy))
    assert sent_at is not None
    paris = sent_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    day = f"{paris.day} {paris:%b %Y}"
    assert "UN talks on lethal autonomous weapons" in originals
    assert f"The original of a story you received on {day}: Government statement on lethal autonomous " \
           f"weapons (Government of X)." in originals
    assert f"/items/{original}" in originals
    assert "Originals of stories you already received</h2>" in _html(second)
    assert send_due(Settings(), force=True).batches_sent == 0


def test_a_digest_of_only_originals_says_so_in_its_subject(smtp_server: SmtpServer) -> None:
    subscribe(frequency="daily")
    copy = republished_copy()
    send_due(Settings(), force=True)
    un_original_of(copy)
    assert send_due(Settings(), force=True).batches_sent == 1
    subject = smtp_server.messages[1]["Subject"]
    assert subject.startswith("MilAI Watch: 1 original of a story you already received — "), subject
    assert "0 new" not in subject


CRASHING_SENDER = """
import os, alerts.dispatch as dispatch
from milai.config import Settings
dispatch.after_send_hook = lambda claim: os._exit(3)
dispatch.send_due(Settings(), force=True)
"""


@pytest.mark.slow
def test_a_copy_whose_sender_died_after_sending_still_counts_as_received(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    """The sender dies between the receiver's 2xx and the "sent" mark: the copy's batch is still
    `sending`. The original arriving now is marked, not sent as news, and the copy's batch goes out
    once more with the same webhook-id after the lease (the documented window)."""
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    copy = republished_copy()
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_SENDER], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    with session_scope(configured_engine()) as session:
        [(batch_id, state)] = session.execute(select(DeliveryBatch.id, DeliveryBatch.state)).all()
    assert state == "sending"
    original = un_original_of(copy)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert send_due(Settings(), later).batches_sent == 1  # the original; the dead sender's claim is held
    assert send_due(Settings(), later, lease=timedelta(0)).batches_sent == 1  # the lease ran out: re-sent
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids.count(batch_id) == 2 and len(ids) == 3
    news = [(i, marked) for i, marked in items_of(receiver.accepted) if marked is None]
    assert {i for i, _ in news} == {copy}  # the story came as news only through the copy (twice, same id)
    [(_, marked)] = [(i, m) for i, m in items_of(receiver.accepted) if i == original]
    assert marked is not None and [c["id"] for c in marked["copies"]] == [copy]
    assert states() == {copy: "sent", original: "sent"}


def test_apprise_body_marks_the_original_of_a_received_story() -> None:
    from alerts import apprise_channel

    payload = {"items": [
        {"title": "Drone swarms tested", "publisher": "Navy News", "url": "https://navy.example/1",
         "original_of": None},
        {"title": "UN talks", "publisher": "United Nations", "url": "https://un.example/2",
         "original_of": {"received": "2026-12-02T08:00:00+00:00", "copies": []}},
    ]}
    lines = apprise_channel.message(payload, "t", "https://milai.example/u").splitlines()
    assert lines[0] == "- Drone swarms tested (Navy News) https://navy.example/1"
    assert lines[1] == "- UN talks (United Nations) https://un.example/2 (the original of a story you already received)"
