"""Every health state told by real crawls of loopback sites: the verdict, its reason, and robots skips not errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from crawler.catalogue import SourceConfig
from storage.database import make_engine, session_scope
from storage.health import health_of_sources
from storage.models import CrawlRun, Source
from tests.conftest import shared_fixture
from tests.crawler import helpers
from tests.crawler.helpers import crawl
from tests.crawler.sites import ON_TOPIC, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env

CLOUDFLARE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
              "<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script></body></html>")


def _src(site: LoopbackSite, name: str, kind: str, path: str, **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(db_url: str) -> dict:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            return {name: (h.state, h.reason, h.action) for name, h in health_of_sources(session).items()}
    finally:
        engine.dispose()


def _last_run(db_url: str, name: str) -> CrawlRun:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            source = session.scalars(select(Source).where(Source.name == name)).one()
            run = session.scalars(select(CrawlRun).where(CrawlRun.source_id == source.id)
                                  .order_by(CrawlRun.id.desc())).first()
            session.expunge(run)
            return run
    finally:
        engine.dispose()


def test_each_failure_mode_gets_its_own_health_state_and_reason(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site, disallow=["/private/"])
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    feed_articles = [*arts, make_articles(ON_TOPIC[2:3], prefix="/private", start_day=9)[0]]
    site.add("/good.xml", rss(site.base, feed_articles), content_type="application/rss+xml",
             headers={"Cache-Control": "public, max-age=900"})
    links = "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts)
    site.add("/listing", f"<html><body><ul class='news'>{links}</ul></body></html>")
    site.add("/forbidden.xml", "Forbidden", status=403, content_type="text/plain")
    site.add("/busy.xml", "Too many requests", status=429, content_type="text/plain",
             headers={"Retry-After": "120"})
    site.add("/challenge.xml", CLOUDFLARE, status=503, content_type="text/html")
    site.add("/gone.xml", "Gone", status=410, content_type="text/plain")
    site.add("/broken.xml", "this is { not a feed at all", content_type="application/xml")
    site.add("/private/listing", f"<html><body>{links}</body></html>")
    sources = [
        _src(site, "good", "feed", "/good.xml"),
        _src(site, "wrong-selector", "html", "/listing", links="ul.articles a"),
        _src(site, "forbidden", "feed", "/forbidden.xml"),
        _src(site, "busy", "feed", "/busy.xml"),
        _src(site, "challenge", "feed", "/challenge.xml"),
        _src(site, "missing", "feed", "/missing.xml"),
        _src(site, "gone", "feed", "/gone.xml"),
        _src(site, "broken", "feed", "/broken.xml"),
        _src(site, "disallowed", "html", "/private/listing", links="a"),
        SourceConfig(name="unreachable", publisher="Examples", kind="feed",
                     url=f"http://127.0.0.1:{_closed_port()}/feed.xml"),
    ]
    summaries = crawl(tmp_path, sources)
    health = _health(sqlite_env["MILAI_DATABASE_URL"])
    states = {name: h[0] for name, h in health.items()}
    assert states == {
        "good": "ok", "wrong-selector": "no_links", "forbidden": "blocked", "busy": "blocked",
        "challenge": "blocked", "missing": "not_found", "gone": "not_found", "broken": "not_well_formed",
        "disallowed": "blocked", "unreachable": "failing",
    }
    # robots.txt-disallowed links are skipped, never errors; the good source stays ok and says so
    assert summaries["good"]["errors"] == 0
    assert "1 link(s) skipped (robots)" in health["good"][1]
    good = _last_run(sqlite_env["MILAI_DATABASE_URL"], "good")
    assert (good.robots_skipped, good.max_age, good.listing_status) == (1, 900, 200)
    assert "/private/" not in " ".join(r.path for r in site.hits() if r.path != "/robots.txt")
    assert summaries["disallowed"]["errors"] == 0
    assert "robots.txt disallows" in health["disallowed"][1]
    # the reasons name what happened
    assert "never found any" in health["wrong-selector"][1] and "selectors" in health["wrong-selector"][2]
    assert "HTTP 403" in health["forbidden"][1]
    assert "HTTP 429" in health["busy"][1]
    busy = _last_run(sqlite_env["MILAI_DATABASE_URL"], "busy")
    assert (busy.listing_status, busy.retry_after) == (429, 120)  # adaptive polling honours it
    assert "Cloudflare" in health["challenge"][1]
    assert "HTTP 404" in health["missing"][1] and "HTTP 410" in health["gone"][1]
    assert "malformed feed" in health["broken"][1]
    assert health["unreachable"][1] == (
        "robots.txt could not be read (DownloadConnectionRefusedError), so nothing was fetched (RFC 9309)")
    for _state, reason, action in health.values():
        assert reason and "\n" not in reason and action


def test_a_listing_that_stops_yielding_links_is_layout_changed(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    layout = {"old": True}

    def listing(_: Request) -> Page:
        cls = "news" if layout["old"] else "cards"
        return Page("<html><body>" + "".join(f'<p class="{cls}"><a href="{a.path}">{a.title}</a></p>' for a in arts)
                    + "</body></html>")

    site.add("/listing", listing)
    src = _src(site, "layout", "html", "/listing", links="p.news a")
    crawl(tmp_path, [src])
    assert _health(sqlite_env["MILAI_DATABASE_URL"])["layout"][0] == "ok"
    layout["old"] = False
    crawl(tmp_path, [src])
    state, reason, _ = _health(sqlite_env["MILAI_DATABASE_URL"])["layout"]
    assert state == "layout_changed" and "earlier crawls found some" in reason
    # the operator sees it in `milai sources list`, with what to do
    env = {**os.environ, "MILAI_SOURCES": str(tmp_path / "sources-under-test.yaml"), "COLUMNS": "250"}
    table = subprocess.run([sys.executable, "-m", "milai", "sources", "list"], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert "layout changed: no links found although earlier crawls found some" in " ".join(table.split())
    assert "update the selectors" in " ".join(table.split())
    rows = json.loads(subprocess.run([sys.executable, "-m", "milai", "sources", "list", "--format", "json"], env=env,
                                     capture_output=True, text=True, timeout=60, check=True).stdout)
    assert rows[0]["health"]["state"] == "layout_changed" and rows[0]["health"]["since"]


def test_a_403_robots_txt_behind_akamai_is_blocked(sqlite_env, tmp_path: Path):
    """war.gov (recorded 2026-05-08): Akamai's 403 "Access Denied" page for robots.txt and sitemap.xml."""
    recorded = "akamai-403-access-denied-{}-2026-05-08.html"
    robots_body = shared_fixture("sites", "war.gov", recorded.format("robots.txt")).read_bytes()
    sitemap_body = shared_fixture("sites", "war.gov", recorded.format("sitemap.xml")).read_bytes()
    site = LoopbackSite().start()
    try:
        site.add("/robots.txt", robots_body, status=403, content_type="text/html")
        site.add("/sitemap.xml", sitemap_body, status=403, content_type="text/html")
        summaries = crawl(tmp_path, [_src(site, "war-gov", "sitemap", "/sitemap.xml")])
    finally:
        site.stop()
    state, reason, action = _health(sqlite_env["MILAI_DATABASE_URL"])["war-gov"]
    assert summaries["war-gov"]["status"] == "failed"
    assert state == "blocked" and "Akamai" in reason
    run = _last_run(sqlite_env["MILAI_DATABASE_URL"], "war-gov")
    assert (run.robots_status, run.listing_status, run.problem) == (403, 403, "challenge:Akamai")


def test_an_article_page_is_not_taken_for_a_listing(site: LoopbackSite, sqlite_env, tmp_path: Path):
    """An article that answers 403 is an error of that article, not a blocked source."""
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts[:1])
    site.add(arts[1].path, article_html(arts[1]), status=403)
    site.add("/good.xml", rss(site.base, arts), content_type="application/rss+xml")
    crawl(tmp_path, [_src(site, "mostly-good", "feed", "/good.xml")])
    state, reason, _ = _health(sqlite_env["MILAI_DATABASE_URL"])["mostly-good"]
    assert state == "ok" and "2 link(s), 1 new" in reason
