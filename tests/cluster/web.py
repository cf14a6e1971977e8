"""A loopback web of many small sources (one RSS feed each, distinct articles) that counts every fetch."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from crawler.catalogue import SourceConfig
from tests.crawler.sites import Article, article_html, rss
from tests.support.site import LoopbackSite, Page, Request

WORDS = (
    "the ministry said delegation council committee report meeting treaty weapons autonomous systems human "
    "control military artificial intelligence defence minister government state states agreement principle "
    "law review training operator navy army air force drone sensor target decision responsibility legal "
    "international humanitarian security peace conference geneva york session chair text proposal support "
    "oppose vote resolution members experts group talks week year month budget research program project "
    "industry company contract test trial exercise partner alliance strategy policy framework standard "
    "risk safety ethics transparency accountability oversight parliament debate question answer statement "
    "press release spokesperson office embassy capital city region border coast mission deployment unit "
    "officer soldier crew ship aircraft vehicle software data model algorithm network cyber space satellite"
).split()


def article_text(seed: int, paragraphs: int = 3) -> list[str]:
    """Paragraphs of seeded random words: every seed gives a text far from every other (no near-duplicates)."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(4):
            words = [rng.choice(WORDS) for _ in range(rng.randint(12, 20))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return out


class Web:
    """`sources` feeds of `per_source` articles each on one loopback server; `delay` slows article answers."""

    def __init__(self, site: LoopbackSite, sources: int, per_source: int, *, delay: float = 0.0,
                 prefix: str = "web") -> None:
        self.site = site
        self.delay = delay
        self.names = [f"{prefix}-{i:03d}" for i in range(sources)]
        self.article_paths: list[str] = []
        base = datetime(2025, 9, 1, 10, tzinfo=UTC)
        for i, name in enumerate(self.names):
            articles = []
            for j in range(per_source):
                path = f"/{name}/news/{j:03d}"
                when = base + timedelta(hours=i * per_source + j)
                articles.append(Article(path, f"{name} statement {j} on military artificial intelligence",
                                        article_text(i * 1000 + j), date=when))
            for a in articles:
                self._serve(a)
                self.article_paths.append(a.path)
            site.add(f"/{name}/feed.xml", rss(site.base, articles), content_type="application/rss+xml")
        site.add("/robots.txt", "User-agent: *\nDisallow:\n", content_type="text/plain")

    def _serve(self, article: Article) -> None:
        body = article_html(article, self.site.base)
        if not self.delay:
            self.site.add(article.path, body)
            return

        def slow(_request: Request) -> Page:
            time.sleep(self.delay)
            return Page(body)

        self.site.add(article.path, slow)

    def sources(self) -> list[SourceConfig]:
        return [SourceConfig(name=n, publisher="Loopback", kind="feed", url=self.site.url(f"/{n}/feed.xml"),
                             language="en") for n in self.names]

    def article_fetches(self) -> Counter[str]:
        """GETs per article path so far."""
        paths = set(self.article_paths)
        return Counter(r.path for r in list(self.site.requests) if r.method == "GET" and r.path in paths)
