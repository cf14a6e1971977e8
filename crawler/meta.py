"""What the crawler's components tell each other: `request.meta` keys and the crawl-error counter.

Spiders set the keys, the middlewares and extensions read them; everyone counts errors the same way.
Plain names, no Scrapy components: any crawler module may import this one.
"""

from __future__ import annotations

from scrapy.statscollectors import StatsCollector

# request.meta keys shared by the spiders, the middlewares and the extensions
META_LISTING = "milai_listing"  # a feed/sitemap/listing/API request (conditional GET, never skipped)
META_ARTICLE = "milai_article"  # an article request, dropped when its canonical URL is known
META_INFO = "milai_info"  # what the listing said: title, date, summary, updated
META_NEXT_PAGE = "milai_next_page"  # a further listing page: dropped when the page before held nothing new
META_PDF = "milai_pdf"  # a request for a PDF link: too large -> an item without text, not an error
META_REVISE_ID = "milai_revise_id"  # the stored item a changed listing entry revises (set by the middleware)

# crawl stats of the error counter (crawler.extensions reads them into the run's counters and health)
STAT_ERRORS = "milai/errors"
STAT_LAST_ERROR = "milai/last_error"
STAT_LISTING_FAILURES = "milai/listing_failures"


def count_error(stats: StatsCollector, message: str, *, listing: bool) -> None:
    """Count a crawl error against the source; an error of a listing request also counts as a listing failure."""
    stats.inc_value(STAT_ERRORS)
    stats.set_value(STAT_LAST_ERROR, message)
    if listing:
        stats.inc_value(STAT_LISTING_FAILURES)
