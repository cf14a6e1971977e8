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


def _fts5_leaf(node: q_ast.Term | q_ast.Phrase, langs: tuple[str, ...]) -> str:
    seqs = node_variants(node, langs)
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
        seqs = node_variants(node, langs)
        if not seqs:
            raise SearchError("invalid query: a term has no letters or digits")
        return "(" + " | ".join(f"({_ts_seq(s)})" for s in seqs) + ")"
    if isinstance(node, q_ast.Not):
        return "!" + to_tsquery(node.child, langs)
    op = " & " if isinstance(node, q_ast.And) else " | "
    return "(" + op.join(to_tsquery(c, langs) for c in node.children) + ")"
