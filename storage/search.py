"""Full-text search over the archive: SQLite FTS5 or PostgreSQL tsvector behind one interface.

`search_items(session, ItemFilter(...))` returns one page of hits with keyset (cursor) pagination:
text queries are ordered by rank, others by publication date (newest first, undated last).

Both engines index the same thing: `items.search_title` / `items.search_text`, the item's text
normalised in Python by storage.textnorm (casefold, accents stripped, stemmed in the item's language,
Korean particles stripped, one token per Han character), filled by the ORM events below (or `reindex`).
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
    BigInteger,
    ColumnElement,
    Connection,
    Double,
    and_,
    bindparam,
    cast,
    column,
    event,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, joinedload, selectinload
from sqlalchemy.sql import Select, TableClause

from storage import query as q_ast
from storage.models import Item, ItemSymbol, Source
from storage.textnorm import (
    _CYRILLIC_RE,
    _HANGUL_RE,
    _TOKEN_RE,
    base_language,
    detect_language,
    fold,
    normalise_word,
    strip_korean_particle,
)

MAX_LIMIT = 500
MAX_QUERY_LENGTH = 1000
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


def parse_date(value: str, *, end: bool = False) -> datetime:
    """Parse `YYYY-MM-DD` or an ISO 8601 datetime (UTC when no offset); `end` makes a date inclusive."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        # in UTC, as stored (a date at the edge of the calendar may not fit once shifted: an error, not a 500)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
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
    parse = getattr(q_ast, "parse_query", None)
    try:
        node = parse(text) if parse else _fallback_parse(text)
    except q_ast.QuerySyntaxError as exc:
        raise SearchError(f"invalid query: {exc}") from None
    return _prune(node) if node is not None else None


def _fallback_parse(text: str) -> q_ast.Node:
    """Words, quoted phrases and -exclusions ANDed (used when storage.query.parse_query is absent)."""
    children: list[q_ast.Node] = []
    for m in re.finditer(r'"([^"]*)"|(\S+)', text):
        if m.group(1) is not None:
            children.append(q_ast.Phrase(tuple(m.group(1).split())))
        else:
            word = m.group(2)
            term = q_ast.Term(word.strip("-").rstrip("*"), prefix=word.endswith("*"))
            children.append(q_ast.Not(term) if word.startswith("-") and len(word) > 1 else term)
    return q_ast.And(tuple(children))


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


# --- one normalisation for documents and queries (storage.textnorm) -------------------------------
#
# Every textnorm token of a text becomes one index token, so positions (phrases) are kept:
#   Latin and other scripts: the stem of the folded word (casefold, accents stripped, then Snowball in the
#     item's language), so `securite` and `sécurité`, `weapon` and `weapons` share one token;
#   Cyrillic: textnorm's norm (the Russian stemmer needs й/ё); Hangul: the run without its particle;
#   Han: one character per token.
# The engines only split on the spaces between those tokens (FTS5 `unicode61 remove_diacritics 2`,
# PostgreSQL `simple`), so what they index is exactly this Python normalisation.

# Languages a query is normalised in when the search names none (more would add cross-language noise:
# Spanish `Hague` -> `hag`, Polish `REAIM` -> `rea`). Other languages still match by folded form.
DEFAULT_QUERY_LANGUAGES: tuple[str, ...] = ("en", "nl", "fr", "de", "es")  # the catalogue's Latin-script languages
_MAX_VARIANTS = 24
_SNIPPET_CHARS = 20_000
_SNIPPET_WINDOW = 30
_INDEXED = frozenset({"title", "summary", "text", "language"})


@lru_cache(maxsize=200_000)
def index_word(surface: str, lang: str | None) -> str:
    """The index token of one textnorm token in a text of language `lang`."""
    folded, norm = normalise_word(surface, lang)
    if _HANGUL_RE.match(surface):
        return strip_korean_particle(folded)
    if _CYRILLIC_RE.match(surface):
        return norm
    return normalise_word(folded, lang)[1] if folded != surface.casefold() else norm


def index_text(text: str | None, lang: str | None) -> str:
    """`text` as the space-separated index tokens the full-text engines read."""
    if not text:
        return ""
    return " ".join(index_word(s, lang) for s in _TOKEN_RE.findall(text))


def item_language(title: str | None, summary: str | None, text: str | None, language: str | None) -> str | None:
    """The language an item is normalised in: its own, else a guess (as CompiledQuery.matches does)."""
    return base_language(language) or detect_language(" ".join(x for x in (title, summary, text) if x))


def search_columns(
    title: str | None, summary: str | None, text: str | None, language: str | None
) -> tuple[str, str]:
    """(search_title, search_text) of an item: its normalised title, and normalised summary + text."""
    lang = item_language(title, summary, text, language)
    body = "\n".join(x for x in (summary, text) if x)
    return index_text(title, lang), index_text(body, lang)


def _fill(item: Item) -> None:
    item.search_title, item.search_text = search_columns(item.title, item.summary, item.text, item.language)


@event.listens_for(Item, "before_insert")
def _item_before_insert(_mapper: Any, _conn: Any, item: Item) -> None:
    _fill(item)


@event.listens_for(Item, "before_update")
def _item_before_update(_mapper: Any, _conn: Any, item: Item) -> None:
    state = sa_inspect(item)
    if any(state.attrs[name].history.has_changes() for name in _INDEXED):
        _fill(item)


def _bulk_keys(orm_state: ORMExecuteState) -> set[str] | None:
    """Column names an ORM bulk UPDATE sets (None: unknown, assume all)."""
    params = orm_state.parameters
    if isinstance(params, list) and params:
        return {str(k) for p in params for k in p}
    values = getattr(orm_state.statement, "_values", None)
    if not values:
        return None if not params else {str(k) for k in params}
    return {getattr(k, "key", None) or getattr(k, "name", None) or str(k) for k in values}


@event.listens_for(Session, "do_orm_execute")
def _bulk_update_sync(orm_state: ORMExecuteState) -> Any:
    """`session.execute(update(Item)…)` skips the flush events: re-normalise the rows it touched."""
    if not orm_state.is_update or orm_state.bind_mapper is not sa_inspect(Item):
        return None
    keys = _bulk_keys(orm_state)
    if keys is not None and not keys & _INDEXED:
        return None
    session = orm_state.session
    params = orm_state.parameters
    if isinstance(params, list) and params and all("id" in p for p in params):
        ids = [p["id"] for p in params]
    else:
        where = getattr(orm_state.statement, "whereclause", None)
        sel = select(Item.id) if where is None else select(Item.id).where(where)
        ids = list(session.execute(sel).scalars())
    result = orm_state.invoke_statement()
    reindex(session, ids)
    return result


_ITEMS = table(
    "items", column("id"), column("title"), column("summary"), column("text"), column("language"),
    column("search_title"), column("search_text"),
)


def reindex(bind: Session | Connection, ids: Iterable[int] | None = None, *, batch: int = 1000,
            missing_only: bool = False) -> int:
    """Recompute search_title / search_text (all items, the given ids, or those never filled); returns a count.

    For existing archives (the 0002 migration calls it) and for writes that bypass the ORM flush.
    """
    conn = bind.connection() if isinstance(bind, Session) else bind
    t = _ITEMS
    cols = (t.c.id, t.c.title, t.c.summary, t.c.text, t.c.language)
    upd = (
        t.update()
        .where(t.c.id == bindparam("_id"))
        .values(search_title=bindparam("_st"), search_text=bindparam("_sb"))
    )

    def apply(rows: list[Any]) -> int:
        if rows:
            conn.execute(upd, [
                dict(zip(("_id", "_st", "_sb"), (r[0], *search_columns(r[1], r[2], r[3], r[4])), strict=True))
                for r in rows
            ])
        return len(rows)

    done = 0
    if ids is not None:
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), batch):
            done += apply(list(conn.execute(select(*cols).where(t.c.id.in_(wanted[i : i + batch])))))
        return done
    last = None
    while True:
        stmt = select(*cols).order_by(t.c.id).limit(batch)
        if last is not None:
            stmt = stmt.where(t.c.id > last)
        if missing_only:
            stmt = stmt.where(t.c.search_title.is_(None))
        rows = list(conn.execute(stmt))
        if not rows:
            return done
        done += apply(rows)
        last = rows[-1][0]


# --- query AST -> normalised token sequences ----------------------------------------------------

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

    def visit(n: q_ast.Node) -> None:
        if isinstance(n, q_ast.Term | q_ast.Phrase):
            for seq in _node_variants(n, langs):
                for tok, pre in seq:
                    (prefixes if pre else exact).add(tok)
        elif isinstance(n, q_ast.And | q_ast.Or):
            for c in n.children:
                visit(c)

    visit(node)
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
                parsed = datetime.fromisoformat(p)
                data["p"] = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except (ValueError, OverflowError):
                raise SearchError(_CURSOR_ERROR) from None
    else:
        r = data.get("r")
        try:
            if isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r) or abs(r) > 1e300:
                raise ValueError
        except OverflowError:  # an integer beyond any float
            raise SearchError(_CURSOR_ERROR) from None
        except ValueError:
            raise SearchError(_CURSOR_ERROR) from None
        data["r"] = float(r)
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
    if node is None:
        rows = _page_by_date(session, conds, f)
        ranks: dict[int, float | None] = {r[0]: None for r in rows}
        ids = [r[0] for r in rows]
        last = rows[f.limit - 1] if len(rows) > f.limit else None
        nxt = (
            _encode_cursor({"k": "d", "p": last[1].isoformat() if last[1] else None, "id": last[0]}, f)
            if last
            else None
        )
    else:
        rank_rows = _page_by_rank(session, dialect, node, langs, conds, f)
        ids = [r[0] for r in rank_rows]
        ranks = {r[0]: float(r[1]) for r in rank_rows}
        last = rank_rows[f.limit - 1] if len(rank_rows) > f.limit else None
        nxt = _encode_cursor({"k": "r", "r": float(last[1]), "id": last[0]}, f) if last else None
    ids = ids[: f.limit]
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


def _rank_query(
    dialect: str, node: q_ast.Node, langs: tuple[str, ...]
) -> tuple[Select[Any], ColumnElement[Any]]:
    """(SELECT id, rank FROM … WHERE text matches, rank column) for the dialect."""
    if dialect == "sqlite":
        match = to_fts5(node, langs)
        rank = func.bm25(literal_column("items_fts"), 10.0, 1.0)  # search_title, search_text
        stmt = (
            select(Item.id, rank.label("rank"))
            .select_from(Item)
            .join(_fts_table(), _fts_rowid() == Item.id)
            .where(literal_column("items_fts").op("MATCH")(match))
        )
        return stmt, rank
    if dialect == "postgresql":
        tsq = func.to_tsquery(_PG_CONFIG, to_tsquery(node, langs))
        vector = literal_column("items.search_vector")
        rank = -cast(func.ts_rank_cd(vector, tsq), Double())  # float8: exact in cursors
        stmt = select(Item.id, rank.label("rank")).where(vector.op("@@")(tsq))
        return stmt, rank
    raise SearchError(f"full-text search is not available on {dialect}")


def _fts_table() -> TableClause:
    """The FTS5 virtual table (not an ORM model: triggers maintain it)."""
    return table("items_fts", column("rowid"))


def _fts_rowid() -> ColumnElement[Any]:
    return literal_column("items_fts.rowid")


def _page_by_rank(
    session: Session,
    dialect: str,
    node: q_ast.Node,
    langs: tuple[str, ...],
    conds: list[ColumnElement[bool]],
    f: ItemFilter,
) -> list[Any]:
    stmt, rank = _rank_query(dialect, node, langs)
    stmt = stmt.where(*conds)
    if f.cursor:
        c = _decode_cursor(f.cursor, "r", f, session)
        r = c["r"]
        stmt = stmt.where(or_(rank > r, and_(rank == r, Item.id < c["id"])))
    stmt = stmt.order_by(rank.asc(), Item.id.desc()).limit(f.limit + 1)
    try:
        return list(session.execute(stmt).all())
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
    for item_id, item in items.items():
        lang = item_language(item.title, item.summary, item.text, item.language)

        def hit(surface: str, lang: str | None = lang) -> bool:
            tok, folded = index_word(surface, lang), fold(surface)
            if tok in exact or folded in exact:
                return True
            return any(tok.startswith(p) or folded.startswith(p) for p in prefixes)

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
        "matches": list(item.matches or []),
        "snippet": hit.snippet if hit else None,
        "rank": hit.rank if hit else None,
        "duplicate_of": item.duplicate_of_id,
        "symbols": sorted(s.symbol for s in item.symbols),
        "kind": item.kind,
        "fetched_at": item.fetched_at.isoformat() if item.fetched_at else None,
    }


__all__ = [
    "ItemFilter",
    "ItemHit",
    "SearchError",
    "SearchPage",
    "clean_query",
    "highlight_html",
    "id_fits",
    "item_to_dict",
    "parse_date",
    "parse_user_query",
    "query_fingerprint",
    "search_items",
    "to_fts5",
    "to_tsquery",
]
