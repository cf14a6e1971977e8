"""SMTP delivery: unset or down servers keep digests pending, authentication, STARTTLS and implicit
TLS, the SMTP timeout, a malformed MILAI_SMTP_URL.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.dispatch import send_due
from milai.cli.main import app
from milai.config import Settings
from storage.database import session_scope
from storage.models import DeliveryBatch
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer, free_port

runner = CliRunner()


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_smtp_unset_keeps_pending(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    use_smtp(None)
    subscribe()
    add_item()
    report = send_due(Settings(), force=True)
    assert report.batches_sent == 0 and report.skipped == 1
    assert "MILAI_SMTP_URL is not set" in str(report)
    with SmtpServer() as server:
        use_smtp(server.url())
        assert send_due(Settings(), force=True).items_sent == 1
        assert len(server.messages) == 1


def test_smtp_down_then_up(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    port = free_port()
    use_smtp(f"smtp://127.0.0.1:{port}")
    subscribe()
    add_item()
    report = send_due(Settings(), force=True)
    assert report.failed == 1 and "cannot reach SMTP server" in str(report)
    with session_scope(configured_engine()) as session:
        batch = session.scalar(select(DeliveryBatch))
        assert batch.state == "failed" and batch.next_attempt_at is not None
        first_id = batch.id
    assert send_due(Settings()).failed == 0  # backoff: not retried before next_attempt_at
    with SmtpServer(port=port) as server:
        report = send_due(Settings(), force=True)
        assert report.batches_sent == 1, str(report)
        assert server.messages[0]["Message-ID"] == f"<{first_id}@localhost>"
        assert send_due(Settings(), force=True).batches_sent == 0
        assert len(server.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_with_encoded_password(use_smtp: Callable[[str | None], None], env: dict[str, str]) -> None:
    with SmtpServer(credentials=("digest@example.org", "p@ss:w/rd")) as server:
        use_smtp(server.url(user="digest%40example.org", password="wrong"))
        subscribe()
        add_item()
        report = send_due(Settings(), force=True)
        assert report.failed == 1 and "authentication failed" in str(report)
        assert "wrong" not in str(report)
        use_smtp(server.url(user="digest%40example.org", password="p%40ss%3Aw%2Frd"))
        assert send_due(Settings(), force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_starttls_with_auth(use_smtp: Callable[[str | None], None], env: dict[str, str], tls_dir: Path) -> None:
    with SmtpServer(credentials=("u", "secret"), tls="starttls", cert_dir=tls_dir) as server:
        use_smtp(server.url(user="u", password="secret"))
        subscribe()
        add_item()
        assert send_due(Settings(), force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_implicit_tls(use_smtp: Callable[[str | None], None], env: dict[str, str], tls_dir: Path) -> None:
    with SmtpServer(tls="implicit", cert_dir=tls_dir) as server:
        use_smtp(server.url())
        subscribe()
        add_item()
        assert send_due(Settings(), force=True).batches_sent == 1
        assert len(server.messages) == 1


def test_smtp_timeout_still_applies(
    env: dict[str, str], use_smtp: Callable[[str | None], None], receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("MILAI_SMTP_TIMEOUT", "0.5")
        use_smtp(f"smtp://127.0.0.1:{silent.getsockname()[1]}")
        subscribe(frequency="immediate")
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        report = send_due(Settings())
    assert report.batches_sent == 1 and report.failed == 1, str(report)
    assert "timed out" in str(report)
    assert len(receiver.accepted) == 1


@pytest.mark.parametrize("url", ["smtp://127.0.0.1:abc", "http://x", "smtp://"])
def test_malformed_smtp_url_is_an_error(
    env: dict[str, str], use_smtp: Callable[[str | None], None], receiver: WebhookReceiver, url: str,
) -> None:
    use_smtp(url)
    subscribe(frequency="immediate")
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    result = runner.invoke(app, ["digest", "send"])
    assert result.exit_code == 2, result.output
    assert "MILAI_SMTP_URL" in result.output and "email disabled" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # a clear error, no traceback
    assert len(receiver.accepted) == 1  # the other channels are still delivered
    use_smtp(None)  # unset is "email disabled", not an error
    result = runner.invoke(app, ["digest", "send"])
    assert result.exit_code == 0 and "email disabled" in result.output
