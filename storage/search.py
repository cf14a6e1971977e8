"""Full-text search over the archive: SQLite FTS5 or PostgreSQL tsvector behind one interface.

`search_items(session, ItemFilter(...))` returns one page of hits with keyset (cursor) pagination:
text queries are ordered by rank, others by publication date (newest first, undated last).

Both engines index the same thing: `items.search_title` / `items.search_text`, the item's text
normalised in Python by storage.textnorm (casefold, accents stripped, stemmed in the item's language,
Korean particles stripped, one token per Han character), kept up to date by storage.search_index.
The user's query is normalised the same way before it becomes an FTS5 MATCH or a tsquery, so search
agrees with subscriptions (storage.query.CompiledQuery). Snippets are cut from the original text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import math
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Alias,
    BigInteger,
    ColumnElement,
    Double,
    and_,
    cast,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import ClauseAdapter

from storage import query as q_ast
from storage.matches import Explanation, readable
from storage.matches import codes as match_codes
from storage.models import Item, ItemSymbol, Source
from storage.query import MAX_QUERY_LENGTH
from storage.search_index import index_word, item_language, reindex, search_columns
from storage.textnorm import (
    _HANGUL_RE,
    _TOKEN_RE,
    base_language,
    fold,
    strip_korean_particle,
)

MAX_LIMIT = 500
MAX_FILTER_LENGTH = 500  # source / publisher / symbol / language values
MAX_CURSOR_LENGTH = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the range of an item id (SQLite INTEGER, PostgreSQL BIGINT)
_ISO639_FILE = Path(__file__).resolve().parent.parent / "crawler" / "data" / "iso639-1.txt"
# Private-use sentinels around highlighted words: the text is HTML-escaped, then they become <mark>.
_OPEN, _CLOSE = "\ue000", "\ue001"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")
_PG_CONFIG = literal_column("'simple'::regconfig")


class SearchError(ValueError):
    """A search that cannot run as asked (bad query, cursor, date or limit); the message says why."""


@dataclass
class ItemFilter:
    """What to search for; empty lists mean no restriction."""

    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sources: list[str] = field(default_factory=list)
    publishers: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    include_all: bool = False  # False: on-topic only, later duplicate copies hidden
    symbol: str | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass
class ItemHit:
    item: Item
    rank: float | None = None  # lower is better (negated ts_rank_cd / bm25)
    snippet: str | None = None  # safe HTML: escaped text with <mark> around matched words


@dataclass
class SearchPage:
    items: list[ItemHit]
    next: str | None


# --- dates -----------------------------------------------------------------------------------


def _as_utc(parsed: datetime) -> datetime:
    """In UTC, as stored (naive means UTC); may raise OverflowError at the edge of the calendar."""
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: str, *, end: bool = False) -> datetime:
    """Parse `YYYY-MM-DD` or an ISO 8601 datetime (UTC when no offset); `end` makes a date inclusive."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return _as_utc(parsed)  # a date at the edge of the calendar may not fit once shifted: an error, not a 500
    except (ValueError, OverflowError):
        raise SearchError(f"invalid date {value!r}: use YYYY-MM-DD or an ISO 8601 datetime") from None


# --- query text -> AST ------------------------------------------------------------------------


def clean_query(text: str) -> str:
    """Drop NUL and other control characters a user (or a URL) may carry."""
    return _CONTROL.sub(" ", text).strip()


def parse_user_query(text: str) -> q_ast.Node | None:
    """The user's text as a query AST (None when there is nothing to search for).

    A NUL byte is an error (as in subscriptions); other control characters count as spaces, so a
    query of nothing but control characters is no query at all (like an empty one)."""
    if "\x00" in text:
        raise SearchError("query contains a NUL byte")
    text = clean_query(text)
    if not text:
        return None
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchError(f"query too long (at most {MAX_QUERY_LENGTH} characters)")
    try:
        node = q_ast.parse_query(text)
    except q_ast.QuerySyntaxError as exc:
        raise SearchError(f"invalid query: {exc}") from None
    return _prune(node)


def _prune(node: q_ast.Node) -> q_ast.Node | None:
    """Remove terms without any word character (`*`, `-`, `:`) and collapse empty groups."""
    if isinstance(node, q_ast.Term):
        return node if _TOKEN_RE.search(node.text) else None
    if isinstance(node, q_ast.Phrase):
        words = tuple(w for w in node.words if _TOKEN_RE.search(w))
        if not words:
            return None
        if len(words) == 1:
            return q_ast.Term(words[0].rstrip("*"), prefix=words[0].endswith("*"))
        return q_ast.Phrase(words)
    if isinstance(node, q_ast.Not):
        child = _prune(node.child)
        return q_ast.Not(child) if child is not None else None
    kids = tuple(k for k in (_prune(c) for c in node.children) if k is not None)
    if not kids:
        return None
    if len(kids) == 1:
        return kids[0]
    return type(node)(kids)


def _check_positive(node: q_ast.Node) -> None:
    """Full-text indexes find words, not their absence: every branch needs a positive word."""
    if not _has_positive(node):
        raise SearchError("invalid query: add at least one word to search for (NOT alone matches nothing)")


def _has_positive(node: q_ast.Node) -> bool:
    if isinstance(node, q_ast.Term | q_ast.Phrase):
        return True
    if isinstance(node, q_ast.Not):
        return False
    if isinstance(node, q_ast.And):
        return any(_has_positive(c) for c in node.children)
    return all(_has_positive(c) for c in node.children)


# --- query AST -> normalised token sequences ----------------------------------------------------
#
# A query's words are normalised like the documents (storage.search_index.index_word), per language.

# Languages a query is normalised in when the search names none (more would add cross-language noise:
# Spanish `Hague` -> `hag`, Polish `REAIM` -> `rea`). Other languages still match by folded form.
DEFAULT_QUERY_LANGUAGES: tuple[str, ...] = ("en", "nl", "fr", "de", "es")  # the catalogue's Latin-script languages
_MAX_VARIANTS = 24
_SNIPPET_CHARS = 20_000
_SNIPPET_WINDOW = 30

Seq = tuple[tuple[str, bool], ...]  # (index token, prefix?) per position


def query_languages(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The languages a query's words are normalised in: the searched ones, else every stemmer's."""
    picked = tuple(dict.fromkeys(b for lang in languages or () if (b := base_language(lang))))
    return picked or DEFAULT_QUERY_LANGUAGES


@lru_cache(maxsize=20_000)
def _variants(words: tuple[str, ...], prefix: bool, langs: tuple[str, ...]) -> tuple[Seq, ...]:
    """The token sequences one typed word or phrase may match, per language (as CompiledQuery does):
    the word's stem, its folded form, and the stem of its stem (absorbs stemmer quirks: Dutch
    `wapens`→`wapen` but `wapen`→`waap`). Prefix terms keep prefix semantics on the normalised form;
    Hangul words match by prefix once their particle is stripped (`자율무기를` → `자율무기`*)."""
    surfaces = [s for w in words for s in _TOKEN_RE.findall(w)]
    if not surfaces:
        return ()
    last = len(surfaces) - 1
    out: dict[Seq, None] = {}
    for lang in langs:
        forms: list[list[tuple[str, bool]]] = [[], [], []]
        for i, s in enumerate(surfaces):
            folded = fold(s)
            if _HANGUL_RE.match(s):
                tok = (strip_korean_particle(folded), True)
                for f in forms:
                    f.append(tok)
                continue
            pre = prefix and i == last
            stem = index_word(s, lang)
            forms[0].append((stem, pre))
            forms[1].append((folded, pre))
            forms[2].append((index_word(stem, lang), pre))
        for f in forms:
            out.setdefault(tuple(f), None)
    return tuple(out)[:_MAX_VARIANTS]


def _node_variants(node: q_ast.Term | q_ast.Phrase, langs: tuple[str, ...]) -> tuple[Seq, ...]:
    if isinstance(node, q_ast.Term):
        return _variants((node.text,), node.prefix, langs)
    prefix = node.words[-1].endswith("*")
    return _variants(tuple(w.rstrip("*") for w in node.words), prefix, langs)


def _positive_tokens(node: q_ast.Node, langs: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(exact tokens, prefix tokens) of the words a match must or may contain (not those under NOT)."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for leaf in q_ast.positive_leaves(node):
        for seq in _node_variants(leaf, langs):
            for tok, pre in seq:
                (prefixes if pre else exact).add(tok)
    return exact, prefixes


# --- AST -> SQLite FTS5 MATCH ------------------------------------------------------------------


def _fts5_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5_seq(seq: Seq) -> str:
    return " + ".join(_fts5_quote(tok) + ("*" if pre else "") for tok, pre in seq)


def _fts5_leaf(node: q_ast.Term | q_ast.Phrase, langs: tuple[str, ...]) -> str:
    seqs = _node_variants(node, langs)
    if not seqs:
        raise SearchError("invalid query: a term has no letters or digits")
    parts = [_fts5_seq(s) for s in seqs]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def to_fts5(node: q_ast.Node, languages: Iterable[str] | None = None) -> str:
    """An FTS5 MATCH expression over the normalised columns; every token is quoted (no FTS syntax
    can be injected). `languages`: those the query words are normalised in (default: all stemmers')."""
    langs = query_languages(languages)
    if isinstance(node, q_ast.Term | q_ast.Phrase):
        return _fts5_leaf(node, langs)
    if isinstance(node, q_ast.Not):
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    if isinstance(node, q_ast.Or):
        return "(" + " OR ".join(to_fts5(c, langs) for c in node.children) + ")"
    positives = [c for c in node.children if not isinstance(c, q_ast.Not)]
    negatives = [c.child for c in node.children if isinstance(c, q_ast.Not)]
    if not positives:
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    expr = "(" + " AND ".join(to_fts5(c, langs) for c in positives) + ")"
    for neg in negatives:
        expr += " NOT " + to_fts5(neg, langs)
    return expr


# --- AST -> PostgreSQL tsquery ----------------------------------------------------------------


def _ts_quote(tok: str) -> str:
    return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'"


def _ts_seq(seq: Seq) -> str:
    return " <-> ".join(_ts_quote(tok) + (":*" if pre else "") for tok, pre in seq)


def to_tsquery(node: q_ast.Node, languages: Iterable[str] | None = None) -> str:
    """A to_tsquery('simple', …) string over the normalised columns; every token is a quoted lexeme
    (user text never reaches tsquery operators)."""
    langs = query_languages(languages)
    if isinstance(node, q_ast.Term | q_ast.Phrase):
        seqs = _node_variants(node, langs)
        if not seqs:
            raise SearchError("invalid query: a term has no letters or digits")
        return "(" + " | ".join(f"({_ts_seq(s)})" for s in seqs) + ")"
    if isinstance(node, q_ast.Not):
        return "!" + to_tsquery(node.child, langs)
    op = " & " if isinstance(node, q_ast.And) else " | "
    return "(" + op.join(to_tsquery(c, langs) for c in node.children) + ")"


# --- cursors ----------------------------------------------------------------------------------


_CURSOR_ERROR = "invalid cursor: use the `next` value of the previous page with the same query"


def query_fingerprint(f: ItemFilter) -> str:
    """A short hash of what a query searches for (not its limit or cursor): a cursor carries it so it is
    only accepted by the query and filters that issued it."""
    key = [f.q or "", f.since.isoformat() if f.since else None, f.until.isoformat() if f.until else None,
           sorted(f.sources), sorted(p.lower() for p in f.publishers), sorted(lang.lower() for lang in f.languages),
           bool(f.include_all), (f.symbol or "").strip().upper()]
    raw = json.dumps(key, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode_cursor(data: dict[str, Any], f: ItemFilter) -> str:
    raw = json.dumps({**data, "h": query_fingerprint(f)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _is_int64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX


def id_fits(session: Session, model: Any, value: int) -> bool:
    """Whether `value` fits the id column of `model` in this database (PostgreSQL INTEGER is 32-bit,
    SQLite INTEGER 64-bit): an id that does not fit names no row, and must not reach the driver."""
    col_type = sa_inspect(model).primary_key[0].type
    bits = 64 if session.get_bind().dialect.name == "sqlite" or isinstance(col_type, BigInteger) else 32
    return -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


def _decode_cursor(cursor: str, kind: str, f: ItemFilter, session: Session | None = None) -> dict[str, Any]:
    """The fields of a cursor issued for `f`, each checked for type and range (SearchError otherwise)."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise SearchError(_CURSOR_ERROR) from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), str) or not isinstance(data.get("h"), str):
        raise SearchError(_CURSOR_ERROR)
    if data["h"] != query_fingerprint(f) or data["k"] != kind:
        raise SearchError("cursor does not belong to this query: use the `next` value of the previous page "
                          "with the same query and filters")
    if not _is_int64(data.get("id")) or (session is not None and not id_fits(session, Item, data["id"])):
        raise SearchError(_CURSOR_ERROR)
    if kind == "d":
        p = data.get("p")
        if p is not None:
            try:
                if not isinstance(p, str) or len(p) > 64:
                    raise ValueError
                data["p"] = _as_utc(datetime.fromisoformat(p))
            except (ValueError, OverflowError):
                raise SearchError(_CURSOR_ERROR) from None
    else:
        r = data.get("r")
        try:
            if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or abs(r) > 1e300:
                raise ValueError
        except (ValueError, OverflowError):  # OverflowError: an integer beyond any float
            raise SearchError(_CURSOR_ERROR) from None
        data["r"] = float(r)
        w = data.get("w")  # the window of the rank cursor (absent in cursors issued before windows)
        if w is not None:
            if not (isinstance(w, list) and len(w) == 3
                    and all(v is None or (_is_int64(v) and (session is None or id_fits(session, Item, v)))
                            for v in w)
                    and (w[2] is None or w[2] > 0)):
                raise SearchError(_CURSOR_ERROR)
            data["w"] = tuple(w)
    return data


# --- search -----------------------------------------------------------------------------------


def _filters(f: ItemFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if not f.include_all:
        conds += [Item.relevant.is_(True), Item.duplicate_of_id.is_(None)]
    if f.since is not None:
        conds.append(Item.published >= f.since)
    if f.until is not None:
        conds.append(Item.published <= f.until)
    if f.languages:
        conds.append(Item.language.in_([lang.strip().lower() for lang in f.languages]))
    if f.sources or f.publishers:
        src = select(Source.id)
        if f.sources:
            src = src.where(Source.name.in_(f.sources))
        if f.publishers:
            src = src.where(func.lower(Source.publisher).in_([p.lower() for p in f.publishers]))
        conds.append(Item.source_id.in_(src.scalar_subquery()))
    if f.symbol:
        sym = f.symbol.strip()
        conds.append(
            exists().where(
                ItemSymbol.item_id == Item.id,
                or_(ItemSymbol.symbol == sym, func.upper(ItemSymbol.symbol) == sym.upper()),
            )
        )
    return conds


@lru_cache(maxsize=1)
def iso639_1() -> frozenset[str]:
    """The two-letter ISO 639-1 language codes."""
    return frozenset(_ISO639_FILE.read_text(encoding="utf-8").split())


def _check_text(name: str, value: str) -> None:
    if "\x00" in value:
        raise SearchError(f"{name} contains a NUL byte")
    if len(value) > MAX_FILTER_LENGTH:
        raise SearchError(f"{name} too long (at most {MAX_FILTER_LENGTH} characters)")


def _validate(f: ItemFilter) -> None:
    if isinstance(f.limit, bool) or not isinstance(f.limit, int) or not 1 <= f.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
    if f.since and f.until and f.since > f.until:
        raise SearchError("`since` is after `until`")
    if f.q is not None and "\x00" in f.q:
        raise SearchError("query contains a NUL byte")
    for name, values in (("source", f.sources), ("publisher", f.publishers), ("language", f.languages)):
        for value in values:
            _check_text(name, value)
    if f.symbol:
        _check_text("symbol", f.symbol)
    for lang in f.languages:
        if lang.strip().lower() not in iso639_1():
            raise SearchError(f"invalid language {lang!r}: use an ISO 639-1 two-letter code, e.g. en, fr, nl")
    if f.cursor is not None and "\x00" in f.cursor:
        raise SearchError(_CURSOR_ERROR)


def search_items(session: Session, f: ItemFilter) -> SearchPage:
    """One page of items matching `f`, best first, with the cursor of the next page (or None)."""
    _validate(f)
    node = parse_user_query(f.q) if f.q else None
    if node is not None:
        _check_positive(node)
    dialect = session.get_bind().dialect.name
    conds = _filters(f)
    langs = query_languages(f.languages)
    ranks: dict[int, float] = {}
    if node is None:
        rows: list[Any] = _page_by_date(session, conds, f)
    else:
        rows = _page_by_rank(session, dialect, node, langs, conds, f)
        ranks = {r[0]: r[1] for r in rows}
    nxt = None
    if len(rows) > f.limit:  # the cursor names the page's last row
        last = rows[f.limit - 1]
        if node is None:
            nxt = _encode_cursor({"k": "d", "p": last[1].isoformat() if last[1] else None, "id": last[0]}, f)
        else:
            nxt = _encode_cursor({"k": "r", "r": last[1], "id": last[0], "w": list(last[2])}, f)
    ids = [r[0] for r in rows[: f.limit]]
    items = _load(session, ids)
    snippets = _snippets(items, node, langs) if node is not None and ids else {}
    hits = [ItemHit(items[i], ranks.get(i), snippets.get(i)) for i in ids if i in items]
    return SearchPage(hits, nxt)


def _page_by_date(session: Session, conds: list[ColumnElement[bool]], f: ItemFilter) -> list[Any]:
    stmt = select(Item.id, Item.published).where(*conds)
    if f.cursor:
        c = _decode_cursor(f.cursor, "d", f, session)
        if c.get("p") is None:
            stmt = stmt.where(Item.published.is_(None), Item.id < c["id"])
        else:
            p = c["p"]
            stmt = stmt.where(
                or_(
                    Item.published < p,
                    and_(Item.published == p, Item.id < c["id"]),
                    Item.published.is_(None),
                )
            )
    stmt = stmt.order_by(Item.published.desc().nulls_last(), Item.id.desc()).limit(f.limit + 1)
    return list(session.execute(stmt).all())


# --- ranked paging in windows of the newest matches ---------------------------------------------
#
# Ranking every match costs one bm25 / ts_rank_cd per matching row (plus a row fetch on PostgreSQL):
# 80 k+ rows for a word in 8 % of a million items. So a query is ranked in *windows*: the newest
# RANK_WINDOW text matches (by item id, i.e. most recently archived) are ranked together and listed
# first, best first; then the 2 x RANK_WINDOW next older matches, then 4 x, and so on (doubling keeps
# a walk through a long, mostly filtered-out result to a few windows). A query with at most
# RANK_WINDOW text matches (every rare word, most filtered searches) has one window: exact global
# ranking, as before. Ranking costs about one unit per match and FTS phrase (each normalised variant
# of each positive word), so a query of more than two phrases gets proportionally smaller windows
# (`window_size`, never below RANK_WINDOW_MIN). Windows are cut on the text matches, before the
# filters; rank values are the engine's (bm25 / ts_rank_cd over the whole archive), independent of
# the window. A cursor carries its window's id bounds, so paging lists every match exactly once.
#   SQLite: the window's lower bound is the exact N-th newest match (FTS5 walks rowids backwards
#     cheaply). PostgreSQL: it is estimated from the planner's match count (the exact one means
#     fetching every matching row), so the first window holds about N matches; every query re-reads
#     the whole GIN bitmap, so the second window is all the older matches. Filtered searches are not
#     windowed on PostgreSQL (measured slower: one bitmap AND per window).

RANK_WINDOW = 20_000  # matches ranked together, for a query of up to two phrases
RANK_WINDOW_MIN = 2_000
SQLITE_FILTER_INDEX = "ix_items_search_filter"  # covering index for the filters (0002 migration)


_FTS = table("items_fts", column("rowid"))  # the FTS5 virtual table (not an ORM model: triggers maintain it)


class _IndexedItems(Alias):
    """`items AS fi INDEXED BY ix_items_search_filter` on SQLite: the filters of a ranked search read
    the small covering index instead of each matching (large) items row."""

    inherit_cache = True


@compiles(_IndexedItems)
def _compile_indexed_items(element: _IndexedItems, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_alias(element, **kw)
    if kw.get("asfrom") and compiler.dialect.name == "sqlite":
        text += f" INDEXED BY {SQLITE_FILTER_INDEX}"
    return text


@dataclass
class _Ranker:
    """The dialect's pieces of a ranked query."""

    size: int  # window_size()
    ids: Select[Any]  # SELECT id FROM … WHERE text matches (no filters): window bounds
    ranked: Select[Any]  # SELECT id, rank FROM … WHERE text matches AND filters
    id_col: ColumnElement[Any]
    rank: ColumnElement[Any]


def _ranker(dialect: str, node: q_ast.Node, langs: tuple[str, ...],
            conds: list[ColumnElement[bool]]) -> _Ranker:
    size = window_size(node, langs)
    if dialect == "sqlite":
        matches = literal_column("items_fts").op("MATCH")(to_fts5(node, langs))
        rowid = _FTS.c.rowid
        rank = func.bm25(literal_column("items_fts"), 10.0, 1.0)  # search_title, search_text
        ranked = select(rowid.label("id"), rank.label("rank")).select_from(_FTS).where(matches)
        if conds:  # filters through the covering index, joined per match (bm25 only for those kept)
            fi = _IndexedItems._construct(Item.__table__, name="fi")
            adapter = ClauseAdapter(fi)
            ranked = ranked.join_from(_FTS, fi, fi.c.id == rowid).where(
                *(adapter.traverse(c) for c in conds))
        ids = select(rowid).select_from(_FTS).where(matches)
        return _Ranker(size, ids, ranked, rowid, rank)
    if dialect == "postgresql":
        tsq = func.to_tsquery(_PG_CONFIG, to_tsquery(node, langs))
        vector = literal_column("items.search_vector")
        rank = -cast(func.ts_rank_cd(vector, tsq), Double())  # float8: exact in cursors
        ranked = select(Item.id, rank.label("rank")).where(vector.op("@@")(tsq), *conds)
        if conds:  # filters: the planner ANDs their bitmaps per window, dearer than one ranked scan
            size = 2**62  # one window (exact ranking)
        return _Ranker(size, select(Item.id).where(vector.op("@@")(tsq)), ranked, Item.id, rank)
    raise SearchError(f"full-text search is not available on {dialect}")


def window_size(node: q_ast.Node, langs: tuple[str, ...]) -> int:
    """How many of the newest text matches are ranked together for this query (see above)."""
    phrases = sum(len(_node_variants(leaf, langs)) for leaf in q_ast.positive_leaves(node))
    return max(RANK_WINDOW_MIN, RANK_WINDOW * 2 // max(phrases, 2))


Window = tuple[int | None, int | None, int | None]  # (lo inclusive | None, hi exclusive | None, id span | None)


def _in_window(col: ColumnElement[Any], w: Window) -> list[ColumnElement[bool]]:
    lo, hi, _ = w
    return ([col >= lo] if lo is not None else []) + ([col < hi] if hi is not None else [])


def _next_window(session: Session, dialect: str, r: _Ranker, prev: Window | None) -> Window:
    """The first window (prev None), or the one of the matches older than `prev`, twice its size.
    The first window's upper bound is the newest item now (matches archived while paging stay out of
    the later pages). The third value is the window's size: matches (SQLite) or an id span (PostgreSQL)."""
    hi = None if prev is None else prev[0]
    if dialect == "sqlite":
        size = r.size if prev is None or prev[2] is None else prev[2] * 2
        newest = r.ids.where(*_in_window(r.id_col, (None, hi, None))).order_by(r.id_col.desc())
        if hi is None:
            top = session.execute(newest.limit(1)).scalar()
            hi = None if top is None else top + 1
        return session.execute(newest.offset(size - 1).limit(1)).scalar(), hi, size
    # PostgreSQL: an id span holding about window_size matches, from the planner's estimate
    first, last = session.execute(select(func.min(Item.id), func.max(Item.id))).one()
    if first is None or (hi is not None and hi <= first):
        return None, hi, None
    if hi is None:
        hi = last + 1
    if prev is None or prev[2] is None:
        compiled = r.ids.compile(dialect=session.get_bind().dialect)
        plan = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                                    compiled.params).scalar()
        estimate = float(plan[0]["Plan"]["Plan Rows"]) if plan else 0.0
        if estimate <= r.size:
            return None, hi, None  # one window
        span = max(1, math.ceil((last - first + 1) * r.size / estimate))
    else:  # the rest in one window: each PostgreSQL window re-reads the whole GIN match bitmap
        return None, hi, None
    lo = hi - span
    return (lo if lo > first else None), hi, span


def _page_by_rank(
    session: Session,
    dialect: str,
    node: q_ast.Node,
    langs: tuple[str, ...],
    conds: list[ColumnElement[bool]],
    f: ItemFilter,
) -> list[tuple[int, float, Window]]:
    """Up to f.limit + 1 (id, rank, window) rows after the cursor: windows newest first, each by rank."""
    try:
        r = _ranker(dialect, node, langs, conds)
        after: tuple[float, int] | None = None
        w: Window | None = None
        if f.cursor:
            c = _decode_cursor(f.cursor, "r", f, session)
            after, w = (c["r"], c["id"]), c.get("w")
        if w is None:
            w = _next_window(session, dialect, r, None)
        rows: list[tuple[int, float, Window]] = []
        while True:
            stmt = r.ranked.where(*_in_window(r.id_col, w))
            if after is not None:
                stmt = stmt.where(or_(r.rank > after[0], and_(r.rank == after[0], r.id_col < after[1])))
            stmt = stmt.order_by(r.rank.asc(), r.id_col.desc()).limit(f.limit + 1 - len(rows))
            rows += [(row[0], float(row[1]), w) for row in session.execute(stmt)]
            if len(rows) > f.limit or w[0] is None:
                return rows
            w, after = _next_window(session, dialect, r, w), None
    except DBAPIError as exc:  # an expression the engine still rejects: a 4xx, not a 500
        session.rollback()
        raise SearchError(f"invalid query: {exc.orig}") from None


def _load(session: Session, ids: list[int]) -> dict[int, Item]:
    if not ids:
        return {}
    stmt = (
        select(Item)
        .where(Item.id.in_(ids))
        .options(joinedload(Item.source), selectinload(Item.symbols))
    )
    return {item.id: item for item in session.scalars(stmt).unique()}


def _snippets(items: dict[int, Item], node: q_ast.Node, langs: tuple[str, ...]) -> dict[int, str]:
    """Highlighted fragments of the page's items, cut from their original text (title, or the best
    window of summary + text) with the words that normalise like the query's positive words marked."""
    exact, prefixes = _positive_tokens(node, langs)
    out: dict[int, str] = {}
    memo: dict[str | None, dict[str, bool]] = {}  # per language: surface word -> matches
    for item_id, item in items.items():
        lang = item_language(item.title, item.summary, item.text, item.language)
        seen = memo.setdefault(lang, {})

        def hit(surface: str, lang: str | None = lang, seen: dict[str, bool] = seen) -> bool:
            found = seen.get(surface)
            if found is None:
                tok, folded = index_word(surface, lang), fold(surface)
                found = seen[surface] = (tok in exact or folded in exact) or any(
                    tok.startswith(p) or folded.startswith(p) for p in prefixes)
            return found

        title = _SENTINELS.sub(" ", item.title or "")
        body = _SENTINELS.sub(" ", "\n".join(x for x in (item.summary, (item.text or "")[:_SNIPPET_CHARS]) if x))
        t_count, t_frag = _fragment(title, hit, window=10_000)
        b_count, b_frag = _fragment(body, hit, window=_SNIPPET_WINDOW)
        if b_count >= t_count and (b_count or body):
            out[item_id] = highlight_html(b_frag)
        else:
            out[item_id] = highlight_html(t_frag)
    return out


_SENTINELS = re.compile("[\ue000\ue001]")


def _fragment(text: str, hit: Any, *, window: int) -> tuple[int, str]:
    """(matches, fragment with sentinels) for the `window` tokens of `text` holding the most matches."""
    spans = [(m.start(), m.end(), hit(m.group())) for m in _TOKEN_RE.finditer(text)]
    if not spans:
        return 0, text[:300]
    hits = [i for i, sp in enumerate(spans) if sp[2]]
    best_start, best = 0, 0
    for i, first in enumerate(hits):  # windows anchored at each match: matches within `window` tokens
        count = bisect_left(hits, first + window, lo=i) - i
        if count > best:
            best, best_start = count, first
    start = max(0, best_start - 4) if best else 0
    end = min(len(spans), (best_start if best else 0) + window)
    lo = 0 if start == 0 else spans[start][0]
    hi = len(text) if end == len(spans) else spans[end - 1][1]
    pieces: list[str] = ["…" if lo > 0 else ""]
    pos = lo
    for a, b, matched in spans[start:end]:
        if matched:
            if a == pos and pieces[-1] == _CLOSE:  # adjacent matches (Han characters): one <mark>
                pieces[-1:] = [text[a:b], _CLOSE]
            else:
                pieces += [text[pos:a], _OPEN, text[a:b], _CLOSE]
            pos = b
    pieces += [text[pos:hi], "…" if hi < len(text) else ""]
    return best, "".join(pieces).strip()


def highlight_html(fragment: str) -> str:
    """Escape a fragment carrying highlight sentinels; only <mark> is added."""
    escaped = html.escape(fragment, quote=True)
    opened = 0
    out: list[str] = []
    for ch in escaped:
        if ch == _OPEN and not opened:
            out.append("<mark>")
            opened = 1
        elif ch == _CLOSE and opened:
            out.append("</mark>")
            opened = 0
        elif ch not in (_OPEN, _CLOSE):
            out.append(ch)
    if opened:
        out.append("</mark>")
    return "".join(out)


# --- JSON shape -------------------------------------------------------------------------------


def item_to_dict(item: Item, hit: ItemHit | None = None) -> dict[str, Any]:
    """The JSON shape of an item in `milai search --format json` and the API."""
    return {
        "id": item.id,
        "url": item.url,
        "title": item.title,
        "published": item.published.isoformat() if item.published else None,
        "source": item.source.name if item.source else None,
        "publisher": item.source.publisher if item.source else None,
        "language": item.language,
        "score": item.score,
        "summary": item.summary,
        "relevant": item.relevant,
        "matches": readable(item.matches),  # the phrases that fired (storage.matches), never rule codes
        "why": Explanation.from_stored(item.matches).groups(),
        "match_codes": match_codes(item.matches),  # the classifier's rule codes, for debugging
        "snippet": hit.snippet if hit else None,
        "rank": hit.rank if hit else None,
        "duplicate_of": item.duplicate_of_id,
        "symbols": sorted(s.symbol for s in item.symbols),
        "kind": item.kind,
        "fetched_at": item.fetched_at.isoformat() if item.fetched_at else None,
    }


# The CSV exports (API and `milai search --format csv`): these item_to_dict fields, lists joined by "; ".
CSV_FIELDS = ["id", "published", "title", "url", "source", "publisher", "language", "relevant", "score",
              "matches", "symbols", "duplicate_of", "summary"]


def csv_row(data: dict[str, Any]) -> dict[str, Any]:
    """An item_to_dict dict as a CSV row (write it with extrasaction="ignore")."""
    return dict(data, matches="; ".join(data["matches"]), symbols="; ".join(data["symbols"]))


__all__ = [
    "CSV_FIELDS",
    "ItemFilter",
    "ItemHit",
    "SearchError",
    "SearchPage",
    "clean_query",
    "csv_row",
    "highlight_html",
    "id_fits",
    "item_to_dict",
    "parse_date",
    "parse_user_query",
    "query_fingerprint",
    "reindex",
    "search_columns",
    "search_items",
    "to_fts5",
    "to_tsquery",
]
