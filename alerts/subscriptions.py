"""Subscriptions: saved searches delivered by email or webhook; validation and lifecycle."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from milai.netguard import TargetPolicy, UnsafeTargetError, check_url
from storage import query as query_language
from storage.models import DeliveryBatch, Source, Subscription

log = logging.getLogger("milai.alerts")

CHANNELS = ("email", "webhook", "apprise")
# Of the ISO 639-1 codes (storage.search.iso639_1), the collective `bh` (Bihari languages) is not
# accepted as a subscription filter.
NOT_FILTER_LANGUAGES = frozenset({"bh"})
FREQUENCIES = ("immediate", "daily", "weekly")


class SubscriptionError(ValueError):
    """Invalid subscription input or an unknown subscription, with a message fit for users."""


def compile_matcher(query: str | None) -> Callable[[str, str | None], bool]:
    """A predicate `(text, lang) -> bool` for a saved query; None matches everything."""
    return query_language.compile_query(query).matches


def validate_query(query: str | None) -> str | None:
    """The query stripped (None when blank), or SubscriptionError when it does not parse."""
    query = (query or "").strip() or None
    try:
        compile_matcher(query)
    except query_language.QuerySyntaxError as exc:
        raise SubscriptionError(f"invalid query {query!r}: {exc}") from None
    return query


def validate_email_address(address: str) -> str:
    """The normalised address, or SubscriptionError."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SubscriptionError(f"invalid email address {address!r}: {exc}") from None


def validate_webhook_url(url: str, policy: TargetPolicy) -> str:
    """The URL, checked by the SSRF guard (`policy.allow_private` lifts the address check)."""
    url = url.strip()
    try:
        check_url(url, policy)
    except UnsafeTargetError as exc:
        raise SubscriptionError(str(exc)) from None
    return url


def validate_apprise_url(url: str, policy: TargetPolicy) -> str:
    """An Apprise URL of a supported service (see alerts.apprise_channel)."""
    from alerts import apprise_channel

    try:
        return apprise_channel.validate_url(url, policy)
    except UnsafeTargetError as exc:
        raise SubscriptionError(str(exc)) from None
    except ImportError:
        raise SubscriptionError("the Apprise channel needs the 'apprise' package") from None


def validate_secret(secret: str | None) -> str:
    """A Standard Webhooks secret: `whsec_` followed by base64 of at least 16 bytes."""
    if not secret:
        raise SubscriptionError("a webhook subscription needs --secret whsec_<base64>")
    secret = secret.strip()
    if not secret.startswith("whsec_"):
        raise SubscriptionError("the webhook secret must start with 'whsec_' followed by base64")
    body = secret[len("whsec_"):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SubscriptionError("the webhook secret after 'whsec_' is not valid base64") from None
    if len(raw) < 16:
        raise SubscriptionError("the webhook secret is too short (at least 16 random bytes)")
    return secret


def new_secret() -> str:
    """A fresh random signing secret in the Standard Webhooks format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SubscriptionError(f"unknown time zone {name!r} (use an IANA name like Europe/Paris)") from None
    return name


LABEL_CHARS = 100


def validate_label(label: str | None) -> str | None:
    """The subscriber's name for a saved search, on one line (None when blank), or SubscriptionError."""
    label = " ".join("".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in label or "").split()) or None
    if label is not None and len(label) > LABEL_CHARS:
        raise SubscriptionError(f"the label is too long ({len(label)} characters, at most {LABEL_CHARS})")
    return label


def _clean_list(values: Iterable[str], what: str) -> list[str]:
    out = []
    for value in values:
        value = value.strip()
        if not value:
            raise SubscriptionError(f"empty {what} filter")
        if value not in out:
            out.append(value)
    return out


def validate_languages(languages: Iterable[str]) -> list[str]:
    """Lower-cased ISO 639-1 codes (`en`, `fr`), or SubscriptionError (`english`, `eng`, `xx`)."""
    from storage.search import iso639_1

    codes = [lang.lower() for lang in _clean_list(languages, "language")]
    for code in codes:
        if code not in iso639_1() or code in NOT_FILTER_LANGUAGES:
            raise SubscriptionError(f"unknown language {code!r} (use an ISO 639-1 code such as en, fr or zh)")
    return codes


def validate_sources(session: Session, sources: Iterable[str], warn: Callable[[str], None] | None = None) -> list[str]:
    """Source names checked against the `sources` table: unknown names are an error when it has rows;
    when it is still empty (nothing crawled or synced yet) they are accepted with a warning."""
    names = _clean_list(sources, "source")
    if not names:
        return names
    known = set(session.scalars(select(Source.name)))
    unknown = [name for name in names if name not in known]
    if unknown and known:
        raise SubscriptionError(
            f"unknown source {', '.join(map(repr, unknown))} (see `milai sources list` for the names)"
        )
    if unknown:
        message = (
            f"the source catalogue is empty, so {', '.join(map(repr, unknown))} could not be checked; "
            "the filter only matches items of sources with exactly that name"
        )
        (warn or log.warning)(message)
    return names


def create_subscription(
    session: Session,
    *,
    channel: str,
    target: str,
    query: str | None = None,
    label: str | None = None,
    frequency: str = "daily",
    secret: str | None = None,
    sources: Sequence[str] = (),
    publishers: Sequence[str] = (),
    languages: Sequence[str] = (),
    delivery_hour: int = 7,
    timezone: str = "UTC",
    warn: Callable[[str], None] | None = None,
    policy: TargetPolicy | None = None,
) -> Subscription:
    """Validate and store a subscription; it receives items fetched from now on.

    `warn` receives warnings that do not stop the subscription (default: logged). `policy` (the
    settings' `target_policy`) checks a webhook or Apprise target; those channels need it.
    """
    if channel not in CHANNELS:
        raise SubscriptionError(f"unknown channel {channel!r} (use one of {', '.join(CHANNELS)})")
    if frequency not in FREQUENCIES:
        raise SubscriptionError(f"unknown frequency {frequency!r} (use one of {', '.join(FREQUENCIES)})")
    if not isinstance(delivery_hour, int) or not 0 <= delivery_hour <= 23:
        raise SubscriptionError(f"delivery hour must be 0-23, not {delivery_hour!r}")
    if channel == "email":
        target = validate_email_address(target)
    elif policy is None:
        raise TypeError(f"a {channel} subscription needs the network guard's policy (Settings.target_policy)")
    elif channel == "webhook":
        target = validate_webhook_url(target, policy)
    else:
        target = validate_apprise_url(target, policy)
    if channel == "webhook":
        secret = validate_secret(secret)
    elif secret:
        raise SubscriptionError("a secret only applies to webhook subscriptions")
    subscription = Subscription(
        channel=channel,
        target=target,
        secret=secret,
        query=validate_query(query),
        label=validate_label(label),
        sources=validate_sources(session, sources, warn),
        publishers=_clean_list(publishers, "publisher"),
        languages=validate_languages(languages),
        frequency=frequency,
        delivery_hour=delivery_hour,
        timezone=validate_timezone(timezone),
        active=True,
        unsubscribe_token=secrets.token_urlsafe(32),
    )
    session.add(subscription)
    session.flush()
    return subscription


def list_subscriptions(session: Session, *, channel: str | None = None) -> list[Subscription]:
    stmt = select(Subscription).where(Subscription.purpose == "digest").order_by(Subscription.id)
    if channel:
        stmt = stmt.where(Subscription.channel == channel)
    return list(session.scalars(stmt))


def get_subscription(session: Session, subscription_id: int) -> Subscription:
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.purpose != "digest":
        raise SubscriptionError(f"no subscription with id {subscription_id}")
    return subscription


def pause_subscription(session: Session, subscription_id: int, reason: str = "paused by user") -> Subscription:
    subscription = get_subscription(session, subscription_id)
    subscription.active = False
    subscription.paused_reason = reason
    return subscription


def resume_subscription(session: Session, subscription_id: int) -> Subscription:
    """Reactivate; the failure clock restarts so retries get a fresh allowance, and failed batches
    are due at once (their backoff is cleared) so the next digest run delivers them."""
    subscription = get_subscription(session, subscription_id)
    subscription.active = True
    subscription.paused_reason = None
    subscription.failing_since = None
    session.execute(
        update(DeliveryBatch)
        .where(DeliveryBatch.subscription_id == subscription.id, DeliveryBatch.state == "failed")
        .values(next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return subscription


def delete_subscription(session: Session, subscription_id: int) -> None:
    session.delete(get_subscription(session, subscription_id))


def unsubscribe(session: Session, token: str) -> bool:
    """Deactivate the subscription owning `token` (RFC 8058 one-click); False when unknown."""
    subscription = session.scalar(select(Subscription).where(Subscription.unsubscribe_token == token))
    if subscription is None:
        return False
    subscription.active = False
    subscription.paused_reason = "unsubscribed"
    return True
