"""The json kind: GET and POST APIs, page and offset paging that stops when nothing new (or a short page) comes."""

from __future__ import annotations

import json
from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl
from tests.crawler.sites import (
    ON_TOPIC,
    make_articles,
    robots,
    serve_articles,
)
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env



def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def _listing_paths(site: LoopbackSite, prefix: str) -> list[str]:
    return [r.path for r in site.hits() if r.path.startswith(prefix)]


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
