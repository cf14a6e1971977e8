"""`milai sources check NAME|URL` as a new user runs it, against loopback sites: what the spider finds, each
problem with a suggestion, robots.txt respected, exit status 0/1, and nothing stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import FAST_ENV, ROOT, items, write_catalogue
from tests.crawler.sites import OFF_TOPIC, ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "milai", "sources", "check", *args], cwd=ROOT,
                          env={**os.environ, **FAST_ENV, "COLUMNS": "200", **env}, capture_output=True, text=True,
                          timeout=120)


def _catalogue(tmp_path: Path, *sources: SourceConfig) -> dict[str, str]:
    return {"MILAI_SOURCES": str(write_catalogue(tmp_path / "user-sources.yaml", sources))}


def test_check_shows_status_robots_links_and_the_first_items(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site, disallow=["/private/"])
    arts = make_articles(ON_TOPIC[:3] + OFF_TOPIC + ON_TOPIC[3:])
    hidden = make_articles(ON_TOPIC[:1], prefix="/private", start_day=20)
    serve_articles(site, arts + hidden)
    site.add("/feed.xml", rss(site.base, arts + hidden), content_type="application/rss+xml")
    env = _catalogue(tmp_path, SourceConfig(name="ministry", publisher="Examples", kind="feed",
                                            url=site.url("/feed.xml"), language="en"))
    proc = _check(env, "ministry", "--limit", "3")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HTTP 200" in out and "robots.txt allowed" in out and "links 6 found" in out
    assert "first 3 item(s)" in out
    assert f"1. {arts[0].title}" in out and "2025-09-01 10:00 · en · on-topic" in out
    assert "no problems found" in out
    # only the first three articles were fetched; nothing was stored
    fetched = {r.path for r in site.hits() if r.path.startswith("/news/")}
    assert len(fetched) == 3
    assert items(sqlite_env["MILAI_DATABASE_URL"]) == []

    data = json.loads(_check(env, "ministry", "--format", "json").stdout)
    assert (data["http_status"], data["links"], data["ok"], data["health"]) == (200, 6, True, "ok")
    assert [i["title"] for i in data["items"]] == [a.title for a in arts[:5]]
    off = data["items"][3]
    assert off["relevant"] is False and off["verdict"].startswith("off-topic")
    assert data["items"][0]["language"] == "en" and data["items"][0]["date"].startswith("2025-09-01")


def test_check_on_a_broken_selector_names_the_problem_and_exits_1(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    rows = "".join(f'<div class="views-row"><a href="{a.path}">{a.title}</a></div>' for a in arts)
    site.add("/news", f"<html><body><main>{rows}</main></body></html>")
    env = _catalogue(tmp_path, SourceConfig(name="typo", publisher="Examples", kind="html", url=site.url("/news"),
                                            links="div.view-row a"))
    proc = _check(env, "typo")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 1
    assert "links 0 found by 'div.view-row a'" in out
    assert "✗ no links found on the listing" in out and "fix the selectors" in out
    # the same page with the right selector given on the command line works
    fixed = _check(env, "typo", "--links", "div.views-row a", "--format", "json")
    data = json.loads(fixed.stdout)
    assert fixed.returncode == 0 and data["links"] == 2 and data["problems"] == []


def test_check_an_ad_hoc_url_respects_robots_and_reports_http_errors(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site, disallow=["/members/"])
    site.add("/members/news", "<html><body><main><a href='/news/1'>One</a></main></body></html>")
    site.add("/old-feed.xml", "Gone", status=410, content_type="text/plain")
    proc = _check({}, site.url("/members/news"), "--format", "json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert data["robots"] == "disallows the listing URL" and data["health"] == "blocked"
    assert "/members/news" not in [r.path for r in site.hits()]
    gone = json.loads(_check({}, site.url("/old-feed.xml"), "--format", "json").stdout)
    assert (gone["kind"], gone["http_status"], gone["health"]) == ("feed", 410, "not_found")
    assert "has moved" in gone["problems"][0]["suggestion"]


def test_check_an_unknown_name_suggests_the_nearest(sqlite_env, tmp_path: Path):
    env = _catalogue(tmp_path, SourceConfig(name="nato-news", publisher="NATO", kind="feed",
                                            url="http://127.0.0.1:9/rss.xml"))
    proc = _check(env, "nato-new")
    assert proc.returncode == 2 and "did you mean 'nato-news'?" in proc.stderr


def _paginated(site: LoopbackSite, pages: int, per_page: int = 2, next_css: str = "next") -> list:
    robots(site)
    arts = make_articles((ON_TOPIC * 3)[: pages * per_page])
    serve_articles(site, arts)
    site.add("/about", "<html><body><main><p>About the ministry</p></main></body></html>")
    for n in range(1, pages + 1):
        rows = "".join(f'<div class="views-row"><a href="{a.path}">{a.title}</a></div>'
                       for a in arts[(n - 1) * per_page: n * per_page])
        nxt = f"<a class='{next_css}' href='/list?page={n + 1}'>next</a><a class='about' href='/about'>about</a>"
        site.add("/list" if n == 1 else f"/list?page={n}", f"<html><body><main>{rows}</main>{nxt}</body></html>")
    return arts


def test_check_follows_next_pages_up_to_max_pages_and_counts_links_per_page(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    _paginated(site, pages=4)
    env = _catalogue(tmp_path, SourceConfig(name="paged", publisher="Examples", kind="html", url=site.url("/list"),
                                            links="main .views-row a", next_page="a.next", max_pages=3))
    proc = _check(env, "paged", "--limit", "2")
    out = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "links 6 found by 'main .views-row a'" in out
    assert "pages 3 listing page(s), links per page 1: 2, 2: 2, 3: 2 (max_pages 3 reached)" in out
    assert site.hits("/list?page=3") and not site.hits("/list?page=4")  # max_pages is a hard cap
    assert len({r.path for r in site.hits() if r.path.startswith("/news/")}) == 2  # --limit articles only
    data = json.loads(_check(env, "paged", "--format", "json").stdout)
    assert data["pages"] == [{"url": site.url("/list"), "links": 2}, {"url": site.url("/list?page=2"), "links": 2},
                             {"url": site.url("/list?page=3"), "links": 2}]
    assert (data["links"], data["next_page"], data["max_pages"], data["ok"]) == (6, True, 3, True)
    assert items(sqlite_env["MILAI_DATABASE_URL"]) == []


def test_check_names_a_next_page_selector_that_leads_to_a_page_without_links(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    _paginated(site, pages=2)
    env = _catalogue(tmp_path, SourceConfig(name="paged", publisher="Examples", kind="html", url=site.url("/list"),
                                            links="main .views-row a", next_page="a.about", max_pages=3))
    proc = _check(env, "paged", "--format", "json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert data["pages"] == [{"url": site.url("/list"), "links": 2}, {"url": site.url("/about"), "links": 0}]
    [problem] = data["problems"]
    assert problem["problem"] == f"listing page 2 ({site.url('/about')}) has no links the selectors find"
    assert "check 'next_page'" in problem["suggestion"]
    text = " ".join(_check(env, "paged").stdout.split())
    assert "links per page 1: 2, 2: 0" in text and "✗ listing page 2" in text
