"""The near-duplicate index in the database: MinHash LSH band keys of every first copy (table item_bands).

A signature (Item.minhash) is NUM_PERM 32-bit MinHash values. datasketch's MinHashLSH picks, for a Jaccard
threshold, b bands of r values each (threshold 0.5, 128 permutations: 25 bands of 5); two items are candidates
when one band of theirs is equal, exactly as in datasketch's in-memory index. A band is stored as one row
(band, key, item_id): `key` is a 64-bit hash of the bytes datasketch would use as that band's hash-table key.
A lookup is one indexed query over (band, key) plus the candidates' signatures; an insert is b rows. Candidates
are then scored by the fraction of equal MinHash values and kept at the threshold, as datasketch's index did.
Nothing is held in memory, so every process sees a first copy the moment its transaction commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import cast

import numpy as np
from sqlalchemy import Select, Table, and_, bindparam, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from storage.models import Item, ItemBand

NUM_PERM = 128
THRESHOLD = 0.5  # estimated Jaccard similarity of shingle sets (tuned with bench/dedup.py)
SIG_MAGIC = b"MH1"
MAX_CANDIDATES = 200  # per lookup, the items sharing the most bands first (bounds the cost of boilerplate pages)
_LOCK_SPACE = b"milai-store:"
# datasketch's MinHashLSH(threshold=0.5, num_perm=128).hashranges: 25 bands of 5 values. Written out so that
# storing a page does not import datasketch (and scipy with it); test_near_duplicates checks it is still its choice.
DEFAULT_BANDS: tuple[tuple[int, int], ...] = tuple((start, start + 5) for start in range(0, 125, 5))


@lru_cache(maxsize=16)
def band_ranges(threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> tuple[tuple[int, int], ...]:
    """The (start, end) slices of a signature that form its bands: datasketch's choice of b and r."""
    if (threshold, num_perm) == (THRESHOLD, NUM_PERM):
        return DEFAULT_BANDS
    from datasketch import MinHashLSH  # only for another threshold (bench/dedup.py's sweep): scipy is slow to import

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return tuple((int(start), int(end)) for start, end in lsh.hashranges)


def decode_signature(sig: bytes | None, num_perm: int = NUM_PERM) -> np.ndarray | None:
    """The MinHash values of a stored signature (uint64, as datasketch holds them); None when empty or foreign."""
    if not sig or not bytes(sig[: len(SIG_MAGIC)]) == SIG_MAGIC:
        return None
    values = np.frombuffer(bytes(sig), dtype="<u4", offset=len(SIG_MAGIC))
    return values.astype(np.uint64) if len(values) == num_perm else None


def encode_signature(values: np.ndarray) -> bytes:
    return SIG_MAGIC + np.asarray(values).astype("<u4").tobytes()


def _int64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def band_keys(values: np.ndarray, threshold: float = THRESHOLD) -> list[tuple[int, int]]:
    """(band, key) of each band of `values`. The key hashes the band's values as big-endian uint64, which is
    what datasketch's MinHashLSH uses as the band's hash-table key (its byteswapped uint64 array)."""
    ranges = band_ranges(threshold, len(values))
    return [(band, _int64(values[start:end].astype(">u8").tobytes())) for band, (start, end) in enumerate(ranges)]


def band_key_matrix(values: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """`band_keys` of every row of `values` (n signatures × NUM_PERM) at once: an n × b int64 array (bulk loads)."""
    ranges = band_ranges(threshold, values.shape[1])
    big = values.astype(">u8")
    keys = np.empty((len(values), len(ranges)), dtype=np.int64)
    for band, (start, end) in enumerate(ranges):
        data = memoryview(np.ascontiguousarray(big[:, start:end]).tobytes())
        width = (end - start) * 8
        digests = b"".join(hashlib.blake2b(data[at:at + width], digest_size=8).digest()
                           for at in range(0, len(data), width))
        keys[:, band] = np.frombuffer(digests, dtype=">i8")
    return keys


@lru_cache(maxsize=1024)
def signature_bands(sig: bytes, threshold: float = THRESHOLD) -> tuple[tuple[int, int], ...]:
    """`band_keys` of a stored signature (empty when it is none): storing a page needs them three times (its
    lock keys, the lookup, its index rows), so they are computed once per signature."""
    values = decode_signature(sig)
    return () if values is None else tuple(band_keys(values, threshold))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the fraction of equal MinHash values."""
    return float(np.mean(a == b))


_BANDS = cast(Table, ItemBand.__table__)
_INSERT_BANDS = insert(_BANDS)
_DELETE_BANDS = delete(_BANDS).where(_BANDS.c.item_id == bindparam("item_id"))


def index_item(
    session: Session, item_id: int, sig: bytes | None, threshold: float = THRESHOLD, *, new: bool = False
) -> int:
    """Store (or replace) the bands of first copy `item_id`; returns the number of rows (0: no signature).
    `new`: the item was inserted in this transaction, so it has no bands to replace."""
    connection = session.connection()  # Core statements (the per-page path): no ORM state is involved
    if not new:
        connection.execute(_DELETE_BANDS, {"item_id": item_id})
    keys = signature_bands(bytes(sig), threshold) if sig else ()
    if not keys:
        return 0
    rows = [{"item_id": item_id, "band": band, "key": key} for band, key in keys]
    connection.execute(_INSERT_BANDS, rows)
    return len(rows)


def unindex_items(session: Session, item_ids: Iterable[int]) -> None:
    """Drop the bands of `item_ids` (no longer first copies). Deleting an item drops them by foreign key."""
    ids = sorted(set(item_ids))
    if ids:
        session.execute(delete(ItemBand).where(ItemBand.item_id.in_(ids)))


@lru_cache(maxsize=16)
def _lookup(bands: int, limit: int) -> Select[tuple[int, bytes | None]]:
    """The lookup statement for `bands` (band, key) pairs, built once (bound parameters b0, k0, …)."""
    shared = func.count().label("shared")
    terms = (and_(ItemBand.band == bindparam(f"b{n}"), ItemBand.key == bindparam(f"k{n}")) for n in range(bands))
    candidates = (
        select(ItemBand.item_id, shared)
        .where(or_(*terms))
        .group_by(ItemBand.item_id)
        .order_by(shared.desc(), ItemBand.item_id)
        .limit(limit)
        .subquery()
    )
    return select(Item.id, Item.minhash).join(candidates, candidates.c.item_id == Item.id)


def near_matches(
    session: Session, sig: bytes | None, threshold: float = THRESHOLD, *, limit: int = MAX_CANDIDATES,
) -> list[tuple[int, float]]:
    """First copies whose estimated similarity to `sig` reaches `threshold`, best first (then lowest id):
    one indexed query over (band, key), at most `limit` candidates (those sharing the most bands)."""
    values = decode_signature(sig)
    if values is None or sig is None:
        return []
    keys = signature_bands(bytes(sig), threshold)
    params: dict[str, int] = {}
    for n, (band, key) in enumerate(keys):
        params[f"b{n}"], params[f"k{n}"] = band, key
    scored = []
    session.flush()  # the lookup runs on the connection (Core, built once): pending ORM changes first
    for item_id, stored in session.connection().execute(_lookup(len(keys), limit), params):
        other = decode_signature(stored)
        if other is not None:
            score = round(similarity(values, other), 4)
            if score >= threshold:
                scored.append((int(item_id), score))
    return sorted(scored, key=lambda kv: (-kv[1], kv[0]))


def lock_keys(*, url: str | None = None, fingerprint: str | None = None, sig: bytes | None = None,
              threshold: float = THRESHOLD) -> list[int]:
    """The advisory-lock keys of a page about to be stored: its URL, its text fingerprint and its bands.
    Two pages that could be duplicates of each other share at least one key."""
    parts: list[bytes] = []
    if url:
        parts.append(b"url:" + url.encode("utf-8", "surrogatepass"))
    if fingerprint:
        parts.append(b"fp:" + fingerprint.encode("ascii", "replace"))
    if sig:
        parts += [b"band:%d:%d" % bk for bk in signature_bands(bytes(sig), threshold)]
    return sorted({_int64(_LOCK_SPACE + p) for p in parts})


def lock_for_store(session: Session, keys: Sequence[int]) -> None:
    """Serialise the duplicate decision of pages that share a lock key, across processes and machines, until
    the transaction ends. PostgreSQL: transaction-level advisory locks taken in sorted order (no deadlock);
    SQLite: the database's write lock, taken now (BEGIN IMMEDIATE) so the decision reads the newest commit.
    Call it first in the transaction."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if keys:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                {"keys": sorted(keys)},
            )
    elif connection.dialect.name == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

