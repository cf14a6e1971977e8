"""Typed ORM models: sources, items and their links, crawl runs, subscriptions and deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every dialect (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Source(Base):
    """A catalogue entry mirrored in the database, with its health."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    publisher: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(12))
    schedule: Mapped[str | None] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # health
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_links_found: Mapped[int | None] = mapped_column(Integer)
    last_new_items: Mapped[int | None] = mapped_column(Integer)
    ever_yielded: Mapped[bool] = mapped_column(Boolean, default=False)
    warning: Mapped[str | None] = mapped_column(Text)
    # a discovered replacement crawled while the configured URL keeps failing (storage.health, crawler.fallback):
    # {"url": configured URL, "entry": {kind, url, …}, "found": "…", "since": ISO time}
    fallback: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    items: Mapped[list[Item]] = relationship(back_populates="source")


class Item(Base):
    """One published page or document, stored once under its canonical URL."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_published_id", "published", "id"),
        Index("ix_items_relevant_published", "relevant", "published"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical_url: Mapped[str] = mapped_column(Text, unique=True)  # the crawler bounds it (URLLENGTH_LIMIT)
    url: Mapped[str] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="article")  # article | pdf | document
    title: Mapped[str] = mapped_column(Text, default="")
    listing_title: Mapped[str | None] = mapped_column(Text)  # the title the feed/listing gave (change check)
    summary: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    text_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # cut at a cap
    published: Mapped[datetime | None] = mapped_column(index=True)
    date_origin: Mapped[str] = mapped_column(String(20), default="none")  # page | feed | url | none
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(12), index=True)
    relevant: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # why the classifier decided: {"why": {group: [phrases]}, "codes": [...]} (storage.matches; old rows: a list)
    matches: Mapped[Any] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Normalised (storage.textnorm) title and summary+text that the full-text indexes read; filled by
    # storage.search_index on every ORM flush of a session of storage.database (deferred: never loaded with the item).
    search_title: Mapped[str | None] = mapped_column(Text, deferred=True)
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)

    source: Mapped[Source | None] = relationship(back_populates="items")
    duplicate_of: Mapped[Item | None] = relationship(remote_side=[id], back_populates="duplicates")
    duplicates: Mapped[list[Item]] = relationship(back_populates="duplicate_of")
    symbols: Mapped[list[ItemSymbol]] = relationship(back_populates="item", cascade="all, delete-orphan")
    revisions: Mapped[list[ItemRevision]] = relationship(back_populates="item", cascade="all, delete-orphan")


class ItemRevision(Base):
    """An earlier state of an item that changed (corrected title, reissued document)."""

    __tablename__ = "item_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[Item] = relationship(back_populates="revisions")


class ItemSymbol(Base):
    """A UN document symbol (A/RES/79/239, CCW/GGE.1/2024/2) cited by an item."""

    __tablename__ = "item_symbols"
    __table_args__ = (UniqueConstraint("item_id", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(120), index=True)

    item: Mapped[Item] = relationship(back_populates="symbols")


class ItemBand(Base):
    """One MinHash LSH band of a first copy's signature (storage.near_duplicates): the near-duplicate index."""

    __tablename__ = "item_bands"
    __table_args__ = (
        PrimaryKeyConstraint("band", "key", "item_id", name="pk_item_bands"),
        Index("ix_item_bands_item_id", "item_id"),
    )

    band: Mapped[int] = mapped_column(SmallInteger)
    key: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))


class ItemLink(Base):
    """A relation between two items: `translation` (hreflang alternates) or `duplicate`."""

    __tablename__ = "item_links"
    __table_args__ = (UniqueConstraint("item_id", "other_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))


class PendingAlternate(Base):
    """An hreflang alternate URL named by an item whose page we have not stored yet."""

    __tablename__ = "pending_alternates"
    __table_args__ = (UniqueConstraint("item_id", "canonical_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    canonical_url: Mapped[str] = mapped_column(Text, index=True)
    language: Mapped[str | None] = mapped_column(String(12))


class UrlAlias(Base):
    """A crawled URL (canonical key) that is not an item's own: a mirror/alias of a stored item (`item_id`),
    or an article URL that failed (`failures`, retried after `retry_after`, given up after a few tries)."""

    __tablename__ = "url_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_after: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlRun(Base):
    """One crawl of one source, with its counters and what its listing answered (storage.health)."""

    __tablename__ = "crawl_runs"
    __table_args__ = (Index("ix_crawl_runs_source_finished", "source_id", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | ok | failed | interrupted
    # renewed by the live crawl (crawler.extensions); a `running` row whose heartbeat stopped is closed as interrupted
    heartbeat_at: Mapped[datetime | None]
    requests: Mapped[int] = mapped_column(Integer, default=0)
    links: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    off_topic: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error_summary: Mapped[str | None] = mapped_column(Text)
    # what the listing and robots.txt answered (crawler.diagnosis), links robots.txt disallowed (not errors)
    listing_status: Mapped[int | None] = mapped_column(Integer)
    robots_status: Mapped[int | None] = mapped_column(Integer)
    robots_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    problem: Mapped[str | None] = mapped_column(String(200))  # "challenge:Akamai", "not_well_formed", …
    # the run's verdict (storage.health.STATES) and its one-line reason; compared run to run for operator alerts
    health: Mapped[str | None] = mapped_column(String(20))
    health_reason: Mapped[str | None] = mapped_column(Text)
    notified_at: Mapped[datetime | None]  # looked at for operator alerts (alerts.operator)
    retry_after: Mapped[int | None] = mapped_column(Integer)  # seconds the listing's Retry-After asked for
    max_age: Mapped[int | None] = mapped_column(Integer)  # seconds of the listing's Cache-Control max-age


class Subscription(Base):
    """A saved search delivered by email or webhook."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | webhook
    # digest: a reader's saved search; operator: the admin channel for source-health changes (alerts.operator)
    purpose: Mapped[str] = mapped_column(String(20), default="digest", server_default="digest")
    target: Mapped[str] = mapped_column(Text)  # email address or webhook URL
    secret: Mapped[str | None] = mapped_column(Text)  # webhook signing secret (whsec_…)
    query: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(100))  # the subscriber's name for it (digest subjects)
    sources: Mapped[list[str]] = mapped_column(default=list)
    publishers: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    frequency: Mapped[str] = mapped_column(String(20), default="daily")  # immediate | daily | weekly
    delivery_hour: Mapped[int] = mapped_column(Integer, default=7)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    unsubscribe_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="subscription", cascade="all, delete-orphan")


class DeliveryBatch(Base):
    """One message (a digest email, or one webhook request) carrying one or more deliveries."""

    __tablename__ = "delivery_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # also the webhook-id / Message-ID seed
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sending|sent|failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Delivery(Base):
    """The one ledger record of a (subscription, item) pair."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("delivery_batches.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sent|skipped|superseded
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    subscription: Mapped[Subscription] = relationship(back_populates="deliveries")


class DeliveryAttempt(Base):
    """The log of every attempt to send a batch."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("delivery_batches.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class ItemLabel(Base):
    """A reader's verdict on an item ("relevant" / "not_relevant"), with the text version it was given on:
    the deployment's own data to measure and tune its classifier (`milai labels export`)."""

    __tablename__ = "item_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(20))  # relevant | not_relevant
    revision: Mapped[int] = mapped_column(Integer)  # items.revision when the label was given
    via: Mapped[str] = mapped_column(String(20))  # web | api | email
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for the subscription API (only its hash is stored)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

