"""Signed webhooks: one per item or digest, retries with backoff, no redirects, the SSRF guard at
send time, pinned addresses (no DNS rebinding), https with the original name, one client per
target with reused connections, the network allow-list.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.dispatch import send_due
from alerts.subscriptions import SubscriptionError
from alerts.webhooks import WebhookSender, post, post_pinned
from milai.config import Settings
from milai.netguard import Allowlist, PinnedTarget, TargetPolicy, pin
from storage.database import session_scope
from storage.models import DeliveryAttempt, DeliveryBatch, Subscription
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import self_signed_cert

STRICT = TargetPolicy()  # MILAI_ALLOW_PRIVATE_WEBHOOKS=false, no allow-list
OPEN = TargetPolicy(allow_private=True)


def test_immediate_webhook_per_item_signed(env: dict[str, str], receiver: WebhookReceiver) -> None:
    sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    first = add_item(title="NATO AI strategy update", publisher="NATO", source="nato")
    add_item(title="Copy", duplicate_of=first)
    add_item(title="CCW GGE LAWS session")
    report = send_due(Settings())
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
    assert send_due(Settings()).batches_sent == 0
    assert len(receiver.requests) == 2


def test_daily_webhook_one_delivery_per_digest(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    add_item()
    add_item()
    assert send_due(Settings(), force=True).batches_sent == 1
    assert [len(p["items"]) for p in receiver.accepted] == [2]


def test_receiver_failing_then_succeeding_with_backoff(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET, fail_times=3) as receiver:
        sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        t0 = datetime.now(UTC) + timedelta(minutes=1)
        assert send_due(Settings(), t0).failed == 1
        with session_scope(configured_engine()) as session:
            batch = session.scalar(select(DeliveryBatch))
            batch_id, retry_at = batch.id, batch.next_attempt_at
            assert batch.state == "failed" and batch.attempts == 1 and "HTTP 500" in batch.last_error
            assert t0 + timedelta(seconds=29) <= retry_at <= t0 + timedelta(minutes=1)
            assert session.get(Subscription, sid).failing_since == t0
        assert send_due(Settings(), t0 + timedelta(seconds=10)).failed == 0  # backoff persisted: not yet
        assert len(receiver.requests) == 1
        t1 = t0 + timedelta(minutes=1, seconds=1)
        assert send_due(Settings(), t1).failed == 1  # second attempt at retry time
        with session_scope(configured_engine()) as session:
            batch = session.get(DeliveryBatch, batch_id)
            assert batch.next_attempt_at - t1 >= timedelta(minutes=1)  # doubled
        assert send_due(Settings(), t1, force=True).failed == 1  # force retries at once
        report = send_due(Settings(), t1, force=True)
        assert report.batches_sent == 1, str(report)
        ids = {r.headers["webhook-id"] for r in receiver.requests}
        assert ids == {batch_id} and len(receiver.requests) == 4 and len(receiver.accepted) == 1
        with session_scope(configured_engine()) as session:
            attempts = list(session.scalars(select(DeliveryAttempt.ok).order_by(DeliveryAttempt.id)))
            assert attempts == [False, False, False, True]
            assert session.get(Subscription, sid).failing_since is None
        assert send_due(Settings(), t1 + timedelta(days=1), force=True).batches_sent == 0


def test_paused_after_failing_for_days(env: dict[str, str], receiver: WebhookReceiver) -> None:
    receiver.fail_times = 10**6
    sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    t0 = datetime.now(UTC) + timedelta(minutes=1)
    send_due(Settings(), t0)
    report = send_due(Settings(), t0 + timedelta(days=3, minutes=1), force=True)
    assert report.paused == 1 and "paused subscription" in str(report)
    with session_scope(configured_engine()) as session:
        sub = session.get(Subscription, sid)
        assert not sub.active and "failing since" in sub.paused_reason
    before = len(receiver.requests)
    assert send_due(Settings(), t0 + timedelta(days=4), force=True).failed == 0
    assert len(receiver.requests) == before  # paused: nothing attempted
    receiver.fail_times = 0
    from alerts.subscriptions import resume_subscription

    with session_scope(configured_engine()) as session:
        resume_subscription(session, sid)
    assert send_due(Settings(), t0 + timedelta(days=4), force=True).items_sent == 1  # nothing lost


def test_redirects_are_not_followed(env: dict[str, str], receiver: WebhookReceiver) -> None:
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    report = send_due(Settings())
    assert report.failed == 1 and "HTTP 307" in str(report)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/h", "http://10.0.0.1/h", "http://169.254.169.254/h", "http://[::1]:9/h"]
)
def test_ssrf_guard_at_send_time(url: str) -> None:
    result = post(url, SECRET, "msg_x", {"items": []}, timeout=1, policy=STRICT)
    assert not result.ok and result.status_code is None and "refusing" in (result.error or "")


def test_ssrf_guard_when_setting_turned_off(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    report = send_due(Settings(allow_private_webhooks=False))
    assert report.failed == 1 and "loopback" in str(report)
    assert receiver.requests == []


def test_one_client_per_target_reuses_connections(env: dict[str, str], receiver: WebhookReceiver) -> None:
    """Four subscriptions to one receiver (four lanes in parallel), forty deliveries, a few connections."""
    for _ in range(4):
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    for _ in range(10):
        add_item()
    report = send_due(Settings(), webhook_workers=4)
    assert (report.batches_sent, report.failed) == (40, 0), str(report)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 40
    assert 1 <= receiver.connections <= 4  # at most one connection per worker, kept alive


def test_one_shot_post_opens_a_connection_per_delivery(receiver: WebhookReceiver) -> None:
    for n in range(3):
        assert post(receiver.url, SECRET, f"msg_{n}", {"items": []}, timeout=5, policy=OPEN).ok
    assert receiver.connections == 3


def test_sender_reuse_does_not_widen_the_guard(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    """A sender that has an open client for an allow-listed loopback receiver still refuses every
    other private target, and keeps sending to the pinned address only."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    policy = TargetPolicy(allowlist=Allowlist.parse(f"127.0.0.1:{port}"))
    with WebhookReceiver(SECRET) as other, WebhookSender(timeout=5, policy=policy) as sender:
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


LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _port(receiver: WebhookReceiver) -> int:
    return int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, ssl.SSLContext]]:
    """A receiver speaking https on 127.0.0.1 with a certificate for `localhost` and 127.0.0.1."""
    cert, key = self_signed_cert(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    receiver = WebhookReceiver(SECRET)
    receiver._server.socket = server_context.wrap_socket(receiver._server.socket, server_side=True)
    with receiver:
        yield receiver, ssl.create_default_context(cafile=str(cert))


def test_name_reached_via_checked_address_when_private_allowed(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    url = f"http://localhost:{_port(receiver)}/hook"
    target = pin(url, OPEN)
    assert target.host == "localhost" and LOOPBACK in target.addresses
    subscribe(channel="webhook", target=url, secret=SECRET, frequency="immediate")
    add_item()
    report = send_due(Settings())
    assert report.batches_sent == 1, str(report)
    [request] = receiver.requests
    assert request.verified and request.headers["host"] == f"localhost:{_port(receiver)}"


def test_name_resolving_to_private_address_refused_without_setting(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    url = f"http://localhost:{_port(receiver)}/hook"
    strict = Settings(allow_private_webhooks=False).target_policy
    with pytest.raises(SubscriptionError, match="loopback"):
        subscribe(channel="webhook", target=url, secret=SECRET, policy=strict)
    result = post(url, SECRET, "msg_x", {"items": []}, timeout=5, policy=strict)
    assert not result.ok and "refusing webhook target localhost" in (result.error or "")
    assert receiver.requests == []


def test_no_second_lookup_and_next_address_on_connect_failure(receiver: WebhookReceiver) -> None:
    """`.invalid` never resolves, so success proves the request used the pinned addresses only;
    127.0.0.2 refuses the connection (the receiver listens on 127.0.0.1), so the next one is tried."""
    port = _port(receiver)
    target = PinnedTarget(
        url=f"http://rebind.invalid:{port}/hook?x=1", scheme="http", host="rebind.invalid", port=port,
        addresses=(ipaddress.ip_address("127.0.0.2"), LOOPBACK),
    )
    result = post_pinned(target, SECRET, "msg_pinned", {"items": []}, timeout=5)
    assert result.ok, result.error
    [request] = receiver.requests
    assert request.headers["host"] == f"rebind.invalid:{port}" and request.headers["webhook-id"] == "msg_pinned"


def test_all_pinned_addresses_refusing_is_a_failure(receiver: WebhookReceiver) -> None:
    port = _port(receiver)
    target = PinnedTarget(
        url=f"http://rebind.invalid:{port}/hook", scheme="http", host="rebind.invalid", port=port,
        addresses=(ipaddress.ip_address("127.0.0.2"),),
    )
    result = post_pinned(target, SECRET, "msg_x", {"items": []}, timeout=5)
    assert not result.ok and result.status_code is None
    assert "cannot connect to rebind.invalid" in (result.error or "")
    assert receiver.requests == []


def test_https_uses_original_name_for_sni_and_certificate(
    tls_receiver: tuple[WebhookReceiver, ssl.SSLContext],
) -> None:
    receiver, client_context = tls_receiver
    port = _port(receiver)
    result = post(
        f"https://localhost:{port}/hook", SECRET, "msg_tls", {"items": []}, timeout=5,
        policy=OPEN, verify=client_context,
    )
    assert result.ok, result.error
    assert receiver.requests[0].verified and receiver.requests[0].headers["host"] == f"localhost:{port}"
    # Same address, but a name the certificate does not cover: verification is against the name
    # (the certificate also covers 127.0.0.1, so checking the IP would wrongly succeed).
    wrong = PinnedTarget(
        url=f"https://other.example:{port}/hook", scheme="https", host="other.example", port=port,
        addresses=(LOOPBACK,),
    )
    result = post_pinned(wrong, SECRET, "msg_tls2", {"items": []}, timeout=5, verify=client_context)
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert len(receiver.requests) == 1


def test_host_header_forms() -> None:
    assert pin("http://127.0.0.1:80/h", OPEN).host_header == "127.0.0.1"
    assert pin("https://[::1]:8443/h", OPEN).host_header == "[::1]:8443"
    assert pin("https://[::1]/h", OPEN).server_name == "::1"
    assert pin("http://127.0.0.1/h", OPEN).server_name is None


def _url_port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _private_refused(allowlist: str) -> Settings:
    """The settings with MILAI_ALLOW_PRIVATE_WEBHOOKS=false and MILAI_NETWORK_ALLOWLIST=`allowlist`."""
    return Settings(allow_private_webhooks=False, network_allowlist=allowlist)


def test_an_allowlisted_webhook_receiver_is_delivered_to(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    port = _url_port(receiver.url)
    settings = _private_refused(f"127.0.0.1:{port + 1}")
    with pytest.raises(SubscriptionError, match="MILAI_NETWORK_ALLOWLIST"):
        subscribe(channel="webhook", target=f"http://127.0.0.1:{port}/hook", secret=SECRET,
                  policy=settings.target_policy)
    settings = _private_refused(f"10.0.0.0/8, localhost:{port}")
    subscribe(channel="webhook", target=f"http://localhost:{port}/hook", secret=SECRET, frequency="immediate",
              policy=settings.target_policy)
    add_item()
    report = send_due(settings)
    assert report.batches_sent == 1, str(report)
    [request] = receiver.requests
    assert request.verified
