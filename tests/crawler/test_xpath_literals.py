"""trafilatura's literal-only regular-expression XPaths rewritten as plain XPath (crawler.xpath_literals): the
same elements selected, in the same order, and the same extraction."""

from __future__ import annotations

import random
import re

import lxml.html
import pytest
from lxml.etree import XPath

from bench.crawl import article
from crawler.extract import extract_page, parse_html
from crawler.xpath_literals import (
    _RE_TEST,
    REPLACED,
    Untranslatable,
    literal_alternatives,
    literal_xpath,
    original_xpaths,
    speed_up_trafilatura,
)
from tests.conftest import FIXTURES

TAGS = ("div", "p", "section", "span", "ul", "ol", "li", "article", "main", "aside", "details", "item", "list",
        "a", "h1", "h2", "header", "footer", "nav", "time", "figure", "quote", "cite")
ATTRIBUTES = ("id", "class", "style", "role", "aria-hidden", "data-component", "data-lp-replacement-content",
              "itemprop", "rel")


def _matches(alternatives: list[tuple[bool, str, tuple[str, ...]]], value: str) -> bool:
    return any((value.startswith(text) if anchored else text in value) and not any(value.startswith(n) for n in nots)
               for anchored, text, nots in alternatives)


def _literals() -> list[str]:
    found: set[str] = set()
    for _holder, _index, original, _ours in REPLACED:
        for m in _RE_TEST.finditer(original.path):
            for _anchored, text, nots in literal_alternatives(m.group(2)):
                found.add(text)
                found.update(nots)
    return sorted(found)


def _value(rng: random.Random, literals: list[str]) -> str:
    """An attribute value made of the patterns' own literals, cut, capitalised or extended ('Commentary')."""
    parts = []
    for _ in range(rng.randint(0, 3)):
        literal = rng.choice(literals)
        roll = rng.random()
        if roll < 0.2:
            literal = literal[1:]
        elif roll < 0.4:
            literal = literal[:-1]
        elif roll < 0.5:
            literal = literal.upper()
        elif roll < 0.6:
            literal += rng.choice(["ary", "x", " ", "-", "s"])
        parts.append(literal)
    return rng.choice([" ", "", "-"]).join(parts)


def _synthetic_page(rng: random.Random, literals: list[str]) -> str:
    def element(depth: int) -> str:
        tag = rng.choice(TAGS)
        names = list(ATTRIBUTES)
        rng.shuffle(names)  # attribute order matters: re:test(@id|@class) reads the first in document order
        attributes = " ".join(f'{name}="{_value(rng, literals)}"' for name in names[: rng.randint(0, 4)])
        children = "".join(element(depth + 1) for _ in range(rng.randint(0, 3))) if depth < 4 else ""
        return f"<{tag} {attributes}>text {children}</{tag}>"

    return "<html><body>" + "".join(element(0) for _ in range(6)) + "</body></html>"


def _pages() -> list[str]:
    pages = [article(site, n)[3].decode("utf-8") for site in range(5) for n in range(6)]
    pages += [path.read_text(encoding="utf-8", errors="replace") for path in sorted(FIXTURES.rglob("*.html"))]
    return pages


@pytest.mark.parametrize("pattern", [
    "^hide-|comments-title|nocomments|-reply-| hidden| hide",
    "(?:^| )ad-|dfp[Aa]d|bread-?crumb|^(?:jp-|dpsp-content)",
    "^(?:[Cc]omment(?!ary)|comol|disqus_thread)",
    "^[Cc]omment(?!ary)|(?:article|post)-comments",
    "mvp-post-add-(?:box|wrap)|infinite-?scroll",
])
def test_literal_alternatives_decide_as_re_search(pattern: str) -> None:
    alternatives = literal_alternatives(pattern)
    literals = sorted({text for _, text, _ in alternatives} | {n for _, _, nots in alternatives for n in nots})
    rng = random.Random(pattern)
    values = ["", " ", "Commentary", "commentary-list", "comment", "x comment", "ad-x", "a ad-", "bad-"]
    values += [_value(rng, literals) for _ in range(3000)]
    for value in values:
        assert _matches(alternatives, value) == bool(re.search(pattern, value)), (pattern, value)


@pytest.mark.parametrize("pattern", [
    "(^|\\s)bottom", "bottom(\\s|$)", "a+b", "[a-z]omment", "[^x]y", "comment(?!ary)", "(?i)author", "a.b", "x{2}",
])
def test_patterns_that_are_more_than_literals_stay_regular_expressions(pattern: str) -> None:
    with pytest.raises((Untranslatable, re.error)):
        literal_alternatives(pattern)
    assert literal_xpath(f".//*[re:test(@class, '{pattern}')]") is None


def test_flags_and_other_arguments_stay_regular_expressions() -> None:
    assert literal_xpath(".//*[re:test(@class, 'fulltext', 'i')]") is None
    assert literal_xpath(".//*[re:test(., 'fulltext')]") is None
    assert literal_xpath(".//*[re:test(@class, 'full') or re:test(@id, 'a\\s')]") is None
    assert literal_xpath(".//*[re:test(@id|@class, '^a|b')]") == (
        ".//*[(@id|@class and (starts-with(@id|@class, 'a') or contains(@id|@class, 'b')))]")


def test_rewritten_trafilatura_xpaths_select_the_same_elements_in_the_same_order() -> None:
    assert speed_up_trafilatura() == len(REPLACED) >= 10  # OVERALL_DISCARD_XPATH, comments, body, metadata…
    literals = _literals()
    rng = random.Random(9)
    trees = [parse_html(page) for page in _pages()]
    trees += [lxml.html.document_fromstring(_synthetic_page(rng, literals)) for _ in range(250)]
    selected = 0
    for _holder, _index, original, ours in REPLACED:
        assert isinstance(ours, XPath) and "re:" not in ours.path
        for tree in trees:
            expected = original(tree)
            assert ours(tree) == expected, original.path
            selected += len(expected)
    assert selected > 1000  # the synthetic pages do reach the expressions' matches


def test_extraction_is_the_same_with_trafilaturas_own_expressions() -> None:
    speed_up_trafilatura()
    for n, page in enumerate(_pages()):
        url = f"https://www.example.org/news/{n}"
        ours = extract_page(page.encode("utf-8"), url, encoding="utf-8")
        with original_xpaths():
            theirs = extract_page(page.encode("utf-8"), url, encoding="utf-8")
        assert ours == theirs
        assert ours.text

