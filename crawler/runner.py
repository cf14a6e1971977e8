"""Run a crawl of catalogue sources in this process (one CrawlerProcess, one spider per source).

Twisted's reactor cannot restart, so long-lived callers run this in a fresh process:
`python -m crawler.runner [--source NAME]... [--catalogue FILE]` prints the summaries as JSON.
`run_crawl` takes the `Settings` from its caller; only `main` (the entry point) reads them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler import fallback
from crawler.catalogue import SourceConfig, catalogue_path, configured_catalogue, load_catalogue
from crawler.extensions.counters import STAT_STATUS, counters
from crawler.settings import build_settings
from crawler.spiders import SPIDERS
from milai.config import Settings
from milai.heap import freeze_startup_objects
from storage.database import engine_of, ensure_schema, session_scope
from storage.items import sync_sources

logger = logging.getLogger(__name__)


class CrawlError(ValueError):
    """A crawl that cannot start (unknown source names, bad catalogue)."""


@dataclass
class SourceSummary:
    name: str
    status: str
    requests: int = 0
    links: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    off_topic: int = 0
    errors: int = 0
    skipped: int = 0  # links that are not http(s) or too long
    robots_skipped: int = 0  # links robots.txt disallows (skipped, not errors)
    refused: int = 0  # requests the network guard refused (private addresses outside the source's origin)
    truncated: int = 0  # items stored with their text cut at MILAI_MAX_TEXT_CHARS
    error: str | None = None


def select_sources(catalogue: Sequence[SourceConfig], names: Sequence[str] | None) -> list[SourceConfig]:
    """The named sources (in catalogue order), or every enabled one."""
    if not names:
        return [s for s in catalogue if s.enabled]
    by_name = {s.name: s for s in catalogue}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise CrawlError(f"unknown source name(s): {', '.join(unknown)}")
    wanted = set(names)
    return [s for s in catalogue if s.name in wanted]


def run_crawl(
    settings: Settings,
    source_names: list[str] | None = None,
    *,
    catalogue: list[SourceConfig] | None = None,
    progress: Callable[[str, dict[str, int]], None] | None = None,
    overrides: dict[str, Any] | None = None,
    finished: Callable[[SourceSummary], None] | None = None,
) -> list[SourceSummary]:
    """Crawl the selected sources now (default: the catalogue `settings` name, the user's own merged over it);
    blocks until all are done. Call at most once per process.

    `finished` receives each source's summary as soon as that source is done (its crawl closed and its run
    recorded; a source that could not start, at once), in the order they finish; the list returned holds them
    all in catalogue order."""
    if catalogue is None:
        catalogue = configured_catalogue(settings)
    selected = select_sources(catalogue, source_names)
    engine = ensure_schema(engine_of(settings))
    with session_scope(engine) as session:
        sync_sources(session, catalogue)
    if not selected:
        return []
    extra: dict[str, Any] = {"MILAI_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    if progress is not None:
        extra["MILAI_PROGRESS"] = progress
    process = CrawlerProcess(build_settings(settings, {**extra, **(overrides or {})}))
    crawlers: list[tuple[SourceConfig, list[Crawler], str | None]] = []
    for source in selected:
        started: list[Crawler] = []
        try:
            done = _choose_then_crawl(process, engine, source, started)
            crawlers.append((source, started, None))
            if finished is not None:
                done.addBoth(_report_finished, finished, source, started)
        except Exception as exc:  # one broken source must not stop the others
            logger.exception("source %s could not start", source.name)
            crawlers.append((source, started, f"{type(exc).__name__}: {exc}"))
            if finished is not None:
                _report_finished(None, finished, source, started, f"{type(exc).__name__}: {exc}")
    freeze_startup_objects()  # imports, settings, spiders and lexicons: out of every later full collection
    process.start()
    return [_summary(source, started[-1] if started else None, error) for source, started, error in crawlers]


def _report_finished(
    result: Any, finished: Callable[[SourceSummary], None], source: SourceConfig, started: list[Crawler],
    error: str | None = None,
) -> Any:
    """Hand the source's summary to `finished` (a broken callback must not break the crawl); passes `result` on."""
    try:
        finished(_summary(source, started[-1] if started else None, error))
    except Exception:  # noqa: BLE001 - the display's problem, not the crawl's
        logger.exception("the 'source finished' callback failed for %s", source.name)
    return result


def _choose_then_crawl(
    process: CrawlerProcess, engine: Any, source: SourceConfig, started: list[Crawler],
) -> Deferred[Any]:
    """Crawl `source` through the entry crawler.fallback chooses (after a discovery or a probe of the configured
    URL when one is due; neither records a crawl run). The database steps run at once, in the reactor's
    callback: the process stops when no crawl is left, so the next one must start in the same callback. The
    Deferred fires when that crawl (or a failed choice) is over."""

    def crawl(choice: fallback.Choice) -> Any:
        crawler = process.create_crawler(SPIDERS[choice.entry.kind])
        started.append(crawler)
        return process.crawl(crawler, **choice.spider_kwargs())

    def failed(failure: Any) -> None:
        logger.error("source %s: crawl failed: %s", source.name, failure.getTraceback())

    chosen = fallback.choose(process, engine, source, call=defer.maybeDeferred)
    if chosen.called and isinstance(chosen.result, Failure):  # plan() failed before any crawl: say so at once
        failure = chosen.result
        chosen.addErrback(lambda _: None)
        failure.raiseException()
    return chosen.addCallback(crawl).addErrback(failed)


def _summary(source: SourceConfig, crawler: Crawler | None, error: str | None) -> SourceSummary:
    if crawler is None or crawler.stats is None:
        return SourceSummary(name=source.name, status="failed", error=error)
    stats = crawler.stats.get_stats()
    return SourceSummary(
        name=source.name,
        status=str(stats.get(STAT_STATUS, "failed")),
        error=stats.get("milai/last_error"),
        **counters(stats),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.runner", description=__doc__)
    parser.add_argument("--source", action="append", dest="sources", metavar="NAME", help="crawl only NAME")
    parser.add_argument("--catalogue", type=Path, help="sources YAML (default: MILAI_SOURCES or the bundled one)")
    parser.add_argument("--log-level", default=None, help="log level on stderr (default: MILAI_LOG_LEVEL)")
    args = parser.parse_args(argv)
    settings = Settings()  # the entry point: settings are read here, once, and passed down
    logging.basicConfig(
        level=(args.log_level or settings.log_level).upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        catalogue = load_catalogue(catalogue_path(args.catalogue or settings.sources))
        summaries = run_crawl(settings, args.sources, catalogue=catalogue)
    except (CrawlError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump([asdict(s) for s in summaries], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
