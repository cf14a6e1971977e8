"""The bundled catalogue's own entries, crawled against loopback sites that answer like the real ones.

Each test takes real entries from crawler/sources.yaml by name and rewrites only the scheme/host/port of their
URLs (url, link_prefix) to the loopback site: path, query, POST body, selectors, field paths and headers are the
entry's own. Responses follow the documented shapes in ../shared/target-sites.md; where a recorded response of the
site exists under ../shared/fixtures/sites/ it is served (read at test time, skipped when absent).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

import feedparser
import pytest

from crawler.catalogue import BUNDLED_CATALOGUE, SourceConfig, load_catalogue
from crawler.spiders.base import clean
from tests.conftest import shared_fixture
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import Article, article_html, robots
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env  # storage is dialect-neutral here

CATALOGUE = BUNDLED_CATALOGUE
CEST = timezone(timedelta(hours=2))
BST = timezone(timedelta(hours=1))
EDT = timezone(timedelta(hours=-4))


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, SourceConfig]:
    return {s.name: s for s in load_catalogue(CATALOGUE)}


def _rehost(url: str, site: LoopbackSite) -> str:
    parts = urlsplit(url)
    return urlunsplit(("http", f"127.0.0.1:{site.port}", parts.path, parts.query, parts.fragment))


def entry(name: str, site: LoopbackSite) -> SourceConfig:
    """The catalogue entry `name` with only the scheme/host/port of its URLs pointed at the loopback site."""
    src = _catalogue()[name]
    update = {"url": _rehost(src.url, site)}
    if src.link_prefix:
        update["link_prefix"] = _rehost(src.link_prefix, site)
    return src.model_copy(update=update)


def path_of(src: SourceConfig) -> str:
    """The request path (with query) the loopback site sees for the entry's URL."""
    parts = urlsplit(src.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _QueryFallback(dict):
    """Site pages looked up by full path, then by path without the query (for handlers that read the query)."""

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        return super().get(key) or super().get(key.split("?", 1)[0], default)


def _by_path(stored: list, prefix: str) -> list:
    return sorted((i for i in stored if urlsplit(i.url).path.startswith(prefix)), key=lambda i: i.url)


def _listing_hits(site: LoopbackSite, path: str) -> list[Request]:
    return [r for r in site.hits() if r.path.split("?")[0] == path.split("?")[0]]


DUTCH = [
    "Nederland organiseert samen met andere landen een internationale dialoog over kunstmatige intelligentie "
    "in het militaire domein, zo heeft het kabinet vandaag bekendgemaakt.",
    "Het gaat om verantwoord gebruik van AI door krijgsmachten, menselijke controle over autonome "
    "wapensystemen en de naleving van het humanitair oorlogsrecht.",
    "De minister van Buitenlandse Zaken zei dat de afspraken in de Algemene Vergadering van de Verenigde "
    "Naties verder worden uitgewerkt.",
]
ENGLISH = [
    "Ministers discussed the responsible military use of artificial intelligence and human control over "
    "autonomous weapon systems at a meeting on Thursday.",
    "Delegations agreed that lethal autonomous weapons systems raise questions under international "
    "humanitarian law which states must answer together.",
    "A follow-up meeting of experts will be held later this year to continue the work on these questions.",
]
FRENCH = [
    "Le Secrétaire général a appelé les États à conclure un instrument juridiquement contraignant sur les "
    "systèmes d'armes létaux autonomes d'ici à 2026.",
    "Les délégations ont souligné que l'intelligence artificielle dans le domaine militaire doit rester sous "
    "contrôle humain et respecter le droit international humanitaire.",
]
KOREAN = [
    "외교부는 군사 분야에서의 책임 있는 인공지능 이용에 관한 고위급 회의를 서울에서 개최하였다고 밝혔다.",
    "참석자들은 자율무기체계에 대한 인간의 통제와 국제인도법 준수의 중요성을 강조하였다.",
]


def varied(pool: list[str], seed: int | str) -> list[str]:
    """Paragraphs unique to one page (shared boilerplate would make the pages near-duplicates of each other):
    the pool's sentences plus one of the pool's words shuffled with `seed`."""
    import random
    import zlib

    seed = zlib.crc32(seed.encode()) if isinstance(seed, str) else seed

    words = " ".join(pool).replace(",", "").replace(".", "").split()
    rng = random.Random(seed)
    return [
        pool[0],
        " ".join(rng.choice(words) for _ in range(120)) + ".",
        " ".join(rng.choice(words) for _ in range(80)) + ".",
    ]


def _rss(channel_title: str, items_xml: str, extra_channel: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{html.escape(channel_title)}</title><link>https://example.invalid/</link>"
        f"<description>{html.escape(channel_title)}</description>{extra_channel}{items_xml}</channel></rss>"
    )


def _rss_item(title: str, link: str, description: str, pub_date: str) -> str:
    return (
        f"<item><title>{html.escape(title)}</title><link>{link}</link>"
        f"<description>{html.escape(description)}</description><pubDate>{pub_date}</pubDate>"
        f'<guid isPermaLink="true">{link}</guid></item>'
    )


# ------------------------------------------------------------------------------------------- rijksoverheid.nl

RIJKS_RSS = ["rijksoverheid-nieuws-defensie", "rijksoverheid-nieuws-ai", "rijksoverheid-zoeken-reaim"]


@pytest.mark.parametrize("name", RIJKS_RSS)
def test_rijksoverheid_api_rss_query_is_the_documented_json(name: str) -> None:
    src = _catalogue()[name]
    parts = urlsplit(src.url)
    assert (parts.netloc, parts.path) == ("www.rijksoverheid.nl", "/api/rss")
    [(key, raw)] = parse_qsl(parts.query)
    assert key == "query"
    query = json.loads(raw)
    assert set(query) == {"filters", "resultSearchTerm", "pageTitle"}
    assert query["pageTitle"] in ("Nieuws", "Zoeken")
    for flt in query["filters"]:
        assert set(flt) == {"field", "values", "type"} and flt["type"] == "all" and flt["values"]
    if query["pageTitle"] == "Nieuws":
        assert {"field": "content_type", "values": ["pro:newsDocument"], "type": "all"} in query["filters"]
    else:  # "Zoeken" with empty filters = all content types
        assert query["filters"] == []
    assert query["filters"] or query["resultSearchTerm"]


def _rijks_article(site: LoopbackSite, path: str, title: str, when: datetime) -> None:
    head = (
        f'<meta name="DCTERMS.identifier" scheme="XSD.anyURI" content="https://www.rijksoverheid.nl{path}">'
        f'<meta name="DCTERMS.title" content="{html.escape(title)}">'
        '<meta name="DCTERMS.language" scheme="XSD.language" content="nl-NL">'
        '<meta name="DCTERMS.creator" scheme="RIJKSOVERHEID.Organisatie" content="Ministerie van Defensie">'
        f'<meta name="DCTERMS.available" scheme="DCTERMS.Period" content="start={when:%Y-%m-%d};">'
        f'<meta name="DCTERMS.issued" scheme="XSD.dateTime" content="{when:%Y-%m-%dT%H:%M}">'
        '<meta name="DCTERMS.type" scheme="RIJKSOVERHEID.Informatietype" content="nieuwsbericht">'
    )
    site.add(path, article_html(Article(path, title, varied(DUTCH, path), lang="nl", extra_head=head)))


def test_rijksoverheid_api_rss_feeds(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    sources = [entry(name, site) for name in RIJKS_RSS]
    expected: dict[str, tuple[str, datetime]] = {}
    for n, src in enumerate(sources):
        when = datetime(2025, 9, 25 - n, 14, 30, tzinfo=CEST)
        path = f"/actueel/nieuws/{when:%Y/%m/%d}/ai-in-het-militaire-domein-{n}"
        title = f"AI in het militaire domein: Nederland start internationale dialoog ({n})"
        expected[path] = (title, when)
        _rijks_article(site, path, title, when)
        feed = _rss("Nieuws | Rijksoverheid.nl", _rss_item(title, site.url(path), DUTCH[0], format_datetime(when)))
        site.add(path_of(src), feed, content_type="application/rss+xml; charset=utf-8")

    summaries = crawl(tmp_path, sources)
    for src in sources:
        s = summaries[src.name]
        assert (s["status"], s["links"], s["new"], s["errors"]) == ("ok", 1, 1, 0), s
        [hit] = site.hits(path_of(src))  # the entry's own JSON query reached the server unchanged
        assert json.loads(parse_qs(urlsplit(hit.path).query)["query"][0]) == json.loads(
            parse_qs(urlsplit(_catalogue()[src.name].url).query)["query"][0]
        )
    stored = _by_path(items(sqlite_env["MILAI_DATABASE_URL"]), "/actueel/nieuws/")
    assert len(stored) == 3
    for item in stored:
        title, when = expected[urlsplit(item.url).path]
        assert item.title == title and item.language == "nl"
        assert item.published.date() == when.date()
        assert "kunstmatige intelligentie" in item.text


def test_rijksoverheid_search_api_post(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("rijksoverheid-search-api-ai-militair", site)
    assert src.method == "POST" and src.body is not None
    bodies: list[dict] = []
    results = []
    for n in range(3):
        when = datetime(2025, 9, 20 + n, 10, 0, tzinfo=CEST)
        path = f"/actueel/nieuws/{when:%Y/%m/%d}/militaire-ai-{n}"
        title = f"Kabinet over verantwoord gebruik van AI in het militaire domein ({n})"
        _rijks_article(site, path, title, when)
        results.append(
            {
                "id": {"raw": f"nieuws-{n}"},
                "page_title": {"raw": title},
                "url": {"raw": path},
                "sort_date": {"raw": when.isoformat()},
                "meta_description": {"raw": DUTCH[1]},
                "information_type": {"raw": "Nieuwsbericht"},
            }
        )

    def api(req: Request) -> Page:
        body = json.loads(req.body)
        bodies.append(body)
        state = body["requestState"]
        page = results if state["current"] == 1 else []
        facets = {"information_type": [{"data": [{"value": "Nieuwsbericht", "count": len(results)}]}]}
        return Page(
            json.dumps({"rawResponse": {"rawResults": page}, "facets": facets}),
            content_type="application/json; charset=utf-8",
        )

    site.add(path_of(src), api)
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["new"], s["errors"]) == ("ok", 3, 0), s
    assert all(r.method == "POST" for r in site.hits(path_of(src)))
    first = bodies[0]
    assert first["requestState"]["current"] == 1
    assert first["requestState"]["searchTerm"] == _catalogue()[src.name].body["requestState"]["searchTerm"]
    assert set(first["queryConfig"]["result_fields"]) >= {"page_title", "url", "sort_date", "meta_description"}
    assert len(bodies) <= src.max_pages
    stored = _by_path(items(sqlite_env["MILAI_DATABASE_URL"]), "/actueel/nieuws/")
    assert [i.title for i in stored] == [r["page_title"]["raw"] for r in results]
    assert [i.published.date() for i in stored] == [
        datetime.fromisoformat(r["sort_date"]["raw"]).date() for r in results
    ]
    assert {i.language for i in stored} == {"nl"}


def test_rijksoverheid_sitemap_index(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("rijksoverheid-sitemap-nieuws", site)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    site.add(
        path_of(src),
        f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{sm}">'
        + "".join(
            f"<sitemap><loc>{site.url(f'/sitemap/{n}.xml')}</loc><lastmod>2025-09-26</lastmod></sitemap>"
            for n in (1, 2)
        )
        + "</sitemapindex>",
        content_type="application/xml",
    )
    news = ["/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein", "/actueel/nieuws/2024/02/16/reaim-vervolg"]
    other = ["/onderwerpen/defensie", "/actueel/nieuws", "/documenten/kamerstukken/2025/09/25/brief"]
    for n, paths in ((1, [news[0], *other[:2]]), (2, [other[2], news[1]])):
        urls = "".join(
            f"<url><loc>{site.url(p)}</loc><lastmod>2025-09-2{n}T10:00:00+02:00</lastmod></url>" for p in paths
        )
        site.add(
            f"/sitemap/{n}.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{sm}">{urls}</urlset>',
            content_type="application/xml",
        )
    for p in news:
        _rijks_article(site, p, "Nieuws " + p.rsplit("/", 1)[-1], datetime(2025, 9, 25, 9, 0, tzinfo=CEST))
    s = crawl(tmp_path, [src], names=[src.name])[src.name]  # disabled by default: run by name
    assert (s["status"], s["links"], s["new"], s["errors"]) == ("ok", 2, 2, 0), s
    fetched = {r.path for r in site.hits()}
    assert not fetched & set(other)
    assert sorted(urlsplit(i.url).path for i in items(sqlite_env["MILAI_DATABASE_URL"])) == sorted(news)


# ------------------------------------------------------------------------------------------- United Nations


def _un_article(site: LoopbackSite, link: str, title: str, paragraphs: list[str], lang: str = "en") -> None:
    path = urlsplit(link).path
    site.add(path, article_html(Article(path, title, varied(paragraphs, path), lang=lang)))


def test_un_news_feeds_recorded_shape_and_empty_body(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    recorded = shared_fixture("sites", "news.un.org", "rss-region-europe-2022-04.xml").read_bytes()
    robots(site)
    en, topic, fr = (entry(n, site) for n in ("un-news-all-en", "un-news-peace-security-en", "un-news-all-fr"))
    # the recorded feed, with only its host pointed at the loopback site
    feed = recorded.replace(b"https://news.un.org/", site.url("/").encode())
    site.add(path_of(en), feed, content_type="application/rss+xml; charset=utf-8")
    parsed = feedparser.parse(recorded)
    assert len(parsed.entries) == 30
    for e in parsed.entries:
        _un_article(site, _rehost(e.link, site), clean(e.title) or "", ENGLISH)
    # regional/topic feeds answered HTTP 200 with an empty body: no items, not an error
    site.add(path_of(topic), b"", content_type="application/rss+xml; charset=utf-8")
    fr_links = [site.url(f"/feed/view/fr/story/2025/09/115{n}001") for n in range(2)]
    fr_items = "".join(
        _rss_item(
            f" Le Conseil de sécurité débat de l&#039;IA militaire ({n}) ",
            link,
            FRENCH[0],
            f"Wed, 24 Sep 2025 1{n}:05:00 -0400",
        )
        for n, link in enumerate(fr_links)
    ).replace("&amp;#039;", "&#039;")
    site.add(
        path_of(fr),
        _rss("ONU Info - Un regard global, des histoires humaines", fr_items),
        content_type="application/rss+xml; charset=utf-8",
    )
    for n, link in enumerate(fr_links):
        _un_article(site, link, f"Le Conseil de sécurité débat de l'IA militaire ({n})", FRENCH, lang="fr")

    summaries = crawl(tmp_path, [en, topic, fr])
    assert (summaries[en.name]["status"], summaries[en.name]["new"], summaries[en.name]["errors"]) == ("ok", 30, 0)
    assert (summaries[topic.name]["status"], summaries[topic.name]["new"], summaries[topic.name]["errors"]) == (
        "ok",
        0,
        0,
    )
    assert (summaries[fr.name]["new"], summaries[fr.name]["errors"]) == (2, 0)
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    english = {urlsplit(i.url).path: i for i in _by_path(stored, "/feed/view/en/story/")}
    assert len(english) == 30
    for e in parsed.entries:
        item = english[urlsplit(e.link).path]
        assert item.title == clean(html.unescape(e.title)) and "&#039;" not in item.title
        assert item.published.replace(tzinfo=UTC) == datetime(*e.published_parsed[:6], tzinfo=UTC)  # -0400 -> UTC
        assert item.date_origin == "feed" and item.language == "en"
    french = _by_path(stored, "/feed/view/fr/story/")
    assert [i.title for i in french] == [f"Le Conseil de sécurité débat de l'IA militaire ({n})" for n in range(2)]
    assert {i.language for i in french} == {"fr"}
    assert [i.published.replace(tzinfo=UTC) for i in french] == [
        datetime(2025, 9, 24, 14 + n, 5, tzinfo=UTC) for n in range(2)
    ]


def test_un_press_releases_feed(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("un-press-releases", site)
    releases = [
        (
            "/en/2025/sc16180.doc.htm",
            "SC/16180",
            "Secretary-General Calls for Instrument Prohibiting Lethal "
            "Autonomous Weapons by 2026, as Security Council Holds Open Debate on Artificial Intelligence",
            datetime(2025, 9, 24, 18, 0, tzinfo=EDT),
        ),
        (
            "/en/2023/gadis3731.doc.htm",
            "GA/DIS/3731",
            "First Committee Approves New Resolution on Lethal "
            "Autonomous Weapons, as Speaker Warns 'An Algorithm Must Not Be in Full Control'",
            datetime(2023, 11, 1, 17, 30, tzinfo=EDT),
        ),
    ]
    feed_items = "".join(_rss_item(t, site.url(p), ENGLISH[0], format_datetime(w)) for p, _, t, w in releases)
    site.add(
        path_of(src),
        _rss("Meetings Coverage and Press Releases", feed_items),
        content_type="application/rss+xml; charset=utf-8",
        headers={"ETag": '"press-v1"'},
    )
    for path, symbol, title, _ in releases:
        page = article_html(Article(path, title, [symbol, *varied(ENGLISH, path)]))
        page = page.replace(
            "<main>", '<main><p>In progress at UNHQ</p><a href="/en/press-release" hreflang="en">Press Release</a>'
        )
        site.add(path, page)
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["new"], s["errors"]) == ("ok", 2, 0), s
    stored = {urlsplit(i.url).path: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    for path, symbol, title, when in releases:
        item = stored[path]
        assert item.title == title and item.language == "en"
        assert item.published.replace(tzinfo=UTC) == when.astimezone(UTC)
        assert symbol in {sym.symbol for sym in item.symbols}


def test_un_digital_library_marcxml(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    recorded = shared_fixture(
        "sites", "digitallibrary.un.org", "search-of-xm-marcxml-A_C.3_78_L-drafts-2025-11.xml"
    ).read_bytes()
    robots(site)
    src = entry("un-digital-library-laws", site)
    query = parse_qs(urlsplit(src.url).query)
    assert query["of"] == ["xm"] and urlsplit(src.url).path == "/search"
    site.add(path_of(src), recorded, content_type="text/xml; charset=utf-8")
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["errors"], s["fetched"]) == ("ok", 0, 0), s
    records = recorded.count(b"<ns0:record")
    # revised drafts (L.n / L.n/Rev.1) are near-duplicates: stored, marked, counted as duplicates
    assert s["new"] + s["duplicate"] == records == 94, s
    stored = {i.url: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert len(stored) == records
    item = stored["https://digitallibrary.un.org/record/4026910"]
    assert item.title.startswith("Promotion and protection of human rights in the context of digital technologies")
    assert item.published.date().isoformat() == "2023-11-08" and item.date_origin == "feed"
    assert "A/C.3/78/L.49/Rev.1" in {sym.symbol for sym in item.symbols}
    assert all(i.published is not None for i in stored.values())
    assert [r.path for r in site.hits() if not r.path.startswith("/robots")] == [path_of(src)]


# ------------------------------------------------------------------------------------------- NATO, US, UK


def test_nato_feed_with_dotted_month_dates(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("nato-news", site)
    news = [
        (
            "/cps/en/natohq/news_237712.htm",
            "NATO Allies discuss responsible use of AI",
            "19 Sep. 2025 12:00:00 GMT",
            datetime(2025, 9, 19, 12, 0, tzinfo=UTC),
        ),
        (
            "/cps/en/natohq/official_texts_227237.htm",
            "Summary of NATO's revised Artificial Intelligence (AI) strategy",
            "10 Jul. 2024 12:03:00 GMT",
            datetime(2024, 7, 10, 12, 3, tzinfo=UTC),
        ),
    ]
    site.add(
        path_of(src),
        _rss(
            "NATO - Latest news",
            "".join(_rss_item(t, site.url(p) + "?selectedLocale=en", ENGLISH[0], d) for p, t, d, _ in news),
        ),
        content_type="text/xml; charset=utf-8",
    )
    for path, title, _, _ in news:
        site.add(path + "?selectedLocale=en", article_html(Article(path, title, varied(ENGLISH, path))))
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["new"], s["errors"]) == ("ok", 2, 0), s
    [hit] = site.hits(path_of(src))
    assert hit.headers.get("referer") == "https://www.nato.int/"
    stored = {urlsplit(i.url).path: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    for path, title, _, when in news:
        assert stored[path].title == title
        assert stored[path].published.replace(tzinfo=UTC) == when and stored[path].date_origin == "feed"


def test_war_gov_articlecs_feed_with_403_article_pages(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("war-gov-releases", site)
    releases = [
        (
            "/News/Releases/Release/Article/3996199/cdao-and-diu-launch-new-effort-focused-on-accelerating-dod-"
            "adoption-of-ai-capab/",
            "CDAO and DIU Launch New Effort Focused on Accelerating DOD Adoption of AI Capabilities",
            "The Chief Digital and Artificial Intelligence Office and the Defense Innovation Unit "
            "launched an effort to accelerate the adoption of artificial intelligence capabilities.",
            datetime(2024, 12, 11, 15, 0, tzinfo=UTC),
        ),
        (
            "/News/Releases/Release/Article/4300001/department-of-war-announces-ai-strategy/",
            "Department of War Announces Artificial Intelligence Strategy",
            "",
            datetime(2025, 9, 18, 20, 30, tzinfo=UTC),
        ),
    ]
    site.add(
        path_of(src),
        _rss(
            "Department of War News Feed",
            "".join(_rss_item(t, site.url(p), d, format_datetime(w, usegmt=True)) for p, t, d, w in releases),
        ),
        content_type="application/rss+xml; charset=utf-8",
        headers={"Access-Control-Allow-Origin": "*"},
    )
    for path, *_ in releases:  # Akamai answers non-browser clients with 403
        site.add(path, "<html><body>Access Denied</body></html>", status=403)
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["new"], s["errors"]) == ("ok", 2, 0), s
    stored = {urlsplit(i.url).path: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    for path, title, description, when in releases:
        item = stored[path]
        assert item.title == title and item.published.replace(tzinfo=UTC) == when and item.date_origin == "feed"
        assert item.text == description and item.language == "en"


GOV_UK_ATOM = ["gov-uk-mod-news-atom", "gov-uk-fcdo-ai-atom", "gov-uk-dstl-atom"]


def _gov_uk_atom(site: LoopbackSite, title: str, slugs: list[tuple[str, str, datetime]]) -> str:
    entries = "".join(
        f"<entry><id>tag:www.gov.uk,2005:/government/news/{slug}</id><updated>{when.isoformat()}</updated>"
        f'<link rel="alternate" type="text/html" href="{site.url("/government/news/" + slug)}"/>'
        f'<title>{html.escape(t)}</title><summary type="html">{html.escape("<p>" + ENGLISH[0] + "</p>")}</summary>'
        "</entry>"
        for slug, t, when in slugs
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">'
        f"<id>tag:www.gov.uk,2005:/search/news-and-communications</id>"
        f'<link rel="alternate" type="text/html" href="{site.url("/search/news-and-communications")}"/>'
        f"<title>{html.escape(title)}</title><author><name>HM Government</name></author>"
        f"<updated>{slugs[0][2].isoformat()}</updated>{entries}</feed>"
    )


def test_gov_uk_finder_and_organisation_atom_feeds(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    sources = [entry(n, site) for n in GOV_UK_ATOM]
    expected = {}
    for n, src in enumerate(sources):
        slugs = [
            (
                f"defence-ai-news-{n}-{k}",
                f"Defence artificial intelligence update {n}-{k}",
                datetime(2025, 9, 10 + k, 9 + n, 30, tzinfo=BST),
            )
            for k in range(2)
        ]
        site.add(
            path_of(src),
            _gov_uk_atom(site, "News and communications - GOV.UK", slugs),
            content_type="application/atom+xml; charset=utf-8",
        )
        for slug, title, when in slugs:
            path = "/government/news/" + slug
            expected[path] = (title, when)
            site.add(path, article_html(Article(path, title, varied(ENGLISH, path))))
    summaries = crawl(tmp_path, sources)
    for src in sources:
        s = summaries[src.name]
        assert (s["status"], s["new"], s["errors"]) == ("ok", 2, 0), (src.name, s)
    stored = _by_path(items(sqlite_env["MILAI_DATABASE_URL"]), "/government/news/")
    assert len(stored) == 6
    for item in stored:
        title, when = expected[urlsplit(item.url).path]
        assert item.title == title and item.language == "en"
        assert item.published.replace(tzinfo=UTC) == when.astimezone(UTC) and item.date_origin == "feed"


GOV_UK_SEARCH = ["gov-uk-mod-search-api", "gov-uk-fcdo-search-api", "gov-uk-defence-taxon-ai"]
GOV_UK_PARAMS = {"q", "order", "count", "start", "fields", "suggest", "ab_tests", "c"}
GOV_UK_PREFIXES = ("filter_", "reject_", "aggregate_", "facet_")
GOV_UK_FIELDS = {
    "title",
    "link",
    "description",
    "public_timestamp",
    "content_store_document_type",
    "format",
    "organisations",
    "document_type",
}


def test_gov_uk_search_api_entries(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    site.pages = _QueryFallback()
    robots(site)
    sources = [entry(n, site) for n in GOV_UK_SEARCH]
    docs = {
        src.name: [
            {
                "title": f"Defence AI announcement {n}-{k}",
                "link": f"/government/news/defence-ai-{n}-{k}",
                "description": ENGLISH[k],
                "public_timestamp": f"2025-09-1{k}T16:30:00.000+01:00",
                "content_store_document_type": "press_release",
                "format": "press_release",
                "document_type": "edition",
                "organisations": [{"slug": "ministry-of-defence"}],
            }
            for k in range(3)
        ]
        for n, src in enumerate(sources)
    }
    by_filter = {}
    for src in sources:
        q = parse_qs(urlsplit(src.url).query)
        by_filter[(q.get("filter_organisations", [""])[0], q.get("q", [""])[0])] = src.name

    def api(req: Request) -> Page:
        pairs = parse_qsl(urlsplit(req.path).query, keep_blank_values=True)
        unknown = [k for k, _ in pairs if k not in GOV_UK_PARAMS and not k.startswith(GOV_UK_PREFIXES)]
        if unknown:  # strict validation, as the real API
            return Page(
                json.dumps({"error": f"Unexpected parameters: {', '.join(unknown)}"}),
                status=422,
                content_type="application/json",
            )
        q = parse_qs(urlsplit(req.path).query)
        fields = set(q.get("fields", [])) & GOV_UK_FIELDS
        name = by_filter[(q.get("filter_organisations", [""])[0], q.get("q", [""])[0])]
        start, count = int(q["start"][0]), int(q["count"][0])
        results = [
            {k: v for k, v in d.items() if k in fields} | {"es_score": None, "_id": d["link"], "index": "govuk"}
            for d in docs[name][start : start + count]
        ]
        return Page(
            json.dumps(
                {
                    "results": results,
                    "total": len(docs[name]),
                    "start": start,
                    "aggregates": {},
                    "suggested_queries": [],
                }
            ),
            content_type="application/json; charset=utf-8",
        )

    site.add("/api/search.json", api)
    for ds in docs.values():
        for d in ds:
            site.add(d["link"], article_html(Article(d["link"], d["title"], varied(ENGLISH, d["link"]))))
    summaries = crawl(tmp_path, sources)
    for src in sources:
        s = summaries[src.name]
        assert (s["status"], s["new"], s["errors"]) == ("ok", 3, 0), (src.name, s)
    api_hits = _listing_hits(site, "/api/search.json")
    assert len(api_hits) == 3  # 3 results < count=50: one page each
    stored = {urlsplit(i.url).path: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    for ds in docs.values():
        for d in ds:
            item = stored[d["link"]]
            assert item.title == d["title"] and item.language == "en"
            assert item.published == datetime.fromisoformat(d["public_timestamp"]).astimezone(UTC).replace(
                tzinfo=item.published.tzinfo
            )


# ------------------------------------------------------------------------------------------- Korea MOFA


def _mofa_board(
    site: LoopbackSite, src: SourceConfig, rows: list[tuple[str, str, str]], body: list[str], lang: str
) -> None:
    list_path = path_of(src)
    board = list_path.rsplit("/", 1)[0]

    def listing(req: Request) -> Page:
        if "JSESSIONID=" not in req.headers.get("cookie", ""):
            return Page(
                "", status=307, headers={"Location": list_path, "Set-Cookie": "JSESSIONID=abc123; Path=/; HttpOnly"}
            )
        trs = "".join(
            f'<tr><td>{len(rows) - n}</td><td class="al_left"><a href="javascript:void(0);" '
            f"onclick=\"f_view('{seq}');return false;\">{html.escape(title)}</a></td><td>{date}</td><td>1{n}5</td></tr>"
            for n, (seq, title, date) in enumerate(rows)
        )
        return Page(
            f'<html lang="{lang}"><body><div class="board_list"><table><thead><tr><th>No.</th><th>Title</th>'
            f"<th>Date</th><th>Hit</th></tr></thead><tbody>{trs}</tbody></table></div></body></html>"
        )

    site.add(list_path, listing)
    for seq, title, date in rows:
        site.add(
            f"{board}/view.do?seq={seq}",
            (
                f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
                f"<title>{html.escape(title)}</title></head>"
                f'<body><div class="board_detail"><div class="bo_head"><h2>{html.escape(title)}</h2>'
                f'<ul><li>Date {date}</li></ul></div><div class="bo_con">'
                + "".join(f"<p>{html.escape(p)}</p>" for p in varied(body, seq))
                + "</div></div></body></html>"
            ),
        )


def test_mofa_korea_boards_onclick_links_and_307_cookie(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    en, ko = entry("mofa-kr-press-releases-en", site), entry("mofa-kr-press-releases-ko", site)
    en_rows = [
        ("322958", "Outcome of the REAIM Summit on Responsible AI in the Military Domain", "2024-09-10"),
        ("322901", "Statement on the Political Declaration on Military Use of AI", "2024-09-09"),
    ]
    ko_rows = [("375001", "군사적 인공지능의 책임 있는 이용에 관한 고위급회의 개최 결과", "2024-09-10")]
    _mofa_board(site, en, en_rows, ENGLISH, "en")
    _mofa_board(site, ko, ko_rows, KOREAN, "ko")
    summaries = crawl(tmp_path, [en, ko])
    assert (summaries[en.name]["status"], summaries[en.name]["new"], summaries[en.name]["errors"]) == ("ok", 2, 0)
    assert (summaries[ko.name]["status"], summaries[ko.name]["new"], summaries[ko.name]["errors"]) == ("ok", 1, 0)
    for src in (en, ko):
        statuses = _listing_hits(site, path_of(src))
        assert len(statuses) == 2 and "JSESSIONID=abc123" in statuses[1].headers.get("cookie", "")
    stored = {
        (urlsplit(i.url).path, parse_qs(urlsplit(i.url).query)["seq"][0]): i
        for i in items(sqlite_env["MILAI_DATABASE_URL"])
    }
    for src, rows, lang in ((en, en_rows, "en"), (ko, ko_rows, "ko")):
        view = urlsplit(src.url).path.rsplit("/", 1)[0] + "/view.do"
        for seq, title, date in rows:
            item = stored[(view, seq)]
            assert item.title == title and item.language == lang
            assert item.published is not None and item.published.date().isoformat() == date


def test_every_kind_is_covered() -> None:
    names = (
        RIJKS_RSS
        + GOV_UK_ATOM
        + GOV_UK_SEARCH
        + [
            "rijksoverheid-search-api-ai-militair",
            "rijksoverheid-sitemap-nieuws",
            "un-news-all-en",
            "un-news-peace-security-en",
            "un-news-all-fr",
            "un-press-releases",
            "un-digital-library-laws",
            "nato-news",
            "war-gov-releases",
            "mofa-kr-press-releases-en",
            "mofa-kr-press-releases-ko",
        ]
    )
    assert {_catalogue()[n].kind for n in names} == {"feed", "sitemap", "html", "json"}


# --- the 2026-12-02 facts (issue 11): moved sites and tighter selectors -------------------------------------

PRESS_UN_ARTICLES = ["article-sgsm21952-2023-bs4-reserialized.html", "article-sgsm21982-2023-10-bs4-reserialized.html"]


@pytest.mark.parametrize("fixture", PRESS_UN_ARTICLES)
def test_un_press_listing_links_skip_share_links_and_sitewide_blocks(fixture: str) -> None:
    """Recorded press.un.org pages: `a[href$='.doc.htm']` also matched the sidebar's highlights and noon-briefing
    blocks and the Facebook/Twitter/mailto share links; the entry's selector keeps only the main view's rows."""
    from parsel import Selector

    page = shared_fixture("sites", "press.un.org", fixture).read_text(encoding="utf-8")
    src = _catalogue()["un-press-disarmament-first-committee"]
    loose = Selector(text=page).css("a[href$='.doc.htm']::attr(href)").getall()
    assert any(h.startswith(("https://www.facebook.com", "https://twitter.com", "mailto:")) for h in loose)
    assert any(h.startswith("/en/") for h in loose)  # the sidebar's site-wide blocks
    assert Selector(text=page).css(src.links).getall() == []
    # the same page as a listing: a main view of meetings coverage beside the recorded sidebar and share links
    rows = "".join(f'<div class="views-row"><h3><a href="/en/2025/{s}.doc.htm">{s}</a></h3></div>'
                   for s in ("gadis3750", "gadis3751", "gadis3752"))
    listing = page.replace("</main>", f'<div class="view view-meetings-coverage"><div class="view-content">{rows}'
                                      "</div></div></main>", 1)
    found = [a.attrib["href"] for a in Selector(text=listing).css(src.links)]
    assert found == ["/en/2025/gadis3750.doc.htm", "/en/2025/gadis3751.doc.htm", "/en/2025/gadis3752.doc.htm"]


def test_korea_kr_press_release_board_recorded_listing(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    """The recorded government-wide board (2026-01-07): 20 rows, each link reduced to its newsId."""
    import re

    page = shared_fixture("sites", "korea.kr", "briefing-pressReleaseList-org6530000-2026-01-07.html").read_bytes()
    robots(site)
    src = entry("korea-kr-press-release-board", site)
    site.add(path_of(src), page)
    ids = list(dict.fromkeys(re.findall(rb"pressReleaseView\.do\?newsId=(\d+)", page)))
    assert len(ids) == 20
    for news_id in ids:
        path = f"/briefing/pressReleaseView.do?newsId={news_id.decode()}"
        site.add(path, article_html(Article(path, f"보도자료 {news_id.decode()}", varied(KOREAN, path), lang="ko")))
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["links"], s["errors"]) == ("ok", 20, 0), s
    fetched = {r.path for r in site.hits() if r.path.startswith("/briefing/pressReleaseView.do")}
    assert fetched == {f"/briefing/pressReleaseView.do?newsId={i.decode()}" for i in ids}


def test_nato_news_from_the_new_sites_sitemap(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    src = entry("nato-news-sitemap", site)
    news = ["/en/news-and-events/articles/news/2026/03/02/nato-allies-agree-ai-principles",
            "/en/news-and-events/articles/news/2025/11/20/nato-updates-its-ai-strategy"]
    other = ["/en/about-us/organisation", "/en/news-and-events/articles/news"]
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    site.add(path_of(src), f'<urlset xmlns="{sm}">' + "".join(
        f"<url><loc>{site.url(p)}</loc><lastmod>2026-03-02</lastmod></url>" for p in news + other) + "</urlset>",
        content_type="application/xml")
    for path in news:
        site.add(path, article_html(Article(path, f"NATO {path.rsplit('/', 1)[1]}", varied(ENGLISH, path))))
    s = crawl(tmp_path, [src])[src.name]
    assert (s["status"], s["links"], s["new"]) == ("ok", 2, 2), s
    assert {urlsplit(i.url).path for i in items(sqlite_env["MILAI_DATABASE_URL"])} == set(news)
    assert site.hits(path_of(src))[0].headers.get("referer") == "https://www.nato.int/"


def test_canada_national_defence_uses_the_current_department_key() -> None:
    for name in ("canada-national-defence-news", "canada-defense-nationale-nouvelles"):
        query = parse_qs(urlsplit(_catalogue()[name].url).query)
        assert query["dept"] == ["departmentnationaldefense"], name


def test_war_gov_content_types_and_the_old_nato_feed_say_they_are_unverified() -> None:
    releases, stories = _catalogue()["war-gov-releases"], _catalogue()["war-gov-news-stories"]
    assert parse_qs(urlsplit(releases.url).query)["ContentType"] == ["9"]
    assert parse_qs(urlsplit(stories.url).query)["ContentType"] == ["1"]
    for src in (releases, stories, _catalogue()["nato-news"]):
        assert "unverified" in (src.notes or "") or "unknown" in (src.notes or ""), src.name
