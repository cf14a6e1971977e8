"""Item and source persistence for the crawler: catalogue sync, known-URL lookups, storing a page (dedup
decision, item or revision, symbols, links, aliases and near-duplicate bands in one transaction), health."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Engine, Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.database import session_scope
from storage.index_terms import search_columns
from storage.links import link_translations
from storage.models import CrawlRun, Item, ItemRevision, ItemSymbol, Source, UrlAlias, utcnow
from storage.near_duplicates import index_item, lock_for_store, lock_keys, near_matches
from storage.stories import settle

LAYOUT_WARNING = "no links found although this source used to yield links (page layout changed?)"
_LOOKUP_BATCH = 500
# A failing article URL is retried on later crawls after 1 h, 4 h, 16 h, then given up (MAX_URL_FAILURES tries).
MAX_URL_FAILURES = 4
RETRY_BACKOFF = timedelta(hours=1)
RETRY_FACTOR = 4


class SourceLike(Protocol):
    """The catalogue fields mirrored in `sources` (crawler.catalogue.SourceConfig satisfies it)."""

    # read-only members, so that narrower field types (SourceConfig.kind is a Literal) satisfy them
    @property
    def name(self) -> str: ...
    @property
    def publisher(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def schedule(self) -> str | None: ...
    @property
    def enabled(self) -> bool: ...

    def model_dump(self, *, mode: str = ..., exclude_defaults: bool = ...) -> dict[str, Any]: ...


def sync_sources(session: Session, configs: Iterable[SourceLike]) -> dict[str, Source]:
    """Insert or update a `sources` row per catalogue entry (health is kept); returns them by name."""
    configs = list(configs)
    existing = {s.name: s for s in session.scalars(select(Source).where(Source.name.in_([c.name for c in configs])))}
    out: dict[str, Source] = {}
    for cfg in configs:
        src = existing.get(cfg.name)
        if src is None:
            src = Source(name=cfg.name, consecutive_failures=0, ever_yielded=False)
            session.add(src)
        src.publisher = cfg.publisher
        src.kind = cfg.kind
        src.url = cfg.url
        src.language = cfg.language
        src.schedule = cfg.schedule
        src.enabled = cfg.enabled
        src.config = cfg.model_dump(mode="json", exclude_defaults=True)
        out[cfg.name] = src
    session.flush()
    return out


def get_source(session: Session, name: str) -> Source | None:
    return session.scalar(select(Source).where(Source.name == name))


@dataclass(frozen=True)
class KnownItem:
    """What the skip-known filter needs to decide whether a known URL changed."""

    id: int
    canonical_url: str
    listing_title: str | None
    updated_at: datetime | None
    fetched_at: datetime


_KNOWN_COLUMNS = (Item.id, Item.canonical_url, Item.listing_title, Item.updated_at, Item.fetched_at)


def _batches(urls: Iterable[str]) -> Iterator[list[str]]:
    """The distinct `urls`, sorted, in chunks small enough for one IN (…) lookup each."""
    ordered = sorted(set(urls))
    for i in range(0, len(ordered), _LOOKUP_BATCH):
        yield ordered[i : i + _LOOKUP_BATCH]


def known_items(session: Session, canonical_urls: Iterable[str]) -> dict[str, KnownItem]:
    """The stored items among `canonical_urls` (batched IN lookups), keyed by canonical URL."""
    urls = set(canonical_urls)
    out: dict[str, KnownItem] = {}
    for chunk in _batches(urls):
        for row in session.execute(select(*_KNOWN_COLUMNS).where(Item.canonical_url.in_(chunk))):
            out[row.canonical_url] = KnownItem(*row)
    # aliases (mirrors declaring rel=canonical, other spellings fetched before) stand for their item
    for chunk in _batches(urls - out.keys()):
        rows = session.execute(
            select(UrlAlias.url, *_KNOWN_COLUMNS).join(Item, Item.id == UrlAlias.item_id).where(UrlAlias.url.in_(chunk))
        )
        for alias in rows:
            out[alias.url] = KnownItem(alias.id, alias.canonical_url, alias.listing_title, alias.updated_at,
                                       alias.fetched_at)
    return out


def remember_alias(session: Session, url: str, item_id: int) -> None:
    """Record canonical `url` (fetched, but stored under another key) as an alias of item `item_id`."""
    row = session.scalar(select(UrlAlias).where(UrlAlias.url == url))
    if row is None:
        session.add(UrlAlias(url=url, item_id=item_id, failures=0, updated_at=utcnow()))
    else:
        row.item_id, row.failures, row.retry_after, row.last_error = item_id, 0, None, None
        row.updated_at = utcnow()
    session.flush()


def record_url_failure(
    session: Session, url: str, error: str, *, permanent: bool = False, now: datetime | None = None
) -> UrlAlias:
    """Count a failed fetch of article URL `url` (canonical); schedule its next try with backoff, or give up."""
    now = now or utcnow()
    row = session.scalar(select(UrlAlias).where(UrlAlias.url == url))
    if row is None:
        row = UrlAlias(url=url, failures=0)
        session.add(row)
    elif row.item_id is not None:  # an alias of a stored item: nothing to retry
        return row
    row.failures = MAX_URL_FAILURES if permanent else (row.failures or 0) + 1
    row.last_error = error[:2000]
    row.updated_at = now
    row.retry_after = (
        None if row.failures >= MAX_URL_FAILURES else now + RETRY_BACKOFF * RETRY_FACTOR ** (row.failures - 1)
    )
    session.flush()
    return row


def forget_url_failures(session: Session, urls: Iterable[str]) -> None:
    """Drop the failure records of `urls` (fetched fine after all)."""
    urls = sorted(set(urls))
    if urls:
        for row in session.scalars(select(UrlAlias).where(UrlAlias.url.in_(urls), UrlAlias.item_id.is_(None))):
            session.delete(row)
        session.flush()


def blocked_urls(session: Session, canonical_urls: Iterable[str], now: datetime | None = None) -> set[str]:
    """The failed article URLs among `canonical_urls` not to request now (backing off, or given up)."""
    now = now or utcnow()
    out: set[str] = set()
    for chunk in _batches(canonical_urls):
        rows = session.execute(
            select(UrlAlias.url, UrlAlias.failures, UrlAlias.retry_after).where(
                UrlAlias.url.in_(chunk), UrlAlias.item_id.is_(None), UrlAlias.failures > 0
            )
        )
        for url, failures, retry_after in rows:
            if failures >= MAX_URL_FAILURES or (retry_after is not None and retry_after > now):
                out.add(url)
    return out


def get_item_by_url(session: Session, canonical_url: str) -> Item | None:
    return session.scalar(select(Item).where(Item.canonical_url == canonical_url))


def add_item(session: Session, **fields: Any) -> Item:
    """Insert one item (fields as in storage.models.Item) and flush to get its id."""
    item = Item(**fields)
    session.add(item)
    session.flush()
    return item


_REVISED_FIELDS = (
    "title", "listing_title", "summary", "text", "published", "date_origin", "language", "relevant", "score",
    "matches", "content_hash", "minhash", "url",
)


def revise_item(session: Session, item: Item, **fields: Any) -> bool:
    """Record the item's current state as an ItemRevision and apply `fields`; False when nothing changed."""
    changed = {k: v for k, v in fields.items() if k in _REVISED_FIELDS and v is not None and getattr(item, k) != v}
    if not ({"title", "text", "summary", "content_hash"} & changed.keys()):
        return False
    session.add(
        ItemRevision(
            item_id=item.id,
            revision=item.revision,
            title=item.title,
            summary=item.summary,
            text=item.text,
            content_hash=item.content_hash,
        )
    )
    for key, value in changed.items():
        setattr(item, key, value)
    item.revision += 1
    item.updated_at = utcnow()
    session.flush()
    return True


@dataclass(frozen=True)
class Match:
    """A stored item that a page duplicates, and why."""

    item_id: int
    reason: Literal["url", "fingerprint", "near"]
    similarity: float


# The statements of the per-page path (store_page), built once and run as Core on the session's connection: an
# ORM select costs ~10x its SQL here (statement construction, cache key, ORM result) and a crawl runs a dozen per
# page. Their rows are read as plain values; nothing ORM-side holds them.
_ITEMS = cast(Table, Item.__table__)
_SAME_URL = select(_ITEMS.c.id).where(_ITEMS.c.canonical_url == bindparam("url"))
_SAME_TEXT = (
    select(_ITEMS.c.id, _ITEMS.c.duplicate_of_id)
    .where(_ITEMS.c.content_hash == bindparam("fingerprint"))
    .order_by(_ITEMS.c.duplicate_of_id.is_not(None), _ITEMS.c.id)
    .limit(1)
)
_INSERT_ITEM = insert(_ITEMS).returning(_ITEMS.c.id)
_INSERT_SYMBOLS = insert(cast(Table, ItemSymbol.__table__))


def find_duplicate(
    session: Session, *, canonical_url: str, fingerprint: str | None = None, signature: bytes | None = None,
) -> Match | None:
    """The stored item a page duplicates: same canonical URL, same text fingerprint (give None when the text
    is too short for that to mean anything), or nearly the same text (storage.near_duplicates). A copy found by
    its text points at its first copy, never at another copy."""
    session.flush()  # the statements below run on the connection: pending ORM changes first
    connection = session.connection()
    same_url = connection.execute(_SAME_URL, {"url": canonical_url}).scalar()
    if same_url is not None:
        return Match(same_url, "url", 1.0)
    if fingerprint:
        row = connection.execute(_SAME_TEXT, {"fingerprint": fingerprint}).first()
        if row is not None:
            return Match(row.duplicate_of_id or row.id, "fingerprint", 1.0)
    for item_id, similarity in near_matches(session, signature)[:1]:
        return Match(item_id, "near", similarity)
    return None


@dataclass
class PageRecord:
    """One fetched and processed page, as the crawler hands it to `store_page` (Item columns, plus what goes
    with the item: symbols, hreflang alternates, the fetched key to remember as an alias)."""

    canonical_url: str
    url: str
    kind: str = "article"
    title: str = ""
    listing_title: str | None = None
    summary: str | None = None
    text: str = ""
    text_truncated: bool = False
    published: datetime | None = None
    date_origin: str = "none"
    language: str | None = None
    relevant: bool = False
    score: float = 0.0
    matches: Any = None
    content_hash: str | None = None
    minhash: bytes | None = None
    source_id: int | None = None
    fetched_key: str | None = None  # canonicalize(fetched URL): an alias when it is not canonical_url
    revise_id: int | None = None  # a known item the listing says changed: record a revision of it
    match_fingerprint: bool = True  # the text is long enough for an equal fingerprint to mean "same text"
    symbols: Sequence[str] = ()
    alternates: dict[str, str] | None = None
    # (search_title, search_text) as storage.index_terms.search_columns makes them of exactly this title, summary,
    # text and language, computed by the caller (the crawler's worker processes); None: computed here
    search_columns: tuple[str, str] | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "url": self.url, "kind": self.kind, "title": self.title, "listing_title": self.listing_title,
            "summary": self.summary, "text": self.text, "text_truncated": self.text_truncated,
            "published": self.published, "date_origin": self.date_origin, "language": self.language,
            "relevant": self.relevant, "score": self.score,
            "matches": self.matches if self.matches is not None else {},
            "content_hash": self.content_hash, "minhash": self.minhash,
        }


Outcome = Literal["new", "duplicate", "known", "updated", "unchanged", "vanished"]


@dataclass(frozen=True)
class Stored:
    """What `store_page` did: `new` first copy, `duplicate` copy stored and marked, `known` URL (nothing
    stored), `updated` / `unchanged` revision check, `vanished` (the item to revise is gone)."""

    outcome: Outcome
    item_id: int | None
    duplicate_of_id: int | None = None
    reason: str | None = None


def store_page(engine: Engine, record: PageRecord) -> Stored:
    """Store one page in one transaction: the duplicate decision, the item (or its revision), symbols,
    translation links, the fetched-URL alias and its near-duplicate bands. Pages that could duplicate each
    other are serialised (storage.near_duplicates.lock_for_store), so concurrent crawls keep exactly one first
    copy. A failure rolls everything back; a conflict with a concurrent writer is retried once."""
    try:
        with session_scope(engine) as session:
            return _store(session, record)
    except IntegrityError:  # e.g. the alias or URL written meanwhile outside the locks: decide again
        with session_scope(engine) as session:
            return _store(session, record)


def _store(session: Session, record: PageRecord) -> Stored:
    fingerprint = record.content_hash if record.match_fingerprint else None
    lock_for_store(session, lock_keys(url=record.canonical_url, fingerprint=fingerprint, sig=record.minhash))
    if record.revise_id is not None:
        return _revise(session, record)
    match = find_duplicate(session, canonical_url=record.canonical_url, fingerprint=fingerprint,
                           signature=record.minhash)
    if match is not None and match.reason == "url":
        _alias(session, record, match.item_id)
        return Stored("known", match.item_id, reason="url")
    duplicate_of = match.item_id if match is not None else None
    item_id = _insert(session, record, duplicate_of)
    _alias(session, record, item_id)
    if duplicate_of is None:
        index_item(session, item_id, record.minhash, new=True)
        return Stored("new", item_id)
    assert match is not None
    row = session.get_one(Item, item_id)
    if settle(session, row) == row.id:  # an earlier copy than the story's original: it takes the story over
        index_item(session, row.id, record.minhash, new=True)
        return Stored("new", row.id)
    return Stored("duplicate", row.id, duplicate_of_id=row.duplicate_of_id, reason=match.reason)


def _insert(session: Session, record: PageRecord, duplicate_of: int | None) -> int:
    """Insert the page as a new item with its symbols and translation links (Core statements: what add_item and
    `_attach` do through the ORM, search columns included); its id."""
    columns = record.columns()
    columns["search_title"], columns["search_text"] = record.search_columns or search_columns(
        record.title, record.summary, record.text, record.language)
    connection = session.connection()
    item_id = int(connection.execute(_INSERT_ITEM, {
        **columns, "canonical_url": record.canonical_url, "source_id": record.source_id,
        "duplicate_of_id": duplicate_of,
    }).scalar_one())
    if record.text and record.symbols:
        connection.execute(_INSERT_SYMBOLS, [{"item_id": item_id, "symbol": symbol}
                                             for symbol in dict.fromkeys(record.symbols)])
    link_translations(session, _Inserted(item_id, record.canonical_url), record.alternates or {})
    return item_id


@dataclass(frozen=True)
class _Inserted:
    """An item row inserted with Core, as storage.links.link_translations reads it."""

    id: int
    canonical_url: str


def _revise(session: Session, record: PageRecord) -> Stored:
    row = session.get(Item, record.revise_id)
    if row is None:
        return Stored("vanished", record.revise_id)
    old_minhash = row.minhash
    if revise_item(session, row, **record.columns()):
        _attach(session, row, record)
        if row.duplicate_of_id is None and row.minhash != old_minhash:
            index_item(session, row.id, row.minhash)
        return Stored("updated", row.id)
    row.listing_title = record.listing_title or row.listing_title
    row.fetched_at = utcnow()  # seen again: the listing's update time is now accounted for
    return Stored("unchanged", row.id)


def _attach(session: Session, row: Item, record: PageRecord) -> None:
    """A revised item's new document symbols and its hreflang translation links (always: a page stored later may
    resolve alternates that earlier pages named). A new item gets both in `_insert`."""
    if record.text and record.symbols:
        have = {s.symbol for s in row.symbols}
        for symbol in dict.fromkeys(record.symbols):
            if symbol not in have:
                row.symbols.append(ItemSymbol(symbol=symbol))
    link_translations(session, row, record.alternates or {})
    session.flush()


def _alias(session: Session, record: PageRecord, item_id: int) -> None:
    """A fetched URL stored under another key (a mirror declaring rel=canonical) is remembered as an alias,
    so the next crawl skips it before fetching."""
    if record.fetched_key and record.fetched_key != record.canonical_url:
        remember_alias(session, record.fetched_key, item_id)


def start_run(session: Session, source: Source) -> CrawlRun:
    now = utcnow()
    run = CrawlRun(source_id=source.id, started_at=now, heartbeat_at=now, status="running")
    session.add(run)
    session.flush()
    return run


RUN_COUNTERS: Sequence[str] = (
    "requests", "links", "fetched", "new", "updated", "duplicate", "off_topic", "errors",
)


def finish_run(
    session: Session, run_id: int, *, status: str, counters: dict[str, int], error: str | None = None
) -> CrawlRun:
    """Close a crawl run with its counters and update the source's health fields."""
    run = session.get_one(CrawlRun, run_id)
    now = utcnow()
    run.finished_at = now
    run.status = status
    for key in RUN_COUNTERS:
        setattr(run, key, int(counters.get(key, 0)))
    run.error_summary = error
    source = session.get(Source, run.source_id) if run.source_id is not None else None
    if source is not None:
        record_health(source, status=status, links=run.links, new=run.new, error=error, now=now)
    session.flush()
    return run


def record_health(
    source: Source, *, status: str, links: int, new: int, error: str | None, now: datetime | None = None
) -> None:
    """Update last success/error, failure streak, yield counters and the layout-changed warning.
    An `interrupted` run (the crawl was stopped on request) only updates the last run time."""
    now = now or utcnow()
    source.last_run_at = now
    if status == "interrupted":  # stopped on request (service shutdown): neither a success nor a failure
        return
    if status == "ok":
        source.last_success_at = now
        source.consecutive_failures = 0
        source.last_links_found = links
        source.last_new_items = new
        if links > 0:
            source.ever_yielded = True
            source.warning = None
        elif source.ever_yielded:
            source.warning = LAYOUT_WARNING
    else:
        source.consecutive_failures = (source.consecutive_failures or 0) + 1
    if error:
        source.last_error = error
        source.last_error_at = now
