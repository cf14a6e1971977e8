"""crawler/pdf.py: PDF links found in article pages become items when the source follows PDFs."""

from __future__ import annotations

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.sites import (
    ON_TOPIC,
    make_articles,
    make_pdf,
    robots,
    rss,
    serve_articles,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


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
