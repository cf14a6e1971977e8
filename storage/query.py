"""The boolean query language of searches and subscriptions.

Grammar (operators are the UPPERCASE words AND, OR, NOT; adjacent terms are ANDed; AND binds tighter
than OR; `-term` is NOT term):
    "autonomous weapons" AND (UN OR NATO) NOT cyber      drone*      -cyber
AST nodes are the frozen dataclasses below. `parse_query` builds them, `compile_query` matches texts with
the normalisation of storage.textnorm (case, accents, stemming per language, Korean particles, CJK);
storage.search translates them for the full-text engines.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from storage.textnorm import (
    Token,
    base_language,
    detect_language,
    is_hangul,
    strip_korean_particle,
    tokenize,
)


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Term:
    text: str  # as typed (unnormalised)
    prefix: bool = False  # typed with a trailing *


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # as typed


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Term | Phrase | And | Or | Not


# --------------------------------------------------------------------------- parser

MAX_QUERY_LENGTH = 1000
MAX_DEPTH = 40
OPERATORS = ("AND", "OR", "NOT")


@dataclass(frozen=True)
class _Tok:
    kind: str  # word | phrase | lparen | rparen | and | or | not | minus
    text: str
    pos: int


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            toks.append(_Tok("lparen", ch, i))
            i += 1
        elif ch == ")":
            toks.append(_Tok("rparen", ch, i))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unbalanced quote: a phrase is not closed", i)
            toks.append(_Tok("phrase", text[i + 1 : end], i))
            i = end + 1
        elif ch == "-" and (i + 1 >= n or text[i + 1].isspace() or text[i + 1] in ")"):
            raise QuerySyntaxError("'-' must be followed by a term, a phrase or a group", i)
        elif ch == "-":
            toks.append(_Tok("minus", ch, i))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"':
                i += 1
            word = text[start:i]
            kind = word.lower() if word in OPERATORS else "word"
            toks.append(_Tok(kind, word, start))
    return toks


class _Parser:
    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text, self.toks, self.i = text, toks, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def end_pos(self) -> int:
        return len(self.text)

    def parse(self) -> Node:
        node = self.parse_or(0)
        tok = self.peek()
        if tok is not None:
            if tok.kind == "rparen":
                raise QuerySyntaxError("unbalanced parenthesis: ')' without '('", tok.pos)
            raise QuerySyntaxError(f"unexpected {tok.text!r}", tok.pos)  # pragma: no cover - defensive
        return node

    def parse_or(self, depth: int) -> Node:
        children = [self.parse_and(depth)]
        while (tok := self.peek()) is not None and tok.kind == "or":
            self.take()
            self.expect_operand(tok)
            children.append(self.parse_and(depth))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self, depth: int) -> Node:
        children = [self.parse_unary(depth)]
        while (tok := self.peek()) is not None and tok.kind not in ("or", "rparen"):
            if tok.kind == "and":
                self.take()
                self.expect_operand(tok)
            children.append(self.parse_unary(depth))
        return children[0] if len(children) == 1 else And(tuple(children))

    def expect_operand(self, op: _Tok) -> None:
        nxt = self.peek()
        if nxt is None:
            raise QuerySyntaxError(f"dangling operator {op.text!r} at the end of the query", op.pos)
        if nxt.kind in ("and", "or", "rparen"):
            raise QuerySyntaxError(f"operator {op.text!r} is missing its right-hand side", op.pos)

    def parse_unary(self, depth: int) -> Node:
        tok = self.peek()
        if tok is None:  # pragma: no cover - guarded by callers
            raise QuerySyntaxError("unexpected end of query", self.end_pos())
        if tok.kind in ("and", "or"):
            raise QuerySyntaxError(f"operator {tok.text!r} is missing its left-hand side", tok.pos)
        if tok.kind == "rparen":
            raise QuerySyntaxError("unbalanced parenthesis: ')' without '('", tok.pos)
        if tok.kind in ("not", "minus"):
            self.take()
            if depth >= MAX_DEPTH:
                raise QuerySyntaxError("query is nested too deeply", tok.pos)
            if tok.kind == "not":
                self.expect_operand(tok)
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("not", "minus"):
                return Not(self.parse_unary(depth + 1))
            return Not(self.parse_primary(depth + 1))
        return self.parse_primary(depth)

    def parse_primary(self, depth: int) -> Node:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("unexpected end of query", self.end_pos())
        if tok.kind == "lparen":
            self.take()
            if depth >= MAX_DEPTH:
                raise QuerySyntaxError("query is nested too deeply", tok.pos)
            nxt = self.peek()
            if nxt is None:
                raise QuerySyntaxError("unbalanced parenthesis: '(' is not closed", tok.pos)
            if nxt.kind == "rparen":
                raise QuerySyntaxError("empty group '()'", tok.pos)
            node = self.parse_or(depth + 1)
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise QuerySyntaxError("unbalanced parenthesis: '(' is not closed", tok.pos)
            self.take()
            return node
        if tok.kind == "phrase":
            self.take()
            words = tuple(tok.text.split())
            if not words or not any(_searchable(w) for w in words):
                raise QuerySyntaxError("empty phrase", tok.pos)
            return Phrase(words)
        if tok.kind == "word":
            self.take()
            return _word(tok)
        raise QuerySyntaxError(f"unexpected {tok.text!r}", tok.pos)


def _searchable(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def _word(tok: _Tok) -> Term:
    text = tok.text
    prefix = text.endswith("*")
    core = text.rstrip("*")
    if "*" in core:
        raise QuerySyntaxError("a wildcard '*' is only allowed at the end of a term", tok.pos + core.index("*"))
    if not _searchable(core):
        raise QuerySyntaxError(f"term {text!r} has no letters or digits", tok.pos)
    if prefix and sum(ch.isalnum() for ch in core) < 2:
        raise QuerySyntaxError("a prefix wildcard needs at least two letters before '*'", tok.pos)
    return Term(core, prefix)


def parse_query(text: str) -> Node:
    """Parse a boolean query; raises QuerySyntaxError (with a 0-based position) when it is malformed."""
    if not isinstance(text, str):
        raise QuerySyntaxError("the query must be a string")
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query is too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})", MAX_QUERY_LENGTH
        )
    nul = text.find("\x00")
    if nul >= 0:
        raise QuerySyntaxError("the query contains a NUL character", nul)
    toks = _lex(text)
    if not toks:
        raise QuerySyntaxError("empty query", 0)
    return _Parser(text, toks).parse()


# --------------------------------------------------------------------------- matcher


_Pattern = tuple[str, str, str]


@dataclass(frozen=True)
class _Doc:
    tokens: list[Token]
    keys: frozenset[str]  # stems and folded words
    folds: tuple[str, ...]
    hangul: tuple[str, ...]


def _prepare(text: str, lang: str | None) -> _Doc:
    tokens = tokenize(text, lang)
    folds = tuple(sorted({t.fold for t in tokens}))
    keys = frozenset(t.norm for t in tokens) | frozenset(folds)
    return _Doc(tokens, keys, folds, tuple(f for f in folds if is_hangul(f)))


@lru_cache(maxsize=50_000)
def _word_patterns(word: str, prefix: bool, lang: str | None) -> tuple[_Pattern, ...]:
    """Patterns (kind, value, alt) for one typed word; kind is norm | prefix | hangul.

    A `norm` pattern matches a token whose stem or folded form is the word's stem or folded form, which
    absorbs stemmer quirks (Dutch "wapens" → "wapen" but "wapen" → "waap")."""
    toks = tokenize(word, lang)
    out = []
    for i, tok in enumerate(toks):
        if is_hangul(tok.surface):
            out.append(("hangul", strip_korean_particle(tok.fold), ""))
        elif prefix and i == len(toks) - 1:
            out.append(("prefix", tok.fold, ""))
        else:
            out.append(("norm", tok.norm, tok.fold))
    return tuple(out)


def _pattern_ok(pattern: _Pattern, tok: Token) -> bool:
    kind, value, alt = pattern
    if kind == "norm":
        return tok.norm in (value, alt) or tok.fold in (value, alt)
    if kind == "prefix":
        return tok.fold.startswith(value)
    return value in tok.fold


def _single(pattern: _Pattern, doc: _Doc) -> bool:
    kind, value, alt = pattern
    if kind == "norm":
        return value in doc.keys or alt in doc.keys
    if kind == "prefix":
        i = bisect_left(doc.folds, value)
        return i < len(doc.folds) and doc.folds[i].startswith(value)
    return any(value in f for f in doc.hangul)


def _sequence(patterns: tuple[_Pattern, ...], doc: _Doc) -> bool:
    if not patterns:
        return False
    if len(patterns) == 1:
        return _single(patterns[0], doc)
    if not all(_single(p, doc) for p in patterns):
        return False
    toks, n, k = doc.tokens, len(doc.tokens), len(patterns)
    return any(all(_pattern_ok(p, toks[i + j]) for j, p in enumerate(patterns)) for i in range(n - k + 1))


def _eval(node: Node, doc: _Doc, lang: str | None) -> bool:
    if isinstance(node, Term):
        return _sequence(_word_patterns(node.text, node.prefix, lang), doc)
    if isinstance(node, Phrase):
        patterns: tuple[_Pattern, ...] = ()
        for i, word in enumerate(node.words):
            last = i == len(node.words) - 1
            patterns += _word_patterns(word.rstrip("*") if last else word, last and word.endswith("*"), lang)
        return _sequence(patterns, doc)
    if isinstance(node, And):
        return all(_eval(c, doc, lang) for c in node.children)
    if isinstance(node, Or):
        return any(_eval(c, doc, lang) for c in node.children)
    return not _eval(node.child, doc, lang)


@dataclass(frozen=True)
class CompiledQuery:
    """A parsed query (or None: match everything) that matches texts with the shared normalisation."""

    text: str | None
    ast: Node | None

    def matches(self, text: str, lang: str | None = None) -> bool:
        """Does `text` (in language `lang`, guessed when None) satisfy the query?"""
        if self.ast is None:
            return True
        lang = base_language(lang) or detect_language(text)
        return _eval(self.ast, _prepare(text, lang), lang)

    @property
    def match_all(self) -> bool:
        return self.ast is None


def compile_query(text: str | None) -> CompiledQuery:
    """Parse `text` once for repeated matching; None or a blank query matches everything."""
    if text is None or not text.strip():
        return CompiledQuery(text, None)
    return CompiledQuery(text, parse_query(text))


# --------------------------------------------------------------------------- query walks


def positive_leaves(node: Node) -> Iterator[Term | Phrase]:
    """The words and phrases a matching text must or may contain (those under NOT are left out), in order."""
    if isinstance(node, Term | Phrase):
        yield node
    elif isinstance(node, And | Or):
        for c in node.children:
            yield from positive_leaves(c)
