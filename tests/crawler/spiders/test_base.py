"""The catalogue spider base: failing sources and pages are logged and counted against their source while the
other sources carry on; PDF links (in listings and, with follow_pdfs, in article pages) and PDF responses
become items."""

from __future__ import annotations

import time
from pathlib import Path

from crawler.catalogue import SourceConfig
from crawler.pdf import PDF_MAX_BYTES
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items, source_row
from tests.crawler.sites import (
    ON_TOPIC,
    Article,
    make_articles,
    make_pdf,
    robots,
    rss,
    serve_articles,
)
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env


def _feed_src(site: LoopbackSite, name: str, path: str) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def test_broken_sources_and_pages_are_counted_while_others_succeed(
    site: LoopbackSite, milai_env, tmp_path: Path
):
    robots(site, disallow=["/private/"])
    good = make_articles(ON_TOPIC[:2])
    serve_articles(site, good)
    site.add("/good.xml", rss(site.base, good), content_type="application/rss+xml")
    site.add("/error.xml", "server exploded", status=500, content_type="text/plain")
    site.add("/malformed.xml", b"\x00\x01 this <is> not <<< a feed", content_type="application/rss+xml")
    site.add("/empty.xml", b"", content_type="application/rss+xml")
    site.add("/loop.xml", "", status=302, headers={"Location": "/loop.xml"})

    def slow(_req: Request) -> Page:
        time.sleep(5)
        return Page("<rss/>", content_type="application/rss+xml")

    site.add("/slow.xml", slow)
    # a feed whose pages fail in different ways: 500, giant, robots-disallowed; one page is fine
    bad_pages = [
        Article("/news/boom", "Boom", ["x"]),
        Article("/news/giant", "Giant", ["x"]),
        Article("/private/secret", "Secret", ["x"]),
        *make_articles(ON_TOPIC[2:3], start_day=15),
    ]
    serve_articles(site, bad_pages[3:])
    site.add("/news/boom", "no", status=500)
    site.add("/news/giant", b"<html><body>" + b"a" * (11 * 1024 * 1024) + b"</body></html>")
    site.add("/mixed.xml", rss(site.base, bad_pages), content_type="application/rss+xml")

    sources = [
        _feed_src(site, "good", "/good.xml"),
        _feed_src(site, "server-error", "/error.xml"),
        _feed_src(site, "malformed", "/malformed.xml"),
        _feed_src(site, "empty", "/empty.xml"),
        _feed_src(site, "redirect-loop", "/loop.xml"),
        _feed_src(site, "timeout", "/slow.xml"),
        _feed_src(site, "mixed", "/mixed.xml"),
    ]
    # 2 s: robots.txt must still answer in time on a loaded CI machine (unreachable robots.txt = disallow all)
    result = crawl(tmp_path, sources, env={"MILAI_DOWNLOAD_TIMEOUT": "2"})

    assert result["good"]["status"] == "ok" and result["good"]["new"] == 2
    for name in ("server-error", "malformed", "redirect-loop", "timeout"):
        assert result[name]["status"] == "failed", name
        assert result[name]["errors"] >= 1, name
        assert result[name]["error"], name
    assert "500" in result["server-error"]["error"]
    assert result["empty"]["status"] == "ok" and result["empty"]["errors"] == 0 and result["empty"]["links"] == 0
    mixed = result["mixed"]
    assert mixed["status"] == "ok"
    # the robots-disallowed page is skipped (robots), not an error (issue 11)
    assert (mixed["links"], mixed["new"], mixed["errors"], mixed["robots_skipped"]) == (4, 1, 2, 1)
    assert "/private/secret" not in article_hits(site, "/private/")
    assert len(items(milai_env["MILAI_DATABASE_URL"])) == 3

    src, runs = source_row(milai_env["MILAI_DATABASE_URL"], "server-error")
    assert src.consecutive_failures == 1 and src.last_error and src.last_success_at is None
    assert runs[-1].status == "failed" and runs[-1].errors >= 1


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


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
