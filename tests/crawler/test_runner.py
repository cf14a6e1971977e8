"""The runner entry point (`python -m crawler.runner`), source selection, and the scrapy-redis frontier."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from crawler.catalogue import SourceConfig
from crawler.runner import CrawlError, select_sources
from tests.crawler import helpers
from tests.crawler.helpers import ROOT, article_hits, crawl, items, write_catalogue
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.required import unavailable
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _cfg(name: str, enabled: bool = True) -> SourceConfig:
    return SourceConfig(name=name, publisher="P", kind="feed", url="http://127.0.0.1:9/feed", enabled=enabled)


def test_select_sources_skips_disabled_unless_named_and_rejects_unknown():
    cat = [_cfg("alpha"), _cfg("beta", enabled=False)]
    assert [s.name for s in select_sources(cat, None)] == ["alpha"]
    assert [s.name for s in select_sources(cat, ["beta"])] == ["beta"]
    with pytest.raises(CrawlError, match="nope"):
        select_sources(cat, ["alpha", "nope"])


def test_cli_entry_point_prints_json_and_names_unknown_sources(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:1])
    serve_articles(site, arts)
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name="cli-feed", publisher="P", kind="feed", url=site.url("/feed.xml"), language="en")
    result = crawl(tmp_path, [src], names=["cli-feed"], cli=True)
    assert result["cli-feed"]["new"] == 1 and result["cli-feed"]["status"] == "ok"

    catalogue = write_catalogue(tmp_path / "c.yaml", [src])
    proc = subprocess.run(
        [sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue), "--source", "no-such-source"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, **helpers.FAST_ENV},
    )
    assert proc.returncode == 2 and "no-such-source" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.redis
def test_crawl_with_scrapy_redis_frontier(site: LoopbackSite, sqlite_env, tmp_path: Path):
    redis = pytest.importorskip("redis")
    db = 7
    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{db}")
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unavailable("MILAI_REQUIRE_REDIS", f"no Redis on 127.0.0.1:6379: {exc!r}")
    name = f"redis-feed-{uuid.uuid4().hex[:8]}"
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml")
    src = SourceConfig(name=name, publisher="P", kind="feed", url=site.url("/feed.xml"), language="en")
    try:
        env = {"MILAI_REDIS_URL": f"redis://127.0.0.1:6379/{db}"}
        assert crawl(tmp_path, [src], env=env)[name]["new"] == 2
        # a finished crawl leaves no frontier behind (crawler.frontier): what is known lives in the database
        assert not client.exists(f"milai:frontier:{name}:dupefilter")
        assert not client.exists(f"milai:frontier:{name}:requests")
        site.clear_log()
        summary = crawl(tmp_path, [src], env=env)[name]
        assert summary["status"] == "ok" and summary["links"] == 2 and article_hits(site) == []
        assert len(items(sqlite_env["MILAI_DATABASE_URL"])) == 2
    finally:
        for key in client.scan_iter(f"{name}:*"):
            client.delete(key)


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")



class FreezeProbe:
    """A Scrapy extension for the test below: writes, when its spider opens, how many objects the collector has
    frozen in the crawl process."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def from_crawler(cls, crawler):  # type: ignore[no-untyped-def]
        from scrapy import signals

        probe = cls(crawler.settings.get("FREEZE_PROBE_FILE"))
        crawler.signals.connect(probe.opened, signal=signals.spider_opened)
        return probe

    def opened(self, spider) -> None:  # type: ignore[no-untyped-def]
        import gc

        Path(self.path).write_text(str(gc.get_freeze_count()), encoding="ascii")


def test_a_crawl_process_freezes_its_start_up_objects_before_the_crawl(site: LoopbackSite, sqlite_env,
                                                                         tmp_path: Path):
    """Imports, settings, spiders and lexicons are set aside before the reactor starts (milai.heap), so the full
    collections of a crawl walk only what its items made (bench/crawl: 3.6 -> 2.1 s of garbage collection in a
    1,500-article crawl)."""
    from crawler.settings import EXTENSIONS

    robots(site)
    arts = make_articles(ON_TOPIC[:1])
    serve_articles(site, arts)
    site.add("/feed.xml", rss(site.base, arts), content_type="application/rss+xml")
    probe = tmp_path / "frozen.txt"
    result = crawl(tmp_path, [SourceConfig(name="feed", publisher="P", kind="feed", url=site.url("/feed.xml"))],
                   overrides={"EXTENSIONS": {**EXTENSIONS, f"{__name__}.FreezeProbe": 999},
                              "FREEZE_PROBE_FILE": str(probe)})
    assert result["feed"]["new"] == 1
    assert int(probe.read_text(encoding="ascii")) > 10_000
