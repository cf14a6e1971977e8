"""Fallback, never silent: a source whose configured URL keeps failing (not found, not well-formed, or no links
where there were links: storage.health.needs_fallback) is crawled through what discovery finds on the same
site, and its health says "using discovered … since …" (also in the operator alert of that change).

Every so many crawls on the fallback the configured URL is probed (a link-counting copy of the source's own
spider: nothing followed, stored or recorded). When it lists links again the fallback is dropped and the
configured entry is crawled, its health saying "back on the configured URL" (storage.health tells the operator
of that change; the note waits in `sources.fallback` until a run of the configured entry records a verdict, so
a worker stopped between the probe and the crawl loses nothing). A failed probe records no verdict -- the
source stays on its fallback, ok, no flapping -- and doubles the interval to the next probe, up to PROBE_MAX
crawls.

`choose` runs these steps for one crawl of one source in the caller's CrawlerProcess (the runner's and the
worker's) and gives the entry to crawl: `plan` says whether to crawl the catalogue entry, the stored
replacement, to discover first or to probe first; `after_discovery` and `after_probe` act on what was found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from sqlalchemy import Engine
from twisted.internet import defer, threads

from crawler.catalogue import SourceConfig
from crawler.meta import META_NEXT_PAGE
from crawler.settings import NOT_A_CRAWL
from crawler.spiders import SPIDERS, SourceSpider
from storage.database import session_scope
from storage.health import active_fallback, needs_fallback, probe_failed, set_fallback, store_fallback

logger = logging.getLogger(__name__)

PRIMARY, FALLBACK, DISCOVER, PROBE = "primary", "fallback", "discover", "probe"
PROBE_FIRST = 3  # crawls on a fallback before the configured URL is first probed again
PROBE_MAX = 64  # the interval doubles after each failed probe, up to this many crawls
PROBE_LISTINGS = 3  # listing requests a probe may send (a sitemap index and two of its sitemaps)
# what a discovered entry may not take over from the configured one (they describe the old URL's layout)
_KIND_FIELDS = ("links", "link_regex", "link_template", "next_page", "item_selector", "title_selector",
                "date_selector", "summary_selector", "method", "body", "items", "link_field", "title_field",
                "date_field", "summary_field", "link_prefix", "page_param", "pattern")


@dataclass(frozen=True)
class Choice:
    """The entry one crawl of a source uses: the catalogue's, or a discovered replacement (`fallback`)."""

    entry: SourceConfig
    fallback: bool = False
    # the catalogue entry's URL: its origin alone may be private (crawler.guard), never the discovered one's
    configured_url: str | None = None

    def spider_kwargs(self) -> dict[str, Any]:
        return {"source": self.entry, "fallback": self.fallback,
                "configured_url": self.configured_url or self.entry.url}


def replacement(source: SourceConfig, entry: dict[str, Any]) -> SourceConfig:
    """The catalogue entry `source` crawled through a discovered `entry` (kind, URL, selectors) instead."""
    kept = source.model_dump(exclude={"kind", "url", *_KIND_FIELDS})
    return SourceConfig.model_validate({**kept, **entry})


def plan(engine: Engine, source: SourceConfig) -> tuple[str, SourceConfig]:
    """(what to do, the entry to crawl) for one source of this crawl; counts the crawls on a fallback."""
    with session_scope(engine) as session:
        if needs_fallback(session, source.name):  # failing as configured (or as replaced): look again
            return DISCOVER, source
        current = active_fallback(session, source.name, source.url)
        if current is None:
            return PRIMARY, source
        try:
            chosen = replacement(source, current["entry"])
        except ValueError:  # a stored replacement the catalogue rules no longer accept
            logger.warning("source %s: stored fallback is no longer valid; crawling the catalogue entry", source.name)
            return PRIMARY, source
        crawls, every = int(current.get("crawls", 1)), int(current.get("probe_every", PROBE_FIRST))
        if crawls >= every:
            return PROBE, source
        store_fallback(session, source.name, {**current, "crawls": crawls + 1})
        return FALLBACK, chosen


def after_discovery(engine: Engine, source: SourceConfig, candidates: list[Any]) -> SourceConfig | None:
    """The best discovered candidate on the source's own site, stored as its fallback; None when none."""
    host = urlsplit(source.url).hostname
    for candidate in candidates:
        if urlsplit(candidate.url).hostname != host or candidate.url == source.url:
            continue
        try:
            chosen = replacement(source, candidate.entry())
        except ValueError:
            continue
        with session_scope(engine) as session:
            set_fallback(session, source.name, source.url, candidate.entry(), candidate.found,
                         probe_every=PROBE_FIRST)
        logger.warning("source %s keeps failing at %s: crawling discovered %s %s (%s)", source.name, source.url,
                       candidate.kind, candidate.url, candidate.found)
        return chosen
    logger.warning("source %s keeps failing and discovery found nothing else on %s", source.name, host)
    return None


def after_probe(engine: Engine, source: SourceConfig, links: int | None) -> Choice:
    """Back to the catalogue entry when the probe of its URL found `links`; else stay on the fallback and
    probe half as often (at most every PROBE_MAX crawls). `links` None: the probe did not finish (a shutdown),
    nothing is changed and the next crawl probes again."""
    with session_scope(engine) as session:
        current = active_fallback(session, source.name, source.url)
        if current is None:  # dropped meanwhile (another worker, a catalogue edit)
            return Choice(source)
        entry = current.get("entry") or {}
        if links is None:
            return Choice(replacement(source, entry), fallback=True, configured_url=source.url)
        if links > 0:  # the next run of the catalogue entry says so and forgets the fallback (storage.health)
            dropped = f"{entry.get('kind', '?')} {entry.get('url', '?')}"
            store_fallback(session, source.name, {"url": source.url, "returned_from": dropped})
            logger.warning("source %s: the configured URL %s lists %d link(s) again; dropping the discovered %s",
                           source.name, source.url, links, dropped)
            return Choice(source)
        every = probe_failed(session, source.name, cap=PROBE_MAX)
    logger.info("source %s: the configured URL %s still lists nothing; next probe in %d crawls", source.name,
                source.url, every)
    return Choice(replacement(source, entry), fallback=True, configured_url=source.url)


# --- the probe: the source's own spider, counting the links of the configured URL --------------------------

class _Probe:
    """Mixed before a source spider: every listed link is counted, none followed or stored; no further
    listing pages; at most PROBE_LISTINGS listing requests. No crawl-run record, no pipelines."""

    custom_settings: ClassVar[dict[str, Any]] = NOT_A_CRAWL
    links_found = 0
    listings_sent = 0

    def entry(self, url: str, **info: Any) -> None:
        if super().entry(url, **info) is not None:  # type: ignore[misc]
            self.links_found += 1

    def listing_request(self, url: str, **kwargs: Any) -> scrapy.Request | None:
        if (kwargs.get("meta") or {}).get(META_NEXT_PAGE) or self.listings_sent >= PROBE_LISTINGS:
            return None
        request: scrapy.Request | None = super().listing_request(url, **kwargs)  # type: ignore[misc]
        self.listings_sent += request is not None
        return request


PROBES: dict[str, type[SourceSpider]] = {
    kind: type(f"Probe{spider.__name__}", (_Probe, spider), {"name": f"probe-{kind}"})
    for kind, spider in SPIDERS.items()
}


def _helper_entry(source: SourceConfig, what: str, **update: Any) -> SourceConfig:
    """`source` under a name of its own (its own frontier, no run record under the source's name)."""
    return source.model_copy(update={"name": f"{what}-{source.name}"[:119], **update})


Call = Callable[..., "defer.Deferred[Any]"]


@defer.inlineCallbacks
def choose(process: Any, engine: Engine, source: SourceConfig,
           call: Call = threads.deferToThread) -> Generator[Any, Any, Choice]:
    """The entry this crawl of `source` uses, after a discovery or a probe in `process` when one is due.
    `call` runs the database steps: in a thread (the worker) or at once (`defer.maybeDeferred`, the runner,
    whose CrawlerProcess stops when no crawl is left, so the next crawl must start in the same callback)."""
    mode, entry = yield call(plan, engine, source)
    if mode == DISCOVER:
        from crawler.discover import DiscoverySpider, ranked

        discovery = process.create_crawler(DiscoverySpider)  # its custom_settings: no crawl run, no pipelines
        yield process.crawl(discovery, source=_helper_entry(source, "discover", kind="html", links="a"))
        if not _finished(discovery):
            return Choice(source)
        candidates = ranked(list(getattr(discovery.spider, "candidates", [])))
        found = yield call(after_discovery, engine, source, candidates)
        return Choice(found, fallback=True, configured_url=source.url) if found is not None else Choice(source)
    if mode == PROBE:
        probe = process.create_crawler(PROBES[source.kind])
        yield process.crawl(probe, source=_helper_entry(source, "probe"))
        links = int(getattr(probe.spider, "links_found", 0)) if _finished(probe) else None
        choice: Choice = yield call(after_probe, engine, source, links)
        return choice
    return Choice(entry, fallback=mode == FALLBACK, configured_url=source.url)


def _finished(crawler: Any) -> bool:
    stats = getattr(crawler, "stats", None)
    return stats is not None and stats.get_value("finish_reason") == "finished"
