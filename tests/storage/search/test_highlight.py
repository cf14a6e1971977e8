"""highlight_html copies the text between sentinels in slices: the same output as the reference
state machine (one character at a time) for any mix of sentinels, markup characters and text."""

from __future__ import annotations

import html
import random

from storage.search.snippets import _CLOSE, _OPEN, highlight_html


def reference(fragment: str) -> str:
    """The former implementation: each character of the escaped fragment through the state machine."""
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


def test_same_output_as_the_character_loop() -> None:
    rnd = random.Random(14)
    alphabet = [_OPEN, _CLOSE, "<", ">", "&", '"', "'", " ", "a", "é", "漢", "\n", "…"]
    cases = ["", _OPEN, _CLOSE, _OPEN + _OPEN + "x" + _CLOSE + _CLOSE, _CLOSE + "x" + _OPEN + "y",
             f"a {_OPEN}drone{_CLOSE} <b>&{_OPEN}x"]
    cases += ["".join(rnd.choices(alphabet, k=rnd.randint(0, 60))) for _ in range(3_000)]
    for fragment in cases:
        assert highlight_html(fragment) == reference(fragment), repr(fragment)


def test_marks_and_escapes() -> None:
    assert highlight_html(f"<i>{_OPEN}drone{_CLOSE} & co") == "&lt;i&gt;<mark>drone</mark> &amp; co"
    assert highlight_html(f"{_OPEN}open") == "<mark>open</mark>"
