"""Regression tests for the second QA report on alerts (/tmp/qa2/REPORT.md).

1. no double send by concurrent senders when a run is long (claims stamped and leases measured with
   the database clock, renewed while sending); 2. List-Unsubscribe and friends raw on the wire;
3. human "why it matched" plus the subscriber's query terms; 4. a stalled SMTP server does not hold
   up webhooks; 5. resume makes failed batches due, validated --lang/--source, malformed SMTP URL.

Every wait below is "until this happened" with a generous upper bound, never an assertion on time.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.digest import DigestReport, send_due
from alerts.subscriptions import SubscriptionError, create_subscription, pause_subscription, resume_subscription
from milai.cli.main import app
from storage.database import session_scope
from storage.models import DeliveryBatch, Subscription
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import free_port

WAIT = 60.0  # upper bound for "this will happen"; never a measured duration
runner = CliRunner()


# --- test servers ---------------------------------------------------------------------------

class GatedReceiver:
    """A webhook receiver that holds every request until the test releases it (or opens the gate)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived: list[threading.Event] = [threading.Event() for _ in range(20)]
        self.released: list[threading.Event] = [threading.Event() for _ in range(20)]
        self.lock = threading.Lock()
        gate = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with gate.lock:
                    n = len(gate.ids)
                    gate.ids.append(self.headers["webhook-id"])
                gate.arrived[n].set()
                gate.released[n].wait(WAIT)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def wait_for(self, n: int) -> None:
        assert self.arrived[n].wait(WAIT), f"request {n + 1} never arrived (got {self.ids})"

    def open(self) -> None:
        for event in self.released:
            event.set()

    def __enter__(self) -> GatedReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()
        self._server.shutdown()
        self._server.server_close()


class RawSmtp:
    """aiosmtpd keeping the raw bytes of each message; `hold` stalls DATA until `release`."""

    def __init__(self, *, hold: bool = False) -> None:
        self.raw: list[bytes] = []
        self.data_started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.data_started.set()
        await asyncio.to_thread(self.release.wait, WAIT)
        self.raw.append(bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"

    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> RawSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._controller.stop()


def run_in_thread(target: Callable[[], DigestReport]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def body() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, out


# --- 1. no double send by concurrent senders --------------------------------------------------

def test_long_run_claims_are_not_taken_by_a_second_sender(env: dict[str, str]) -> None:
    """Sender A holds batch 1 longer than the lease, then claims batch 3 late in its run; sender B
    (same short lease) must take neither: before the fix, A stamped every claim with its start time.
    One-at-a-time senders (`webhook_workers=1`), so that B has a batch to take while A holds one."""
    lease = timedelta(seconds=1)
    with GatedReceiver() as rx:
        subscribe(channel="webhook", target=rx.url, secret=SECRET, frequency="immediate")
        for _ in range(3):
            add_item()
        a, a_out = run_in_thread(lambda: send_due(lease=lease, webhook_workers=1))
        rx.wait_for(0)  # A is sending batch 1
        time.sleep(lease.total_seconds() * 2)  # A's run (and its claim on batch 1) is now older than the lease
        b, b_out = run_in_thread(lambda: send_due(lease=lease, webhook_workers=1))
        rx.wait_for(1)  # B took batch 2 (pending), not A's batch 1
        rx.released[0].set()
        rx.wait_for(2)  # A finished batch 1 and claimed batch 3, late in its run
        rx.released[1].set()
        b.join(WAIT)  # B looks again: batch 3 is freshly claimed by A, so B stops
        assert not b.is_alive()
        rx.open()
        a.join(WAIT)
        assert not a.is_alive()
    for result in (*a_out, *b_out):
        assert isinstance(result, DigestReport), result
    ids = Counter(rx.ids)
    assert len(ids) == 3 and set(ids.values()) == {1}, rx.ids
    assert sum(r.batches_sent for r in (*a_out, *b_out)) == 3
    with session_scope() as session:
        batches = list(session.scalars(select(DeliveryBatch)))
        assert {b.state for b in batches} == {"sent"}
        assert all(b.attempts == 1 for b in batches)


def test_attempt_log_uses_the_time_of_each_step(env: dict[str, str]) -> None:
    """Without a given `now`, marks and sent_at carry the time the batch was sent, not the run start
    (the one-at-a-time sender; concurrent webhook groups are claimed together and marked together)."""
    with GatedReceiver() as rx:
        subscribe(channel="webhook", target=rx.url, secret=SECRET, frequency="immediate")
        add_item()
        add_item()
        started = datetime.now(UTC)
        run, out = run_in_thread(lambda: send_due(webhook_workers=1))
        rx.wait_for(0)
        rx.released[0].set()
        rx.wait_for(1)
        second_claimed = datetime.now(UTC)
        rx.open()
        run.join(WAIT)
    assert out and isinstance(out[0], DigestReport) and out[0].batches_sent == 2
    with session_scope() as session:
        first, second = session.scalars(select(DeliveryBatch).order_by(DeliveryBatch.id))
        assert started <= first.claimed_at <= first.sent_at
        assert first.sent_at <= second.claimed_at <= second_claimed <= second.sent_at


# --- 2. raw headers on the wire ---------------------------------------------------------------

def test_list_unsubscribe_is_raw_on_the_wire(env: dict[str, str], use_smtp: Callable[[str | None], None]) -> None:
    title = "Économie des armes autonomes : le débat reprend à Genève — ministères et ONG s'opposent"
    with RawSmtp() as smtp:
        use_smtp(smtp.url())
        sid = subscribe(frequency="immediate")
        add_item(title=title)
        assert send_due(force=True).batches_sent == 1
    with session_scope() as session:
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


# --- 3. human "why it matched" ----------------------------------------------------------------

RAW_MATCHES = [
    "strong:autonomous weapons", "strong:Autonomous Weapons", "ai:artificial intelligence", "mil:weapons",
    "mil:drones", "neg:fisheries", "rule:title-ai+mil", "rule:near-ai+mil x10", "rule:title+body-ai+mil",
]


def test_webhook_matches_are_human_with_query_terms(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate",
              query='("autonomous weapons" OR drone* OR NATO) NOT cyber')
    add_item(title="Drones and autonomous weapons at the UN", text="Swarming drones were discussed.",
             matches=RAW_MATCHES)
    assert send_due().batches_sent == 1
    [payload] = receiver.accepted
    [item] = payload["items"]
    assert item["matches"] == ["autonomous weapons", "artificial intelligence", "weapons", "drones"]
    assert item["query_matches"] == ["autonomous weapons", "drone*"]
    assert item["classifier_matches"] == RAW_MATCHES
    assert payload["version"] == 1


def test_matches_are_capped_and_query_matches_empty_without_query(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item(matches=[f"strong:term {n}" for n in range(12)] + ["rule:title-ai+mil"])
    send_due()
    [item] = receiver.accepted[0]["items"]
    assert item["matches"] == [f"term {n}" for n in range(8)]
    assert item["query_matches"] == []


def test_email_shows_human_reasons(env: dict[str, str], use_smtp: Callable[[str | None], None]) -> None:
    with RawSmtp() as smtp:
        use_smtp(smtp.url())
        subscribe(frequency="immediate", query="drones OR NATO")
        add_item(title="Drones at the UN", text="Drones were discussed.", matches=RAW_MATCHES)
        assert send_due(force=True).batches_sent == 1
    message = message_from_bytes(smtp.raw[0], policy=policy.default)
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        # grouped for people, without rule codes (storage.matches)
        assert "Why it matched: Named topic: autonomous weapons · AI: artificial intelligence · " \
            "Military: weapons, drones" in body
        assert "Your search matched: drones" in body
        assert "rule:" not in body and "strong:" not in body and "fisheries" not in body


def test_old_batches_with_raw_tokens_render_human(env: dict[str, str]) -> None:
    from alerts.compose import build_digest

    payload = {"created": "2026-11-29T07:00:00+00:00", "items": [{
        "id": 1, "url": "https://x.example/1", "title": "T", "published": None, "publisher": "P",
        "language": "en", "summary": "", "matches": RAW_MATCHES, "also_published_by": [],
    }]}
    message = build_digest(batch_id="msg_old", payload=payload, to="a@b.org", mail_from="milai@localhost",
                           unsubscribe_url="https://m.example/unsubscribe/x")
    text = message.get_body(("plain",)).get_content()
    assert "Why it matched: autonomous weapons, artificial intelligence, weapons, drones" in text


# --- 4. a stalled SMTP server does not hold up webhooks ---------------------------------------

def test_stalled_smtp_does_not_delay_webhooks(
    env: dict[str, str], use_smtp: Callable[[str | None], None], receiver: WebhookReceiver,
) -> None:
    with RawSmtp(hold=True) as smtp:
        use_smtp(smtp.url())
        subscribe(frequency="immediate")  # the email batch is the older one
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        run, out = run_in_thread(lambda: send_due())
        assert smtp.data_started.wait(WAIT)  # the sender is stuck in the SMTP transaction...
        assert len(receiver.accepted) == 1  # ...and the webhook already went out
        smtp.release.set()
        run.join(WAIT)
    assert out[0].batches_sent == 2 and len(smtp.raw) == 1


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
        report = send_due()
    assert report.batches_sent == 1 and report.failed == 1, str(report)
    assert "timed out" in str(report)
    assert len(receiver.accepted) == 1


# --- 5. resume, filters, SMTP URL -------------------------------------------------------------

def test_resume_makes_failed_batches_due_now(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET, fail_times=1) as receiver:
        sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        assert send_due().failed == 1
        assert send_due().batches_sent == 0  # backoff
        with session_scope() as session:
            pause_subscription(session, sid)
        with session_scope() as session:
            resume_subscription(session, sid)
        with session_scope() as session:
            batch = session.scalar(select(DeliveryBatch))
            assert batch.state == "failed" and batch.next_attempt_at is None
        assert send_due().batches_sent == 1  # no --now needed
        assert len(receiver.accepted) == 1


@pytest.mark.parametrize("lang", ["english", "eng", "xx", "e"])
def test_language_must_be_iso_639_1(env: dict[str, str], lang: str) -> None:
    with session_scope() as session, pytest.raises(SubscriptionError, match="ISO 639-1"):
        create_subscription(session, channel="email", target="a@b.org", languages=[lang])
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--lang", lang])
    assert result.exit_code == 2 and "ISO 639-1" in result.output


def test_language_codes_are_normalised(env: dict[str, str]) -> None:
    with session_scope() as session:
        sub = create_subscription(session, channel="email", target="a@b.org", languages=["FR", "zh"])
        assert sub.languages == ["fr", "zh"]


def test_unknown_source_is_an_error_once_the_catalogue_has_rows(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "nonexistent-source"])
    assert result.exit_code == 0, result.output  # empty catalogue: accepted...
    assert "warning" in result.output and "nonexistent-source" in result.output  # ...with a warning
    add_item(source="un-news")
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "nonexistent-source"])
    assert result.exit_code == 2 and "unknown source" in result.output
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "un-news"])
    assert result.exit_code == 0 and "warning" not in result.output


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


def test_digest_send_exits_1_when_any_delivery_failed(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET) as good, WebhookReceiver(SECRET, fail_times=5) as bad:
        subscribe(channel="webhook", target=good.url, secret=SECRET, frequency="immediate")
        subscribe(channel="webhook", target=bad.url, secret=SECRET, frequency="immediate")
        add_item()
        result = runner.invoke(app, ["digest", "send"])
    assert result.exit_code == 1, result.output
    assert "1 sent (1 items), 1 failed" in result.output
    assert result.output.count("HTTP 500") == 1  # reported once, not also as a log line


def test_ssrf_message_grammar() -> None:
    import ipaddress

    from milai.netguard import forbidden_reason

    assert forbidden_reason(ipaddress.ip_address("0.0.0.0")) == "an unspecified address"
    assert forbidden_reason(ipaddress.ip_address("127.0.0.1")) == "a loopback address"


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("lease-"):
            thread.join(WAIT)
            assert not thread.is_alive()
