"""strip_accents (the fast, table-driven one) equals its definition on every script it meets."""

from __future__ import annotations

import random

from storage.textnorm import _strip_accents_slow, strip_accents

_POOLS = [range(0x20, 0x250), range(0x300, 0x370), range(0x600, 0x700), range(0x1100, 0x1200),
          range(0xAC00, 0xAC40), range(0x400, 0x500), range(0x4E00, 0x4E40), range(0x900, 0x980),
          range(0xB00, 0xB80), range(0x1E00, 0x1F00)]


def test_strip_accents_examples() -> None:
    assert strip_accents("Défense Übung ñandú") == "Defense Ubung nandu"
    assert strip_accents("e\u0301te\u0301") == "ete"  # combining marks written apart
    assert strip_accents("인공지능") == "인공지능"  # Hangul syllables stay whole
    assert strip_accents("\u1112\u1161") == "하"  # jamo compose as NFC composes them
    assert strip_accents("أحمد إلى") == "احمد الي"  # Arabic letter variants folded
    assert strip_accents("plain ascii") == "plain ascii"


def test_strip_accents_equals_its_definition_on_random_mixed_scripts() -> None:
    rng = random.Random(1)
    for _ in range(5000):
        text = "".join(chr(rng.choice(rng.choice(_POOLS))) for _ in range(rng.randint(0, 40)))
        assert strip_accents(text) == _strip_accents_slow(text), repr(text)
