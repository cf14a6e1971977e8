"""The html kind: article links by CSS selector (onclick links with a regex and a template), pagination
that stops at the first page with nothing new, listing entries stored without fetching (follow: false)."""

from __future__ import annotations

from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items
from tests.crawler.sites import (
    ON_TOPIC,
    Article,
    article_html,
    make_articles,
    robots,
    serve_articles,
)
from tests.support.site import LoopbackSite, Page
from tests.support.site import Request as SiteRequest

sqlite_env = helpers.sqlite_env



def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def _listing_paths(site: LoopbackSite, prefix: str) -> list[str]:
    return [r.path for r in site.hits() if r.path.startswith(prefix)]


def _listing_page(site: LoopbackSite, arts: list[Article], next_page: str | None) -> str:
    links = "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts)
    nxt = f'<a class="next" href="{next_page}">Next</a>' if next_page else ""
    return f"<html><body><nav><a href='/'>Home</a></nav><ul class='news'>{links}</ul>{nxt}</body></html>"


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
