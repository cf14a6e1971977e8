"""What the duplicate decision needs from a page's text (plain Python, no Scrapy, no SQL).

Exact: canonical URL, then a fingerprint of the normalised text. Near: a MinHash over word shingles of the
normalised text, stored in Item.minhash; its LSH bands are the near-duplicate index in the database
(storage.near_duplicates), which storage.items.store_page consults and extends in the item's own transaction.

The MinHash is datasketch's "affine32" scheme (seed 1, SHA-1's first four bytes as the input hash, the
MurmurHash3 finaliser as pre-mix, h -> a*h + b mod 2^32) written out here in a few numpy lines, value for
value the same as datasketch.MinHash(num_perm=128, scheme="affine32") (tests/crawler/test_signatures.py
compares the two). Why not call datasketch: importing it imports datasketch.lsh and with it scipy.integrate,
0.5-0.7 s of CPU in every crawl process and every extraction worker, for two dozen arithmetic lines.
datasketch stays the reference the tests compare against, and storage.near_duplicates still asks it for the
band layout of a threshold other than the default one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from storage.near_duplicates import NUM_PERM, THRESHOLD, encode_signature
from storage.textnorm import fold

__all__ = [
    "NUM_PERM", "THRESHOLD", "content_fingerprint", "fingerprint_comparable", "minhash", "permutations", "shingles",
    "signature", "words",
]

SCHEME = "affine32"  # datasketch's permutation scheme; signatures are only comparable within one scheme
SEED = 1  # datasketch's default seed: the permutations of every signature stored so far
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


_UINT32_MAX = np.uint32(0xFFFFFFFF)
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


@lru_cache(maxsize=1)
def permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of the affine permutations h -> a*h + b mod 2^32, drawn as datasketch draws them (a odd)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, a bijection that spreads the input hashes before the permutations."""
    s1, m1, s2, m2, s3 = _FMIX32
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s3)


def minhash(grams: Iterable[bytes], num_perm: int = NUM_PERM) -> np.ndarray:
    """The num_perm MinHash values (uint32) of a set of byte strings; all 2^32-1 when it is empty."""
    digests = b"".join(hashlib.sha1(gram).digest()[:4] for gram in grams)
    if not digests:
        return np.full(num_perm, _UINT32_MAX, dtype=np.uint32)
    hashed = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32)).reshape(-1, 1)
    a, b = permutations(num_perm)
    with np.errstate(over="ignore"):
        return np.asarray((hashed * a + b).min(axis=0), dtype=np.uint32)


def signature(text: str) -> bytes:
    """Serialised MinHash of `text` for Item.minhash; b"" when the text is too short to compare."""
    grams = shingles(text)
    if len(grams) < MIN_WORDS - SHINGLE + 1:
        return b""
    return encode_signature(minhash(grams))
