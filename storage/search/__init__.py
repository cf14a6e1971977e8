"""Full-text search over the archive: SQLite FTS5 or PostgreSQL tsvector behind one interface.

`search_items(session, ItemFilter(...))` returns one page of hits with keyset (cursor) pagination:
text queries are ordered by rank, others by publication date (newest first, undated last).

Both engines index the same thing: `items.search_title` / `items.search_text`, the item's text
normalised in Python by storage.textnorm (casefold, accents stripped, stemmed in the item's language,
Korean particles stripped, one token per Han character), kept up to date by storage.search_index.
The user's query is normalised the same way before it becomes an FTS5 MATCH or a tsquery, so search
agrees with subscriptions (storage.query.CompiledQuery). Snippets are cut from the original text.

The modules, in the order a search runs through them: `types` (filter, hits, limits, error),
`filters` (validation, SQL conditions), `userquery` (text → AST), `variants` (AST → normalised
tokens), `fulltext` (→ FTS5 MATCH / tsquery), `ranking` (ranked windows), `cursors`, `snippets`,
`pages` (`search_items`), `bydate` (date order), `stats` (counts and facets), `engines` (the
dialects' pieces), `dates`. The JSON / CSV shape of an item is the web side's: api/presentation.py.
"""

from __future__ import annotations

from storage.index_terms import search_columns
from storage.languages import iso639_1  # re-exported for the catalogue and subscriptions
from storage.search.cursors import id_fits, query_fingerprint
from storage.search.dates import parse_date
from storage.search.fulltext import to_fts5, to_tsquery
from storage.search.pages import search_items
from storage.search.snippets import highlight_html
from storage.search.stats import (
    Count,
    SearchStats,
    archive_languages,
    archive_publishers,
    count_items,
    search_stats,
)
from storage.search.types import (
    INT64_MAX,
    INT64_MIN,
    MAX_CURSOR_LENGTH,
    MAX_FILTER_LENGTH,
    MAX_LIMIT,
    SORTS,
    ItemFilter,
    ItemHit,
    SearchError,
    SearchPage,
)
from storage.search.userquery import clean_query, parse_user_query
from storage.search.variants import DEFAULT_QUERY_LANGUAGES, query_languages
from storage.search_index import reindex

__all__ = [
    "SORTS",
    "Count",
    "archive_languages",
    "archive_publishers",
    "SearchStats",
    "count_items",
    "search_stats",
    "DEFAULT_QUERY_LANGUAGES",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_CURSOR_LENGTH",
    "MAX_FILTER_LENGTH",
    "MAX_LIMIT",
    "ItemFilter",
    "ItemHit",
    "SearchError",
    "SearchPage",
    "clean_query",
    "highlight_html",
    "id_fits",
    "iso639_1",
    "parse_date",
    "parse_user_query",
    "query_fingerprint",
    "query_languages",
    "reindex",
    "search_columns",
    "search_items",
    "to_fts5",
    "to_tsquery",
]
