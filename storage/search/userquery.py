"""The user's query text as a query AST (storage.query), cleaned and pruned of what cannot be searched."""

from __future__ import annotations

import re

from storage import query as q_ast
from storage.query import MAX_QUERY_LENGTH
from storage.search.types import SearchError
from storage.textnorm import TOKEN_RE

# Control characters and the private-use highlight sentinels (storage.search.snippets).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")


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
        return node if TOKEN_RE.search(node.text) else None
    if isinstance(node, q_ast.Phrase):
        words = tuple(w for w in node.words if TOKEN_RE.search(w))
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


def check_positive(node: q_ast.Node) -> None:
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
