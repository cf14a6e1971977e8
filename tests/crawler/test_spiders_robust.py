"""Failing sources and pages are logged and counted against their source; the other sources carry on."""

from __future__ import annotations

import time
from pathlib import Path

from crawler.catalogue import SourceConfig
from tests.crawler.helpers import article_hits, crawl, items, source_row
from tests.crawler.sites import ON_TOPIC, Article, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite, Page, Request


def _src(site: LoopbackSite, name: str, path: str) -> SourceConfig:
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
        _src(site, "good", "/good.xml"),
        _src(site, "server-error", "/error.xml"),
        _src(site, "malformed", "/malformed.xml"),
        _src(site, "empty", "/empty.xml"),
        _src(site, "redirect-loop", "/loop.xml"),
        _src(site, "timeout", "/slow.xml"),
        _src(site, "mixed", "/mixed.xml"),
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
