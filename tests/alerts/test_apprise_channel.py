"""The optional Apprise channel, against a real loopback HTTP server (Apprise's json:// scheme)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerts.dispatch import send_due
from alerts.subscriptions import SubscriptionError
from milai.config import Settings
from tests.alerts.conftest import add_item, subscribe

pytest.importorskip("apprise")


pytestmark = pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")


class JsonSink:
    """Collects JSON POST bodies; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.redirect_to: str | None = None
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.bodies.append(json.loads(body))
                self.send_response(307 if sink.redirect_to else sink.status)
                if sink.redirect_to:
                    self.send_header("Location", sink.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/notify"

    def __enter__(self) -> JsonSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[JsonSink]:
    s = JsonSink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_apprise_digest_delivered_once_and_retried(env: dict[str, str], sink: JsonSink) -> None:
    subscribe(channel="apprise", target=sink.url, frequency="immediate")
    add_item(title="REAIM summit statement")
    sink.status = 500
    report = send_due(Settings())
    assert report.failed == 1 and "Apprise notification failed" in str(report), str(report)
    sink.status = 200
    report = send_due(Settings(), force=True)
    assert (report.batches_sent, report.items_sent) == (1, 1), str(report)
    assert sink.bodies[-1]["title"] == "MilAI Watch: REAIM summit statement"
    assert "REAIM summit statement" in sink.bodies[-1]["message"]
    assert "Unsubscribe: http://127.0.0.1:8000/unsubscribe/" in sink.bodies[-1]["message"]
    assert send_due(Settings(), force=True).batches_sent == 0
    assert len(sink.bodies) == 2


def test_apprise_validation(env: dict[str, str]) -> None:
    with pytest.raises(SubscriptionError, match="unsupported Apprise URL scheme"):
        subscribe(channel="apprise", target="mailto://user:pass@example.org")
    with pytest.raises(SubscriptionError, match="cannot use the URL"):
        subscribe(channel="apprise", target="slack://")
    with pytest.raises(SubscriptionError, match="secret only applies"):
        subscribe(channel="apprise", target="json://127.0.0.1:9/x", secret="whsec_x")
    strict = _private_refused().target_policy
    with pytest.raises(SubscriptionError, match="bypass the SSRF guard"):
        subscribe(channel="apprise", target="json://127.0.0.1:9/x", policy=strict)
    subscribe(channel="apprise", target="slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", policy=strict)


def _private_refused(allowlist: str = "") -> Settings:
    """The settings with MILAI_ALLOW_PRIVATE_WEBHOOKS=false and MILAI_NETWORK_ALLOWLIST=`allowlist`."""
    return Settings(allow_private_webhooks=False, network_allowlist=allowlist)


def test_apprise_target_on_a_private_address_is_refused_at_send_time(
    env: dict[str, str], sink: JsonSink
) -> None:
    subscribe(channel="apprise", target=sink.url, frequency="immediate")  # made while private was allowed
    add_item()
    report = send_due(_private_refused())
    assert report.failed == 1 and "bypass the SSRF guard" in str(report), str(report)
    assert sink.bodies == []


def test_apprise_connections_pass_the_network_guard(
    env: dict[str, str], sink: JsonSink
) -> None:
    """An allow-listed Apprise target that redirects to another loopback port: Apprise follows
    redirects itself, and the guard refuses the connection to the address nobody allowed."""
    from alerts.apprise_channel import notify

    port = sink.server.server_address[1]
    with JsonSink() as inner:
        inner_port = inner.server.server_address[1]
        sink.redirect_to = f"http://127.0.0.1:{inner_port}/notify"
        policy = _private_refused(f"127.0.0.1:{port}").target_policy
        ok, error = notify(sink.url, "title", "body", policy)
        assert not ok and error and "Apprise notification failed" in error
        assert len(sink.bodies) == 1 and inner.bodies == []  # the allowed one was called, the other never
        sink.redirect_to = None
        assert notify(sink.url, "title", "body", policy) == (True, None)
        policy = _private_refused(f"127.0.0.1:{port},127.0.0.1:{inner_port}").target_policy
        sink.redirect_to = f"http://127.0.0.1:{inner_port}/notify"
        assert notify(sink.url, "title", "body", policy) == (True, None)  # both allow-listed: followed
        assert len(inner.bodies) == 1


def test_network_guard_refuses_private_connections_of_http_libraries(
    env: dict[str, str], sink: JsonSink
) -> None:
    import requests

    from alerts.apprise_channel import network_guard

    url = f"http://127.0.0.1:{sink.server.server_address[1]}/notify"
    guarded = network_guard(_private_refused().target_policy)
    with guarded, pytest.raises(requests.ConnectionError, match="refusing Apprise connection.*loopback"):
        requests.post(url, json={"x": 1}, timeout=5)
    assert requests.post(url, json={"x": 2}, timeout=5).status_code == 200  # outside the guard: untouched
    assert sink.bodies == [{"x": 2}]


def _url_port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


@pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")
def test_an_allowlisted_apprise_json_target_is_accepted(
    env: dict[str, str], sink: JsonSink  # noqa: F811
) -> None:
    pytest.importorskip("apprise")
    with pytest.raises(SubscriptionError, match="MILAI_NETWORK_ALLOWLIST"):
        subscribe(channel="apprise", target=sink.url, policy=_private_refused("").target_policy)
    settings = _private_refused(f"127.0.0.1:{_url_port(sink.url)}")
    subscribe(channel="apprise", target=sink.url, frequency="immediate", policy=settings.target_policy)
    with pytest.raises(SubscriptionError, match="bypass the SSRF guard"):
        subscribe(channel="apprise", target=f"json://127.0.0.1:{_url_port(sink.url) + 1}/x",
                  policy=settings.target_policy)
    add_item(title="REAIM summit statement")
    assert send_due(settings).batches_sent == 1
    assert sink.bodies and "REAIM summit statement" in sink.bodies[-1]["message"]
