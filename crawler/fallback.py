"""Fallback, never silent: a source whose configured URL keeps failing (not found, not well-formed, or no links
where there were links: storage.health.needs_fallback) is crawled through what discovery finds on the same
site, and its health says "using discovered … since …" (also in the operator alert of that change).

`plan` tells the runner, per source, whether to crawl the catalogue entry, an earlier discovered replacement,
or to discover first; `after_discovery` turns the discovery spider's best candidate into the entry to crawl.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from crawler.catalogue import SourceConfig
from storage.database import session_scope
from storage.health import active_fallback, needs_fallback, set_fallback

logger = logging.getLogger(__name__)

PRIMARY, FALLBACK, DISCOVER = "primary", "fallback", "discover"
# what a discovered entry may not take over from the configured one (they describe the old URL's layout)
_KIND_FIELDS = ("links", "link_regex", "link_template", "next_page", "item_selector", "title_selector",
                "date_selector", "summary_selector", "method", "body", "items", "link_field", "title_field",
                "date_field", "summary_field", "link_prefix", "page_param", "pattern")


def replacement(source: SourceConfig, entry: dict[str, Any]) -> SourceConfig:
    """The catalogue entry `source` crawled through a discovered `entry` (kind, URL, selectors) instead."""
    kept = source.model_dump(exclude={"kind", "url", *_KIND_FIELDS})
    return SourceConfig.model_validate({**kept, **entry})


def plan(engine: Engine, source: SourceConfig) -> tuple[str, SourceConfig]:
    """(what to do, the entry to crawl) for one source of this crawl."""
    with session_scope(engine) as session:
        due = needs_fallback(session, source.name)
        current = active_fallback(session, source.name, source.url)
    if due:  # failing as configured (or as replaced): look again
        return DISCOVER, source
    if current is not None:
        try:
            return FALLBACK, replacement(source, current["entry"])
        except ValueError:  # a stored replacement the catalogue rules no longer accept
            logger.warning("source %s: stored fallback is no longer valid; crawling the catalogue entry", source.name)
    return PRIMARY, source


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
            set_fallback(session, source.name, source.url, candidate.entry(), candidate.found)
        logger.warning("source %s keeps failing at %s: crawling discovered %s %s (%s)", source.name, source.url,
                       candidate.kind, candidate.url, candidate.found)
        return chosen
    logger.warning("source %s keeps failing and discovery found nothing else on %s", source.name, host)
    return None
