"""Operator alerts: a change of a source's health (not every crawl) is told to the admin channel
(`MILAI_ADMIN_EMAIL` and/or `MILAI_ADMIN_WEBHOOK_URL`), all changes of one run in one message.

The crawler records a verdict per crawl run (storage.health); this module reads them, never the crawler.
Each configured admin target is an `operator` subscription (never given item digests), and each message is a
delivery batch with a `milai.health` payload, so it goes through the same ledger as digests: claimed,
sent, retried with backoff, marked sent once, with a stable Message-ID / webhook-id.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.digest_email import MAIL_POLICY, message_id
from alerts.planner import new_batch_id
from alerts.snapshots import header_safe
from milai.config import Settings
from storage.database import session_scope
from storage.health import ACTIONS, LABELS, RETURNED, mark_notified, returned, unnotified_changes
from storage.models import CrawlRun, DeliveryBatch, Subscription

PAYLOAD_TYPE = "milai.health"
PAYLOAD_VERSION = 1
OPERATOR = "operator"

log = logging.getLogger("milai.alerts")


def targets(settings: Settings) -> list[tuple[str, str, str | None]]:
    """(channel, target, secret) of each configured admin channel."""
    out: list[tuple[str, str, str | None]] = []
    if settings.admin_email:
        out.append(("email", settings.admin_email, None))
    if settings.admin_webhook_url:
        out.append(("webhook", settings.admin_webhook_url, settings.admin_webhook_secret or ""))
    return out


def operator_subscriptions(session: Session, settings: Settings) -> list[Subscription]:
    """The active operator subscriptions, one per configured admin target (created, updated or paused to
    follow the settings)."""
    wanted = {(channel, target): secret for channel, target, secret in targets(settings)}
    existing = list(session.scalars(select(Subscription).where(Subscription.purpose == OPERATOR)))
    active: list[Subscription] = []
    for sub in existing:
        key = (sub.channel, sub.target)
        if key in wanted:
            sub.secret = wanted.pop(key)
            if not sub.active and sub.paused_reason and sub.paused_reason.startswith("no longer configured"):
                sub.active, sub.paused_reason = True, None
            if sub.active:
                active.append(sub)
        elif sub.active:
            sub.active, sub.paused_reason = False, "no longer configured (MILAI_ADMIN_EMAIL / MILAI_ADMIN_WEBHOOK_URL)"
    for (channel, target), secret in wanted.items():
        sub = Subscription(channel=channel, target=target, secret=secret, purpose=OPERATOR, frequency="immediate",
                           query=None, unsubscribe_token=secrets.token_urlsafe(32), active=True)
        session.add(sub)
        active.append(sub)
    session.flush()
    return active


def plan(engine: Engine, settings: Settings, now: datetime | None = None) -> list[str]:
    """One `milai.health` batch per operator target for the health changes since the last plan; returns the
    batch ids. Runs looked at are marked, so a change is told once; with no admin target nothing is sent."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        run_ids, changes = unnotified_changes(session)
        if not run_ids:
            return []
        subscriptions = operator_subscriptions(session, settings)
        created: list[str] = []
        if changes and subscriptions:
            rows = [{
                "source": source.name, "publisher": source.publisher, "url": source.url,
                "state": run.health, "label": _label(run),
                "previous": previous, "previous_label": LABELS.get(previous, previous) if previous else None,
                "reason": run.health_reason, "action": ACTIONS.get(run.health or "", "").replace("NAME", source.name),
                "at": run.finished_at.isoformat() if run.finished_at else None,
            } for source, run, previous in changes]
            for sub in subscriptions:
                batch_id = new_batch_id()
                session.add(DeliveryBatch(id=batch_id, subscription_id=sub.id, state="pending", created_at=now,
                                          payload={"type": PAYLOAD_TYPE, "version": PAYLOAD_VERSION, "id": batch_id,
                                                   "created": now.isoformat(), "changes": rows}))
                created.append(batch_id)
            log.info("source health: %d change(s) to tell %d operator channel(s)", len(rows), len(subscriptions))
        elif changes:
            log.info("source health: %d change(s), no MILAI_ADMIN_EMAIL / MILAI_ADMIN_WEBHOOK_URL set", len(changes))
        mark_notified(session, run_ids, now)
        return created


def _label(run: CrawlRun) -> str:
    """The state's label; a run back on its configured URL after a fallback says so (its state may not change)."""
    label = LABELS.get(run.health or "", run.health or "")
    return f"{label}, {RETURNED}" if returned(run) else label


def is_health(payload: dict[str, Any]) -> bool:
    return payload.get("type") == PAYLOAD_TYPE


def subject(payload: dict[str, Any]) -> str:
    changes = payload.get("changes", [])
    problems = [c for c in changes if c.get("state") != "ok"]
    if len(changes) == 1:
        c = changes[0]
        return f"MilAI Watch: source {c['source']} is {c['label']}"
    return f"MilAI Watch: {len(changes)} sources changed health ({len(problems)} with a problem)"


def text(payload: dict[str, Any]) -> str:
    lines = [subject(payload), ""]
    for c in payload.get("changes", []):
        before = f" (was {c['previous_label']})" if c.get("previous_label") and c.get("previous") != c.get("state") \
            else ""
        lines.append(f"* {c['source']} ({c['publisher']}): {c['label']}{before}")
        lines.append(f"  why: {c.get('reason') or '-'}")
        if c.get("state") != "ok":
            lines.append(f"  what to do: {c.get('action') or '-'}")
        lines.append(f"  {c['url']}")
        lines.append("")
    lines.append("Every source's health: `milai sources list` or /sources on the web side.")
    return "\n".join(lines) + "\n"


def build_email(*, batch_id: str, payload: dict[str, Any], to: str, mail_from: str) -> EmailMessage:
    """The operator email of one health batch (plain text: it is read by the people who run the service)."""
    message = EmailMessage(policy=MAIL_POLICY)
    name, address = parseaddr(header_safe(mail_from))
    message["From"] = Address(display_name=header_safe(name), addr_spec=address) if name else address
    message["To"] = header_safe(to, 320)
    message["Subject"] = header_safe(subject(payload))
    created = datetime.fromisoformat(payload["created"]) if payload.get("created") else datetime.now(UTC)
    message["Date"] = format_datetime(created)
    message["Message-ID"] = message_id(batch_id, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message["X-MilAI-Batch"] = batch_id
    message.set_content(text(payload))
    return message
