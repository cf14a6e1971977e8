"""URL canonicalisation: disguised variants meet, distinct pages stay apart."""

from __future__ import annotations

import pytest

from crawler.urls import canonicalize, same_site, site_key, unwrap_proxy

SAME = [
    (
        "https://www.rijksoverheid.nl/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein",
        [
            "http://www.rijksoverheid.nl/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein/",
            "https://rijksoverheid.nl/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein#top",
            "HTTPS://WWW.RIJKSOVERHEID.NL:443/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein"
            "?utm_source=twitter&utm_medium=social&fbclid=abc",
            "  https://www.rijksoverheid.nl/actueel/nieuws/2025/09/25/ai-in-het-militaire-domein?gclid=x  ",
        ],
    ),
    (
        "https://example.org/search?a=1&b=2",
        ["https://example.org/search?b=2&a=1", "https://example.org/search/?b=2&utm_campaign=z&a=1&_ga=1"],
    ),
    (
        "https://press.un.org/en/2023/gadis3731.doc.htm",
        [
            "http://10.20.30.40/index.cgi/contrast/https://press.un.org/en/2023/gadis3731.doc.htm",
            "http://192.0.2.7/index.cgi/contrast/https:/press.un.org/en/2023/gadis3731.doc.htm",
            "https://web.archive.org/web/20231101000000/https://press.un.org/en/2023/gadis3731.doc.htm",
        ],
    ),
    (
        "https://www.war.gov/News/Releases/Release/Article/3996199/"
        "cdao-and-diu-launch-new-effort-focused-on-accelerating-dod-adoption-of-ai-capabilities/",
        [
            "https://www.defense.gov/News/Releases/Release/Article/3996199/"
            "cdao-and-diu-launch-new-effort-focused-on-accelerating-dod-adoption-of-ai-capab/",
            "http://defense.gov/News/Releases/Release/Article/3996199/",
            "https://www.war.gov/News/Releases/Release/Article/3996199/cdao-and-diu?source=GovDelivery",
        ],
    ),
    (
        "https://news.un.org/en/story/2025/09/1165912",
        ["https://news.un.org/feed/view/en/story/2025/09/1165912", "http://news.un.org/en/story/2025/09/1165912/"],
    ),
    (
        "https://example.org/page",
        ["https://example.org/page;jsessionid=0123ABC", "https://example.org:443/page?PHPSESSID=deadbeef"],
    ),
    ("http://127.0.0.1:8123/articles/one.html", ["http://127.0.0.1:8123/articles/one.html?utm_source=feed"]),
]

DISTINCT = [
    "https://www.rijksoverheid.nl/actueel/nieuws/2025/09/25/a",
    "https://www.rijksoverheid.nl/actueel/nieuws/2025/09/26/a",
    "https://www.government.nl/actueel/nieuws/2025/09/25/a",
    "https://www.mofa.go.kr/eng/brd/m_5676/view.do?seq=322958",
    "https://www.mofa.go.kr/eng/brd/m_5676/view.do?seq=322959",
    "https://www.war.gov/News/Releases/Release/Article/3996199/x/",
    "https://www.war.gov/News/Releases/Release/Article/3996200/x/",
    "https://news.un.org/en/story/2025/09/1165912",
    "https://news.un.org/fr/story/2025/09/1165912",
    "https://example.org/Page",
    "https://example.org/page?id=1",
    "http://127.0.0.1:8123/articles/one.html",
    "http://127.0.0.1:8124/articles/one.html",
]


@pytest.mark.parametrize(("reference", "variants"), SAME)
def test_disguised_variants_are_equal(reference: str, variants: list[str]) -> None:
    expected = canonicalize(reference)
    for variant in variants:
        assert canonicalize(variant) == expected, variant


def test_distinct_pages_stay_distinct() -> None:
    canon = [canonicalize(u) for u in DISTINCT]
    assert len(set(canon)) == len(DISTINCT)


def test_canonical_form_is_stable_and_idempotent() -> None:
    for _, variants in SAME:
        for url in variants:
            once = canonicalize(url)
            assert canonicalize(once) == once
    assert canonicalize("http://127.0.0.1:8123/a/?b=1") == "https://127.0.0.1:8123/a?b=1"
    assert canonicalize("https://www.defense.gov/News/Releases/Release/Article/3996199/slug/") == (
        "https://war.gov/news/releases/release/article/3996199"
    )


def test_unwrap_proxy() -> None:
    assert unwrap_proxy("http://1.2.3.4/index.cgi/contrast/https://press.un.org/en/2025/sc16180.doc.htm") == (
        "https://press.un.org/en/2025/sc16180.doc.htm"
    )
    assert unwrap_proxy("https://x.org/r/https%3A%2F%2Fnews.un.org%2Fen%2Fstory%2F2025%2F09%2F1") == (
        "https://news.un.org/en/story/2025/09/1"
    )
    plain = "https://press.un.org/en/2025/sc16180.doc.htm"
    assert unwrap_proxy(plain) == plain
    assert unwrap_proxy("https://x.org/path/http:/nohost") == "https://x.org/path/http:/nohost"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("https://news.un.org/en/story/1", "https://www.un.org/sg/en/content/x", True),
        ("https://press.un.org/en/x", "https://news.un.org/en/y", True),
        ("https://www.gov.uk/government/news/a", "https://gov.uk/government/news/b", True),
        ("https://www.gov.uk/government/news/a", "https://www.nhs.uk/a", False),
        ("https://www.gov.uk/a", "https://evil.gov.uk/a", False),
        ("https://www.mofa.go.kr/eng/a", "https://mofa.go.kr/www/b", True),
        ("https://www.mofa.go.kr/eng/a", "https://www.mnd.go.kr/b", False),
        ("https://www.eeas.europa.eu/eeas/a_en", "https://ec.europa.eu/b", True),
        ("https://www.defense.gov/News/1", "https://www.war.gov/News/1", True),
        ("https://www.rijksoverheid.nl/a", "https://www.government.nl/a", False),
        ("http://127.0.0.1:8123/a", "http://127.0.0.1:8123/b", True),
        ("http://127.0.0.1:8123/a", "http://127.0.0.1:9000/a", False),
        ("http://localhost:8000/a", "http://localhost:8000/b", True),
        ("https://example.org/a", "", False),
    ],
)
def test_same_site(a: str, b: str, expected: bool) -> None:
    assert same_site(a, b) is expected


def test_site_key_uses_bundled_suffix_list() -> None:
    assert site_key("https://assets.publishing.service.gov.uk/x") == "service.gov.uk"
    assert site_key("https://www.bmvg.de/de/aktuelles") == "bmvg.de"
    assert site_key("https://www.defensa.gob.es/gabinete") == "defensa.gob.es"


def test_canonical_keys_are_cached_per_url_and_failures_are_not() -> None:
    """A URL is canonicalised several times per page (filter, spider, pipeline, backoff): the second call is a
    cache hit with the same answer; an unparsable URL raises every time (nothing cached for it)."""
    url = "http://www.example.org/cache-probe/?utm_source=x&b=2&a=1"
    first = canonicalize(url)
    hits = canonicalize.cache_info().hits
    assert canonicalize(url) == first == "https://example.org/cache-probe?a=1&b=2"
    assert canonicalize.cache_info().hits == hits + 1
    assert site_key(url) == site_key(url) == "example.org"
    for _ in range(2):
        with pytest.raises(ValueError):
            canonicalize("http://[::1/broken")
