"""trafilatura's regular-expression XPaths, rewritten as plain XPath where the expression is a list of literals.

trafilatura prunes every page with XPath expressions such as `.//*[re:test(@class, '^hide-|comments-title|
… | noprint')]`. lxml runs each EXSLT `re:test` as a call back into Python, for every element the predicate
reaches: on a government page of ~400 elements these expressions were a third of trafilatura's CPU (2-3 ms per
page, mostly the favor_precision prune of the raw tree). Most of their patterns are only literals, alternatives
(`a|b`, `(?:a|b)`), one-character classes (`[Aa]`), optional parts (`-?`) and a leading `^`; such a
`re:test(S, P)` is true exactly when one of P's literal expansions is found in S (or starts S, after `^`),
which XPath says natively with `contains(S, '…')` / `starts-with(S, '…')` — same string of the same node-set
(the first node in document order, as lxml's re:test reads it), evaluated in C.

`literal_xpath` does that rewrite (or returns None when some re:test is not of that kind: flags, `\\s`, `$`,
repeats, …); `speed_up_trafilatura` replaces, in trafilatura.xpaths' lists (in place: every trafilatura module
holds the same list objects), each XPath whose every re:test rewrites, and leaves the others. The selection is
the same element list in the same order (tests/crawler/test_xpath_literals.py checks it on recorded and
synthetic pages); `original_xpaths()` puts trafilatura's own expressions back for a block (tests, bench/stages.py
--regex-xpaths)."""

from __future__ import annotations

import importlib
import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lxml.etree import XPath, XPathError

# the standard library's regular-expression parser (re._parser; sre_parse before Python 3.11)
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")

REGEXP_NS = "http://exslt.org/regular-expressions"
MAX_ALTERNATIVES = 200  # a pattern expanding to more literals stays a regular expression
# re:test(<node-set or attribute union>, '<pattern>') with no flags argument
_RE_TEST = re.compile(r"re:test\(\s*((?:@[\w-]+\s*\|\s*)*@[\w-]+)\s*,\s*'([^']*)'\s*\)")


class Untranslatable(Exception):
    """The pattern is more than literals."""


# (anchored at the start, literal, prefixes it must not start with: an anchored `(?!…)`)
Alternative = tuple[bool, str, tuple[str, ...]]


def _expand(items: Any) -> list[Alternative]:
    """The literal alternatives of a parsed pattern sequence; Untranslatable for anything else."""
    alternatives: list[Alternative] = [(False, "", ())]
    for op, arg in items:
        if op is sre_constants.LITERAL:
            alternatives = [(anchored, text + chr(arg), nots) for anchored, text, nots in alternatives]
        elif op is sre_constants.AT and arg is sre_constants.AT_BEGINNING:
            alternatives = [_join(alt, (True, "", ())) for alt in alternatives]
        elif op is sre_constants.IN:
            chars = []
            for kind, value in arg:
                if kind is not sre_constants.LITERAL:
                    raise Untranslatable(f"character class with {kind}")
                chars.append(chr(value))
            alternatives = [(anchored, text + c, nots) for anchored, text, nots in alternatives for c in chars]
        elif op is sre_constants.BRANCH:
            branches = [alt for seq in arg[1] for alt in _expand(seq)]
            alternatives = [_join(a, b) for a, b in itertools.product(alternatives, branches)]
        elif op is sre_constants.SUBPATTERN:
            _group, add_flags, del_flags, sub = arg
            if add_flags or del_flags:
                raise Untranslatable("inline flags")
            inner = _expand(sub)
            alternatives = [_join(a, b) for a, b in itertools.product(alternatives, inner)]
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] == 0 and arg[1] == 1:
            inner = _expand(arg[2])
            alternatives = alternatives + [_join(a, b) for a, b in itertools.product(alternatives, inner)]
        elif op is sre_constants.ASSERT_NOT and arg[0] == 1:  # (?!…): lookahead
            ahead = _expand(arg[1])
            if any(anchored or nots for anchored, _, nots in ahead):
                raise Untranslatable("anchor or lookahead inside a lookahead")
            # at the start of the string only (an anchored alternative): it must not start with text + ahead
            alternatives = [(anchored, text, nots + tuple(text + a for _, a, _ in ahead))
                            for anchored, text, nots in alternatives]
        else:
            raise Untranslatable(f"{op}")
        if len(alternatives) > MAX_ALTERNATIVES:
            raise Untranslatable("too many alternatives")
    return alternatives


def _join(first: Alternative, second: Alternative) -> Alternative:
    """`first` followed by `second`."""
    anchored, text, nots = first
    second_anchored, second_text, second_nots = second
    if second_anchored and text:
        raise Untranslatable("^ after a character")
    return (anchored or second_anchored, text + second_text, nots + tuple(text + n for n in second_nots))


def literal_alternatives(pattern: str) -> list[Alternative]:
    """The (anchored, literal, excluded prefixes) alternatives that re.search(pattern, s) tries, when the
    pattern is only those; Untranslatable otherwise."""
    parsed = sre_parse.parse(pattern)
    if parsed.state.flags & ~sre_constants.SRE_FLAG_UNICODE:
        raise Untranslatable("flags")
    alternatives = list(dict.fromkeys(_expand(list(parsed))))
    if any(nots and not anchored for anchored, _, nots in alternatives):
        raise Untranslatable("a lookahead that is not at the start of the string")
    return alternatives


def _quote(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise Untranslatable("both quotes in a literal")


def _condition(nodes: str, pattern: str) -> str:
    alternatives = literal_alternatives(pattern)
    tests = []
    for anchored, text, nots in alternatives:
        test = f"{'starts-with' if anchored else 'contains'}({nodes}, {_quote(text)})"
        if nots:
            test = " and ".join([test, *(f"not(starts-with({nodes}, {_quote(n)}))" for n in nots)])
            test = f"({test})"
        tests.append(test)
    condition = " or ".join(tests)
    if all(text for _, text, _ in alternatives):
        # none matches the empty string (what an element without these attributes offers): a cheap test of the
        # attributes' presence first, so most elements never evaluate the alternatives
        return f"({nodes} and ({condition}))"
    return f"({condition})"


def literal_xpath(source: str) -> str | None:
    """`source` with every re:test rewritten as contains/starts-with; None when one of them cannot be, or when
    the rewritten expression would still need the regular-expression namespace."""
    try:
        rewritten = _RE_TEST.sub(lambda m: _condition(m.group(1), m.group(2)), source)
    except (Untranslatable, re.error):
        return None
    if "re:" in rewritten:
        return None
    return rewritten


_applied = threading.Lock()
_done: dict[str, int] = {}
# (list, index, trafilatura's own expression, ours) of every replacement made
REPLACED: list[tuple[list[Any], int, XPath, XPath]] = []


@contextmanager
def original_xpaths() -> Iterator[None]:
    """trafilatura's own expressions back in place while the block runs (tests compare the two)."""
    for holder, index, original, _ours in REPLACED:
        holder[index] = original
    try:
        yield
    finally:
        for holder, index, _original, ours in REPLACED:
            holder[index] = ours


def speed_up_trafilatura() -> int:
    """Rewrite trafilatura's literal-only regular-expression XPaths in place (once per process); the number
    replaced."""
    with _applied:
        if "count" in _done:
            return _done["count"]
        count = 0
        from trafilatura import xpaths

        for value in vars(xpaths).values():
            if not isinstance(value, list):
                continue
            for index, expression in enumerate(value):
                if not isinstance(expression, XPath) or "re:test" not in expression.path:
                    continue
                rewritten = literal_xpath(expression.path)
                if rewritten is None:
                    continue
                try:
                    ours = XPath(rewritten)
                except XPathError:  # pragma: no cover - a rewrite lxml refuses: keep the original
                    continue
                value[index] = ours
                REPLACED.append((value, index, expression, ours))
                count += 1
        _done["count"] = count
        return count
