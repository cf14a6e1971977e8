from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts.digest import send_due
from alerts.webhooks import WebhookSender, post
from milai.config import reset_settings
from storage.database import session_scope
from storage.models import DeliveryAttempt, DeliveryBatch, Subscription
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver


def test_immediate_webhook_per_item_signed(env: dict[str, str], receiver: WebhookReceiver) -> None:
    sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    first = add_item(title="NATO AI strategy update", publisher="NATO", source="nato")
    add_item(title="Copy", duplicate_of=first)
    add_item(title="CCW GGE LAWS session")
    report = send_due()
    assert (report.batches_sent, report.items_sent) == (2, 2), str(report)
    payloads = receiver.accepted
    assert all(r.verified for r in receiver.requests)
    assert [len(p["items"]) for p in payloads] == [1, 1]
    p = payloads[0]
    assert (p["type"], p["version"], p["subscription"]) == ("milai.digest", 1, sid)
    assert p["id"] == receiver.requests[0].headers["webhook-id"]
    item = p["items"][0]
    assert item["title"] == "NATO AI strategy update" and item["publisher"] == "NATO"
    assert item["also_published_by"] == [{"publisher": "United Nations", "url": item["also_published_by"][0]["url"]}]
    assert {"id", "url", "published", "language", "summary", "matches", "source"} <= item.keys()
    assert send_due().batches_sent == 0
    assert len(receiver.requests) == 2


def test_daily_webhook_one_delivery_per_digest(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    add_item()
    add_item()
    assert send_due(force=True).batches_sent == 1
    assert [len(p["items"]) for p in receiver.accepted] == [2]


def test_receiver_failing_then_succeeding_with_backoff(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET, fail_times=3) as receiver:
        sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        t0 = datetime.now(UTC) + timedelta(minutes=1)
        assert send_due(t0).failed == 1
        with session_scope() as session:
            batch = session.scalar(select(DeliveryBatch))
            batch_id, retry_at = batch.id, batch.next_attempt_at
            assert batch.state == "failed" and batch.attempts == 1 and "HTTP 500" in batch.last_error
            assert t0 + timedelta(seconds=29) <= retry_at <= t0 + timedelta(minutes=1)
            assert session.get(Subscription, sid).failing_since == t0
        assert send_due(t0 + timedelta(seconds=10)).failed == 0  # backoff persisted: not yet
        assert len(receiver.requests) == 1
        t1 = t0 + timedelta(minutes=1, seconds=1)
        assert send_due(t1).failed == 1  # second attempt at retry time
        with session_scope() as session:
            batch = session.get(DeliveryBatch, batch_id)
            assert batch.next_attempt_at - t1 >= timedelta(minutes=1)  # doubled
        assert send_due(t1, force=True).failed == 1  # force retries at once
        report = send_due(t1, force=True)
        assert report.batches_sent == 1, str(report)
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert ids == {batch_id} and len(receiver.requests) == 4 and len(receiver.accepted) == 1
        with session_scope() as session:
            attempts = list(session.scalars(select(DeliveryAttempt.ok).order_by(DeliveryAttempt.id)))
            assert attempts == [False, False, False, True]
            assert session.get(Subscription, sid).failing_since is None
        assert send_due(t1 + timedelta(days=1), force=True).batches_sent == 0


def test_paused_after_failing_for_days(env: dict[str, str], receiver: WebhookReceiver) -> None:
    receiver.fail_times = 10**6
    sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    send_due(t0)
    report = send_due(t0 + timedelta(days=3, minutes=1), force=True)
    assert report.paused == 1 and "paused subscription" in str(report)
    with session_scope() as session:
        sub = session.get(Subscription, sid)
        assert not sub.active and "failing since" in sub.paused_reason
    before = len(receiver.requests)
    assert send_due(t0 + timedelta(days=4), force=True).failed == 0
    assert len(receiver.requests) == before  # paused: nothing attempted
    receiver.fail_times = 0
    from alerts.subscriptions import resume_subscription

    with session_scope() as session:
        resume_subscription(session, sid)
    assert send_due(t0 + timedelta(days=4), force=True).items_sent == 1  # nothing lost


def test_redirects_are_not_followed(env: dict[str, str], receiver: WebhookReceiver) -> None:
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    report = send_due()
    assert report.failed == 1 and "HTTP 307" in str(report)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/h", "http://10.0.0.1/h", "http://169.254.169.254/h", "http://[::1]:9/h"]
)
def test_ssrf_guard_at_send_time(url: str) -> None:
    result = post(url, SECRET, "msg_x", {"items": []}, timeout=1, allow_private=False)
    assert not result.ok and result.status_code is None and "refusing" in (result.error or "")


def test_ssrf_guard_when_setting_turned_off(env: dict[str, str], receiver: WebhookReceiver, monkeypatch) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    monkeypatch.setenv("MILAI_ALLOW_PRIVATE_WEBHOOKS", "false")
    reset_settings()
    add_item()
    report = send_due()
    assert report.failed == 1 and "loopback" in str(report)
    assert receiver.requests == []


def test_one_client_per_target_reuses_connections(env: dict[str, str], receiver: WebhookReceiver) -> None:
    """Four subscriptions to one receiver (four lanes in parallel), forty deliveries, a few connections."""
    for _ in range(4):
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    for _ in range(10):
        add_item()
    report = send_due(webhook_workers=4)
    assert (report.batches_sent, report.failed) == (40, 0), str(report)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 40
    assert 1 <= receiver.connections <= 4  # at most one connection per worker, kept alive


def test_one_shot_post_opens_a_connection_per_delivery(receiver: WebhookReceiver) -> None:
    for n in range(3):
        assert post(receiver.url, SECRET, f"msg_{n}", {"items": []}, timeout=5, allow_private=True).ok
    assert receiver.connections == 3


def test_sender_reuse_does_not_widen_the_guard(
    env: dict[str, str], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender that has an open client for an allow-listed loopback receiver still refuses every
    other private target, and keeps sending to the pinned address only."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    monkeypatch.setenv("MILAI_NETWORK_ALLOWLIST", f"127.0.0.1:{port}")
    reset_settings()
    with WebhookReceiver(SECRET) as other, WebhookSender(timeout=5, allow_private=False) as sender:
        other_port = int(other.url.rsplit(":", 1)[1].split("/", 1)[0])
        for n in range(5):
            assert sender.post(receiver.url, SECRET, f"msg_{n}", {"items": []}).ok
        for url in (other.url, f"http://localhost:{other_port}/hook", "http://10.0.0.1/hook",
                    "http://169.254.169.254/latest", f"http://[::ffff:127.0.0.1]:{other_port}/h"):
            result = sender.post(url, SECRET, "msg_x", {"items": []})
            assert not result.ok and "refusing webhook target" in (result.error or ""), url
        assert sender.post(receiver.url + "?again=1", SECRET, "msg_last", {"items": []}).ok
        assert other.requests == [] and other.connections == 0
    assert len(receiver.requests) == 6 and receiver.connections == 1
