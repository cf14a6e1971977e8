"""Recorded real responses (../shared/fixtures/sites) through dates, URLs and extraction, and crawled from a
loopback site (the UN News feed with follow: false, the Dutch seed item)."""

from __future__ import annotations

import calendar
import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from lxml import etree

from crawler.catalogue import SourceConfig
from crawler.dates import parse_date
from crawler.extract import extract_page
from crawler.urls import canonicalize, same_site
from tests.conftest import shared_fixture
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import (
    Article,
    article_html,
    robots,
    rss,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env  # storage is dialect-neutral here: SQLite only keeps the suite fast

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MARC = {"m": "http://www.loc.gov/MARC21/slim"}
GOV_UK = [
    "content-api-news-story-arabic-houthi-sanctions-2024.json",
    "content-api-news-story-driving-limits-2014.json",
    "content-api-press-release-new-frank-adverts-2013.json",
    "content-api-speech-arabic-libya-chemical-weapons-2016.json",
    "content-api-world-news-story-2016.json",
]


def _gov_uk_page(item: dict) -> str:
    """The item as GOV.UK renders it (title, lang, canonical, translations, body)."""
    links = "".join(
        f'<link rel="alternate" hreflang="{t["locale"]}" href="{t["base_path"]}">'
        for t in item.get("links", {}).get("available_translations", [])
    )
    return (
        f'<html lang="{item["locale"]}"><head><title>{html.escape(item["title"])} - GOV.UK</title>'
        f'<link rel="canonical" href="https://www.gov.uk{item["base_path"]}">{links}'
        f'<meta name="govuk:first-published-at" content="{item["first_published_at"]}"></head>'
        f'<body><header><a href="/">GOV.UK</a></header><main><h1>{html.escape(item["title"])}</h1>'
        f'{item["details"]["body"]}</main><footer>All content is available under the Open Government Licence'
        "</footer></body></html>"
    )


@pytest.mark.parametrize("name", GOV_UK)
def test_gov_uk_content_items(name: str) -> None:
    item = json.loads(shared_fixture("sites", "gov.uk", name).read_text(encoding="utf-8"))
    published = parse_date(item["first_published_at"])
    assert published is not None and published.tzinfo is not None
    public = parse_date(item["details"]["first_public_at"])
    assert public is not None and abs(public - published) < timedelta(minutes=1)
    url = f"https://www.gov.uk{item['base_path']}"
    result = extract_page(_gov_uk_page(item).encode("utf-8"), url)
    assert result.title == " ".join(item["title"].split())
    assert result.published == published and result.date_origin == "page"
    assert result.language == item["locale"]
    assert result.canonical_url == url and same_site(result.canonical_url, url)
    translations = item["links"]["available_translations"]
    assert result.alternates == {t["locale"]: f"https://www.gov.uk{t['base_path']}" for t in translations}
    assert len(result.text) > 200


def test_gov_uk_translations_are_distinct_pages() -> None:
    item = json.loads(shared_fixture("sites", "gov.uk", GOV_UK[0]).read_text(encoding="utf-8"))
    urls = {canonicalize(f"https://www.gov.uk{t['base_path']}") for t in item["links"]["available_translations"]}
    assert len(urls) == 2


def test_un_news_feed_dates_and_links() -> None:
    raw = shared_fixture("sites", "news.un.org", "rss-region-europe-2022-04.xml").read_bytes()
    feed = feedparser.parse(raw)
    assert len(feed.entries) == 30
    for entry in feed.entries:
        ours = parse_date(entry.published)
        theirs = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
        assert ours == theirs, entry.published
        canon = canonicalize(entry.link)
        assert canon.startswith("https://news.un.org/en/story/20"), canon
        assert canonicalize(entry.link.replace("/feed/view/en/", "/en/")) == canon
    assert len({canonicalize(e.link) for e in feed.entries}) == 30
    assert parse_date(feed.entries[0].published) == datetime(2022, 4, 1, 4, 1, 55, tzinfo=UTC)


def test_rijksoverheid_open_data_news_list() -> None:
    tree = etree.parse(str(shared_fixture("sites", "rijksoverheid.nl", "opendata-api-v1-infotypes-news-list-2017.xml")))
    items = tree.findall("newsitem")
    assert items
    for item in items:
        available = parse_date(item.findtext("available"))
        assert available is not None and available.year == 2017
        frontend = parse_date(item.findtext("frontenddate"))
        assert frontend is not None and abs(frontend - available) < timedelta(days=1)
        initial = parse_date(item.findtext("initialdate"))
        assert initial is not None and abs(initial - available) < timedelta(days=1)
        canonical = item.findtext("canonical")
        assert same_site(canonical, "https://www.rijksoverheid.nl/")
        assert canonicalize(canonical) == canonicalize(canonical.replace("https://www.", "http://") + "/")
        # Article URLs carry the Dutch calendar day the item was created (at most a day before it went live).
        year, month, day = map(int, canonical.split("/")[5:8])
        created = datetime(year, month, day, tzinfo=AMSTERDAM)
        assert timedelta(0) <= available.astimezone(AMSTERDAM) - created < timedelta(days=2)


def test_rijksoverheid_open_data_document_extracts_as_dutch() -> None:
    path = shared_fixture("sites", "rijksoverheid.nl", "opendata-api-v1-infotypes-news-item-09313f0d-2017-10-26.xml")
    doc = etree.parse(str(path)).getroot()
    paragraphs = "".join(p.text or "" for p in doc.iter("paragraph"))
    page = (f"<html><head><title>{doc.findtext('title')}</title>"
            f'<meta name="DCTERMS.language" content="{doc.findtext("language")}">'
            f'<meta name="DCTERMS.issued" content="{doc.findtext("issued")}"></head>'
            f"<body><main><h1>{doc.findtext('title')}</h1>{doc.findtext('introduction')}{paragraphs}</main></body></html>")
    result = extract_page(page.encode("utf-8"), doc.findtext("canonical"))
    assert result.language == "nl"
    assert result.title == "Nieuwe bewindspersonen OCW treden aan"
    assert result.published == datetime(2017, 10, 26, 12, 52, tzinfo=UTC)
    assert "Van Engelshoven" in result.text
    # The introduction states the date in Dutch words too.
    assert parse_date("Op donderdag 26 oktober 2017 zijn de nieuwe bewindslieden", "nl") == datetime(
        2017, 10, 26, tzinfo=UTC
    )


def test_un_digital_library_marc_dates() -> None:
    path = shared_fixture("sites", "digitallibrary.un.org", "search-of-xm-marcxml-A_C.3_78_L-drafts-2025-11.xml")
    records = etree.parse(str(path)).findall(".//m:record", MARC)
    assert len(records) == 94
    compared = 0
    for record in records:
        iso = record.findtext("m:datafield[@tag='269']/m:subfield[@code='a']", namespaces=MARC)
        written = record.findtext("m:datafield[@tag='260']/m:subfield[@code='c']", namespaces=MARC)
        if not iso or not written:
            continue
        assert parse_date(written, "en") == parse_date(iso), (written, iso)
        compared += 1
        for url in record.xpath("m:datafield[@tag='856']/m:subfield[@code='u']/text()", namespaces=MARC):
            assert canonicalize(url).startswith("https://digitallibrary.un.org/record/")
    assert compared >= 80


def test_dutch_seed_item_is_found_on_topic(site: LoopbackSite, sqlite_env, tmp_path: Path):
    raw = shared_fixture("seed", "rijksoverheid-2025-09-25-ai-militaire-domein.txt").read_text(encoding="utf-8")
    first, _, rest = raw.strip().partition("\n")
    m = re.match(r"\s*date\s+(\d{4}-\d{2}-\d{2})\s+(.*)", first)
    assert m, first
    date, title = m.groups()
    paragraphs = [p.strip() for p in rest.split("\n") if p.strip()]
    path = "/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein"
    page = Article(path, title, paragraphs, lang="nl",
                   extra_head=f'<meta name="DCTERMS.issued" content="{date}">')
    robots(site)
    site.add(path, article_html(page))
    site.add("/nieuws.rss", rss(site.base, [page]), content_type="application/rss+xml")
    src = SourceConfig(name="rijksoverheid-nieuws", publisher="Rijksoverheid", kind="feed",
                       url=site.url("/nieuws.rss"), language="nl")
    summary = crawl(tmp_path, [src])["rijksoverheid-nieuws"]
    assert summary["new"] == 1 and summary["off_topic"] == 0
    [item] = items(sqlite_env["MILAI_DATABASE_URL"])
    assert item.relevant and item.language == "nl"
    assert item.title.startswith("AI in het militaire domein")
    assert "Kunstmatige intelligentie" in item.text


def test_recorded_un_news_feed_with_follow_false(site: LoopbackSite, sqlite_env, tmp_path: Path):
    feed = shared_fixture("sites", "news.un.org", "rss-region-europe-2022-04.xml").read_bytes()
    robots(site)
    site.add("/feed/rss.xml", feed, content_type="application/rss+xml")
    src = SourceConfig(name="un-news-europe", publisher="United Nations", kind="feed",
                       url=site.url("/feed/rss.xml"), language="en", follow=False)
    summary = crawl(tmp_path, [src])["un-news-europe"]
    assert summary["status"] == "ok" and summary["fetched"] == 0
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert summary["new"] == len(stored) == feed.count(b"<item>")
    assert all(i.canonical_url.startswith("https://news.un.org/") for i in stored)
    assert all(i.published is not None and i.date_origin == "feed" for i in stored)
    assert all(i.title == i.title.strip() and i.text for i in stored)
    assert [r.path for r in site.hits() if not r.path.startswith("/robots")] == ["/feed/rss.xml"]
