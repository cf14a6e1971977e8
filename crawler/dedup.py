"""What the duplicate decision needs from a page's text (plain Python, no Scrapy, no SQL).

Exact: canonical URL, then a fingerprint of the normalised text. Near: a MinHash (datasketch) over word
shingles of the normalised text, stored in Item.minhash; its LSH bands are the near-duplicate index in the
database (storage.near_duplicates), which storage.items.store_page consults and extends in the item's own
transaction.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from datasketch import MinHash

from storage.near_duplicates import NUM_PERM, THRESHOLD, encode_signature
from storage.textnorm import fold

__all__ = ["NUM_PERM", "THRESHOLD", "content_fingerprint", "fingerprint_comparable", "shingles", "signature", "words"]

SCHEME = "affine32"  # datasketch permutation scheme; signatures are only comparable within one scheme
SHINGLE = 3  # words per shingle
MIN_WORDS = 40  # shorter texts (titles, teasers) get no signature: too little evidence
MIN_FINGERPRINT_WORDS = 5
_WORD_RE = re.compile(r"\w+")
_NON_WORD_RE = re.compile(r"\W+")


def words(text: str) -> list[str]:
    """Casefolded, accent-free words of `text` (the dedup normal form)."""
    return list(_words(text))


@lru_cache(maxsize=8)
def _words(text: str) -> tuple[str, ...]:
    """words(), remembered for the last few texts: the signature and the fingerprint check read the same text."""
    return tuple(_WORD_RE.findall(fold(text)))


def content_fingerprint(text: str) -> str:
    """SHA-256 of the case- and whitespace-normalised text."""
    norm = _NON_WORD_RE.sub(" ", text.casefold()).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def fingerprint_comparable(text: str) -> bool:
    """True when the text is long enough for an equal fingerprint to mean the same text."""
    return len(_words(text)) >= MIN_FINGERPRINT_WORDS


def shingles(text: str, k: int = SHINGLE) -> set[bytes]:
    ws = _words(text)
    return {" ".join(ws[i : i + k]).encode("utf-8") for i in range(max(0, len(ws) - k + 1))}


@lru_cache(maxsize=1)
def _template() -> MinHash:
    return MinHash(num_perm=NUM_PERM, scheme=SCHEME)  # the permutations, computed once


def signature(text: str) -> bytes:
    """Serialised MinHash of `text` for Item.minhash; b"" when the text is too short to compare."""
    grams = shingles(text)
    if len(grams) < MIN_WORDS - SHINGLE + 1:
        return b""
    mh = MinHash(num_perm=NUM_PERM, permutations=_template().permutations, scheme=SCHEME)
    mh.update_batch(list(grams))
    return encode_signature(mh.hashvalues)
