"""The query AST as the engines' full-text expressions over the normalised columns: an SQLite FTS5
MATCH string or a PostgreSQL tsquery. Every token is quoted: user text never reaches their operators."""

from __future__ import annotations

from collections.abc import Iterable

from storage import query as q_ast
from storage.search.types import SearchError
from storage.search.variants import Seq, node_variants, query_languages

# --- AST -> SQLite FTS5 MATCH ------------------------------------------------------------------


def _fts5_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5_seq(seq: Seq) -> str:
    return " + ".join(_fts5_quote(tok) + ("*" if pre else "") for tok, pre in seq)


def _covers(a: Seq, b: Seq) -> bool:
    """Whether every token sequence matching `b` matches `a` too (same length; at each position the same
    token, or a prefix term of `a` that `b`'s token starts with): `"dron"*` covers `"drone"*` and `"drone"`."""
    return len(a) == len(b) and all(ta == tb and pa == pb or pa and tb.startswith(ta)
                                    for (ta, pa), (tb, pb) in zip(a, b, strict=True))


def fts5_variants(seqs: tuple[Seq, ...]) -> list[Seq]:
    """The variants without those another one covers: the same matches, and each prefix a doclist merge
    fewer (FTS5 merges every term of a prefix once per statement: `drone*` is `"drone"* OR "dron"*`)."""
    kept: list[Seq] = []
    for i, s in enumerate(seqs):
        if not any(_covers(o, s) and (not _covers(s, o) or j < i) for j, o in enumerate(seqs) if j != i):
            kept.append(s)
    return kept


def _fts5_leaf(node: q_ast.Term | q_ast.Phrase, langs: tuple[str, ...], merged: bool) -> str:
    seqs = node_variants(node, langs)
    if merged:
        seqs = tuple(fts5_variants(seqs))
    if not seqs:
        raise SearchError("invalid query: a term has no letters or digits")
    parts = [_fts5_seq(s) for s in seqs]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def to_fts5(node: q_ast.Node, languages: Iterable[str] | None = None, *, merged: bool = False) -> str:
    """An FTS5 MATCH expression over the normalised columns; every token is quoted (no FTS syntax
    can be injected). `languages`: those the query words are normalised in (default: all stemmers').
    `merged`: without the variants another one covers (`fts5_variants`; same matches, fewer prefix merges)."""
    langs = query_languages(languages)
    if isinstance(node, q_ast.Term | q_ast.Phrase):
        return _fts5_leaf(node, langs, merged)
    if isinstance(node, q_ast.Not):
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    if isinstance(node, q_ast.Or):
        return "(" + " OR ".join(to_fts5(c, langs, merged=merged) for c in node.children) + ")"
    positives = [c for c in node.children if not isinstance(c, q_ast.Not)]
    negatives = [c.child for c in node.children if isinstance(c, q_ast.Not)]
    if not positives:
        raise SearchError("invalid query: NOT needs a word to search for beside it")
    expr = "(" + " AND ".join(to_fts5(c, langs, merged=merged) for c in positives) + ")"
    for neg in negatives:
        expr += " NOT " + to_fts5(neg, langs, merged=merged)
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
        seqs = node_variants(node, langs)
        if not seqs:
            raise SearchError("invalid query: a term has no letters or digits")
        return "(" + " | ".join(f"({_ts_seq(s)})" for s in seqs) + ")"
    if isinstance(node, q_ast.Not):
        return "!" + to_tsquery(node.child, langs)
    op = " & " if isinstance(node, q_ast.And) else " | "
    return "(" + op.join(to_tsquery(c, langs) for c in node.children) + ")"
