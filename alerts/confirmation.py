"""Double opt-in for email subscriptions, and the signed manage link every digest carries.

Double opt-in for email subscriptions made on the public web page: a request is stored paused
(`paused_reason = PENDING`, so the ledger plans nothing for it), a confirmation mail carries a signed
link, and only confirming it activates the subscription. Unconfirmed requests expire after
CONFIRM_HOURS and are deleted by `expire_unconfirmed` (run whenever a request is made and on every sender run).

The link's signature is an HMAC of the subscription's id and creation time keyed with its own random
`unsubscribe_token`, so nothing but the database is needed to check it and no link outlives its row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from sqlalchemy import delete
from sqlalchemy.orm import Session

from alerts.digest_email import MAIL_POLICY, search_name
from alerts.snapshots import header_safe
from alerts.subscriptions import (
    FREQUENCIES,
    SubscriptionError,
    create_subscription,
    validate_label,
    validate_query,
    validate_timezone,
)
from storage.models import Subscription, utcnow

PENDING = "awaiting confirmation"
CONFIRM_HOURS = 48


def _sign(subscription: Subscription, purpose: str) -> str:
    created = subscription.created_at.replace(microsecond=0).isoformat() if subscription.created_at else ""
    mac = hmac.new(subscription.unsubscribe_token.encode(), f"{purpose}:{subscription.id}:{created}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def confirm_token(subscription: Subscription) -> str:
    return _sign(subscription, "confirm")


def confirm_path(subscription: Subscription) -> str:
    return f"/confirm/{subscription.id}/{confirm_token(subscription)}"


def request_subscription(session: Session, *, email: str, now: datetime | None = None,
                         **fields: object) -> Subscription:
    """Store an email subscription awaiting confirmation (nothing will be sent for it until confirmed)."""
    expire_unconfirmed(session, now)
    subscription = create_subscription(session, channel="email", target=email, **fields)  # type: ignore[arg-type]
    subscription.active = False
    subscription.paused_reason = PENDING
    subscription.created_at = (now or utcnow()).replace(microsecond=0)
    session.flush()
    return subscription


def is_pending(subscription: Subscription) -> bool:
    return not subscription.active and subscription.paused_reason == PENDING


def check_link(subscription: Subscription | None, token: str, now: datetime | None = None) -> Subscription:
    """The subscription a confirmation link names, or SubscriptionError (unknown, forged or expired)."""
    if subscription is None or not hmac.compare_digest(confirm_token(subscription), token):
        raise SubscriptionError("this confirmation link is not valid")
    if is_pending(subscription) and subscription.created_at < (now or utcnow()) - timedelta(hours=CONFIRM_HOURS):
        raise SubscriptionError(f"this confirmation link expired (links are valid for {CONFIRM_HOURS} hours); "
                                "please subscribe again")
    return subscription


def confirm(session: Session, subscription: Subscription, token: str, now: datetime | None = None) -> Subscription:
    """Activate a pending subscription from its link (again: nothing changes)."""
    check_link(subscription, token, now)
    if is_pending(subscription):
        subscription.active = True
        subscription.paused_reason = None
        session.flush()
    return subscription


def expire_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """Delete the requests left unconfirmed for CONFIRM_HOURS; returns how many."""
    cutoff = (now or utcnow()) - timedelta(hours=CONFIRM_HOURS)
    result = session.execute(
        delete(Subscription)
        .where(Subscription.active.is_(False), Subscription.paused_reason == PENDING, Subscription.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def confirmation_message(subscription: Subscription, *, confirm_url: str, mail_from: str) -> EmailMessage:
    """The plain-text mail asking the address's owner to confirm (the only mail a pending request gets)."""
    name = search_name(subscription.query, subscription.label) or "every new on-topic item"
    message = EmailMessage(policy=MAIL_POLICY)
    display, address = parseaddr(header_safe(mail_from))
    message["From"] = Address(display_name=header_safe(display), addr_spec=address) if display else address
    message["To"] = header_safe(subscription.target, 320)
    message["Subject"] = header_safe(f"MilAI Watch: confirm your subscription to {name}")
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    when = (f"{subscription.frequency} at {subscription.delivery_hour:02d}:00 {subscription.timezone}"
            if subscription.frequency != "immediate" else "as soon as new items are found")
    query_line = f"  (query: {subscription.query})\n" if subscription.label and subscription.query else ""
    message.set_content(
        "Someone, probably you, asked MilAI Watch to send this address a digest of\n"
        f"  {name}\n"
        f"{query_line}"
        f"{when}.\n\n"
        "To start it, open this link and press Confirm:\n"
        f"  {confirm_url}\n\n"
        f"Nothing else will be sent unless you confirm; the request expires in {CONFIRM_HOURS} hours.\n"
    )
    return message


def manage_token(subscription_id: int, unsubscribe_token: str, purpose: str = "manage") -> str:
    """The signature of a subscription's manage (or feedback) links, keyed with its own random token."""
    mac = hmac.new(unsubscribe_token.encode(), f"{purpose}:{subscription_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def feedback_path(subscription_id: int, unsubscribe_token: str) -> str:
    """The base of a digest's "relevant / not relevant" links: append /{item id}/{label}."""
    return f"/feedback/{subscription_id}/{manage_token(subscription_id, unsubscribe_token, 'feedback')}"


def check_feedback_link(subscription: Subscription | None, token: str) -> Subscription:
    if subscription is None or not hmac.compare_digest(
            manage_token(subscription.id, subscription.unsubscribe_token, "feedback"), token):
        raise SubscriptionError("this link is not valid")
    return subscription


def manage_path(subscription_id: int, unsubscribe_token: str) -> str:
    return f"/manage/{subscription_id}/{manage_token(subscription_id, unsubscribe_token)}"


def check_manage_link(subscription: Subscription | None, token: str) -> Subscription:
    if subscription is None or not hmac.compare_digest(
            manage_token(subscription.id, subscription.unsubscribe_token), token):
        raise SubscriptionError("this link is not valid")
    return subscription


def change(subscription: Subscription, *, query: str | None, frequency: str, delivery_hour: int, timezone: str,
           paused: bool, label: str | None = None) -> Subscription:
    """Apply the manage form: query, name (label), frequency, hour, time zone, paused or not (a pending
    request stays pending: only its confirmation link starts it)."""
    if frequency not in FREQUENCIES:
        raise SubscriptionError(f"unknown frequency {frequency!r} (use one of {', '.join(FREQUENCIES)})")
    if not 0 <= delivery_hour <= 23:
        raise SubscriptionError(f"delivery hour must be 0-23, not {delivery_hour!r}")
    subscription.query = validate_query(query)
    subscription.label = validate_label(label)
    subscription.frequency = frequency
    subscription.delivery_hour = delivery_hour
    subscription.timezone = validate_timezone(timezone)
    if not is_pending(subscription):
        subscription.active = not paused
        subscription.paused_reason = "paused by subscriber" if paused else None
    return subscription
