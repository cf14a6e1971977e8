"""The normal source that every hostile-source test crawls beside its hostile ones, and small builders of
hostile feeds (tests/crawler/test_hostile_sources.py, test_hostile_probes.py)."""

from __future__ import annotations

import random

from crawler.catalogue import SourceConfig
from storage.models import Item
from tests.crawler.sites import Article, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite


def source_on(site: LoopbackSite, name: str, path: str, kind: str = "feed", **kw: object) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


WORDS = ("ministry delegation treaty council review summit budget report vessel training exercise harbour "
         "partners agenda minister secretary committee framework assessment programme capability research "
         "cooperation statement meeting resolution members regional security export licence").split()


def distinct_text(n: int) -> list[str]:
    """Paragraphs of their own (no near-duplicate of any other article in these tests)."""
    rng = random.Random(n)
    return [" ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + "." for _ in range(3)]


def normal_source(site: LoopbackSite, count: int = 3) -> tuple[SourceConfig, list[Article]]:
    """The normal source beside the hostile ones: a feed of `count` articles on its own site."""
    robots(site)
    articles = make_articles([(f"Normal source statement {n}", distinct_text(n)) for n in range(count)],
                             prefix="/normal")
    serve_articles(site, articles)
    site.add("/normal.xml", rss(site.base, articles), content_type="application/rss+xml")
    return source_on(site, "normal", "/normal.xml"), articles


def assert_normal_in_full(summary: dict, stored: list[Item], articles: list[Article]) -> None:
    assert (summary["status"], summary["new"], summary["errors"]) == ("ok", len(articles), 0), summary
    assert {a.title for a in articles} <= {i.title for i in stored}


def feed_of_links(base: str, links: list[str]) -> str:
    entries = "".join(f"<item><title>Entry {n}</title><link>{link}</link></item>" for n, link in enumerate(links))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>' \
           f"<description>d</description>{entries}</channel></rss>"
