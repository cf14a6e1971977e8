"""Filter keys: the tokens every item carries in the full-text index beside its words, so filters and
date order become part of the text match instead of a join per match.

Each item is indexed with: on-topic or not (relevant and no duplicate of another), its language, its
source, the month it was published (or "undated") and, on PostgreSQL, its id bucket (BUCKET ids each:
ranking windows and samples are sets of buckets). SQLite keeps them in a third FTS5 column `meta` (the
words are matched in `search_title`/`search_text` only), written by the items triggers of migration
0005; PostgreSQL as lexemes of `items.search_vector` (a generated column: every write recomputes
them). No token can collide with a word: SQLite's live in their own column, PostgreSQL's start with
`~`, which no index token holds (storage.textnorm splits on it). The SQL that writes them is frozen in
the migration; `tests/storage/search/test_filter_keys.py` checks it agrees with this module after every kind
of write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.search.dates import as_utc

BUCKET = 5_000  # ids per PostgreSQL bucket lexeme


def month_of(published: datetime | None) -> int:
    """The month key of a publication date (year * 100 + month, UTC), 0 when undated."""
    if published is None:
        return 0
    p = as_utc(published)
    return p.year * 100 + p.month


def next_month(month: int) -> int:
    year, m = divmod(month, 100)
    return (year + 1) * 100 + 1 if m == 12 else month + 1


def previous_month(month: int) -> int:
    year, m = divmod(month, 100)
    return (year - 1) * 100 + 12 if m == 1 else month - 1


@dataclass(frozen=True)
class KeyFilter:
    """The filters that index keys answer exactly: each field None (no restriction) or allowed values."""

    on_topic: bool = False
    languages: tuple[str, ...] | None = None
    source_ids: tuple[int, ...] | None = None  # () when the source/publisher filter names no source
    months: tuple[int, ...] | None = None
    buckets: tuple[int, ...] | None = None  # PostgreSQL only

# --- SQLite: the `meta` column --------------------------------------------------------------


def _fts(tok: str) -> str:
    return '"' + tok + '"'


def sqlite_lang(lang: str | None) -> str:
    return "9l9" + (lang or "").encode("utf-8", "surrogatepass").hex().upper()


def sqlite_tokens(relevant: bool, duplicate_of_id: int | None, language: str | None, source_id: int | None,
                  published: datetime | None) -> str:
    """The `meta` column of one item (what the migration's triggers write)."""
    on = "9on9" if relevant and duplicate_of_id is None else "9of9"
    return f"{on} {sqlite_lang(language)} 9s9{'' if source_id is None else source_id} 9m9{month_of(published)}"


def _any(tokens: Iterable[str]) -> str:
    toks = list(tokens) or [_fts("9none9")]  # no value allowed (a publisher with no source): nothing matches
    return toks[0] if len(toks) == 1 else "(" + " OR ".join(toks) + ")"


def sqlite_meta(k: KeyFilter) -> str | None:
    """An FTS5 expression over `meta` for the key filter (None: no restriction)."""
    parts = []
    if k.on_topic:
        parts.append(_fts("9on9"))
    if k.languages is not None:
        parts.append(_any(_fts(sqlite_lang(lang)) for lang in k.languages))
    if k.source_ids is not None:
        parts.append(_any(_fts(f"9s9{s}") for s in k.source_ids))
    if k.months is not None:
        parts.append(_any(_fts(f"9m9{m}") for m in k.months))
    if not parts:
        return None
    return "meta : (" + " AND ".join(parts) + ")"


# --- PostgreSQL: lexemes of search_vector ----------------------------------------------------


def _ts(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_lexemes(relevant: bool, duplicate_of_id: int | None, language: str | None, source_id: int | None,
               published: datetime | None, item_id: int) -> set[str]:
    """The filter lexemes of one item (what the generated column holds beside its words)."""
    return {"~on" if relevant and duplicate_of_id is None else "~off", "~l" + (language or ""),
            "~s" + ("" if source_id is None else str(source_id)), f"~m{month_of(published)}",
            f"~b{item_id // BUCKET}"}


def pg_meta(k: KeyFilter) -> str | None:
    """A tsquery over the filter lexemes (None: no restriction)."""
    parts = []
    if k.on_topic:
        parts.append(_ts("~on"))
    for prefix, values in (("~l", k.languages), ("~s", k.source_ids), ("~m", k.months), ("~b", k.buckets)):
        if values is not None:
            parts.append("(" + (" | ".join(_ts(f"{prefix}{v}") for v in values) or _ts("~none")) + ")")
    return " & ".join(parts) if parts else None
