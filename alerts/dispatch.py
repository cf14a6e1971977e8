"""The dispatch loop: one run plans what is due (alerts.planner), then claims batches from the ledger
(alerts.ledger), sends them by their channel (digest email, webhook, Apprise) and marks them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine

from alerts import ledger, operator, planner
from alerts.confirmation import expire_unconfirmed, feedback_path, manage_path
from alerts.digest_email import batch_created, batch_subject, build_digest, search_name
from alerts.ledger import Claim
from alerts.mail import MailConfigError, MailError, SmtpConfig, send_message
from alerts.webhooks import WebhookSender
from milai.config import Settings
from storage.database import engine_of, ensure_schema, session_scope

log = logging.getLogger("milai.alerts")

# Test hook: called after a message was handed over and before it is marked sent (crash window).
after_send_hook: Callable[[Claim], None] | None = None


@dataclass
class DigestReport:
    """What one run did; `str()` gives a one-paragraph summary."""

    batches_sent: int = 0
    items_sent: int = 0
    failed: int = 0
    skipped: int = 0
    paused: int = 0
    messages: list[str] = field(default_factory=list)
    config_error: str | None = None  # e.g. a malformed MILAI_SMTP_URL (the CLI exits 2)

    def __str__(self) -> str:
        head = (
            f"{self.batches_sent} sent ({self.items_sent} items), {self.failed} failed, "
            f"{self.skipped} skipped"
        )
        if self.paused:
            head += f", {self.paused} subscriptions paused"
        error = [f"error: {self.config_error}"] if self.config_error else []
        return "\n".join([head, *error, *self.messages])


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/unsubscribe/{token}"  # base_url never ends in / (see Settings)


def _describe(claim: Claim) -> str:
    if claim.channel == "webhook":
        return f"subscription {claim.subscription_id} (webhook {urlsplit(claim.target).netloc})"
    if claim.channel == "apprise":  # the rest of an Apprise URL holds its tokens
        return f"subscription {claim.subscription_id} (apprise {claim.target.split(':', 1)[0]})"
    return f"subscription {claim.subscription_id} (email {claim.target})"


SendResult = tuple[bool, int | None, str | None, int]


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _send(claim: Claim, settings: Settings, smtp: SmtpConfig | None, webhooks: WebhookSender) -> SendResult:
    """Deliver one claimed batch: (ok, status code, error, duration in ms)."""
    if claim.channel == "webhook":
        result = webhooks.post(claim.target, claim.secret or "", claim.batch_id, claim.payload)
        return result.ok, result.status_code, result.error, result.duration_ms
    if claim.channel == "apprise":
        from alerts import apprise_channel

        started = time.monotonic()
        title = batch_subject(
            claim.payload.get("items", []), batch_created(claim.payload),
            timezone=claim.timezone, frequency=claim.frequency, name=search_name(claim.query, claim.label),
        )
        body = apprise_channel.message(claim.payload, title, unsubscribe_url(settings, claim.unsubscribe_token))
        try:
            ok, error = apprise_channel.notify(claim.target, title, body, settings.target_policy)
        except ImportError:
            ok, error = False, "the Apprise channel needs the 'apprise' package"
        return ok, None, error, _elapsed_ms(started)
    assert smtp is not None
    if operator.is_health(claim.payload):  # source-health changes for the admin (alerts.operator)
        message = operator.build_email(batch_id=claim.batch_id, payload=claim.payload, to=claim.target,
                                       mail_from=settings.mail_from)
    else:
        message = build_digest(
            batch_id=claim.batch_id, payload=claim.payload, to=claim.target, mail_from=settings.mail_from,
            unsubscribe_url=unsubscribe_url(settings, claim.unsubscribe_token), query=claim.query,
            label=claim.label,
            manage_url=settings.base_url + manage_path(claim.subscription_id, claim.unsubscribe_token),
            site_url=settings.base_url,
            feedback_url=settings.base_url + feedback_path(claim.subscription_id, claim.unsubscribe_token),
            timezone=claim.timezone, frequency=claim.frequency,
        )
    started = time.monotonic()
    try:
        send_message(smtp, message)
    except MailError as exc:
        return False, None, str(exc), _elapsed_ms(started)
    return True, 250, None, _elapsed_ms(started)


def _send_lanes(
    claims: list[Claim], send: Callable[[Claim], SendResult], pool: ThreadPoolExecutor,
) -> list[tuple[Claim, SendResult]]:
    """Send `claims` concurrently, one lane per subscription: the batches of one subscription go one
    after another in their order (a receiver sees its items in order, a digest split into several
    batches arrives in item order), different subscriptions in parallel."""
    lanes: dict[int, list[Claim]] = {}
    for claim in claims:
        lanes.setdefault(claim.subscription_id, []).append(claim)
    if len(lanes) == 1:
        return [(claim, send(claim)) for claim in claims]

    def run(lane: list[Claim]) -> list[tuple[Claim, SendResult]]:
        return [(claim, send(claim)) for claim in lane]

    return [pair for lane in pool.map(run, lanes.values()) for pair in lane]


CHANNEL_ORDER = ("webhook", "apprise", "email")  # a stalled SMTP server cannot hold up webhooks
WEBHOOK_WORKERS = 16  # webhook batches in flight at once (and connections per target)
CLAIM_ROUNDS = 4  # batches claimed at once: this many per worker, and at most this many per subscription


def send_due(
    settings: Settings, now: datetime | None = None, *, force: bool = False, engine: Engine | None = None,
    lease: timedelta = ledger.DEFAULT_LEASE, webhook_workers: int = WEBHOOK_WORKERS,
) -> DigestReport:
    """Deliver every digest and webhook that is due (`force`: everything pending, retries now).

    `settings` come from the caller (the CLI, the scheduler's job): SMTP, sender address, base URL,
    webhook timeout and failure limits, the private-target switch and the subscription backfill.

    Without `now` the clock is read afresh at every step (plan, each claim's retry check, each
    mark, the backoff), so a long run never stamps late work with its start time. A given `now`
    (tests, replays) pretends the whole run happens at that moment. Claims and leases always use
    the database clock (see `ledger.claim_many`), and claims are renewed while they are being sent.

    Channels are processed one after another, webhooks first and email last, so a stalled SMTP
    server (each attempt bounded by MILAI_SMTP_TIMEOUT) delays no webhook. Webhook batches are
    claimed a group at a time and sent by `webhook_workers` threads (one subscription's batches in
    order, subscriptions in parallel) over one HTTP client per target (connections reused); the
    accepted ones of a group are marked in one transaction. Email and Apprise, and webhooks with
    `webhook_workers=1`, go one batch at a time (claim, send, mark).
    """
    fixed = now

    def clock() -> datetime:
        return fixed or datetime.now(UTC)

    engine = ensure_schema(engine or engine_of(settings))
    report = DigestReport()
    operator.plan(engine, settings, clock())  # source-health changes since the last run, one message each
    with session_scope(engine) as session:  # unconfirmed requests go on every run, not only at the next request
        expire_unconfirmed(session, clock())
    planner.plan(engine, clock(), force=force, backfill=timedelta(hours=settings.subscription_backfill_hours))

    smtp: SmtpConfig | None = None
    if settings.smtp_url:
        try:
            smtp = SmtpConfig.from_url(settings.smtp_url, timeout=settings.smtp_timeout)
        except MailConfigError as exc:
            report.config_error = f"{exc}; email is not sent until MILAI_SMTP_URL is fixed"
            log.error("%s", report.config_error)
    if smtp is None:
        waiting = ledger.pending_counts(engine, "email")
        report.skipped += waiting
        if waiting and report.config_error is None:
            report.messages.append(
                f"email disabled (MILAI_SMTP_URL is not set): {waiting} email digest(s) stay pending"
            )
        elif waiting:
            report.messages.append(f"{waiting} email digest(s) stay pending")

    workers = max(1, webhook_workers)
    failed: list[str] = []  # not retried in this run
    with (
        WebhookSender(
            timeout=settings.webhook_timeout, policy=settings.target_policy, connections=workers,
        ) as webhooks,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool,
    ):
        for channel in CHANNEL_ORDER:
            if channel == "email" and smtp is None:
                continue
            group = workers * CLAIM_ROUNDS if channel == "webhook" and workers > 1 else 1
            while claims := ledger.claim_many(
                engine, clock(), force=force, lease=lease, channels=[channel], exclude=failed, limit=group,
                per_subscription=CLAIM_ROUNDS if group > 1 else None,
            ):
                with ledger.Heartbeat(engine, claims, lease):
                    results = _send_lanes(claims, lambda c: _send(c, settings, smtp, webhooks), pool)
                accepted: list[ledger.Sent] = []
                for claim, (ok, status, error, duration) in results:
                    if ok:
                        if after_send_hook is not None:
                            after_send_hook(claim)
                        accepted.append(ledger.Sent(claim, status, duration))
                        continue
                    failed.append(claim.batch_id)
                    paused = ledger.mark_failed(
                        engine, claim, clock(), error or "unknown error", status_code=status, duration_ms=duration,
                        max_failure_days=settings.webhook_max_failure_days,
                        max_attempts=settings.webhook_max_attempts,
                    )
                    report.failed += 1
                    report.messages.append(f"failed {_describe(claim)}: {error}")
                    log.warning("batch %s to %s failed: %s", claim.batch_id, _describe(claim), error)
                    if paused:
                        report.paused += 1
                        report.messages.append(f"paused subscription {claim.subscription_id} after repeated failures")
                counts = ledger.mark_sent_many(engine, accepted, clock())
                for sent in accepted:
                    count = counts[sent.claim.batch_id]
                    report.batches_sent += 1
                    report.items_sent += count
                    report.messages.append(f"sent {count} item(s) to {_describe(sent.claim)}")
                    log.info("sent batch %s: %s item(s) to %s", sent.claim.batch_id, count, _describe(sent.claim))
    return report
