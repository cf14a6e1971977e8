"""MILAI_NETWORK_ALLOWLIST for alerts: with private targets otherwise refused, an allow-listed webhook
receiver or Apprise json:// target on loopback is delivered to; anything else stays refused."""

from __future__ import annotations

import pytest

from alerts.digest import send_due
from alerts.subscriptions import SubscriptionError
from milai.config import reset_settings
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.alerts.test_apprise import JsonSink, sink  # noqa: F401 - the sink fixture
from tests.support.receiver import WebhookReceiver


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _private_refused(monkeypatch: pytest.MonkeyPatch, allowlist: str) -> None:
    monkeypatch.setenv("MILAI_ALLOW_PRIVATE_WEBHOOKS", "false")
    monkeypatch.setenv("MILAI_NETWORK_ALLOWLIST", allowlist)
    reset_settings()


def test_an_allowlisted_webhook_receiver_is_delivered_to(
    env: dict[str, str], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _port(receiver.url)
    _private_refused(monkeypatch, f"127.0.0.1:{port + 1}")
    with pytest.raises(SubscriptionError, match="MILAI_NETWORK_ALLOWLIST"):
        subscribe(channel="webhook", target=f"http://127.0.0.1:{port}/hook", secret=SECRET)
    _private_refused(monkeypatch, f"10.0.0.0/8, localhost:{port}")
    subscribe(channel="webhook", target=f"http://localhost:{port}/hook", secret=SECRET, frequency="immediate")
    add_item()
    report = send_due()
    assert report.batches_sent == 1, str(report)
    [request] = receiver.requests
    assert request.verified


@pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")
def test_an_allowlisted_apprise_json_target_is_accepted(
    env: dict[str, str], sink: JsonSink, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    pytest.importorskip("apprise")
    _private_refused(monkeypatch, "")
    with pytest.raises(SubscriptionError, match="MILAI_NETWORK_ALLOWLIST"):
        subscribe(channel="apprise", target=sink.url)
    _private_refused(monkeypatch, f"127.0.0.1:{_port(sink.url)}")
    subscribe(channel="apprise", target=sink.url, frequency="immediate")
    with pytest.raises(SubscriptionError, match="bypass the SSRF guard"):
        subscribe(channel="apprise", target=f"json://127.0.0.1:{_port(sink.url) + 1}/x")
    add_item(title="REAIM summit statement")
    assert send_due().batches_sent == 1
    assert sink.bodies and "REAIM summit statement" in sink.bodies[-1]["message"]
