"""Counts and facets of a search: the total, items per month and per ISO week, top publishers and
languages. Exact up to STATS_EXACT matching items; beyond, estimated from a sample of evenly spaced
id slices holding about STATS_SAMPLE of them (flagged `exact=False`: "about 48,000")."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, String, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from storage import query as q_ast
from storage.models import Item, Source
from storage.search.engines import FTS, PG_VECTOR, fts_match, pg_tsquery, planner_rows, text_matches, tune
from storage.search.filters import filter_conditions, validate
from storage.search.ranking import match_estimate
from storage.search.types import ItemFilter
from storage.search.userquery import check_positive, parse_user_query
from storage.search.variants import query_languages

STATS_EXACT = 20_000  # matching items counted one by one
STATS_SAMPLE = 10_000  # items the estimate of a larger result is drawn from
PG_STATS_EXACT = 5_000  # PostgreSQL: above this planner estimate, sample (each row is a heap fetch)
PG_STATS_SAMPLE = 2_000
SAMPLE_SLICES = 64  # evenly spaced id ranges of the sample (as many strata of the archive's history)
_COLS = ("id", "published", "source_id", "language")


@dataclass
class Count:
    total: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "exact": self.exact}


@dataclass
class SearchStats:
    count: Count
    per_month: list[tuple[str, int]] = field(default_factory=list)  # ("2025-06", n), oldest first
    per_week: list[tuple[str, int]] = field(default_factory=list)  # ("2025-W23", n), oldest first
    undated: int = 0
    publishers: list[tuple[str, int]] = field(default_factory=list)  # most items first
    languages: list[tuple[str | None, int]] = field(default_factory=list)
    sample_fraction: float | None = None  # share of the id range sampled, None when exact

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count.to_dict(),
            "per_month": [{"period": p, "count": n} for p, n in self.per_month],
            "per_week": [{"period": p, "count": n} for p, n in self.per_week],
            "undated": self.undated,
            "publishers": [{"publisher": p, "count": n} for p, n in self.publishers],
            "languages": [{"language": lang, "count": n} for lang, n in self.languages],
            "sample_fraction": self.sample_fraction,
        }


def _matching(session: Session, f: ItemFilter) -> tuple[Any, Any, str, q_ast.Node | None]:
    """(SELECT id, published, source_id, language of the matching items, their id column, dialect, AST)."""
    validate(f)
    node = parse_user_query(f.q) if f.q else None
    if node is not None:
        check_positive(node)
    dialect = session.get_bind().dialect.name
    tune(session)
    conds = filter_conditions(f)
    if node is None:
        stmt, ident = select(*(Item.__table__.c[c] for c in _COLS)).where(*conds), Item.id
    else:
        stmt, ident = text_matches(dialect, node, query_languages(f.languages), conds, *_COLS)
    if dialect == "sqlite":  # the stored text of `published`, not a datetime parsed per row (10 us each)
        cols = list(stmt.selected_columns)
        stmt = stmt.with_only_columns(cols[0], type_coerce(cols[1], String), *cols[2:])
    return stmt, ident, dialect, node


def _capped_count(session: Session, stmt: Any, cap: int) -> int:
    return session.execute(select(func.count()).select_from(stmt.limit(cap + 1).subquery())).scalar() or 0


def _sample_first(session: Session, f: ItemFilter, stmt: Any, dialect: str, node: q_ast.Node | None) -> int | None:
    """Whether counting one by one would be too dear, so the sample is drawn at once: on PostgreSQL
    when the planner expects more than PG_STATS_EXACT rows (each is a heap fetch); on SQLite when the
    text alone matches more than STATS_EXACT items (each would be joined to the filter index).
    The number of rows the sample stands for (an estimate, or an upper bound), or None."""
    if dialect == "postgresql":  # the heap fetches are those of the text matches, before the filters
        estimate = int(_pg_estimate(session, f, stmt, node))
        return estimate if estimate > PG_STATS_EXACT else None
    if node is None:
        return None
    total = _text_total(session, dialect, node, f)
    return total if total > STATS_EXACT else None


def _pg_estimate(session: Session, f: ItemFilter, stmt: Any, node: q_ast.Node | None) -> float:
    """PostgreSQL's estimate of the text matches (of the filtered rows, without text), each phrase counted as
    its rarest word (`ranking.match_estimate`). The planner takes a phrase's words as independent: it put
    "lethal autonomous" at ~160 of its 5,900 matches at a million items, so all were counted one by one (a
    heap fetch and a phrase recheck each: 31-47 ms, 97-124 ms in the slowest of 8 runs; sampled: 35-53)."""
    if node is None:
        return planner_rows(session, stmt)
    return match_estimate(session, node, query_languages(f.languages))


def _text_total(session: Session, dialect: str, node: q_ast.Node, f: ItemFilter) -> int:
    """Text matches before filters (SQLite: an FTS5 doclist count, cheap)."""
    langs = query_languages(f.languages)
    if dialect == "sqlite":
        return session.execute(select(func.count()).select_from(FTS).where(fts_match(node, langs))).scalar() or 0
    return session.execute(select(func.count()).where(PG_VECTOR.op("@@")(pg_tsquery(node, langs)))
                           .select_from(Item)).scalar() or 0


def _slices(session: Session, fraction: float) -> tuple[list[tuple[int, int]], float]:
    """SAMPLE_SLICES id ranges spread evenly over the archive covering `fraction` of its ids."""
    # two queries: SQLite answers a lone min() or max() from the rowid b-tree, but scans for both at once
    first = session.execute(select(func.min(Item.id))).scalar()
    last = session.execute(select(func.max(Item.id))).scalar()
    if first is None or last is None:
        return [], 1.0
    span = last - first + 1
    step = span / SAMPLE_SLICES
    width = max(1, math.ceil(step * fraction))
    step = max(1, math.floor(step))  # integer strides: the same slices as `(id - first) % step < width`
    width = min(width, step)
    out = [(first + k * step, min(last, first + k * step + width - 1)) for k in range(math.ceil(span / step))]
    covered = sum(b - a + 1 for a, b in out)
    return out, min(1.0, covered / span)


def _sample_rows(session: Session, stmt: Any, ident: Any, dialect: str, slices: list[tuple[int, int]]) -> list[Any]:
    if not slices:
        return []
    if dialect == "sqlite" and ident is not Item.id:
        # FTS5 takes one rowid range per scan: test each match's rowid against the slices instead
        # (a doclist walk is ~0.1 us a match; only the sampled ones are joined to the filter index)
        first, step = slices[0][0], (slices[1][0] - slices[0][0]) if len(slices) > 1 else 1
        width = slices[0][1] - slices[0][0] + 1
        offset = FTS.c.rowid - first
        return list(session.execute(stmt.where(offset >= 0, offset % max(step, 1) < width)).all())
    ranges: list[ColumnElement[bool]] = [and_(ident >= a, ident <= b) for a, b in slices]
    return list(session.execute(stmt.where(or_(*ranges))).all())


def count_items(session: Session, f: ItemFilter) -> Count:
    """How many items match `f` (exact up to STATS_EXACT, else an estimate)."""
    stmt, ident, dialect, node = _matching(session, f)
    population = _sample_first(session, f, stmt, dialect, node)
    if population is None:
        size = _capped_count(session, stmt, STATS_EXACT)
        if size <= STATS_EXACT:
            return Count(size, True)
    return _estimate(session, f, stmt, ident, dialect, node, population)[0].count


def search_stats(session: Session, f: ItemFilter, *, top: int = 10) -> SearchStats:
    """The total, per-month and per-week counts, and the `top` publishers and languages of `f`."""
    stmt, ident, dialect, node = _matching(session, f)
    population = _sample_first(session, f, stmt, dialect, node)
    if population is None:  # one pass: the rows themselves, unless there are too many
        rows = list(session.execute(stmt.limit(STATS_EXACT + 1)).all())
        if len(rows) <= STATS_EXACT:
            return _aggregate(session, rows, 1.0, Count(len(rows), True), top)
    stats, rows, fraction = _estimate(session, f, stmt, ident, dialect, node, population)
    return _aggregate(session, rows, fraction, stats.count, top)


def _estimate(session: Session, f: ItemFilter, stmt: Any, ident: Any, dialect: str,
              node: q_ast.Node | None, population: int | None) -> tuple[SearchStats, list[Any], float]:
    above = population is None  # counted past STATS_EXACT already
    if population is None:  # more than STATS_EXACT rows, how many more unknown
        if node is not None and dialect == "sqlite":
            population = _text_total(session, dialect, node, f)  # an upper bound of the filtered total
        elif dialect == "postgresql":
            population = max(4 * STATS_EXACT, int(_pg_estimate(session, f, stmt, node)))
        else:
            population = 4 * STATS_EXACT
    target = PG_STATS_SAMPLE if dialect == "postgresql" else STATS_SAMPLE
    fraction = min(1.0, target / max(population, 1))
    slices, covered = _slices(session, fraction)
    rows = _sample_rows(session, stmt, ident, dialect, slices)
    total = round(len(rows) / covered) if covered else 0
    stats = SearchStats(Count(max(total, STATS_EXACT + 1) if above else total, False), sample_fraction=covered)
    return stats, rows, covered


def _aggregate(session: Session, rows: list[Any], fraction: float, count: Count, top: int) -> SearchStats:
    scale = 1.0 / fraction if fraction else 1.0
    # counted per day first (C-speed Counters; a few thousand distinct days), then each day's month and
    # ISO week once: parsing and calendar work per row cost ~3 us a row, 30 ms for a sample of 10,000
    days: Counter[Any] = Counter(p[:10] if isinstance(p, str) else p.date() for p in map(itemgetter(1), rows)
                                 if p is not None)
    undated = len(rows) - sum(days.values())
    months: Counter[str] = Counter()
    weeks: Counter[str] = Counter()
    for key, n in days.items():
        day = date.fromisoformat(key) if isinstance(key, str) else key
        months[f"{day.year:04d}-{day.month:02d}"] += n
        iso = day.isocalendar()
        weeks[f"{iso.year:04d}-W{iso.week:02d}"] += n
    sources: Counter[int | None] = Counter(map(itemgetter(2), rows))
    languages: Counter[str | None] = Counter(map(itemgetter(3), rows))
    names = dict(session.execute(select(Source.id, Source.publisher)).all()) if sources else {}
    publishers: Counter[str] = Counter()
    for sid, n in sources.items():
        if sid is not None and sid in names:
            publishers[names[sid]] += n

    def scaled(c: Counter[Any]) -> list[tuple[Any, int]]:
        return [(k, round(v * scale)) for k, v in c.items()]

    return SearchStats(
        count,
        per_month=sorted(scaled(months)),
        per_week=sorted(scaled(weeks)),
        undated=round(undated * scale),
        publishers=sorted(scaled(publishers), key=lambda kv: (-kv[1], kv[0]))[:top],
        languages=sorted(scaled(languages), key=lambda kv: (-kv[1], kv[0] or ""))[:top],
        sample_fraction=None if count.exact else fraction,
    )


def archive_languages(session: Session) -> list[tuple[str, int]]:
    """Every language the archive holds items in, with its number of items, most items first (the
    language index is read once: callers cache it)."""
    rows = session.execute(
        select(Item.language, func.count()).where(Item.language.is_not(None)).group_by(Item.language)
    ).all()
    return sorted(((lang, n) for lang, n in rows if lang), key=lambda r: (-r[1], r[0]))


def archive_publishers(session: Session) -> list[str]:
    """The publishers of the catalogue's sources, alphabetically."""
    return sorted(set(session.scalars(select(Source.publisher).where(Source.publisher != ""))), key=str.casefold)
