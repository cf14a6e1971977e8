"""`milai sources check`: crawl one source now, store nothing, and say what the spider finds.

The source's own spider runs with the crawl's network guard, robots.txt rules and extraction/relevance
pipelines, but without the skip-known filter, the crawl-run record, the HTTP cache or any store: it fetches
the listing and its next pages (up to the source's `max_pages`), counts the links the configured
selectors/paths find on each page, fetches the first `limit` articles and reports, for each, title, date,
language and relevance verdict, then every problem with a suggestion. One CrawlerProcess per call: run it
once per process (Twisted's reactor cannot restart).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Response

from crawler.catalogue import SourceConfig
from crawler.diagnosis import run_facts
from crawler.items import PageItem
from crawler.meta import META_ARTICLE, META_LISTING, META_NEXT_PAGE
from crawler.settings import ITEM_PIPELINES, build_settings
from crawler.spiders import SPIDERS
from storage.health import ACTIONS, OK, classify_run
from storage.models import CrawlRun

if TYPE_CHECKING:
    from milai.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 5
MANY_LINKS = 150  # an html listing whose selector matches more links than this probably catches navigation too
STAT_CHECK_LINKS = "milai/check_links"
STAT_NEXT_PAGE = "milai/check_next_page"
STAT_CAPPED = "milai/check_pages_capped"  # a next page beyond max_pages was dropped


@dataclass
class CheckedPage:
    """One listing page the check fetched and how many links its selectors/paths found on it."""

    url: str
    links: int


@dataclass
class CheckedItem:
    url: str
    title: str | None
    date: str | None
    date_origin: str
    language: str | None
    relevant: bool
    score: float
    why: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        topic = "on-topic" if self.relevant else "off-topic"
        return f"{topic} ({self.score:.2f})" + (f": {', '.join(self.why[:4])}" if self.why else "")


@dataclass
class CheckReport:
    source: str
    kind: str
    url: str
    http_status: int | None
    robots: str
    links: int
    robots_skipped: int
    health: str
    reason: str
    items: list[CheckedItem] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (problem, suggestion)
    next_page: bool = False  # a listing page asked for a next one
    pages: list[CheckedPage] = field(default_factory=list)  # the listing pages fetched, in order
    max_pages: int = 1

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = [{"problem": p, "suggestion": s} for p, s in self.problems]
        for item, checked in zip(data["items"], self.items, strict=True):
            item["verdict"] = checked.verdict
        return data


class FirstArticles:
    """Spider middleware (check only): count every listed link per listing page, pass the first `limit`
    articles, and the next listing pages up to the source's `max_pages` (a hard cap, whatever the spider)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.limit = crawler.settings.getint("MILAI_CHECK_LIMIT", DEFAULT_LIMIT)
        self.passed = 0
        self.next_pages = 0
        self.order: list[str] = []  # the URLs passed, in listing order (items are shown in that order)
        self.pages: list[CheckedPage] = []  # the listing pages and the links found on each, in the order fetched
        crawler.milai_check_order = self.order  # type: ignore[attr-defined]
        crawler.milai_check_pages = self.pages  # type: ignore[attr-defined]

    def _max_pages(self) -> int:
        source = getattr(self.crawler.spider, "source", None)
        return max(1, int(getattr(source, "max_pages", 1)))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        assert stats is not None
        page: CheckedPage | None = None
        if response is not None and response.meta.get(META_LISTING):
            page = CheckedPage(response.url, 0)
            self.pages.append(page)
        async for entry in result:
            if isinstance(entry, Request) and entry.meta.get(META_NEXT_PAGE):
                stats.set_value(STAT_NEXT_PAGE, True)
                if 1 + self.next_pages >= self._max_pages():
                    stats.set_value(STAT_CAPPED, True)
                    continue
                self.next_pages += 1
                yield entry
                continue
            article = isinstance(entry, Request) and entry.meta.get(META_ARTICLE)
            listed = isinstance(entry, PageItem) and entry.body is None and response is not None \
                and not response.meta.get(META_ARTICLE)
            if article or listed:
                stats.inc_value(STAT_CHECK_LINKS)
                if page is not None:
                    page.links += 1
                if self.passed >= self.limit:
                    continue
                self.passed += 1
                self.order.append(entry.url)
            yield entry


class Collect:
    """Item pipeline (check only, last): keep what the pipeline made of each item; nothing is stored."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.items: list[PageItem] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.milai_check_items = pipeline.items  # type: ignore[attr-defined]
        return pipeline

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PageItem):
            self.items.append(item)
        return item


def check_settings(limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The crawl settings for a check: the normal ones minus dedup, store, skip-known, run record and cache."""
    pipelines = {path: order for path, order in ITEM_PIPELINES.items()
                 if not path.endswith(("DedupPipeline", "StorePipeline"))}
    pipelines["crawler.check.Collect"] = 1000
    return {
        "ITEM_PIPELINES": pipelines,
        "SPIDER_MIDDLEWARES": {"crawler.check.FirstArticles": 950},
        "EXTENSIONS": {"crawler.diagnosis.ListingDiagnosis": 400},
        "HTTPCACHE_ENABLED": False,
        "MILAI_DATABASE_URL": "sqlite://",  # the pipelines' engines are never used: nothing is read or stored
        "MILAI_CHECK_LIMIT": limit,
        "CLOSESPIDER_TIMEOUT": 120,
    }


def _robots_verdict(stats: dict[str, Any]) -> str:
    status = stats.get("milai/robots_status")
    if stats.get("robotstxt/unreachable"):
        return "unreachable: nothing may be fetched this run (RFC 9309)"
    if stats.get("milai/listing_robots"):
        return "disallows the listing URL"
    if status in (401, 403):
        return f"robots.txt answers HTTP {status} (the site blocks automated clients)"
    if status is None:
        return "not fetched"
    if status >= 400:
        return f"no robots.txt (HTTP {status}): everything allowed"
    skipped = int(stats.get("milai/robots_skipped", 0))
    return "allowed" + (f"; {skipped} article link(s) disallowed (skipped)" if skipped else "")


def _checked(item: PageItem) -> CheckedItem:
    why = item.matches.get("why") if isinstance(item.matches, dict) else None
    phrases = [p for group in (why or {}).values() for p in group] if isinstance(why, dict) else []
    return CheckedItem(
        url=item.display_url or item.url, title=item.title or item.listing_title,
        date=item.published.isoformat() if item.published else None, date_origin=item.date_origin,
        language=item.language, relevant=item.relevant, score=round(item.score, 3), why=phrases,
    )


def _problems(source: SourceConfig, report: CheckReport, stats: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if report.health != OK:
        problems.append((report.reason, ACTIONS[report.health].replace("NAME", source.name)))
    if report.links and not report.items:
        problems.append(("links were found but no article could be fetched or read",
                         f"open one of the links in a browser; last error: {stats.get('milai/last_error') or '-'}"))
    if report.items:
        undated = sum(1 for i in report.items if not i.date)
        if undated:
            hint = "set 'date_selector' (listing) or check the article pages" if source.kind == "html" \
                else "the listing gives no dates and neither do the pages"
            problems.append((f"{undated} of {len(report.items)} items have no date", hint))
        untitled = sum(1 for i in report.items if not i.title)
        if untitled:
            problems.append((f"{untitled} of {len(report.items)} items have no title",
                             "set 'title_selector' or check the article pages"))
    most = max([p.links for p in report.pages] or [report.links])
    if source.kind == "html" and most > MANY_LINKS:
        problems.append((f"the selector matches {most} links on a page, probably navigation and site-wide blocks "
                         "too", "restrict 'links' to the listing's main region (e.g. 'main .views-row a')"))
    if source.kind == "html" and report.pages and report.pages[0].links:
        for n, page in enumerate(report.pages[1:], 2):
            if not page.links:
                problems.append((f"listing page {n} ({page.url}) has no links the selectors find",
                                 "check 'next_page': it may select another link than the next page's"))
    if source.language and report.items:
        other = [i.language for i in report.items if i.language and i.language != source.language]
        if len(other) > len(report.items) // 2:
            problems.append((f"most items are in {', '.join(sorted(set(other)))}, not {source.language}",
                             "fix 'language' in the entry"))
    return problems


def _report(source: SourceConfig, crawler: Crawler, limit: int) -> CheckReport:
    """What a finished check crawl of `source` found."""
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    facts = run_facts(stats)
    links = int(stats.get(STAT_CHECK_LINKS, 0))
    failed = bool(stats.get("milai/listing_failures")) and not links
    run = CrawlRun(status="failed" if failed else "ok", links=links, new=links,
                   robots_skipped=facts["robots_skipped"], listing_status=facts["listing_status"],
                   robots_status=facts["robots_status"], problem=facts["problem"],
                   error_summary=stats.get("milai/last_error"))
    health, reason = classify_run(run, linked_before=False)
    if health == OK:
        reason = f"{links} link(s) found"
    position = {url: n for n, url in enumerate(getattr(crawler, "milai_check_order", []))}
    items = sorted(getattr(crawler, "milai_check_items", []),
                   key=lambda i: position.get(i.requested_url or i.url, len(position)))
    report = CheckReport(
        source=source.name, kind=source.kind, url=source.url, http_status=facts["listing_status"],
        robots=_robots_verdict(stats), links=links, robots_skipped=facts["robots_skipped"], health=health,
        reason=reason, items=[_checked(i) for i in items[:limit]], next_page=bool(stats.get(STAT_NEXT_PAGE)),
        pages=list(getattr(crawler, "milai_check_pages", [])),
        max_pages=source.max_pages,
    )
    report.problems = _problems(source, report, stats)
    return report


def _process(settings: Settings, limit: int, overrides: dict[str, Any] | None) -> CrawlerProcess:
    return CrawlerProcess(build_settings(settings, {**check_settings(limit), **(overrides or {})}))


def check_source(source: SourceConfig, settings: Settings, *, limit: int = DEFAULT_LIMIT,
                 overrides: dict[str, Any] | None = None) -> CheckReport:
    """Crawl `source` once without storing anything and report what was found (call once per process)."""
    process = _process(settings, limit, overrides)
    crawler = process.create_crawler(SPIDERS[source.kind])
    process.crawl(crawler, source=source)
    process.start()
    return _report(source, crawler, limit)


@dataclass
class Discovery:
    """What `discover_and_check` found: the candidates (best first), the page's title, and the first candidate
    whose check found links without a problem that blocks it (with every report made on the way)."""

    candidates: list[Any] = field(default_factory=list)
    title: str | None = None
    page_status: int | None = None
    chosen: SourceConfig | None = None
    found: str | None = None
    reports: list[CheckReport] = field(default_factory=list)

    @property
    def report(self) -> CheckReport | None:
        return self.reports[-1] if self.reports else None


def usable(report: CheckReport) -> bool:
    """A candidate worth adding: links found and items read (warnings such as undated items are allowed)."""
    return report.health == OK and report.links > 0 and bool(report.items)


def discover_and_check(url: str, make_source: Any, settings: Settings, *, limit: int = DEFAULT_LIMIT,
                       overrides: dict[str, Any] | None = None) -> Discovery:
    """Discover what the site at `url` offers (crawler.discover), then check the candidates best first until
    one is usable; `make_source(candidate, title)` turns a candidate into a SourceConfig. One reactor run."""
    from crawler.discover import DiscoverySpider, ranked

    process = _process(settings, limit, overrides)
    result = Discovery()
    probe = SourceConfig(name="discover", publisher="-", kind="html", url=url, links="a")
    discovery = process.create_crawler(DiscoverySpider)

    def stop(_: Any = None) -> None:
        from twisted.internet import reactor as installed  # the one CrawlerProcess installed (never import it earlier)

        reactor: Any = installed  # Twisted types it as a module whose interface methods mypy cannot bind
        if reactor.running:
            reactor.stop()

    def failed(failure: Any) -> None:
        logger.error("discovery of %s failed: %s", url, failure.getErrorMessage())
        stop()

    def next_candidate(rest: list[Any]) -> Any:
        if not rest:
            return stop()
        candidate = rest.pop(0)
        source = make_source(candidate, result.title)
        crawler = process.create_crawler(SPIDERS[source.kind])

        def done(_: Any) -> Any:
            report = _report(source, crawler, limit)
            result.reports.append(report)
            if usable(report):
                result.chosen, result.found = source, candidate.found
                return stop()
            return next_candidate(rest)

        # checked as the source the operator asked for: only the typed URL's origin may be private, never one
        # the site announces (a page's <link rel=alternate> on an internal host is refused, so never added)
        return process.crawl(crawler, source=source, configured_url=url).addCallback(done)

    def discovered(_: Any) -> Any:
        spider = discovery.spider
        result.candidates = ranked(list(getattr(spider, "candidates", [])))
        result.title = getattr(spider, "title", None)
        result.page_status = getattr(spider, "page_status", None)
        return next_candidate(list(result.candidates))

    process.crawl(discovery, source=probe).addCallback(discovered).addErrback(failed)
    process.start(stop_after_crawl=False)
    return result
