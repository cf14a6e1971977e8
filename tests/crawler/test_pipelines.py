"""The item pipeline stages (extract -> normalise -> classify -> dedup -> store) driven without a network:
items are built by hand and passed through the pipeline objects of a Scrapy crawler (get_crawler); and the
URL a crawled page is displayed under."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler
from sqlalchemy import select

from crawler.catalogue import SourceConfig
from crawler.items import PageItem
from crawler.pipelines import (
    ClassifyPipeline,
    DedupPipeline,
    ExtractPipeline,
    NormalisePipeline,
    StorePipeline,
)
from crawler.spiders import FeedSpider
from crawler.urls import canonicalize
from storage.database import dispose_engines, session_scope
from storage.items import sync_sources
from storage.models import Item, ItemLink, ItemSymbol
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import ON_TOPIC, Article, article_html, make_articles, make_pdf, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

STAGES = (ExtractPipeline, NormalisePipeline, ClassifyPipeline, DedupPipeline, StorePipeline)

GOV_TEXT = [
    "The Netherlands and the Republic of Korea hosted a ministerial meeting on responsible artificial "
    "intelligence in the military domain, where more than fifty states endorsed a blueprint for action.",
    "The blueprint sets out principles for human control over autonomous weapon systems, for legal reviews "
    "of new military AI capabilities, and for the exchange of good practices between armed forces.",
    "The ministers agreed to meet again next year to review progress, and invited states that have not "
    "yet endorsed the blueprint to join the process at the next summit on military artificial intelligence.",
]


@dataclass
class Pipeline:
    crawler: Crawler
    stages: list[Any]

    def __call__(self, item: PageItem) -> PageItem:
        for stage in self.stages:
            item = stage.process(item)  # the stage itself, without the worker-thread hop (no reactor here)
        return item

    @property
    def stats(self) -> dict[str, Any]:
        assert self.crawler.stats is not None
        return self.crawler.stats.get_stats()


def _source(name: str, language: str = "en") -> SourceConfig:
    return SourceConfig(name=name, publisher=name.title(), kind="feed", url=f"https://{name}.example.org/feed",
                        language=language)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[str]:
    from storage.database import get_engine

    with session_scope(get_engine(sqlite_url)) as session:
        sync_sources(session, [_source("gov"), _source("aggregator"), _source("rijksoverheid", "nl")])
    yield sqlite_url
    dispose_engines()


def pipeline(db_url: str, source: str) -> Pipeline:
    """The five stages as a crawl of `source` builds them (from_crawler, open_spider)."""
    crawler = get_crawler(FeedSpider, {"MILAI_DATABASE_URL": db_url})
    crawler.spider = FeedSpider(source=_source(source))
    stages = [cls.from_crawler(crawler) for cls in STAGES]
    for stage in stages:
        if hasattr(stage, "open_spider"):
            stage.open_spider()
    return Pipeline(crawler, stages)


def page(url: str, html: str | bytes, source: str = "gov", *, encoding: str | None = "utf-8", **kw: Any) -> PageItem:
    body = html.encode("utf-8") if isinstance(html, str) else html
    return PageItem(source=source, url=url, body=body, encoding=encoding, language_hint="en", **kw)


def _article(path: str, title: str, paragraphs: list[str], **kw: Any) -> Article:
    return Article(path, title, paragraphs, date=datetime(2025, 9, 25, 9, 30, tzinfo=UTC), **kw)


def test_extract_normalise_classify_store_an_article_page(db: str):
    run = pipeline(db, "gov")
    title, paragraphs = ON_TOPIC[0]
    a = _article("/news/2025/09/25/principles", title, paragraphs,
                 canonical="https://www.example.org/news/2025/09/25/principles")
    item = run(page("http://www.example.org/news/2025/09/25/principles?utm_source=rss", article_html(a),
                    listing_title="Listing title", listing_date=datetime(2025, 9, 1, tzinfo=UTC)))
    assert item.title == title
    assert "human control over autonomous weapon systems" in item.text
    assert item.published == a.date and item.date_origin == "page"  # the page's date beats the feed's
    assert item.language == "en"
    assert item.canonical_url == "https://example.org/news/2025/09/25/principles"  # canonicalised
    assert item.relevant and item.score > 0 and item.matches
    assert item.content_hash and item.minhash
    [row] = items(db)
    assert (row.canonical_url, row.title, row.listing_title) == (item.canonical_url, title, "Listing title")
    assert row.source_id is not None and row.relevant
    assert run.stats["milai/new"] == 1


def test_listing_only_item_uses_the_listing_text_and_date(db: str):
    run = pipeline(db, "gov")
    item = run(PageItem(source="gov", url="https://gov.example.org/statement/7", listing_title="Statement",
                        listing_text=" ".join(GOV_TEXT), listing_date=datetime(2025, 9, 2, tzinfo=UTC),
                        language_hint="en"))
    assert (item.title, item.date_origin, item.published.day) == ("Statement", "feed", 2)
    assert item.text.startswith("The Netherlands and the Republic of Korea")


def test_no_findable_date_says_so(db: str):
    run = pipeline(db, "gov")
    html = "<html><body><main><h1>Note</h1><p>" + " ".join(GOV_TEXT) + "</p></main></body></html>"
    item = run(page("https://gov.example.org/note", html))
    assert item.published is None and item.date_origin == "none"


def test_exact_url_duplicate_is_dropped_and_near_duplicate_on_another_source_is_marked(db: str):
    gov = pipeline(db, "gov")
    original = _article("/latest/news/2025/09/25/blueprint", "Ministers endorse blueprint for military AI", GOV_TEXT)
    first = gov(page("https://www.government.example/latest/news/2025/09/25/blueprint", article_html(original)))

    with pytest.raises(DropItem, match="already stored"):
        gov(page("https://www.government.example/latest/news/2025/09/25/blueprint/?utm_medium=email",
                 article_html(original)))

    # an aggregator republishes it with a source line and a trailing paragraph of its own
    agg = pipeline(db, "aggregator")
    copy = _article("/2025/09/26/blueprint", "Ministers endorse blueprint for military AI",
                    ["Source: Government of the Netherlands", *GOV_TEXT,
                     "MIL OSI publishes official statements as received."])
    second = agg(page("https://mil-osi.example.net/2025/09/26/blueprint", article_html(copy), source="aggregator"))
    assert second.duplicate_of_id == first_id(db, first.canonical_url)
    assert second.duplicate_reason in ("near", "fingerprint")
    stored = {i.canonical_url: i for i in items(db)}
    assert len(stored) == 2
    assert stored[second.canonical_url].duplicate_of_id == stored[first.canonical_url].id
    assert agg.stats["milai/duplicate"] == 1 and "milai/new" not in agg.stats

    # a third copy points at the first copy, never at another copy
    third = agg(page("https://mirror.example.com/blueprint", article_html(copy), source="aggregator"))
    assert third.duplicate_of_id == stored[first.canonical_url].id


def first_id(db: str, canonical_url: str) -> int:
    return next(i.id for i in items(db) if i.canonical_url == canonical_url)


def test_hreflang_pages_in_nl_and_en_are_linked_as_translations(db: str):
    run = pipeline(db, "rijksoverheid")
    nl_url = "https://www.rijksoverheid.example/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein"
    en_url = "https://www.government.example/latest/news/2025/09/25/ai-in-the-military-domain"
    alternates = (f'<link rel="alternate" hreflang="nl" href="{nl_url}">'
                  f'<link rel="alternate" hreflang="en" href="{en_url}">')
    nl = _article("/nl", "AI in het militaire domein: internationale dialoog", [
        "Nederland organiseert samen met Zuid-Korea een internationale dialoog over verantwoord gebruik van "
        "kunstmatige intelligentie in het militaire domein, ook over autonome wapensystemen.",
        "De ministers van Buitenlandse Zaken en Defensie roepen landen op om afspraken te maken over menselijke "
        "controle en over het internationaal humanitair recht bij de inzet van militaire AI.",
    ], lang="nl", extra_head=alternates)
    en = _article("/en", "AI in the military domain: international dialogue", GOV_TEXT, extra_head=alternates)
    nl_item = run(page(nl_url, article_html(nl), source="rijksoverheid"))
    en_item = run(page(en_url, article_html(en), source="rijksoverheid"))
    assert (nl_item.language, en_item.language) == ("nl", "en")
    nl_key, en_key = canonicalize(nl_url), canonicalize(en_url)
    assert nl_item.alternates == {"nl": nl_key, "en": en_key}
    assert nl_item.relevant and en_item.relevant
    with session_scope(run.stages[-1].engine) as session:
        ids = {i.canonical_url: i.id for i in session.scalars(select(Item))}
        links = {(row.item_id, row.other_id) for row in session.scalars(
            select(ItemLink).where(ItemLink.kind == "translation"))}
    assert links == {(ids[nl_key], ids[en_key]), (ids[en_key], ids[nl_key])}


def test_un_symbols_are_stored(db: str):
    run = pipeline(db, "gov")
    text = [
        "The First Committee approved draft resolution A/C.1/78/L.56 on lethal autonomous weapons systems, "
        "which the General Assembly adopted as A/RES/78/241 (press release GA/DIS/3731).",
        "The report of the group of governmental experts, CCW/GGE.1/2024/2, and resolution A/RES/79/239 on "
        "artificial intelligence in the military domain were cited by several delegations.",
    ]
    item = run(page("https://press.example.org/en/2025/gadis3750.doc.htm",
                    article_html(_article("/x", "First Committee on autonomous weapons", text))))
    with session_scope(run.stages[-1].engine) as session:
        symbols = set(session.scalars(select(ItemSymbol.symbol).join(Item).where(
            Item.canonical_url == item.canonical_url)))
    assert symbols >= {"A/C.1/78/L.56", "A/RES/78/241", "GA/DIS/3731", "CCW/GGE.1/2024/2", "A/RES/79/239"}


@pytest.mark.parametrize(("declared", "encode"), [("iso-8859-1", "utf-8"), ("utf-8", "cp1252")])
def test_body_bytes_are_decoded_despite_a_wrong_declared_charset(db: str, declared: str, encode: str):
    run = pipeline(db, "gov")
    title = "Déclaration sur les systèmes d'armes létaux autonomes à Genève"
    paras = ["La délégation française a présenté à Genève une déclaration sur l'intelligence artificielle "
             "militaire et les systèmes d'armes létaux autonomes, après une réunion très suivie.",
             "Elle a souligné l'importance du contrôle humain et du droit international humanitaire."]
    html = article_html(_article("/fr", title, paras, lang="fr")).replace('<meta charset="utf-8">', "")
    item = run(page("https://diplomatie.example.fr/fr/declaration", html.encode(encode), encoding=declared))
    assert item.title == title and "létaux" in item.text and item.language == "fr"


def test_pdf_items_get_text_and_a_broken_pdf_is_an_item_without_text(db: str):
    run = pipeline(db, "gov")
    body = make_pdf(["Working paper on lethal autonomous weapons systems submitted as CCW/GGE.1/2025/WP.3 on the "
                     "military use of artificial intelligence and human control over weapon systems."],
                    title="Working paper 3")
    pdf = run(PageItem(source="gov", url="https://docs.example.org/CCW_GGE.1_2025_WP.3.pdf", kind="pdf", body=body,
                       content_type="application/pdf", language_hint="en"))
    assert pdf.title == "Working paper 3" and "CCW/GGE.1/2025/WP.3" in pdf.text
    assert pdf.date_origin == "page" and pdf.published.year == 2025 and pdf.language == "en" and pdf.relevant
    broken = run(PageItem(source="gov", url="https://docs.example.org/broken.pdf", kind="pdf",
                          body=b"%PDF-1.5\n%%EOF", listing_title="A broken document", language_hint="en"))
    assert (broken.title, broken.text, broken.kind) == ("A broken document", "", "pdf")
    assert run.stats.get("milai/pdf_without_text") == 1 and "milai/errors" not in run.stats
    assert {i.kind for i in items(db)} == {"pdf"}


def test_a_revision_is_recorded_instead_of_a_second_item(db: str):
    run = pipeline(db, "gov")
    a = _article("/news/a", "Ministers endorse blueprint", GOV_TEXT)
    url = "https://gov.example.org/news/a"
    first = run(page(url, article_html(a)))
    row_id = first_id(db, first.canonical_url)
    corrected = _article("/news/a", "Ministers endorse blueprint (corrected)", [*GOV_TEXT, "Corrected on Friday."])
    run(page(url, article_html(corrected), revise_id=row_id))
    [row] = items(db)
    assert row.revision == 2 and row.title.endswith("(corrected)")
    assert [r.title for r in row.revisions] == ["Ministers endorse blueprint"]
    assert run.stats["milai/updated"] == 1


def test_a_korean_page_in_euc_kr_declared_utf8_is_decoded_by_its_language(db: str):
    run = pipeline(db, "gov")
    title = "외교부, 군사 분야 인공지능의 책임있는 이용에 관한 고위급 회의 개최"
    paras = ["외교부는 군사 분야에서 인공지능의 책임있는 이용에 관한 고위급 회의를 서울에서 개최하였다.",
             "참석자들은 자율무기체계에 대한 인간의 통제와 국제인도법 준수의 중요성을 강조하였다."]
    html = article_html(_article("/ko", title, paras, lang="ko")).replace('<meta charset="utf-8">', "")
    item = page("https://www.mofa.example.kr/www/brd/m_4076/view.do?seq=1", html.encode("cp949"), encoding="utf-8")
    item.language_hint = "ko"
    item = run(item)
    assert item.title == title and "자율무기체계" in item.text and item.language == "ko"


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def test_displayed_url_is_clean_or_the_honoured_canonical(site: LoopbackSite, sqlite_env, tmp_path: Path):
    """Only disguised spellings are listed: the stored `url` is still a working, clean URL."""
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    site.add("/mirror/copy-of-b", article_html(replace(b, canonical=site.url(b.path))))
    listed = [
        Article(a.path + "?utm_source=rss&keep=1#section", a.title, a.paragraphs, a.date),
        Article("/mirror/copy-of-b", b.title, b.paragraphs, b.date),
    ]
    feed = rss(site.base, listed).replace("?utm_source=rss&keep=1#section", "?utm_source=rss&amp;keep=1#section")
    site.add("/feed.xml", feed, content_type="application/rss+xml")
    site.add(a.path + "?utm_source=rss&keep=1", article_html(a))

    summary = crawl(tmp_path, [_feed(site)])["ministry"]

    assert summary["new"] == 2 and summary["errors"] == 0
    by_title = {i.title: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert by_title[a.title].url == site.url(a.path + "?keep=1")  # same scheme/host/port, tracking + fragment gone
    assert by_title[b.title].url == site.url(b.path)  # the page's rel=canonical, not the mirror
    assert by_title[b.title].canonical_url == site.url(b.path).replace("http://", "https://")


def test_the_original_published_earlier_but_crawled_later_takes_over_the_story(db: str):
    agg = pipeline(db, "aggregator")
    copy = Article("/2025/09/26/blueprint", "Ministers endorse blueprint for military AI",
                   ["Source: Government of the Netherlands", *GOV_TEXT,
                    "MIL OSI publishes official statements as received."], date=datetime(2025, 9, 26, tzinfo=UTC))
    republished = agg(page("https://mil-osi.example.net/2025/09/26/blueprint", article_html(copy),
                           source="aggregator"))
    assert republished.duplicate_of_id is None  # the only copy so far
    gov = pipeline(db, "gov")
    original = _article("/latest/news/2025/09/25/blueprint", "Ministers endorse blueprint for military AI", GOV_TEXT)
    gov(page("https://www.government.example/latest/news/2025/09/25/blueprint", article_html(original)))
    stored = {i.canonical_url: i for i in items(db)}
    first = stored["https://government.example/latest/news/2025/09/25/blueprint"]
    assert first.duplicate_of_id is None
    assert stored[republished.canonical_url].duplicate_of_id == first.id
    # a later third copy joins the story of the (new) original
    third = agg(page("https://mirror.example.com/blueprint", article_html(copy), source="aggregator"))
    assert third.duplicate_of_id == first.id


def test_hreflang_versions_are_one_story_with_the_earliest_as_original(db: str):
    run = pipeline(db, "rijksoverheid")
    nl_url = "https://www.rijksoverheid.example/actueel/nieuws/2025/09/25/ai"
    en_url = "https://www.government.example/latest/news/2025/09/24/ai"
    alternates = (f'<link rel="alternate" hreflang="nl" href="{nl_url}">'
                  f'<link rel="alternate" hreflang="en" href="{en_url}">')
    nl = _article("/nl", "AI in het militaire domein: internationale dialoog", [
        "Nederland organiseert samen met Zuid-Korea een internationale dialoog over verantwoord gebruik van "
        "kunstmatige intelligentie in het militaire domein, ook over autonome wapensystemen.",
    ], lang="nl", extra_head=alternates)
    en = Article("/en", "AI in the military domain: international dialogue", GOV_TEXT,
                 date=datetime(2025, 9, 24, 9, 30, tzinfo=UTC), extra_head=alternates)
    run(page(nl_url, article_html(nl), source="rijksoverheid"))
    run(page(en_url, article_html(en), source="rijksoverheid"))
    stored = {i.canonical_url: i for i in items(db)}
    en_row, nl_row = stored[canonicalize(en_url)], stored[canonicalize(nl_url)]
    assert en_row.duplicate_of_id is None and nl_row.duplicate_of_id == en_row.id
