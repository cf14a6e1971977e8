"""Exact and near-duplicate detection (plain Python, no Scrapy).

Exact: canonical URL, then a fingerprint of the normalised text. Near: MinHash LSH (datasketch) over
word shingles of the normalised text; signatures are stored in Item.minhash so the index can be
rebuilt from the database after a restart.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Item
from storage.textnorm import fold

NUM_PERM = 128
SCHEME = "affine32"  # datasketch permutation scheme; signatures are only comparable within one scheme
SHINGLE = 3  # words per shingle
THRESHOLD = 0.5  # estimated Jaccard similarity of shingle sets (tuned with bench/dedup.py)
MIN_WORDS = 40  # shorter texts (titles, teasers) get no signature: too little evidence
MIN_FINGERPRINT_WORDS = 5
_SIG_MAGIC = b"MH1"
_WORD_RE = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Casefolded, accent-free words of `text` (the dedup normal form)."""
    return _WORD_RE.findall(fold(text))


def content_fingerprint(text: str) -> str:
    """SHA-256 of the case- and whitespace-normalised text."""
    norm = re.sub(r"\W+", " ", text.casefold()).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def shingles(text: str, k: int = SHINGLE) -> set[bytes]:
    ws = words(text)
    return {" ".join(ws[i : i + k]).encode("utf-8") for i in range(max(0, len(ws) - k + 1))}


def _decode(sig: bytes) -> np.ndarray | None:
    if not sig or not sig.startswith(_SIG_MAGIC):
        return None
    values = np.frombuffer(sig, dtype="<u4", offset=len(_SIG_MAGIC))
    return values.astype(np.uint64) if len(values) == NUM_PERM else None


@dataclass(frozen=True)
class Match:
    item_id: int
    reason: Literal["url", "fingerprint", "near"]
    similarity: float


class NearDuplicateIndex:
    """An in-memory MinHash LSH index of the archive's first copies (thread-safe)."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._values: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._template = MinHash(num_perm=NUM_PERM, scheme=SCHEME)  # permutations are computed once

    def __len__(self) -> int:
        return len(self._values)

    def signature(self, text: str) -> bytes:
        """Serialised MinHash of `text` for Item.minhash; b"" when the text is too short to compare."""
        grams = shingles(text)
        if len(grams) < MIN_WORDS - SHINGLE + 1:
            return b""
        mh = MinHash(num_perm=NUM_PERM, permutations=self._template.permutations, scheme=SCHEME)
        mh.update_batch(list(grams))
        return _SIG_MAGIC + mh.hashvalues.astype("<u4").tobytes()

    def _minhash(self, values: np.ndarray) -> MinHash:
        return MinHash(num_perm=NUM_PERM, hashvalues=values, permutations=self._template.permutations, scheme=SCHEME)

    def add(self, item_id: int, sig: bytes | None) -> None:
        """Index one first copy; empty or foreign signatures are ignored, re-adding an id is a no-op."""
        values = _decode(sig or b"")
        if values is None:
            return
        with self._lock:
            if item_id in self._values:
                return
            self._lsh.insert(item_id, self._minhash(values), check_duplication=False)
            self._values[item_id] = values

    def remove(self, item_id: int) -> None:
        with self._lock:
            if self._values.pop(item_id, None) is not None:
                self._lsh.remove(item_id)

    def query(self, sig: bytes | None) -> list[tuple[int, float]]:
        """Indexed items whose estimated similarity reaches the threshold, best first."""
        values = _decode(sig or b"")
        if values is None:
            return []
        with self._lock:
            keys = self._lsh.query(self._minhash(values))
            scored = [(k, float(np.mean(self._values[k] == values))) for k in keys]
        scored = [(k, round(s, 4)) for k, s in scored if s >= self.threshold]
        return sorted(scored, key=lambda kv: (-kv[1], kv[0]))

    @classmethod
    def from_session(cls, session: Session, batch: int = 5000) -> NearDuplicateIndex:
        """Rebuild from items.minhash of first copies (duplicate_of_id IS NULL)."""
        index = cls()
        rows = session.execute(
            select(Item.id, Item.minhash)
            .where(Item.duplicate_of_id.is_(None), Item.minhash.is_not(None))
            .order_by(Item.id)
            .execution_options(yield_per=batch)
        )
        for item_id, sig in rows:
            index.add(item_id, bytes(sig))
        return index


def find_duplicate(
    session: Session, index: NearDuplicateIndex, *, text: str, canonical_url: str,
    fingerprint: str | None = None, signature: bytes | None = None,
) -> Match | None:
    """The stored item this page duplicates: same canonical URL, same text, or nearly the same text.

    `fingerprint` and `signature` are `content_fingerprint(text)` and `index.signature(text)` when the
    caller has them already (the MinHash is the costly part)."""
    same_url = session.scalar(select(Item.id).where(Item.canonical_url == canonical_url))
    if same_url is not None:
        return Match(same_url, "url", 1.0)
    if len(words(text)) >= MIN_FINGERPRINT_WORDS:
        first = session.scalar(
            select(Item.id)
            .where(Item.content_hash == (fingerprint or content_fingerprint(text)))
            .order_by(Item.duplicate_of_id.is_not(None), Item.id)
            .limit(1)
        )
        if first is not None:
            return Match(first, "fingerprint", 1.0)
    for item_id, similarity in index.query(signature if signature is not None else index.signature(text)):
        if session.get(Item, item_id) is not None:
            return Match(item_id, "near", similarity)
    return None
