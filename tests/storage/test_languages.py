"""storage.languages: the ISO 639-1 codes the archive accepts, held by storage itself."""

from __future__ import annotations

from storage.languages import iso639_1


def test_iso639_1_holds_every_two_letter_code_and_nothing_else() -> None:
    codes = iso639_1()
    assert len(codes) == 184
    assert {"en", "fr", "ko", "ja", "zh", "ar", "nl", "bh"} <= codes
    assert all(len(c) == 2 and c.isascii() and c.islower() for c in codes)
    assert not {"eng", "xx", "EN", ""} & codes
