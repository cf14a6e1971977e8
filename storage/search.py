"""Full-text search over the archive: SQLite FTS5 or PostgreSQL tsvector behind one interface.

`search_items(session, ItemFilter(...))` returns one page of hits with keyset (cursor) pagination:
text queries are ordered by rank, others by publication date (newest first, undated last).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Double, and_, cast, column, exists, func, literal_column, or_, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql import Select, TableClause

from storage import query as q_ast
from storage.models import Item, ItemSymbol, Source

MAX_LIMIT = 500
MAX_QUERY_LENGTH = 1000
# Private-use sentinels around highlighted words: the text is HTML-escaped, then they become <mark>.
_OPEN, _CLOSE = "\ue000", "\ue001"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")
_WORD = re.compile(r"\w+")
_PG_CONFIG = literal_column("'milai_search'::regconfig")


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
    except ValueError:
        raise SearchError(f"invalid date {value!r}: use YYYY-MM-DD or an ISO 8601 datetime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- query text -> AST ------------------------------------------------------------------------


def clean_query(text: str) -> str:
    """Drop NUL and other control characters a user (or a URL) may carry."""
    return _CONTROL.sub(" ", text).strip()


def parse_user_query(text: str) -> q_ast.Node | None:
    """The user's text as a query AST (None when there is nothing to search for)."""
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
        return node if _WORD.search(node.text) else None
    if isinstance(node, q_ast.Phrase):
        words = tuple(w for w in node.words if _WORD.search(w))
        if not words:
            return None
        return q_ast.Term(words[0]) if len(words) == 1 else q_ast.Phrase(words)
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


# --- AST -> SQLite FTS5 MATCH ------------------------------------------------------------------


def _fts5_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def to_fts5(node: q_ast.Node) -> str:
    """An FTS5 MATCH expression; every user word is quoted, so no FTS syntax can be injected."""
    if isinstance(node, q_ast.Term):
        return _fts5_quote(node.text) + ("*" if node.prefix else "")
    if isinstance(node, q_ast.Phrase):
        return _fts5_quote(" ".join(node.words))
    if isinstance(node, q_ast.Not):
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    if isinstance(node, q_ast.Or):
        return "(" + " OR ".join(to_fts5(c) for c in node.children) + ")"
    positives = [c for c in node.children if not isinstance(c, q_ast.Not)]
    negatives = [c.child for c in node.children if isinstance(c, q_ast.Not)]
    if not positives:
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    expr = "(" + " AND ".join(to_fts5(c) for c in positives) + ")"
    for neg in negatives:
        expr += " NOT " + to_fts5(neg)
    return expr


# --- AST -> PostgreSQL tsquery ----------------------------------------------------------------


def to_tsquery(node: q_ast.Node) -> ColumnElement[Any]:
    """A tsquery expression built from bound parameters (user text never reaches tsquery syntax)."""
    if isinstance(node, q_ast.Term):
        if node.prefix:
            words = _WORD.findall(node.text)
            literal = " <-> ".join(f"'{w}'" for w in words) + ":*"
            return func.to_tsquery(_PG_CONFIG, literal)
        return func.plainto_tsquery(_PG_CONFIG, node.text)
    if isinstance(node, q_ast.Phrase):
        return func.phraseto_tsquery(_PG_CONFIG, " ".join(node.words))
    if isinstance(node, q_ast.Not):
        return func.tsquery_not(to_tsquery(node.child))
    combine = func.tsquery_and if isinstance(node, q_ast.And) else func.tsquery_or
    parts = [to_tsquery(c) for c in node.children]
    expr = parts[0]
    for part in parts[1:]:
        expr = combine(expr, part)
    return expr


# --- cursors ----------------------------------------------------------------------------------


def _encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("id"), int):
            raise ValueError
        return data
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SearchError("invalid cursor: use the `next` value of the previous page with the same query") from None


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


def _validate(f: ItemFilter) -> None:
    if not 1 <= f.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
    if f.since and f.until and f.since > f.until:
        raise SearchError("`since` is after `until`")


def search_items(session: Session, f: ItemFilter) -> SearchPage:
    """One page of items matching `f`, best first, with the cursor of the next page (or None)."""
    _validate(f)
    node = parse_user_query(f.q) if f.q else None
    if node is not None:
        _check_positive(node)
    dialect = session.get_bind().dialect.name
    conds = _filters(f)
    if node is None:
        rows = _page_by_date(session, conds, f)
        ranks: dict[int, float | None] = {r[0]: None for r in rows}
        ids = [r[0] for r in rows]
        last = rows[f.limit - 1] if len(rows) > f.limit else None
        nxt = (
            _encode_cursor({"k": "d", "p": last[1].isoformat() if last[1] else None, "id": last[0]})
            if last
            else None
        )
    else:
        rank_rows = _page_by_rank(session, dialect, node, conds, f)
        ids = [r[0] for r in rank_rows]
        ranks = {r[0]: float(r[1]) for r in rank_rows}
        last = rank_rows[f.limit - 1] if len(rank_rows) > f.limit else None
        nxt = _encode_cursor({"k": "r", "r": float(last[1]), "id": last[0]}) if last else None
    ids = ids[: f.limit]
    items = _load(session, ids)
    snippets = _snippets(session, dialect, node, ids) if node is not None and ids else {}
    hits = [ItemHit(items[i], ranks.get(i), snippets.get(i)) for i in ids if i in items]
    return SearchPage(hits, nxt)


def _page_by_date(session: Session, conds: list[ColumnElement[bool]], f: ItemFilter) -> list[Any]:
    stmt = select(Item.id, Item.published).where(*conds)
    if f.cursor:
        c = _decode_cursor(f.cursor, "d")
        if c.get("p") is None:
            stmt = stmt.where(Item.published.is_(None), Item.id < c["id"])
        else:
            try:
                p = datetime.fromisoformat(c["p"])
            except (TypeError, ValueError):
                raise SearchError("invalid cursor") from None
            stmt = stmt.where(
                or_(
                    Item.published < p,
                    and_(Item.published == p, Item.id < c["id"]),
                    Item.published.is_(None),
                )
            )
    stmt = stmt.order_by(Item.published.desc().nulls_last(), Item.id.desc()).limit(f.limit + 1)
    return list(session.execute(stmt).all())


def _rank_query(dialect: str, node: q_ast.Node) -> tuple[Select[Any], ColumnElement[Any]]:
    """(SELECT id, rank FROM … WHERE text matches, rank column) for the dialect."""
    if dialect == "sqlite":
        match = to_fts5(node)
        rank = func.bm25(literal_column("items_fts"), 10.0, 4.0, 1.0)
        stmt = (
            select(Item.id, rank.label("rank"))
            .select_from(Item)
            .join(_fts_table(), _fts_rowid() == Item.id)
            .where(literal_column("items_fts").op("MATCH")(match))
        )
        return stmt, rank
    if dialect == "postgresql":
        tsq = to_tsquery(node)
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
    session: Session, dialect: str, node: q_ast.Node, conds: list[ColumnElement[bool]], f: ItemFilter
) -> list[Any]:
    stmt, rank = _rank_query(dialect, node)
    stmt = stmt.where(*conds)
    if f.cursor:
        c = _decode_cursor(f.cursor, "r")
        r = c.get("r")
        if not isinstance(r, int | float):
            raise SearchError("invalid cursor")
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


def _snippets(session: Session, dialect: str, node: q_ast.Node, ids: list[int]) -> dict[int, str]:
    """Highlighted fragments for the page's items only."""
    if dialect == "sqlite":
        snip = func.snippet(literal_column("items_fts"), -1, _OPEN, _CLOSE, "…", 24)
        stmt = (
            select(_fts_rowid(), snip)
            .select_from(_fts_table())
            .where(literal_column("items_fts").op("MATCH")(to_fts5(node)), _fts_rowid().in_(ids))
        )
    else:
        opts = f'StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords=35, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "'
        doc = func.concat_ws(" ", Item.title, Item.summary, func.left(Item.text, 20000))
        headline = func.ts_headline(_PG_CONFIG, doc, to_tsquery(node), opts)
        stmt = select(Item.id, headline).where(Item.id.in_(ids))
    return {row[0]: highlight_html(row[1] or "") for row in session.execute(stmt)}


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
    "item_to_dict",
    "parse_date",
    "parse_user_query",
    "search_items",
    "to_fts5",
    "to_tsquery",
]
