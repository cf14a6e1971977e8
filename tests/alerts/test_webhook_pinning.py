"""DNS rebinding: the webhook request goes to the very address the SSRF guard checked."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.digest import send_due
from alerts.subscriptions import SubscriptionError
from alerts.webhooks import post, post_pinned
from milai.config import reset_settings
from milai.netguard import PinnedTarget, pin
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import self_signed_cert

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
    target = pin(url, allow_private=True)
    assert target.host == "localhost" and LOOPBACK in target.addresses
    subscribe(channel="webhook", target=url, secret=SECRET, frequency="immediate")
    add_item()
    report = send_due()
    assert report.batches_sent == 1, str(report)
    [request] = receiver.requests
    assert request.verified and request.headers["host"] == f"localhost:{_port(receiver)}"


def test_name_resolving_to_private_address_refused_without_setting(
    env: dict[str, str], receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://localhost:{_port(receiver)}/hook"
    monkeypatch.setenv("MILAI_ALLOW_PRIVATE_WEBHOOKS", "false")
    reset_settings()
    with pytest.raises(SubscriptionError, match="loopback"):
        subscribe(channel="webhook", target=url, secret=SECRET)
    result = post(url, SECRET, "msg_x", {"items": []}, timeout=5)
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
        allow_private=True, verify=client_context,
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
    assert pin("http://127.0.0.1:80/h", allow_private=True).host_header == "127.0.0.1"
    assert pin("https://[::1]:8443/h", allow_private=True).host_header == "[::1]:8443"
    assert pin("https://[::1]/h", allow_private=True).server_name == "::1"
    assert pin("http://127.0.0.1/h", allow_private=True).server_name is None
