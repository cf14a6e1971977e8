"""Gaps closed: onclick links + cookie redirects (mofa.go.kr), one request per steady-state poll (robots.txt
cached for a day, conditional GETs), PDF links inside article pages, wrong charsets, source health."""

from __future__ import annotations

import time
from dataclasses import replace
from email.utils import formatdate
from pathlib import Path

from scrapy import Request
from scrapy.http import Response
from scrapy.settings import Settings as ScrapySettings

from crawler.catalogue import SourceConfig, validate_file
from crawler.httpcache import ROBOTSTXT_CACHE_SECS, MilaiCachePolicy
from storage.items import LAYOUT_WARNING
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items, source_row
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
from tests.support.site import LoopbackSite, Page
from tests.support.site import Request as SiteRequest

sqlite_env = helpers.sqlite_env


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


# --- 1. onclick links and the 307 + Set-Cookie first hit (mofa.go.kr) ----------------------------------------


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


# --- 2. a steady-state poll costs one request per source ---------------------------------------------------


def test_steady_state_poll_is_one_conditional_request_per_source(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)  # served with no freshness headers at all, like most sites
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    etag = {"ETag": '"v1"'}
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml", headers=etag)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    site.add("/sitemap.xml", f'<urlset xmlns="{sm}">' + "".join(
        f"<url><loc>{site.url(a.path)}</loc><lastmod>2025-09-0{i + 1}</lastmod></url>" for i, a in enumerate(arts)
    ) + "</urlset>", content_type="application/xml", headers=etag)
    site.add("/list", "<ul class='news'>" + "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts)
             + "</ul>", headers=etag)
    sources = [_src(site, "feed", "/feed.xml", name="feed"), _src(site, "sitemap", "/sitemap.xml", name="sitemap"),
               _src(site, "html", "/list", name="listing", links="ul.news a")]
    first = crawl(tmp_path, sources)
    assert sum(s["new"] for s in first.values()) == 3
    assert len(site.hits("/robots.txt")) == 3  # one per source (each source keeps its own cache)

    site.clear_log()
    second = crawl(tmp_path, sources)
    hits = site.hits()
    # exactly one request per source: the conditional listing GET, answered 304; no robots.txt, no articles
    assert sorted(h.path for h in hits) == ["/feed.xml", "/list", "/sitemap.xml"]
    assert all(h.headers.get("if-none-match") == '"v1"' for h in hits)
    assert {name: s["requests"] for name, s in second.items()} == {"feed": 1, "sitemap": 1, "listing": 1}
    assert all(s["status"] == "ok" and s["new"] == 0 and s["links"] == 3 for s in second.values())

    # a changed feed is seen at the next poll: the 200 replaces the stored copy
    newer = make_articles(ON_TOPIC[3:], start_day=20)
    serve_articles(site, newer)
    site.add("/feed.xml", rss(site.base, newer + arts), content_type="application/rss+xml",
             headers={"ETag": '"v2"'})
    site.clear_log()
    third = crawl(tmp_path, sources[:1])["feed"]
    assert [h.path for h in site.hits()] == ["/feed.xml", newer[0].path]
    assert third["new"] == 1


def test_robots_txt_is_fresh_for_a_day_and_listings_always_revalidate():
    policy = MilaiCachePolicy(ScrapySettings())
    now = formatdate(time.time(), usegmt=True)
    month_ago = formatdate(time.time() - 30 * 86400, usegmt=True)
    robots_req = Request("https://www.example.org/robots.txt")
    robots_ok = Response(robots_req.url, body=b"User-agent: *\n", headers={"Date": now})
    robots_404 = Response(robots_req.url, status=404, headers={"Date": now})
    assert policy.should_cache_response(robots_ok, robots_req)
    assert policy.should_cache_response(robots_404, robots_req)
    assert not policy.should_cache_response(Response(robots_req.url, status=503), robots_req)
    assert policy.is_cached_response_fresh(robots_ok, robots_req)
    day_old = Response(robots_req.url, headers={"Date": formatdate(time.time() - ROBOTSTXT_CACHE_SECS - 60,
                                                                   usegmt=True)})
    assert not policy.is_cached_response_fresh(day_old, Request(robots_req.url))
    # the server's own freshness wins for robots.txt
    no_cache = Response(robots_req.url, headers={"Date": now, "Cache-Control": "max-age=0"})
    assert not policy.is_cached_response_fresh(no_cache, Request(robots_req.url))

    # a feed last modified a month ago is not "fresh for three days" (the heuristic): it is revalidated
    feed_req = Request("https://www.example.org/feed.xml")
    feed = Response(feed_req.url, headers={"Date": now, "Last-Modified": month_ago, "ETag": '"f1"'})
    assert policy.should_cache_response(feed, feed_req)
    assert not policy.is_cached_response_fresh(feed, feed_req)
    assert feed_req.headers.get("If-None-Match") == b'"f1"'
    assert feed_req.headers.get("If-Modified-Since") == month_ago.encode()
    # a permanent redirect is followed from the cache; a 5xx on revalidation is not masked by the stored copy
    moved = Response(feed_req.url, status=301, headers={"Date": now, "Location": "https://www.example.com/f"})
    assert policy.is_cached_response_fresh(moved, Request(feed_req.url))
    assert not policy.is_cached_response_valid(feed, Response(feed_req.url, status=500), feed_req)
    assert policy.is_cached_response_valid(feed, Response(feed_req.url, status=304), feed_req)


# --- 3. PDF links inside article pages ----------------------------------------------------------------------


def test_pdf_links_in_article_pages_become_items_when_the_source_follows_pdfs(site: LoopbackSite, sqlite_env,
                                                                             tmp_path):
    robots(site)
    [a, b] = make_articles(ON_TOPIC[:2])
    a.links = ["/docs/CCW_GGE.1_2025_2.pdf", "/docs/broken.pdf"]
    b.links = ["/docs/other.pdf"]
    serve_articles(site, [a, b])
    report = ("Report of the 2025 session of the group of governmental experts on lethal autonomous weapons "
              "systems, CCW/GGE.1/2025/2, on emerging technologies in the area of autonomous weapons.")
    site.add("/docs/CCW_GGE.1_2025_2.pdf", make_pdf([report], title="Report of the 2025 session"),
             content_type="application/pdf")
    site.add("/docs/broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Cat", content_type="application/pdf")
    site.add("/docs/other.pdf", make_pdf(["Other document"]), content_type="application/pdf")
    site.add("/feed-a.xml", rss(site.base, [a]), content_type="application/rss+xml")
    site.add("/feed-b.xml", rss(site.base, [b]), content_type="application/rss+xml")
    following = _src(site, "feed", "/feed-a.xml", name="follows-pdfs", follow_pdfs=True)
    plain = _src(site, "feed", "/feed-b.xml", name="plain")

    result = crawl(tmp_path, [following, plain])
    assert (result["follows-pdfs"]["new"], result["follows-pdfs"]["errors"]) == (3, 0)
    assert result["plain"]["new"] == 1
    assert "/docs/other.pdf" not in [h.path for h in site.hits()]  # follow_pdfs defaults to false
    stored = {i.url.rsplit("/", 1)[-1]: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    report_item = stored["CCW_GGE.1_2025_2.pdf"]
    assert report_item.kind == "pdf" and report_item.title == "Report of the 2025 session"
    assert "CCW/GGE.1/2025/2" in {s.symbol for s in report_item.symbols}
    assert report_item.published is not None and report_item.date_origin == "page"  # the PDF's CreationDate
    assert report_item.relevant
    assert stored["broken.pdf"].kind == "pdf" and stored["broken.pdf"].text == ""
    assert stored[a.path.rsplit("/", 1)[-1]].kind == "article"

    site.clear_log()
    crawl(tmp_path, [following, plain])
    assert sorted(h.path for h in site.hits()) == ["/feed-a.xml", "/feed-b.xml"]  # PDFs are known too


def test_catalogue_accepts_follow_pdfs(tmp_path: Path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: unoda-docs\n    publisher: UNODA\n    kind: feed\n"
                    "    url: https://example.org/feed.xml\n    follow_pdfs: true\n", encoding="utf-8")
    assert validate_file(path) == []
    assert SourceConfig(name="x1", publisher="P", kind="feed", url="https://e.org/").follow_pdfs is False


# --- 4. wrong charsets ---------------------------------------------------------------------------------------


def test_wrong_declared_charsets_are_stored_with_the_right_text(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    nl = Article("/news/nl", "Coördinatie van één Europese aanpak voor militaire AI", [
        "De ministers van Defensie hebben de coördinatie van de inzet van kunstmatige intelligentie in het "
        "militaire domein geëvalueerd, ook voor autonome wapensystemen.",
        "Het kabinet reageert vóór de zomer op het geëvalueerde beleid; de reactie wordt ná de zomer besproken.",
    ], lang="nl")
    fr = Article("/news/fr", "Systèmes d'armes létaux autonomes : déclaration à Genève", [
        "La France a présenté à Genève une déclaration sur les systèmes d'armes létaux autonomes et "
        "l'intelligence artificielle militaire, après une réunion très suivie.",
        "Les délégations ont souligné l'importance du contrôle humain et du droit international humanitaire.",
    ], lang="fr")
    # UTF-8 bytes served as ISO-8859-1, and ISO-8859-1 bytes served as UTF-8 (no <meta charset> to help)
    site.add(nl.path, article_html(nl).replace('<meta charset="utf-8">', "").encode("utf-8"),
             content_type="text/html; charset=iso-8859-1")
    site.add(fr.path, article_html(fr).replace('<meta charset="utf-8">', "").encode("iso-8859-1"),
             content_type="text/html; charset=utf-8")
    site.add("/feed.xml", rss(site.base, [replace(nl, feed_title="nl"), replace(fr, feed_title="fr")]),
             content_type="application/rss+xml")
    src = SourceConfig(name="charsets", publisher="P", kind="feed", url=site.url("/feed.xml"), language="fr")
    assert crawl(tmp_path, [src])["charsets"]["new"] == 2
    stored = {i.url.rsplit("/", 1)[-1]: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert stored["nl"].title == nl.title and "geëvalueerd" in stored["nl"].text and "vóór" in stored["nl"].text
    assert stored["fr"].title == fr.title and "létaux" in stored["fr"].text and "à Genève" in stored["fr"].text
    assert (stored["nl"].language, stored["fr"].language) == ("nl", "fr")


# --- 5. source health ----------------------------------------------------------------------------------------


def test_health_flags_a_source_whose_links_vanish_and_counts_failures(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    old_layout = "<ul class='news'>" + "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts) + "</ul>"
    new_layout = "<div class='cards'>" + "".join(f'<div data-href="{a.path}">{a.title}</div>' for a in arts) + "</div>"
    src = _src(site, "html", "/news", links="ul.news a")
    url = sqlite_env["MILAI_DATABASE_URL"]

    def run(body: str | None) -> tuple:
        if body is None:
            site.add("/news", "server error", status=500, content_type="text/plain")
        else:
            site.add("/news", body)
        summary = crawl(tmp_path, [src])["src"]
        source, _runs = source_row(url, "src")
        return summary["status"], source.warning, source.consecutive_failures

    assert run(old_layout) == ("ok", None, 0)
    assert run(new_layout) == ("ok", LAYOUT_WARNING, 0)  # the layout changed: no links, flagged
    assert run(None) == ("failed", LAYOUT_WARNING, 1)
    assert run(None) == ("failed", LAYOUT_WARNING, 2)
    assert run(old_layout) == ("ok", None, 0)  # links are back: warning cleared, streak reset
    source, runs = source_row(url, "src")
    assert [r.links for r in runs] == [2, 0, 0, 0, 2]
    assert [r.status for r in runs] == ["ok", "ok", "failed", "failed", "ok"]
    assert source.last_error and "500" in source.last_error and source.last_links_found == 2


def test_a_source_that_never_yielded_is_not_flagged(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    site.add("/news", "<p>nothing yet</p>")
    crawl(tmp_path, [_src(site, "html", "/news", links="ul.news a")])
    source, _ = source_row(sqlite_env["MILAI_DATABASE_URL"], "src")
    assert source.warning is None and not source.ever_yielded and source.last_links_found == 0
