"""Fallback, never silent: a configured feed that keeps answering 404 is replaced by the feed the site's home
page announces; the crawl stores its items, health says "using discovered … since …", and so does the operator
alert of that change (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from alerts.dispatch import send_due
from crawler.catalogue import SourceConfig
from milai.config import Settings
from storage.database import make_engine, session_scope
from storage.health import health_of_sources
from storage.models import CrawlRun, Source
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items, source_row
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite
from tests.support.smtp import SmtpServer

sqlite_env = helpers.sqlite_env


def test_a_feed_that_keeps_failing_is_replaced_by_the_one_the_site_announces(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    site.add("/", "<html><head><link rel='alternate' type='application/rss+xml' href='/rss/all.xml'></head>"
             "<body><p>Ministry of Examples</p></body></html>")
    site.add("/rss/all.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name="moved-feed", publisher="Examples", kind="feed", url=site.url("/cps/rss/old.xml"),
                       language="en")
    db = sqlite_env["MILAI_DATABASE_URL"]
    with SmtpServer() as smtp:
        settings = Settings(smtp_url=smtp.url(), admin_email="ops@example.org")
        for _ in range(3):  # not found, three times: no discovery yet
            assert crawl(tmp_path, [src])["moved-feed"]["new"] == 0
        assert not site.hits("/rss/all.xml")
        send_due(settings)
        assert [m["Subject"] for m in smtp.messages] == ["MilAI Watch: source moved-feed is not found"]

        summary = crawl(tmp_path, [src])["moved-feed"]
        assert (summary["status"], summary["new"]) == ("ok", 2)
        assert {i.title for i in items(db)} == {a.title for a in arts}
        engine = make_engine(db)
        with session_scope(engine) as session:
            health = health_of_sources(session)["moved-feed"]
            source = session.scalars(select(Source).where(Source.name == "moved-feed")).one()
            assert source.fallback["entry"] == {"kind": "feed", "url": site.url("/rss/all.xml")}
            runs = list(session.scalars(select(CrawlRun).where(CrawlRun.source_id == source.id)))
        assert health.state == "ok"
        assert health.reason.startswith(f"using discovered feed {site.url('/rss/all.xml')} since ")
        assert "the configured URL kept failing" in health.reason
        assert len(runs) == 4  # discovery records no run of its own
        send_due(settings)
        assert len(smtp.messages) == 2
        recovered = smtp.messages[1]
        assert recovered["Subject"] == "MilAI Watch: source moved-feed is ok"
        assert "using discovered feed" in recovered.get_content()

        # later crawls keep using the replacement, without discovering again
        site.clear_log()
        crawl(tmp_path, [src])
        assert site.hits("/rss/all.xml") and not site.hits("/cps/rss/old.xml") and not site.hits("/")
        engine.dispose()


def test_a_listing_back_at_its_url_is_probed_without_its_next_pages_and_crawled_again(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    """Through `python -m crawler.runner`'s path (crawler.runner): an html listing that disappeared, the
    discovered feed meanwhile, then the listing back (two pages): one probe request for its first page only,
    then the crawl of both pages, health "back on the configured URL"."""
    from crawler.fallback import PROBE_FIRST

    robots(site)
    arts = make_articles(ON_TOPIC[:4])
    serve_articles(site, arts)
    site.add("/", "<html><head><link rel='alternate' type='application/rss+xml' href='/rss/all.xml'></head>"
             "<body><p>Ministry of Examples</p></body></html>")
    site.add("/rss/all.xml", rss(site.base, arts[:2]), content_type="application/rss+xml")
    src = SourceConfig(name="moved-list", publisher="Examples", kind="html", url=site.url("/press/list"),
                       language="en", links="main .news a", next_page="a.next", max_pages=2)
    db = sqlite_env["MILAI_DATABASE_URL"]
    for _ in range(3):  # not found
        crawl(tmp_path, [src])
    assert crawl(tmp_path, [src])["moved-list"]["new"] == 2  # discovery, then the discovered feed
    for _ in range(PROBE_FIRST - 1):
        crawl(tmp_path, [src])

    def page(items: list, more: str) -> str:
        links = "".join(f"<li><a href='{a.path}'>{a.title}</a></li>" for a in items)
        return f"<html><body><nav><a href='/about'>About</a></nav><main><ul class='news'>{links}</ul>{more}</main>"

    site.add("/press/list", page(arts[2:3], "<a class='next' href='/press/list?page=2'>next</a>"))
    site.add("/press/list?page=2", page(arts[3:], ""))
    site.clear_log()
    summary = crawl(tmp_path, [src])["moved-list"]
    assert (summary["status"], summary["new"], summary["links"]) == ("ok", 2, 2)
    assert len(site.hits("/press/list")) == 2  # the probe (first page only), then the crawl
    assert len(site.hits("/press/list?page=2")) == 1  # the crawl's second page; the probe did not follow it
    assert not site.hits("/rss/all.xml")
    source, runs = source_row(db, "moved-list")
    assert source.fallback is None
    assert runs[-1].health_reason.startswith(f"back on the configured URL {site.url('/press/list')} ")
    assert len(runs) == 3 + 1 + (PROBE_FIRST - 1) + 1
