"""The optional Apprise channel, against a real loopback HTTP server (Apprise's json:// scheme)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerts.digest import send_due
from alerts.subscriptions import SubscriptionError
from milai.config import reset_settings
from tests.alerts.conftest import add_item, subscribe

pytest.importorskip("apprise")
pytestmark = pytest.mark.filterwarnings("ignore:.imghdr. is deprecated:DeprecationWarning")


class JsonSink:
    """Collects JSON POST bodies; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.bodies.append(json.loads(body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/notify"


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
    report = send_due()
    assert report.failed == 1 and "Apprise notification failed" in str(report), str(report)
    sink.status = 200
    report = send_due(force=True)
    assert (report.batches_sent, report.items_sent) == (1, 1), str(report)
    assert sink.bodies[-1]["title"] == "MilAI Watch: REAIM summit statement"
    assert "REAIM summit statement" in sink.bodies[-1]["message"]
    assert "Unsubscribe: http://127.0.0.1:8000/unsubscribe/" in sink.bodies[-1]["message"]
    assert send_due(force=True).batches_sent == 0
    assert len(sink.bodies) == 2


def test_apprise_validation(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SubscriptionError, match="unsupported Apprise URL scheme"):
        subscribe(channel="apprise", target="mailto://user:pass@example.org")
    with pytest.raises(SubscriptionError, match="cannot use the URL"):
        subscribe(channel="apprise", target="slack://")
    with pytest.raises(SubscriptionError, match="secret only applies"):
        subscribe(channel="apprise", target="json://127.0.0.1:9/x", secret="whsec_x")
    monkeypatch.setenv("MILAI_ALLOW_PRIVATE_WEBHOOKS", "false")
    reset_settings()
    with pytest.raises(SubscriptionError, match="bypass the SSRF guard"):
        subscribe(channel="apprise", target="json://127.0.0.1:9/x")
    subscribe(channel="apprise", target="slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
