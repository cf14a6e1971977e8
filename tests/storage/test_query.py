"""The boolean query language: parser errors, property tests, matching with the shared normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.query import (
    MAX_QUERY_LENGTH,
    And,
    Not,
    Or,
    Phrase,
    QuerySyntaxError,
    Term,
    compile_query,
    parse_query,
)


def test_example_from_the_issue() -> None:
    ast = parse_query('"autonomous weapons" AND (UN OR NATO) NOT cyber')
    assert ast == And((Phrase(("autonomous", "weapons")), Or((Term("UN"), Term("NATO"))), Not(Term("cyber"))))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("drone*", Term("drone", prefix=True)),
        ("a b", And((Term("a"), Term("b")))),
        ("a -b", And((Term("a"), Not(Term("b"))))),
        ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),
        ("(a OR b) c", And((Or((Term("a"), Term("b"))), Term("c")))),
        ("NOT a", Not(Term("a"))),
        ("-(a OR b)", Not(Or((Term("a"), Term("b"))))),
        ("NOT -a", Not(Not(Term("a")))),
        ("a and b", And((Term("a"), Term("and"), Term("b")))),
        ("x-ray", Term("x-ray")),
    ],
)
def test_parses(query: str, expected: object) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    ("query", "position", "fragment"),
    [
        ('"autonomous weapons', 0, "quote"),
        ("(a OR b", 0, "parenthesis"),
        ("a OR b)", 6, "parenthesis"),
        ("AND a", 0, "left-hand"),
        ("a OR", 2, "dangling"),
        ("a AND OR b", 2, "right-hand"),
        ("a NOT", 2, "dangling"),
        ("()", 0, "empty group"),
        ("a ( ) b", 2, "empty group"),
        ("a - b", 2, "'-'"),
        ('""', 0, "empty phrase"),
        ("dr*ne", 2, "wildcard"),
        ("*", 0, "no letters"),
        ("a\x00b", 1, "NUL"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
    ],
)
def test_errors_have_positions(query: str, position: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert info.value.position == position
    assert fragment in info.value.message


def test_too_long_and_too_deep() -> None:
    with pytest.raises(QuerySyntaxError, match="too long"):
        parse_query("a " * MAX_QUERY_LENGTH)
    with pytest.raises(QuerySyntaxError, match="deeply"):
        parse_query("(" * 100 + "a" + ")" * 100)
    with pytest.raises(QuerySyntaxError, match="deeply"):
        parse_query("NOT " * 100 + "a")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*'ab "()*-\x00', " AND ", " OR ", " NOT ", "AND", " é", "인공"]), max_size=25))
def test_any_string_parses_or_raises_syntax_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        parse_query(text)
    except QuerySyntaxError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
        return
    compile_query(text).matches("a b é")  # a parsed query always evaluates


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    try:
        parse_query(text)
    except QuerySyntaxError:
        pass


@pytest.mark.parametrize(
    ("query", "text", "lang", "expected"),
    [
        ("weapons", "a new weapon", "en", True),
        ('"armes autonomes"', "une arme autonome", "fr", True),
        ('"armes autonomes"', "une arme autonome", None, True),
        ('"autonomous weapons"', "weapons that are autonomous", "en", False),
        ("Künstliche", "KUNSTLICHE Intelligenz", "de", True),
        ("drone*", "the drones flew", "en", True),
        ("drone*", "Drohnen", "de", False),
        ("REAIM -cyber", "The REAIM summit", "en", True),
        ("REAIM -cyber", "The REAIM summit on cyber", "en", False),
        ("NOT cyber", "nothing here", None, True),
        ("(UN OR NATO) AND drones", "NATO tests a drone", "en", True),
        ("인공지능", "인공지능의 군사적 이용", "ko", True),
        ("고위급회의", "2024 고위급회의 개회식", "ko", True),
        ("人工智能", "军事领域人工智能", "zh", True),
        ("оружие", "автономного оружия", "ru", True),
        ("wapens", "autonome wapensystemen en een wapen", "nl", True),
    ],
)
def test_matches(query: str, text: str, lang: str | None, expected: bool) -> None:
    assert compile_query(query).matches(text, lang) is expected


def test_empty_query_matches_everything() -> None:
    for q in (None, "", "  "):
        compiled = compile_query(q)
        assert compiled.ast is None and compiled.matches("anything") and compiled.matches("")


def test_compile_keeps_ast_and_raises() -> None:
    assert compile_query("a OR b").ast == Or((Term("a"), Term("b")))
    with pytest.raises(QuerySyntaxError):
        compile_query("a OR")
