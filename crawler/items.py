"""The item that flows from the spiders through the pipelines into storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class PageItem:
    """One discovered page or document: listing metadata first, extraction and verdicts filled by pipelines."""

    source: str  # catalogue name
    url: str  # the URL fetched (or listed, when follow is false)
    kind: str = "article"  # article | pdf | document
    # what the listing (feed entry, sitemap row, listing row, API result) said
    listing_title: str | None = None
    listing_date: datetime | None = None
    listing_summary: str | None = None
    listing_text: str | None = None  # follow: false -> the text to store
    # the fetched page, when one was fetched
    body: bytes | None = None
    encoding: str | None = None
    content_type: str | None = None
    language_hint: str | None = None
    timezone: str | None = None  # the source's IANA zone: zone-less times on its pages are local (crawler.dates)
    requested_url: str | None = None  # the URL requested for the page (before redirects): the backoff key
    revise_id: int | None = None  # a known item the listing says changed
    extracted: Any = None  # crawler.extract.Extracted when the spider already extracted the page (follow_pdfs)
    ahead: Any = None  # crawler.pipelines_pool.Ahead: classify and dedup results computed with the extraction
    store_ahead: Any = None  # crawler.pipelines_pool.StoreAhead: the store stage's, kept for it by the dedup stage
    # filled by the pipelines
    title: str = ""
    text: str = ""
    text_truncated: bool = False  # the text (or the page it came from) was cut at a crawler.bounds cap
    summary: str | None = None
    published: datetime | None = None
    date_origin: str = "none"
    language: str | None = None
    canonical_url: str = ""  # the dedup key (crawler.urls.canonicalize): may force https, drop www., …
    display_url: str = ""  # the URL shown to users: the honoured rel=canonical, else the fetched URL cleaned
    fetched_key: str = ""  # canonicalize(url): recorded as an alias when it differs from canonical_url
    page_canonical: str | None = None
    alternates: dict[str, str] = field(default_factory=dict)
    pdf_links: list[str] = field(default_factory=list)
    relevant: bool = False
    score: float = 0.0
    matches: dict[str, Any] = field(default_factory=dict)  # Classification.stored() (storage.matches)
    content_hash: str | None = None
    minhash: bytes | None = None
    duplicate_of_id: int | None = None
    duplicate_reason: str | None = None
