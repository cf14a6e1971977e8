"""Per-item caps and storable strings (crawler.bounds), and the decoding step (crawler.encoding)."""

from __future__ import annotations

import pytest

from crawler.bounds import cut_html, cut_text, cut_title, storable
from crawler.encoding import decode_html, repaired_utf8


def test_cut_text_ends_at_a_paragraph_sentence_or_word() -> None:
    text = ("First paragraph ends here.\n\n" + "Second one is a sentence. And another sentence follows it. " * 40)
    cut, was_cut = cut_text(text, 1000)
    assert was_cut and len(cut) <= 1000 and cut.endswith(("a sentence.", "follows it."))
    words = "word " * 500
    cut, was_cut = cut_text(words, 1001)
    assert was_cut and cut.endswith("word") and len(cut) <= 1001
    assert cut_text("short", 10) == ("short", False)
    unbroken = "x" * 5000
    assert cut_text(unbroken, 1000) == ("x" * 1000, True)  # no boundary at all: cut at the cap


def test_cut_title_marks_the_cut() -> None:
    title, cut = cut_title("Autonomous weapons " * 200, 100)
    assert cut and len(title) <= 100 and title.endswith("weapons…")
    assert cut_title("A title", 100) == ("A title", False)


def test_cut_html_stops_before_a_tag() -> None:
    body = b"<html><body>" + b"<p>paragraph</p>" * 1000 + b"</body></html>"
    cut, was_cut = cut_html(body, 1000)
    assert was_cut and len(cut) <= 1000 and cut.endswith(b"</p>")
    assert cut_html(b"<p>x</p>", 1000) == (b"<p>x</p>", False)


def test_storable_drops_nul_and_lone_surrogates_everywhere() -> None:
    value = {"t\x00": ["a\x00b", ("c\ud800", 3)], "n": None, "ok": "é"}
    assert storable(value) == {"t": ["ab", ("c\ufffd", 3)], "n": None, "ok": "é"}
    assert storable("plain") == "plain"


KOREAN = "외교부는 군사 분야에서 인공지능의 책임있는 이용에 관한 고위급 회의를 서울에서 개최하였다. " * 20
FRENCH = "La délégation française a présenté à Genève une déclaration sur les systèmes d'armes létaux. " * 20


@pytest.mark.parametrize("text", [KOREAN, FRENCH])
@pytest.mark.parametrize("declared", ["utf-8", None, "iso-8859-1"])
def test_a_few_bad_bytes_in_utf8_are_repaired_not_reguessed(text: str, declared: str | None) -> None:
    raw = text.encode("utf-8")
    middle = len(raw) // 2
    broken = raw[:middle] + b"\xff" + raw[middle:]  # one invalid byte in an otherwise UTF-8 page
    html = b"<html><body><p>" + broken + b"</p></body></html>"
    for language in (None, "ko", "fr"):
        decoded = decode_html(html, declared, language)
        assert decoded.count("\ufffd") == 1
        assert decoded.replace("\ufffd", "") == "<html><body><p>" + text + "</p></body></html>"


def test_legacy_pages_are_still_decoded_in_their_encoding() -> None:
    assert decode_html(FRENCH.encode("cp1252"), "utf-8", "fr") == FRENCH  # declared UTF-8, bytes cp1252
    assert decode_html(KOREAN.encode("cp949"), "utf-8", "ko") == KOREAN
    assert decode_html(FRENCH.encode("cp1252"), "windows-1252") == FRENCH
    assert repaired_utf8(FRENCH.encode("cp1252")) is None  # every accent broken: not "a few bad bytes"
