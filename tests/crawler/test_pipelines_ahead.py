"""One worker call per HTML page (crawler.pipelines_pool.extract_ahead): the classify and dedup results it
computes with the extraction are those the stages compute in-process, and a stage uses them only on the very
fields they were computed on. Driven without a reactor, as tests/crawler/test_pipelines.py drives the stages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from crawler.bounds import Limits
from crawler.catalogue import SourceConfig
from crawler.items import PageItem
from crawler.pipelines import ClassifyPipeline, DedupPipeline, ExtractPipeline, NormalisePipeline
from crawler.pipelines_pool import Ahead, extract_ahead
from crawler.spiders import FeedSpider
from tests.crawler.sites import OFF_TOPIC, ON_TOPIC, Article, article_html

FIELDS = ("title", "text", "language", "relevant", "score", "matches", "content_hash", "minhash")


@dataclass
class Stages:
    limits: Limits
    extract: ExtractPipeline
    normalise: NormalisePipeline
    classify: ClassifyPipeline
    dedup: DedupPipeline


def stages(**settings: Any) -> Stages:
    crawler = get_crawler(FeedSpider, {"MILAI_DATABASE_URL": "sqlite://", **settings})
    crawler.spider = FeedSpider(source=SourceConfig(name="gov", publisher="Gov", kind="feed",
                                                    url="https://gov.example.org/feed", language="en"))
    return Stages(Limits.from_settings(crawler.settings), ExtractPipeline.from_crawler(crawler),
                  NormalisePipeline.from_crawler(crawler), ClassifyPipeline.from_crawler(crawler),
                  DedupPipeline.from_crawler(crawler))


def item_of(url: str, html: str, listing_title: str | None = None) -> PageItem:
    return PageItem(source="gov", url=url, body=html.encode("utf-8"), encoding="utf-8", language_hint="en",
                    listing_title=listing_title)


def in_process(run: Stages, item: PageItem) -> PageItem:
    """Every stage's own work: the results the extract stage computes ahead are dropped, so classify and dedup
    compute theirs."""
    item = run.extract.process(item)
    item.ahead = None
    for stage in (run.normalise, run.classify, run.dedup):
        item = stage.process(item)
    return item


def ahead_of(run: Stages, item: PageItem) -> Ahead:
    assert item.body is not None
    _ex, _cut, ahead = extract_ahead(item.body, item.url, item.encoding, item.language_hint, run.limits,
                                     item.timezone, (item.listing_title, item.listing_text, item.listing_summary))
    return ahead


PAGES = [
    ("https://gov.example.org/news/principles", article_html(Article("/news/principles", *ON_TOPIC[0])), None),
    ("https://gov.example.org/news/budget", article_html(Article("/news/budget", *OFF_TOPIC[0])), "Listing"),
    # no title on the page: the listing's, then the URL's; a NUL character the normalise stage drops
    ("https://gov.example.org/news/no-title", "<html><body><main><p>" + "\x00 ".join(ON_TOPIC[1][1])
     + "</p></main></body></html>", "The listing's title"),
    ("https://gov.example.org/news/untitled-note", "<html><body><main><p>" + " ".join(ON_TOPIC[2][1])
     + "</p></main></body></html>", None),
]


@pytest.mark.parametrize(("url", "html", "listing_title"), PAGES)
@pytest.mark.parametrize("settings", [{}, {"MILAI_MAX_TEXT_CHARS": 200, "MILAI_MAX_TITLE_CHARS": 20}])
def test_the_one_worker_call_computes_what_the_stages_compute_in_process(
    url: str, html: str, listing_title: str | None, settings: dict[str, Any]
) -> None:
    run = stages(**settings)
    ahead = ahead_of(run, item_of(url, html, listing_title))
    item = in_process(run, item_of(url, html, listing_title))
    assert item.text and ahead.fits(item.title, item.text, item.language)
    assert (bool(ahead.verdict.relevant), float(ahead.verdict.score), ahead.verdict.stored()) == (
        item.relevant, item.score, item.matches)
    assert ahead.keys == (item.content_hash, item.minhash)


def _through_stages(run: Stages, item: PageItem) -> PageItem:
    """Classify and dedup through their coroutines (what a crawl calls; no reactor: no worker processes)."""
    item = asyncio.run(run.classify.process_item(item))
    return asyncio.run(run.dedup.process_item(item))


def test_the_stages_use_the_results_of_the_worker_call_only_on_the_fields_they_were_computed_on() -> None:
    run = stages()
    url, html, listing_title = PAGES[0]
    expected = in_process(run, item_of(url, html, listing_title))
    fits = run.normalise.process(run.extract.process(item_of(url, html, listing_title)))
    fits.ahead = ahead_of(run, item_of(url, html, listing_title))
    other_url, other_html, other_listing = PAGES[1]  # an off-topic page's results: they must not be used here
    misfit = run.normalise.process(run.extract.process(item_of(url, html, listing_title)))
    misfit.ahead = ahead_of(run, item_of(other_url, other_html, other_listing))
    assert not misfit.ahead.fits(misfit.title, misfit.text, misfit.language) and not misfit.ahead.verdict.relevant
    for item in (fits, misfit):
        done = _through_stages(run, item)
        assert [getattr(done, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
        assert done.relevant and done.ahead is None  # the page's own verdict; nothing left on the item


@pytest.mark.parametrize(("url", "html", "listing_title"), PAGES)
def test_an_extraction_in_the_crawl_process_computes_the_verdict_and_keys_in_the_same_call(
    url: str, html: str, listing_title: str | None
) -> None:
    """Without worker processes the extract stage makes the verdict and keys with the page too (one turn of the
    thread lanes, not three): classify and dedup then use them, with the results of computing their own."""
    run = stages(MILAI_EXTRACT_WORKERS=0)
    expected = in_process(run, item_of(url, html, listing_title))
    item = run.normalise.process(run.extract.process(item_of(url, html, listing_title)))
    assert item.ahead is not None and item.ahead.fits(item.title, item.text, item.language)
    assert item.ahead == ahead_of(run, item_of(url, html, listing_title))
    done = _through_stages(run, item)
    assert [getattr(done, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
    assert done.ahead is None


@pytest.mark.parametrize(("url", "html", "listing_title"), PAGES)
@pytest.mark.parametrize("settings", [{}, {"MILAI_MAX_TEXT_CHARS": 200, "MILAI_MAX_TITLE_CHARS": 20}])
def test_the_store_stage_uses_the_search_columns_fingerprint_and_symbols_of_the_worker_call_when_they_fit(
    url: str, html: str, listing_title: str | None, settings: dict[str, Any]
) -> None:
    """The extraction call also derives what the store stage hands storage (search columns, fingerprint
    comparability, symbols) from the fields it expects the page to be stored with: they are those fields, and
    the record is the one the store stage makes of its own; a misfit is ignored."""
    from crawler.pipelines import StorePipeline
    from storage.index_terms import search_columns

    run = stages(**settings)
    store = StorePipeline.from_crawler(run.extract.crawler)
    summary = " ".join(ON_TOPIC[3][1])[:5000]  # a listing summary: the page's own description wins, if any
    item = run.extract.process(item_of(url, html, listing_title))
    item = _through_stages(run, run.normalise.process(item))
    ahead = item.store_ahead
    assert ahead is not None and ahead.fits(item.title, item.summary, item.text, item.language)
    assert ahead.search == search_columns(item.title, item.summary, item.text, item.language)
    record = store.record(item)
    assert record.search_columns == ahead.search and item.store_ahead is None
    own = store.record(item)  # nothing ahead now: the stage's own
    assert own.search_columns is None
    assert (record.match_fingerprint, tuple(record.symbols)) == (own.match_fingerprint, tuple(own.symbols))
    with_listing = item_of(url, html, listing_title)
    with_listing.listing_summary = summary
    done = _through_stages(run, run.normalise.process(run.extract.process(with_listing)))
    assert done.store_ahead.fits(done.title, done.summary, done.text, done.language)
    done.summary = (done.summary or "") + " changed"
    assert store.record(done).search_columns is None  # a misfit: computed by storage from the item's fields


def test_symbols_found_ahead_are_the_store_stages() -> None:
    run = stages()
    text = "The report A/78/241 and resolution A/RES/79/62 of the General Assembly, and CCW/GGE.1/2023/2. " * 3
    html = f"<html><head><title>Symbols</title></head><body><main><p>{text}</p></main></body></html>"
    item = _through_stages(run, run.normalise.process(run.extract.process(item_of(PAGES[0][0], html))))
    from crawler.pipelines import StorePipeline

    store = StorePipeline.from_crawler(run.extract.crawler)
    ahead_symbols = tuple(item.store_ahead.symbols)
    record = store.record(item)
    assert ahead_symbols and tuple(record.symbols) == ahead_symbols == tuple(store.record(item).symbols)
