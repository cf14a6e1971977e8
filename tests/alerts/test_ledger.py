"""The ledger hands each batch to one sender at a time: claims with a lease on the database clock,
renewed while sending; a killed sender's batches are re-sent once with the same id; concurrent
senders (bulk claims, SKIP LOCKED on PostgreSQL) deliver every batch exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts import ledger, planner
from alerts.dispatch import DigestReport, send_due
from milai.config import Settings
from storage.database import session_scope
from storage.models import DeliveryBatch
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.alerts.servers import WAIT, GatedReceiver, run_in_thread
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


CRASHING_SENDER = """
import os, alerts.dispatch as dispatch
from milai.config import Settings
dispatch.after_send_hook = lambda claim: os._exit(3)
dispatch.send_due(Settings(), force=True)
"""


def test_stale_claim_is_resent_once_with_same_id(smtp_server: SmtpServer) -> None:
    subscribe()
    add_item()
    now = datetime.now(UTC) + timedelta(seconds=5)
    planner.plan(configured_engine(), now, force=True)
    claim = ledger.claim_next(configured_engine(), now)  # a sender that claims, then dies
    assert claim is not None
    assert send_due(Settings(), now + timedelta(minutes=1)).batches_sent == 0  # lease still held
    # a simulated clock cannot age a claim: leases are measured with the database clock
    assert send_due(Settings(), now + ledger.DEFAULT_LEASE + timedelta(seconds=1)).batches_sent == 0
    assert smtp_server.messages == []
    report = send_due(Settings(), now, lease=timedelta(0))  # the lease has run out
    assert report.batches_sent == 1, str(report)
    assert smtp_server.messages[0]["Message-ID"] == f"<{claim.batch_id}@localhost>"
    assert send_due(Settings(), now + timedelta(hours=1), force=True).batches_sent == 0
    assert len(smtp_server.messages) == 1


@pytest.mark.slow
def test_sender_killed_between_send_and_mark(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item()
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_SENDER], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert len(receiver.accepted) == 1
    with session_scope(configured_engine()) as session:
        batch = session.scalar(select(DeliveryBatch))
        assert batch.state == "sending"
        batch_id = batch.id
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert send_due(Settings(), later).batches_sent == 0  # the dead sender's claim is still within its lease
    assert send_due(Settings(), later, lease=timedelta(0)).batches_sent == 1  # the lease has run out
    # the documented window: delivered twice, with the same webhook-id so the receiver can drop it
    assert [r.headers["webhook-id"] for r in receiver.requests] == [batch_id, batch_id]
    assert send_due(Settings(), later + timedelta(hours=1), force=True).batches_sent == 0
    assert len(receiver.requests) == 2


def test_concurrent_senders_never_double_send(env: dict[str, str], receiver: WebhookReceiver) -> None:
    """Four senders, each with its own pool of webhook threads and bulk claims, on both dialects."""
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily")
    for _ in range(15):
        add_item()
    reports: list[DigestReport] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        reports.append(send_due(Settings(), force=True))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 16 and set(ids.values()) == {1}
    assert sum(r.batches_sent for r in reports) == 16
    assert sum(r.items_sent for r in reports) == 30
    assert send_due(Settings(), force=True).batches_sent == 0


def test_many_concurrent_senders_deliver_every_batch_exactly_once(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    """Enough batches that every sender claims several groups, racing the others for each."""
    for _ in range(3):
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    for _ in range(60):
        add_item()
    planner.plan(configured_engine(), datetime.now(UTC) + timedelta(seconds=5), force=True)
    reports: list[DigestReport] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        reports.append(send_due(Settings(), force=True, webhook_workers=4))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 180 and set(ids.values()) == {1}
    assert sum(r.batches_sent for r in reports) == 180 and sum(r.failed for r in reports) == 0
    with session_scope(configured_engine()) as session:
        states = Counter(session.scalars(select(DeliveryBatch.state)))
    assert states == {"sent": 180}


KILLED_MID_RUN = """
import os, alerts.dispatch as dispatch
from milai.config import Settings
dispatch.after_send_hook = lambda claim: os._exit(3)
dispatch.send_due(Settings(), force=True, webhook_workers=4)
"""


@pytest.mark.slow
def test_sender_killed_during_a_concurrent_group_loses_nothing(
    env: dict[str, str], receiver: WebhookReceiver
) -> None:
    """kill -9 after a group of batches went out concurrently but before any was marked: after the
    lease every batch is delivered, the re-sent ones with the ids the receiver already saw."""
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    for _ in range(40):
        add_item()
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_RUN], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    before = {r.headers["webhook-id"] for r in receiver.requests}
    assert 1 <= len(before) <= 16  # one claimed group (at most CLAIM_ROUNDS of a subscription), unmarked
    report = send_due(Settings(), datetime.now(UTC) + timedelta(seconds=5), lease=timedelta(0))
    assert (report.batches_sent, report.failed) == (40, 0), str(report)
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 40  # nothing missing
    assert {i for i, n in ids.items() if n > 1} <= before and max(ids.values()) == 2
    assert send_due(Settings(), force=True).batches_sent == 0


def test_long_run_claims_are_not_taken_by_a_second_sender(env: dict[str, str]) -> None:
    """Sender A holds batch 1 longer than the lease, then claims batch 3 late in its run; sender B
    (same short lease) must take neither: before the fix, A stamped every claim with its start time.
    One-at-a-time senders (`webhook_workers=1`), so that B has a batch to take while A holds one."""
    lease = timedelta(seconds=1)
    with GatedReceiver() as rx:
        subscribe(channel="webhook", target=rx.url, secret=SECRET, frequency="immediate")
        for _ in range(3):
            add_item()
        # the receiver holds A's request for the whole scenario: a webhook timeout far above the test's waits,
        # so a loaded machine cannot turn the held request into a timeout and a retry (seen at load ~10)
        held = Settings(webhook_timeout=WAIT)
        a, a_out = run_in_thread(lambda: send_due(held, lease=lease, webhook_workers=1))
        rx.wait_for(0)  # A is sending batch 1
        time.sleep(lease.total_seconds() * 2)  # A's run (and its claim on batch 1) is now older than the lease
        b, b_out = run_in_thread(lambda: send_due(held, lease=lease, webhook_workers=1))
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
    with session_scope(configured_engine()) as session:
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
        run, out = run_in_thread(lambda: send_due(Settings(webhook_timeout=WAIT), webhook_workers=1))
        rx.wait_for(0)
        rx.released[0].set()
        rx.wait_for(1)
        second_claimed = datetime.now(UTC)
        rx.open()
        run.join(WAIT)
    assert out and isinstance(out[0], DigestReport) and out[0].batches_sent == 2
    with session_scope(configured_engine()) as session:
        first, second = session.scalars(select(DeliveryBatch).order_by(DeliveryBatch.id))
        assert started <= first.claimed_at <= first.sent_at
        assert first.sent_at <= second.claimed_at <= second_claimed <= second.sent_at
