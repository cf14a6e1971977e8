"""The sitemap, html and json kinds, pagination stop, conditional GET, PDFs, follow: false, real fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

from crawler.catalogue import SourceConfig
from crawler.pdf import PDF_MAX_BYTES
from tests.conftest import shared_fixture
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items
from tests.crawler.sites import (
    ON_TOPIC,
    Article,
    article_html,
    make_articles,
    make_pdf,
    robots,
    rss,
    serve_articles,
)
from tests.support.site import LoopbackSite, Page, Request
from tests.support.site import Request as SiteRequest

sqlite_env = helpers.sqlite_env  # storage is dialect-neutral here: SQLite only keeps the suite fast


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def _listing_paths(site: LoopbackSite, prefix: str) -> list[str]:
    return [r.path for r in site.hits() if r.path.startswith(prefix)]


def test_sitemap_index_pattern_news_sitemap_and_conditional_get(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    news = "http://www.google.com/schemas/sitemap-news/0.9"
    index = f'<sitemapindex xmlns="{sm}"><sitemap><loc>{site.url("/sm/1.xml")}</loc></sitemap>' \
            f'<sitemap><loc>{site.url("/sm/2.xml")}</loc></sitemap></sitemapindex>'
    urlset = (f'<urlset xmlns="{sm}"><url><loc>{site.url(arts[0].path)}</loc><lastmod>2025-09-01</lastmod></url>'
              f'<url><loc>{site.url("/about/contact")}</loc></url></urlset>')
    news_set = f'<urlset xmlns="{sm}" xmlns:news="{news}">' + "".join(
        f"<url><loc>{site.url(a.path)}</loc><news:news><news:title>{a.title}</news:title>"
        f"<news:publication_date>2025-09-0{i + 2}</news:publication_date></news:news></url>"
        for i, a in enumerate(arts[1:])
    ) + "</urlset>"
    for path, body in (("/sitemap.xml", index), ("/sm/1.xml", urlset), ("/sm/2.xml", news_set)):
        site.add(path, body, content_type="application/xml", headers={"ETag": f'"{path}-v1"'})
    src = _src(site, "sitemap", "/sitemap.xml", pattern=r"/news/")

    summary = crawl(tmp_path, [src])["src"]
    assert (summary["status"], summary["links"], summary["new"]) == ("ok", 3, 3)
    assert "/about/contact" not in [r.path for r in site.hits()]
    assert {i.title for i in items(sqlite_env["MILAI_DATABASE_URL"])} == {a.title for a in arts}

    site.clear_log()
    summary = crawl(tmp_path, [src])["src"]
    assert summary["new"] == 0 and article_hits(site) == []
    # conditional GET: the cached sitemaps were revalidated with their ETags (the site answered 304)
    sent = {r.path: r.headers.get("if-none-match") for r in site.hits() if r.path.startswith(("/sitemap", "/sm/"))}
    assert sent == {"/sitemap.xml": '"/sitemap.xml-v1"', "/sm/1.xml": '"/sm/1.xml-v1"', "/sm/2.xml": '"/sm/2.xml-v1"'}


def _listing_page(site: LoopbackSite, arts: list[Article], next_page: str | None) -> str:
    links = "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts)
    nxt = f'<a class="next" href="{next_page}">Next</a>' if next_page else ""
    return f"<html><body><nav><a href='/'>Home</a></nav><ul class='news'>{links}</ul>{nxt}</body></html>"


def test_html_listing_pagination_stops_at_first_page_with_nothing_new(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC)
    serve_articles(site, arts)

    def publish(pages: list[list[Article]]) -> None:
        for n, page in enumerate(pages, start=1):
            nxt = f"/list?page={n + 1}" if n < len(pages) else None
            site.add(f"/list?page={n}", _listing_page(site, page, nxt))

    publish([arts[2:4], arts[1:2]])
    src = _src(site, "html", "/list?page=1", links="ul.news a", next_page="a.next", max_pages=5)
    assert crawl(tmp_path, [src])["src"]["new"] == 3
    assert _listing_paths(site, "/list") == ["/list?page=1", "/list?page=2"]

    site.clear_log()
    summary = crawl(tmp_path, [src])["src"]
    assert _listing_paths(site, "/list") == ["/list?page=1"]  # nothing new on page 1: page 2 not requested
    assert summary["new"] == 0 and article_hits(site) == []

    publish([[arts[0], arts[2]], [arts[3], arts[1]], []])  # one new article on page 1
    site.clear_log()
    summary = crawl(tmp_path, [src])["src"]
    assert _listing_paths(site, "/list") == ["/list?page=1", "/list?page=2"]
    assert article_hits(site) == [arts[0].path] and summary["new"] == 1


def test_html_follow_false_stores_listing_entries_without_fetching(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    entries = "".join(
        f'<div class="entry"><h2><a href="/news/{i}">{t}</a></h2><time datetime="2025-09-1{i}">1{i} Sep 2025</time>'
        f'<p class="summary">{p[0]}</p></div>'
        for i, (t, p) in enumerate(ON_TOPIC[:2])
    )
    site.add("/statements", f"<html><body>{entries}</body></html>")
    src = _src(site, "html", "/statements", follow=False, item_selector="div.entry", title_selector="h2",
               date_selector="time", summary_selector="p.summary")
    summary = crawl(tmp_path, [src])["src"]
    assert (summary["new"], summary["fetched"]) == (2, 0)
    assert article_hits(site) == []
    stored = sorted(items(sqlite_env["MILAI_DATABASE_URL"]), key=lambda i: i.url)
    assert [i.title for i in stored] == [ON_TOPIC[0][0], ON_TOPIC[1][0]]
    assert stored[0].published.date().isoformat() == "2025-09-10" and stored[0].date_origin == "feed"
    assert stored[0].summary == ON_TOPIC[0][1][0] and stored[0].relevant


def test_json_get_api_paging_stops_when_nothing_new(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC)
    serve_articles(site, arts)
    pages = {1: arts[:2], 2: arts[2:], 3: []}
    for n, page in pages.items():
        site.add(f"/api/search.json?count=2&page={n}", json.dumps({"results": [
            {"title": a.title, "link": a.path, "public_timestamp": a.date.isoformat(), "description": "d"}
            for a in page]}), content_type="application/json")
    src = _src(site, "json", "/api/search.json?count=2", items="results", link_field="link", title_field="title",
               date_field="public_timestamp", summary_field="description", link_prefix=site.base, page_param="page")
    assert crawl(tmp_path, [src])["src"]["new"] == 4
    assert len(_listing_paths(site, "/api/")) == 3

    site.clear_log()
    assert crawl(tmp_path, [src])["src"]["new"] == 0
    assert _listing_paths(site, "/api/") == ["/api/search.json?count=2&page=1"]
    assert article_hits(site) == []


def test_json_post_api_with_body_paging(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    bodies: list[dict] = []

    def api(req: Request) -> Page:
        body = json.loads(req.body)
        bodies.append(body)
        current = body["requestState"]["current"]
        chunk = arts[(current - 1) * 2 : current * 2]
        results = [{"page_title": {"raw": a.title}, "url": {"raw": site.url(a.path)},
                    "sort_date": {"raw": a.date.isoformat()}} for a in chunk]
        return Page(json.dumps({"rawResponse": {"rawResults": results}}), content_type="application/json")

    site.add("/api/search", api)
    src = _src(site, "json", "/api/search", method="POST",
               body={"requestState": {"searchTerm": "", "resultsPerPage": 2, "current": 1}},
               items="rawResponse.rawResults", link_field="url.raw", title_field="page_title.raw",
               date_field="sort_date.raw", page_param="requestState.current")
    summary = crawl(tmp_path, [src])["src"]
    assert summary["new"] == 3
    # page 2 held fewer results than page 1: it is the last one, no request for an empty page 3
    assert [b["requestState"]["current"] for b in bodies] == [1, 2]
    assert all(h.method == "POST" for h in site.hits("/api/search"))


def test_pdf_links_and_pdf_responses_are_items(site: LoopbackSite, sqlite_env, tmp_path: Path):
    """PDF links are fetched for their text (pypdf, first pages); a broken PDF and one beyond the size cap
    are items without text, not crawl errors; a PDF served under a non-.pdf URL is recognised by its type."""
    robots(site)
    wp_text = ("Working paper on lethal autonomous weapons systems submitted to the group of governmental experts "
               "as CCW/GGE.1/2025/WP.1, recalling resolution A/RES/79/62 on military artificial intelligence.")
    docs = [
        Article("/docs/CCW_GGE.1_2025_WP.1.pdf", "Working paper on lethal autonomous weapons systems",
                ["Working paper submitted to the group of governmental experts."]),
        Article("/news/statement-doc", "Statement on military AI", ["Statement on artificial intelligence."]),
        Article("/docs/huge.pdf", "Compilation of national views", ["All views."]),
    ]
    for doc in docs:
        doc.date = make_articles(ON_TOPIC[:1])[0].date
    site.add(docs[0].path, make_pdf([wp_text, "Annex: human control over autonomous weapon systems."],
                                    title="Microsoft Word - WP1.docx"), content_type="application/pdf")
    site.add("/news/statement-doc", b"%PDF-1.4\n% a broken pdf\n", content_type="application/pdf")
    site.add("/docs/huge.pdf", b"%PDF-1.4\n" + b"0" * (PDF_MAX_BYTES + 1), content_type="application/pdf")
    site.add("/feed.xml", rss(site.base, docs), content_type="application/rss+xml")
    summary = crawl(tmp_path, [_src(site, "feed", "/feed.xml")])["src"]
    assert (summary["new"], summary["errors"]) == (3, 0)
    stored = {i.url.rsplit("/", 1)[-1]: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert {i.kind for i in stored.values()} == {"pdf"}
    wp = stored["CCW_GGE.1_2025_WP.1.pdf"]
    assert wp.title == docs[0].title  # the listing's title beats "Microsoft Word - …"
    assert "CCW/GGE.1/2025/WP.1" in wp.text and "Annex: human control" in wp.text
    assert wp.published is not None and wp.relevant and wp.language == "en"
    assert {s.symbol for s in wp.symbols} >= {"CCW/GGE.1/2025/WP.1", "A/RES/79/62"}
    broken = stored["statement-doc"]
    assert broken.title == docs[1].title and broken.text == docs[1].paragraphs[0]  # the feed's description
    assert stored["huge.pdf"].title == docs[2].title


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


def test_onclick_links_with_regex_and_template_behind_a_cookie_redirect(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    seqs = ["322958", "322971"]
    board = "/eng/brd/m_5676"

    def needs_cookie(page: Page):
        def handler(req: SiteRequest) -> Page:
            if "JSESSIONID=s3ss10n" not in req.headers.get("cookie", ""):
                return Page("", status=307, headers={"Location": req.path,
                                                     "Set-Cookie": "JSESSIONID=s3ss10n; Path=/; HttpOnly"})
            return page
        return handler

    rows = "".join(
        f'<tr><td>{n}</td><td class="title"><a href="#none" onclick="f_view(\'{seq}\');return false;">{a.title}</a>'
        f"</td><td>{a.date:%Y-%m-%d}</td><td>15</td></tr>"
        for n, (seq, a) in enumerate(zip(seqs, arts, strict=True), start=1)
    )
    listing = f"<html><body><table><thead><tr><th>No</th></tr></thead><tbody>{rows}</tbody></table></body></html>"
    site.add(f"{board}/list.do", needs_cookie(Page(listing)))
    for seq, a in zip(seqs, arts, strict=True):
        site.add(f"{board}/view.do?seq={seq}", needs_cookie(Page(article_html(a))))
    src = _src(site, "html", f"{board}/list.do", name="mofa-kr-press-releases-en", item_selector="table tbody tr",
               links="a::attr(onclick)", link_regex=r"f_view\('(\d+)'\)", link_template="view.do?seq={}",
               title_selector="a", date_selector="td:nth-last-child(2)", max_pages=1)

    summary = crawl(tmp_path, [src])["mofa-kr-press-releases-en"]
    assert (summary["status"], summary["links"], summary["new"], summary["errors"]) == ("ok", 2, 2, 0)
    listing_hits = site.hits(f"{board}/list.do")
    assert [h.headers.get("cookie") for h in listing_hits] == [None, "JSESSIONID=s3ss10n"]
    assert sorted(article_hits(site, f"{board}/view.do")) == [f"{board}/view.do?seq={s}" for s in seqs]
    stored = {i.url.rsplit("=", 1)[-1]: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert {k: v.title for k, v in stored.items()} == {seqs[0]: arts[0].title, seqs[1]: arts[1].title}
    assert stored[seqs[0]].published.date() == arts[0].date.date()


def test_link_regex_that_misses_skips_the_link(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    serve_articles(site, [a])
    site.add("/list", f'<ul><li><a onclick="javascript:open(\'x\')">x</a></li>'
                      f'<li><a onclick="go(\'{a.path[1:]}\')">{a.title}</a></li></ul>')
    src = _src(site, "html", "/list", links="a::attr(onclick)", link_regex=r"go\('([^']+)'\)",
               link_template="/{}")
    summary = crawl(tmp_path, [src])["src"]
    assert (summary["links"], summary["new"]) == (1, 1)
    assert article_hits(site) == [a.path]


def test_json_offset_paging_stops_after_a_short_page(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    for start in (0, 2, 4):
        chunk = arts[start : start + 2]
        site.add(f"/api/search.json?start={start}", json.dumps(
            {"results": [{"title": x.title, "link": site.url(x.path)} for x in chunk]}
        ), content_type="application/json")
    src = SourceConfig(name="api", publisher="Examples", kind="json", url=site.url("/api/search.json"),
                       language="en", items="results", link_field="link", title_field="title",
                       page_param="start", page_start=0, page_step=2)
    assert crawl(tmp_path, [src])["api"]["new"] == 3
    assert [r.path for r in site.hits() if r.path.startswith("/api/")] == [
        "/api/search.json?start=0", "/api/search.json?start=2",
    ]
