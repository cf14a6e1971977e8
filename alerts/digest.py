"""One digest run: plan what is due, then claim, send and mark batch after batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine

from alerts import ledger
from alerts.compose import batch_created, batch_subject, build_digest, search_name
from alerts.confirmation import feedback_path, manage_path
from alerts.ledger import Claim
from alerts.mail import MailConfigError, MailError, SmtpConfig, send_message
from alerts.webhooks import post
from milai.config import Settings, get_settings
from storage.database import ensure_schema

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


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _send(claim: Claim, settings: Settings, smtp: SmtpConfig | None) -> tuple[bool, int | None, str | None, int]:
    """Deliver one claimed batch: (ok, status code, error, duration in ms)."""
    if claim.channel == "webhook":
        result = post(
            claim.target, claim.secret or "", claim.batch_id, claim.payload, timeout=settings.webhook_timeout,
        )
        return result.ok, result.status_code, result.error, result.duration_ms
    if claim.channel == "apprise":
        from alerts import apprise_channel

        started = time.monotonic()
        title = batch_subject(
            claim.payload.get("items", []), batch_created(claim.payload),
            timezone=claim.timezone, frequency=claim.frequency, name=search_name(claim.query),
        )
        body = apprise_channel.message(claim.payload, title, unsubscribe_url(settings, claim.unsubscribe_token))
        try:
            ok, error = apprise_channel.notify(claim.target, title, body)
        except ImportError:
            ok, error = False, "the Apprise channel needs the 'apprise' package"
        return ok, None, error, _elapsed_ms(started)
    assert smtp is not None
    message = build_digest(
        batch_id=claim.batch_id, payload=claim.payload, to=claim.target, mail_from=settings.mail_from,
        unsubscribe_url=unsubscribe_url(settings, claim.unsubscribe_token), query=claim.query,
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


CHANNEL_ORDER = ("webhook", "apprise", "email")  # a stalled SMTP server cannot hold up webhooks


def send_due(
    now: datetime | None = None, *, force: bool = False, engine: Engine | None = None,
    lease: timedelta = ledger.DEFAULT_LEASE,
) -> DigestReport:
    """Deliver every digest and webhook that is due (`force`: everything pending, retries now).

    Without `now` the clock is read afresh at every step (plan, each claim's retry check, each
    mark, the backoff), so a long run never stamps late work with its start time. A given `now`
    (tests, replays) pretends the whole run happens at that moment. Claims and leases always use
    the database clock (see `ledger.claim_next`), and a claim is renewed while it is being sent.

    Channels are processed one after another, webhooks first and email last, so a stalled SMTP
    server (each attempt bounded by MILAI_SMTP_TIMEOUT) delays no webhook.
    """
    settings = get_settings()
    fixed = now

    def clock() -> datetime:
        return fixed or datetime.now(UTC)

    engine = ensure_schema(engine)
    report = DigestReport()
    ledger.plan(engine, clock(), force=force)

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

    attempted: list[str] = []
    for channel in CHANNEL_ORDER:
        if channel == "email" and smtp is None:
            continue
        while claim := ledger.claim_next(
            engine, clock(), force=force, lease=lease, channels=[channel], exclude=attempted
        ):
            attempted.append(claim.batch_id)
            with ledger.Heartbeat(engine, claim, lease):
                ok, status, error, duration = _send(claim, settings, smtp)
            if ok and after_send_hook is not None:
                after_send_hook(claim)
            if ok:
                count = ledger.mark_sent(engine, claim, clock(), status_code=status, duration_ms=duration)
                report.batches_sent += 1
                report.items_sent += count
                report.messages.append(f"sent {count} item(s) to {_describe(claim)}")
                log.info("sent batch %s: %s item(s) to %s", claim.batch_id, count, _describe(claim))
                continue
            paused = ledger.mark_failed(
                engine, claim, clock(), error or "unknown error", status_code=status, duration_ms=duration,
                max_failure_days=settings.webhook_max_failure_days, max_attempts=settings.webhook_max_attempts,
            )
            report.failed += 1
            report.messages.append(f"failed {_describe(claim)}: {error}")
            log.warning("batch %s to %s failed: %s", claim.batch_id, _describe(claim), error)
            if paused:
                report.paused += 1
                report.messages.append(f"paused subscription {claim.subscription_id} after repeated failures")
    return report
