"""Article extraction on pages written for these tests (and the Dutch seed item)."""

from __future__ import annotations

import html
import random
import re
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

from crawler.bounds import MAX_PDF_LINKS
from crawler.encoding import decode_html
from crawler.extract import Extracted, detect_language, extract_page, summarize
from tests.conftest import shared_fixture
from tests.crawler.sites import Article, article_html

URL = "https://www.example.org/news/2025/autonomous-weapons-talks"

PARAGRAPHS = (
    "<p>Delegations met in Geneva this week to discuss lethal autonomous weapon systems and the role of "
    "meaningful human control over the use of force in armed conflict.</p>"
    "<p>The chair circulated a rolling text setting out elements of a possible instrument, including "
    "prohibitions, restrictions and measures to ensure accountability for the use of such systems.</p>"
    "<p>Several states called for negotiations on a legally binding instrument to begin without delay, "
    "while others preferred to continue discussions within the group of governmental experts.</p>"
)

ARTICLE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Autonomous weapons talks continue | Example Ministry</title>
<meta name="description" content="Delegations discussed human control over autonomous weapons.">
<meta property="article:published_time" content="2025-09-24T16:30:00+02:00">
<link rel="canonical" href="/news/autonomous-weapons-talks">
<link rel="alternate" hreflang="fr" href="https://www.example.org/fr/actualites/armes-autonomes">
<link rel="alternate" hreflang="de" href="/de/aktuelles/autonome-waffen">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
</head><body>
<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact us</a></nav></header>
<aside><h3>Related</h3><a href="/files/annual-report.pdf">Annual report</a></aside>
<main><article><h1>Autonomous weapons talks continue</h1>{PARAGRAPHS}
<p>Read the <a href="/docs/CCW-GGE.1-2025-WP.1.PDF">working paper</a> and the
<a href="https://docs.example.org/report.pdf?download=1">report</a>.</p></article></main>
<footer>Copyright 2024 Example Ministry. Cookie settings. Privacy.</footer>
</body></html>"""


def test_article_with_boilerplate() -> None:
    result = extract_page(ARTICLE.encode(), URL)
    assert isinstance(result, Extracted)
    assert result.title == "Autonomous weapons talks continue"
    assert "meaningful human control" in result.text
    assert "Cookie settings" not in result.text and "Contact us" not in result.text
    assert result.summary == "Delegations discussed human control over autonomous weapons."
    assert result.published == datetime(2025, 9, 24, 14, 30, tzinfo=UTC)
    assert result.date_origin == "page"
    assert result.language == "en"
    assert result.canonical_url == "https://www.example.org/news/autonomous-weapons-talks"
    assert result.alternates == {
        "fr": "https://www.example.org/fr/actualites/armes-autonomes",
        "de": "https://www.example.org/de/aktuelles/autonome-waffen",
    }
    assert result.pdf_links == [
        "https://www.example.org/docs/CCW-GGE.1-2025-WP.1.PDF",
        "https://docs.example.org/report.pdf?download=1",
    ]


DCTERMS = """<html><head>
<meta name="DCTERMS.identifier" content="https://www.rijksoverheid.nl/actueel/nieuws/2013/05/14/x" scheme="XSD.anyURI">
<meta name="DCTERMS.title" content="Kabinet investeert in defensie-innovatie">
<meta name="DCTERMS.language" content="nl-NL" scheme="XSD.language">
<meta name="DCTERMS.creator" content="Ministerie van Defensie">
<meta name="DCTERMS.available" content="start=2013-05-14;">
<meta name="DCTERMS.modified" content="2018-03-16T12:17">
<title>Kabinet investeert in defensie-innovatie | Nieuwsbericht | Rijksoverheid.nl</title>
</head><body><div id="content"><h1>Kabinet investeert in defensie-innovatie</h1>
<p>Het kabinet trekt extra geld uit voor onderzoek naar nieuwe technologie bij de krijgsmacht. Daarbij gaat
het onder meer om onbemande systemen en het verantwoord gebruik van kunstmatige intelligentie.</p>
<p>De minister van Defensie wil dat Nederland samen met bondgenoten afspraken maakt over de inzet van deze
systemen, zodat de mens altijd verantwoordelijk blijft voor beslissingen over geweld.</p>
</div></body></html>"""


def test_dcterms_metadata() -> None:
    result = extract_page(DCTERMS.encode(), "https://www.rijksoverheid.nl/actueel/nieuws/2013/05/14/x")
    assert result.published == datetime(2013, 5, 14, tzinfo=UTC)
    assert result.date_origin == "page"
    assert result.language == "nl"
    assert result.title == "Kabinet investeert in defensie-innovatie"
    assert result.summary is not None and result.summary.startswith("Het kabinet trekt extra geld uit")
    assert len(result.summary) <= 400


def _page(body: str, charset: str) -> str:
    return (f'<html><head><meta charset="{charset}"><title>Déclaration</title></head><body><article>'
            f"<h1>Déclaration sur les systèmes d'armes létaux autonomes</h1>{body}</article></body></html>")


FRENCH = (
    "<p>La France réaffirme que l'emploi de systèmes d'armes létaux autonomes doit rester conforme au droit "
    "international humanitaire, et que la responsabilité humaine ne peut être transférée à une machine.</p>"
    "<p>Le ministère des Armées poursuit ses travaux sur l'intelligence artificielle de défense.</p>"
)


def test_wrong_charset_declared_latin1_but_utf8() -> None:
    body = _page(FRENCH, "iso-8859-1").encode("utf-8")
    result = extract_page(body, "https://www.defense.gouv.fr/actualites/x")
    assert "réaffirme" in result.text and "Ã©" not in result.text
    assert result.title.startswith("Déclaration")
    assert result.language == "fr"


def test_wrong_charset_declared_utf8_but_cp1252() -> None:
    body = _page(FRENCH, "utf-8").encode("cp1252")
    result = extract_page(body, "https://www.defense.gouv.fr/actualites/x")
    assert "réaffirme" in result.text and "\ufffd" not in result.text


def test_encoding_argument_is_honoured() -> None:
    korean = ("<html><head><title>보도자료</title></head><body><article>"
              "<h1>인공지능의 군사적 이용에 관한 고위급 회의</h1>"
              "<p>외교부는 2024년 9월 9일 서울에서 군사 영역에서의 책임 있는 인공지능 이용에 관한 고위급 회의를 "
              "개최하였다고 밝혔다. 이번 회의에는 여러 나라의 대표단이 참석하였다.</p></article></body></html>")
    result = extract_page(korean.encode("euc-kr"), "https://www.mofa.go.kr/www/brd/m_4076/view.do?seq=1",
                          encoding="euc-kr")
    assert "인공지능" in result.title
    assert result.language == "ko"
    assert result.published == datetime(2024, 9, 9, tzinfo=UTC)
    assert decode_html("café".encode("cp1252"), "cp1252") == "café"


def test_no_date_anywhere_gives_none() -> None:
    page = f"""<html lang="en"><head><title>Autonomy in weapon systems</title></head><body>
    <main><h1>Autonomy in weapon systems</h1>{PARAGRAPHS}</main>
    <footer>© 2024 Example Ministry</footer></body></html>"""
    result = extract_page(page.encode(), "https://www.example.org/topics/autonomy")
    assert result.published is None
    assert result.date_origin == "none"
    assert result.canonical_url is None
    assert result.alternates == {} and result.pdf_links == []


def test_date_sources_json_ld_time_and_url() -> None:
    json_ld = ('<html><head><script type="application/ld+json">{"@context":"https://schema.org","@graph":'
               '[{"@type":"NewsArticle","headline":"X","datePublished":"2024-12-24T09:00:00Z"}]}</script>'
               f"</head><body><main><h1>X</h1>{PARAGRAPHS}</main></body></html>")
    assert extract_page(json_ld.encode(), URL).published == datetime(2024, 12, 24, 9, tzinfo=UTC)

    time_tag = (f'<html><body><article><h1>Y</h1><time datetime="2023-11-08">8 Nov. 2023</time>{PARAGRAPHS}'
                "</article></body></html>")
    assert extract_page(time_tag.encode(), URL).published == datetime(2023, 11, 8, tzinfo=UTC)

    in_url = f"<html><body><article><h1>Z</h1>{PARAGRAPHS}</article></body></html>"
    result = extract_page(in_url.encode(), "https://www.rijksoverheid.nl/actueel/nieuws/2025/09/25/slug")
    assert result.published == datetime(2025, 9, 25, tzinfo=UTC)


def test_date_in_text_header_nato_style() -> None:
    page = f"""<html><body><div class="content"><h1>NATO releases revised AI strategy</h1>
    <p>• 10 Jul. 2024 -</p><p>• Last updated: 10 Jul. 2024 12:03</p>{PARAGRAPHS}</div></body></html>"""
    result = extract_page(page.encode(), "https://www.nato.int/cps/en/natohq/official_texts_227237.htm")
    assert result.published == datetime(2024, 7, 10, tzinfo=UTC)
    assert result.date_origin == "page"


def test_og_url_is_the_canonical_fallback() -> None:
    page = f"""<html><head><meta property="og:url" content="https://www.example.org/a?id=1">
    <meta property="og:description" content="OG summary."></head>
    <body><main><h1>T</h1>{PARAGRAPHS}</main></body></html>"""
    result = extract_page(page.encode(), "https://www.example.org/a?id=1&utm_source=x")
    assert result.canonical_url == "https://www.example.org/a?id=1"
    assert result.summary == "OG summary."


def test_language_detection_and_priors() -> None:
    dutch = "Kunstmatige intelligentie speelt een steeds grotere rol in oorlogsvoering en defensie. " * 4
    assert detect_language(dutch, declared="en") == "nl"  # a wrong template declaration loses to long text
    assert detect_language("AI summit", declared="fr") == "fr"  # short text: the declaration wins
    assert detect_language("REAIM", hint="ko") == "ko"
    assert detect_language("", declared="nl-NL") == "nl"
    assert detect_language("", declared=None) is None


def test_pages_trafilatura_cannot_read() -> None:
    empty = extract_page(b"", "https://www.example.org/empty")
    assert empty.title == "" and empty.text == "" and empty.published is None
    tiny = extract_page(b"<html><head><title>Notice</title></head><body><div>Site maintenance.</div></body></html>",
                        "https://www.example.org/notice")
    assert tiny.title == "Notice"
    assert "Site maintenance." in tiny.text


def test_summary_from_text_is_bounded() -> None:
    long = "This sentence about autonomous weapons is fairly long. " * 20
    summary = summarize(long)
    assert summary is not None and 0 < len(summary) <= 400 and summary.endswith(".")
    assert summarize("x" * 1000) is not None and len(summarize("word " * 300) or "") <= 400


def test_dutch_seed_item() -> None:
    seed = shared_fixture("seed", "rijksoverheid-2025-09-25-ai-militaire-domein.txt").read_text(encoding="utf-8")
    first, _, rest = seed.partition("\n")
    header = re.match(r"\s*date\s+(\S+)\s+(.+)", first)
    assert header is not None
    date_text, title = header.group(1), header.group(2).strip()
    paragraphs = "".join(f"<p>{line}</p>" for line in rest.splitlines() if line.strip())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title} | Rijksoverheid.nl</title></head>
    <body><nav><a href="/">Home</a><a href="/actueel">Actueel</a></nav><main><article>
    <h1>{title}</h1><p class="article-meta">Nieuwsbericht | 25-09-2025 | 15:00</p>{paragraphs}</article></main>
    <footer>Rijksoverheid.nl - Privacy - Cookies</footer></body></html>"""
    result = extract_page(page.encode("utf-8"), "https://www.rijksoverheid.nl/actueel/nieuws/slug")
    assert date_text == "2025-09-25"
    assert result.language == "nl"
    assert result.published is not None and result.published.date().isoformat() == "2025-09-25"
    assert result.date_origin == "page"
    assert result.title == title.strip()
    assert "GC REAIM" in result.text


def test_summary_does_not_start_with_the_date_line():
    page = Article("/news/x", "Summit on military AI closes", [
        "25 September 2025",
        "The Dutch government hosted a summit on responsible military use of artificial intelligence.",
        "Ministers from many countries took part in the discussions on autonomous weapons.",
    ])
    ex = extract_page(article_html(page).encode(), "http://example.org/news/x")
    assert ex.summary and ex.summary.startswith("The Dutch government hosted")


def test_a_page_is_parsed_once_and_trafilatura_reads_that_tree(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import lxml.html
    import trafilatura

    from crawler import extract

    parsed: list[object] = []
    given: list[object] = []
    real_parse, real_bare = extract.load_html, trafilatura.bare_extraction

    def counting_parse(html):  # type: ignore[no-untyped-def]
        tree = real_parse(html)
        parsed.append(tree)
        return tree

    def recording_bare(content, **kw):  # type: ignore[no-untyped-def]
        given.append(content)
        return real_bare(content, **kw)

    def no_soup(*args, **kw):  # type: ignore[no-untyped-def]
        raise AssertionError("BeautifulSoup on the hot path")

    monkeypatch.setattr(extract, "load_html", counting_parse)
    monkeypatch.setattr(trafilatura, "bare_extraction", recording_bare)
    monkeypatch.setattr("bs4.BeautifulSoup", no_soup)
    result = extract_page(ARTICLE.encode(), URL)
    assert len(parsed) == 1 and isinstance(parsed[0], lxml.html.HtmlElement)
    assert given == parsed  # trafilatura works on (a copy of) our tree, and leaves ours whole
    assert result.title == "Autonomous weapons talks continue" and result.pdf_links  # read from the same tree
    assert len(parsed[0].xpath("//nav")) == 1


def test_a_fragment_without_html_document_markup_is_still_extracted() -> None:
    result = extract_page(b"<h1>Dateline</h1><p>Delegations met in Geneva on 24 September 2025 to discuss "
                          b"autonomous weapons.</p><a href='/annex.pdf'>Annex</a>", URL)
    assert result.title == "Dateline" and "Delegations met in Geneva" in result.text
    assert result.pdf_links == ["https://www.example.org/annex.pdf"]


def _pdf_links_by_rule(hrefs: list[str], base: str) -> list[str]:
    """Every href resolved against the base, kept when its path ends in .pdf: the rule, anchor by anchor."""
    links: dict[str, None] = {}
    for href in hrefs:
        try:
            resolved = urljoin(base, href.strip())
            if urlsplit(resolved).path.lower().endswith(".pdf"):
                links[resolved] = None
        except ValueError:
            continue
    return list(links)[:MAX_PDF_LINKS]


ODD_HREFS = ["a.pdf", "A.PDF", "x.p\ndf", "x.p\tdf", "x.P\r\nDF", " doc.pdf ", "?q=1", "#top", "", "http:", "//host",
             "..", ".", "x.pdf/..", "x.pdf/.", "x.pdf?y", "x.pdf#z", "%2Epdf", "http://[::1", "https://e.org/r.Pdf",
             "javascript:x.pdf", "a.pdfx", "ftp:", "file.PdF", "../up/y.pdf", "http://h:99999/a.pdf", "mailto:a@b.pdf"]


@pytest.mark.parametrize("url", ["https://www.example.org/news/item", "https://www.example.org/docs/report.pdf",
                                 "https://www.example.org/r.PDF?x=1", "https://www.example.org/"])
def test_pdf_links_are_the_hrefs_that_resolve_to_pdf_paths_whatever_their_spelling(url: str) -> None:
    """Only hrefs that hold "pdf" are resolved (a page with hundreds of links resolved every one), except on a
    page whose own path is a .pdf, where a query- or fragment-only href resolves to it: the same links as
    resolving every anchor, on odd and random hrefs."""
    rng = random.Random(url)
    hrefs = ODD_HREFS + ["".join(rng.choice("pdfPDF./?#:\t\n x%") for _ in range(rng.randint(0, 9)))
                         for _ in range(400)]
    found: list[list[str]] = []
    for start in range(0, len(hrefs), 60):
        chunk = hrefs[start:start + 60]
        anchors = "".join(f'<a href="{html.escape(h, quote=True)}">link</a> ' for h in chunk)
        text = "Text of the statement. " * 30
        body = f"<html><body><main><h1>Annexes</h1><p>{text}</p>{anchors}</main></body></html>"
        result = extract_page(body.encode(), url, encoding="utf-8")
        # what the parser made of each href (entities decoded, as the page's tree holds it)
        parsed = [a.get("href") for a in lxml.html.fromstring(body).iter("a")]
        assert result.pdf_links == _pdf_links_by_rule(parsed, url)
        found.append(result.pdf_links)
    odd = found[0]  # the chunk of ODD_HREFS
    assert {urljoin(url, "A.PDF"), urljoin(url, "x.pdf?y"), urljoin(url, "x.pdf"), urljoin(url, "file.PdF")} <= set(odd)
    assert (urljoin(url, "?q=1") in odd) == urlsplit(url).path.lower().endswith(".pdf")
    assert urljoin(url, "a.pdfx") not in odd and urljoin(url, "x.pdf/..") not in odd
