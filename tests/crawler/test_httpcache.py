"""The HTTP cache policy: a steady-state poll costs one conditional request per source; robots.txt is kept
for a day while listings always revalidate."""

from __future__ import annotations

import time
from email.utils import formatdate

from scrapy import Request
from scrapy.http import Response
from scrapy.settings import Settings as ScrapySettings

from crawler.catalogue import SourceConfig
from crawler.httpcache import ROBOTSTXT_CACHE_SECS, MilaiCachePolicy
from tests.crawler import helpers
from tests.crawler.helpers import crawl
from tests.crawler.sites import (
    ON_TOPIC,
    make_articles,
    robots,
    rss,
    serve_articles,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env



def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


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
