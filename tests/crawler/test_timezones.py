"""A source's `timezone`: zone-less dates with a time of day on its pages and listings are its local time
(the European Parliament writes Brussels time without saying so), daylight saving included; dates with their
own offset and dates without a time are kept as written. Recorded europarl pages and a loopback site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.catalogue import BUNDLED_CATALOGUE, SourceConfig, load_catalogue, validate_file
from crawler.dates import find_date_in_text, parse_date
from crawler.extract import extract_page
from crawler.spiders.feed import read_feed
from tests.conftest import shared_fixture
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import ON_TOPIC, robots
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env
BRUSSELS = "Europe/Brussels"
EUROPARL = {  # recorded press pages: <meta article:published_time> gives the day, <time datetime> the local time
    "press-room-20230706IPR02316-ep-today-bs4-reserialized.html": datetime(2023, 7, 10, 11, 0, tzinfo=UTC),
    "press-room-20230911IPR04908-defence-procurement-bs4-reserialized.html": datetime(2023, 9, 12, 10, 32, tzinfo=UTC),
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2023-07-10T13:00:00", utc(2023, 7, 10, 11)),  # summer: CEST, +02:00
        ("2023-12-01T13:00", utc(2023, 12, 1, 12)),  # winter: CET, +01:00
        ("10 July 2023 13:00", utc(2023, 7, 10, 11)),
        ("10.07.2023 13:00", utc(2023, 7, 10, 11)),
        # spring forward, 26 March 2023: 02:00 CET became 03:00 CEST
        ("2023-03-26T01:59:00", utc(2023, 3, 26, 0, 59)),
        ("2023-03-26T03:00:00", utc(2023, 3, 26, 1, 0)),
        ("2023-03-26T02:30:00", utc(2023, 3, 26, 1, 30)),  # a time the clock skipped: the offset before (+01:00)
        # fall back, 29 October 2023: 03:00 CEST became 02:00 CET
        ("2023-10-29T01:59:00", utc(2023, 10, 28, 23, 59)),
        ("2023-10-29T02:30:00", utc(2023, 10, 29, 0, 30)),  # a time the clock repeated: the first one (+02:00)
        ("2023-10-29T03:00:00", utc(2023, 10, 29, 2, 0)),
        # written with their own zone: kept
        ("2023-07-10T13:00:00+02:00", utc(2023, 7, 10, 11)),
        ("2023-07-10T13:00:00Z", utc(2023, 7, 10, 13)),
        ("Mon, 10 Jul 2023 13:00:00 GMT", utc(2023, 7, 10, 13)),
        # a day without a time keeps its calendar day
        ("2023-07-10", utc(2023, 7, 10)),
        ("10-07-2023", utc(2023, 7, 10)),
    ],
)
def test_zone_less_times_are_read_in_the_source_zone(written: str, expected: datetime) -> None:
    assert parse_date(written, "en", BRUSSELS) == expected


def test_without_a_zone_naive_means_utc_as_before() -> None:
    assert parse_date("2023-07-10T13:00:00") == utc(2023, 7, 10, 13)
    assert parse_date("10 July 2023 13:00", "en") == utc(2023, 7, 10, 13)
    now = utc(2024, 1, 1)
    assert find_date_in_text("Brussels, 10 July 2023 13:00. MEPs voted", "en", now=now) == utc(2023, 7, 10, 13)
    assert find_date_in_text("Brussels, 10 July 2023 13:00. MEPs voted", "en", now=now,
                             zone=BRUSSELS) == utc(2023, 7, 10, 11)


def test_a_feed_with_zone_less_dates_is_read_in_the_source_zone() -> None:
    atom = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>EP</title>'
            b'<entry><title>Summer</title><link href="https://ep.example/a"/><updated>2023-07-10T13:00:00</updated>'
            b'</entry><entry><title>Zoned</title><link href="https://ep.example/b"/>'
            b"<updated>2023-07-10T13:00:00Z</updated></entry></feed>")
    local = read_feed(atom, "https://ep.example/feed", "application/atom+xml", BRUSSELS)
    assert [e["date"] for e in local.entries] == [utc(2023, 7, 10, 11), utc(2023, 7, 10, 13)]
    plain = read_feed(atom, "https://ep.example/feed", "application/atom+xml")
    assert [e["date"] for e in plain.entries] == [utc(2023, 7, 10, 13), utc(2023, 7, 10, 13)]


@pytest.mark.parametrize("name", sorted(EUROPARL))
def test_recorded_europarl_press_pages_are_dated_in_brussels_time(name: str) -> None:
    body = shared_fixture("sites", "europarl.europa.eu", name).read_bytes()
    url = "https://www.europarl.europa.eu/news/en/press-room/" + name.split("-")[2]
    brussels = extract_page(body, url, language_hint="en", zone=BRUSSELS)
    assert brussels.published == EUROPARL[name]
    # without the zone the time written is taken as UTC: two hours late (summer time)
    plain = extract_page(body, url, language_hint="en")
    assert plain.published == EUROPARL[name] + timedelta(hours=2)


def test_the_bundled_european_parliament_source_is_in_brussels_time() -> None:
    ep = {s.name: s for s in load_catalogue(BUNDLED_CATALOGUE)}["european-parliament-press"]
    assert ep.timezone == BRUSSELS


def test_an_unknown_time_zone_is_refused_with_the_nearest_name(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: ep\n    publisher: EP\n    kind: feed\n    url: https://ep.example/f\n"
                    "    timezone: Europe/Brusels\n  - name: ep2\n    publisher: EP\n    kind: feed\n"
                    "    url: https://ep.example/g\n    timezone: Brussels Time\n", encoding="utf-8")
    problems = {(p.entry, p.field): p.message for p in validate_file(path)}
    assert problems == {
        ("#0 ep", "timezone"): "unknown time zone 'Europe/Brusels'; did you mean 'Europe/Brussels'?",
        ("#1 ep2", "timezone"): "unknown time zone 'Brussels Time' (an IANA name such as 'Europe/Brussels')",
    }


def _ep_page(title: str, paragraphs: list[str], day: str, local: str) -> str:
    """A press page as europarl writes it: the day in a meta tag, the Brussels time in <time> without a zone."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    d, m, y = day.split("-")
    return (f'<html lang="en"><head><title>{title}</title><meta property="article:published_time" content="{day}">'
            f'</head><body><main><article><h1>{title}</h1><time datetime="{y}-{m}-{d}T{local}:00" '
            f'itemprop="datePublished">{day} - {local}</time>{body}</article></main></body></html>')


def test_a_crawl_stores_brussels_times_as_utc(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    (summer_title, summer), (winter_title, winter), (listed_title, _) = ON_TOPIC[:3]
    site.add("/press/summer", _ep_page(summer_title, summer, "10-07-2023", "13:00"))
    site.add("/press/winter", _ep_page(winter_title, winter, "05-12-2023", "09:15"))
    site.add("/feed.xml", '<?xml version="1.0"?><rss version="2.0"><channel><title>EP</title>'
             f"<item><title>{summer_title}</title><link>{site.url('/press/summer')}</link></item>"
             f"<item><title>{winter_title}</title><link>{site.url('/press/winter')}</link></item>"
             "</channel></rss>", content_type="application/rss+xml")
    site.add("/agenda", f"<html><body><main><ul><li><a href='/agenda/1'>{listed_title}</a>"
             "<span class='when'>29-10-2023 02:30</span></li></ul></main></body></html>")
    sources = [
        SourceConfig(name="ep-press", publisher="EP", kind="feed", url=site.url("/feed.xml"), language="en",
                     timezone=BRUSSELS),
        SourceConfig(name="ep-agenda", publisher="EP", kind="html", url=site.url("/agenda"), language="en",
                     timezone=BRUSSELS, follow=False, item_selector="main li", date_selector=".when"),
    ]
    summaries = crawl(tmp_path, sources)
    assert summaries["ep-press"]["new"] == 2 and summaries["ep-agenda"]["new"] == 1
    stored = {i.url.rsplit("/", 2)[-1]: i.published for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    as_utc = {k: v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v for k, v in stored.items()}
    assert as_utc == {
        "summer": utc(2023, 7, 10, 11, 0),  # 13:00 CEST
        "winter": utc(2023, 12, 5, 8, 15),  # 09:15 CET
        "1": utc(2023, 10, 29, 0, 30),  # the listing's date, at the autumn change: the first 02:30 (CEST)
    }
