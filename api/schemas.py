"""Response and request models (they also document the API in OpenAPI)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CopyOut(BaseModel):
    id: int
    title: str
    url: str
    link: str | None = Field(default=None, description="`url` when it is an http(s) address, else null")
    publisher: str | None
    source: str | None
    language: str | None
    published: str | None
    original: bool = Field(description="This copy is the story's original (the earliest published)")
    other_language: bool = Field(description="A language version (its language differs from the item's)")


class ItemOut(BaseModel):
    id: int
    url: str = Field(description="The address as the source published it; may be any scheme for items stored "
                     "before only http(s) was accepted: render `link`, not `url`, as a link")
    link: str | None = Field(default=None, description="`url` when it is an http(s) address (safe to render as "
                             "a link), else null")
    title: str
    published: str | None = Field(description="ISO 8601, or null when the page carries no date")
    source: str | None
    publisher: str | None
    language: str | None
    score: float
    summary: str | None
    relevant: bool
    matches: list[str] = Field(description="Why the classifier found the item on-topic: the phrases that fired, "
                               "in the text's own words (named topics, then AI, then military terms)")
    why: dict[str, list[str]] = Field(default_factory=dict, description="The same phrases by group: "
                                      "`topic`, `ai`, `military` (empty groups left out)")
    match_codes: list[str] = Field(default_factory=list, description="The classifier's rule codes, for debugging")
    snippet: str | None = Field(description="Safe HTML: escaped text with <mark> around matched words")
    snippet_text: str | None = Field(default=None, description="The snippet as plain text (not escaped)")
    highlights: list[list[int]] = Field(default_factory=list, description="[start, end) character offsets of "
                                        "the matched words in `snippet_text`")
    rank: float | None = Field(description="Text-match rank on this page's query (lower is better)")
    duplicate_of: int | None
    symbols: list[str]
    kind: str
    fetched_at: str | None
    story: int | None = Field(default=None, description="Id of the story's original (the earliest published "
                              "copy); the item's own id when it is the original")
    copies: list[CopyOut] = Field(default_factory=list, description="The story's other copies: its original "
                                  "(when this item is a copy), republications and language versions")
    also_published_by: list[str] = Field(default_factory=list, description="Other publishers of the story "
                                         "in this item's language")
    also_in: list[str] = Field(default_factory=list, description="Languages of the story's other versions")


class CountOut(BaseModel):
    total: int = Field(description="Matching items; an estimate when `exact` is false")
    exact: bool = Field(description="False when `total` is estimated from a sample (show it as \"about N\")")


class ItemPage(BaseModel):
    items: list[ItemOut]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")
    count: CountOut = Field(description="How many items the whole query matches")


class PeriodCount(BaseModel):
    period: str = Field(description="YYYY-MM (per_month) or YYYY-Www, ISO week (per_week)")
    count: int


class PublisherCount(BaseModel):
    publisher: str
    count: int


class LanguageCount(BaseModel):
    language: str | None
    count: int


class StatsOut(BaseModel):
    count: CountOut
    per_month: list[PeriodCount] = Field(description="Items per month of publication, oldest first")
    per_week: list[PeriodCount] = Field(description="Items per ISO week of publication, oldest first")
    undated: int = Field(description="Matching items without a publication date")
    publishers: list[PublisherCount] = Field(description="Top publishers, most items first")
    languages: list[LanguageCount] = Field(description="Top languages, most items first")
    sample_fraction: float | None = Field(
        description="Share of the archive the estimates were drawn from; null when every count is exact")


class RelatedItem(BaseModel):
    id: int
    url: str
    title: str
    language: str | None = None
    published: str | None = None
    source: str | None = None
    publisher: str | None = None


class SymbolLink(BaseModel):
    symbol: str
    url: str


class ItemDetail(ItemOut):
    text: str
    duplicates: list[RelatedItem]
    translations: list[RelatedItem]
    symbol_links: list[SymbolLink]
    same_symbol: list[RelatedItem] = []  # other stories citing one of this item's symbols


class HealthOut(BaseModel):
    state: str = Field(description="ok | no_links | blocked | not_found | not_well_formed | layout_changed | silent "
                                   "| failing | never_crawled | disabled")
    label: str
    reason: str
    action: str
    since: str | None = None
    interval_hours: float | None = Field(None, description="the source's usual publishing interval, when learnt")


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    publisher: str
    kind: str
    url: str
    language: str | None
    enabled: bool
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    last_links_found: int | None
    last_new_items: int | None
    ever_yielded: bool
    warning: str | None
    health: HealthOut | None = None


class SubscriptionIn(BaseModel):
    channel: str = Field(description="email | webhook")
    target: str = Field(description="Email address or webhook URL")
    query: str | None = None
    label: str | None = Field(None, description="Your name for this saved search, shown in digest subjects")
    frequency: str = "daily"
    secret: str | None = Field(None, description="Webhook signing secret (whsec_…)")
    sources: list[str] = []
    publishers: list[str] = []
    languages: list[str] = []
    delivery_hour: int = 7
    timezone: str = "UTC"


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    target: str
    query: str | None
    label: str | None
    frequency: str
    sources: list[str]
    publishers: list[str]
    languages: list[str]
    delivery_hour: int
    timezone: str
    active: bool
    paused_reason: str | None
    created_at: datetime
    last_sent_at: datetime | None
