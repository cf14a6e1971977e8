"""The near-duplicate index in the database (storage.near_duplicates): datasketch's bands, kept in step with
first copies, seen by other processes at once, backfilled by migration 0007, bounded work per lookup."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from sqlalchemy import Engine, create_engine, delete, event, func, select, text

from crawler.dedup import NUM_PERM, SCHEME, THRESHOLD, content_fingerprint, signature
from storage.database import make_engine, session_scope, upgrade
from storage.items import PageRecord, store_page
from storage.models import Item, ItemBand
from storage.near_duplicates import (
    DEFAULT_BANDS,
    band_key_matrix,
    band_keys,
    band_ranges,
    decode_signature,
    index_item,
    lock_keys,
    near_matches,
    signature_bands,
)
from storage.near_duplicates import (
    THRESHOLD as BAND_THRESHOLD,
)
from tests.conftest import PG_ADMIN_URL
from tests.support.required import unavailable

ROOT = Path(__file__).resolve().parents[2]
_rng = random.Random(9)
VOCAB = [f"word{n}" for n in range(3000)]


def article(seed: int, words: int = 150) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def edited(text: str) -> str:
    """The same article with other boilerplate around it: a near-duplicate."""
    return "Skip to main content. Home. News. " + text + " Share this page. Print. Cookie settings."


def record(url: str, body: str, **kw: object) -> PageRecord:
    return PageRecord(canonical_url=url, url=url, title="t", text=body, content_hash=content_fingerprint(body),
                      minhash=signature(body) or None, **kw)  # type: ignore[arg-type]


def test_band_keys_give_the_candidates_of_datasketch_minhash_lsh() -> None:
    """Two signatures share a (band, key) exactly when datasketch's MinHashLSH makes them candidates."""
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    base = article(1)
    texts = {n: (edited(base) if n % 3 == 0 else article(n)) for n in range(40)}
    sigs = {n: decode_signature(signature(t)) for n, t in texts.items()}
    template = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    for n, values in sigs.items():
        lsh.insert(n, MinHash(num_perm=NUM_PERM, hashvalues=values, permutations=template.permutations,
                              scheme=SCHEME))
    keys = {n: set(band_keys(v)) for n, v in sigs.items()}
    assert len(next(iter(keys.values()))) == lsh.b == 25
    probe = decode_signature(signature(base))
    assert probe is not None
    ours = {n for n, k in keys.items() if k & set(band_keys(probe))}
    theirs = set(lsh.query(MinHash(num_perm=NUM_PERM, hashvalues=probe, permutations=template.permutations,
                                   scheme=SCHEME)))
    assert ours == theirs and {n for n in texts if n % 3 == 0} <= ours


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_the_band_ranges_are_datasketchs_choice(threshold: float) -> None:
    """The written-out default layout and the lazily asked one are what MinHashLSH picks for the threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    theirs = tuple((int(start), int(end)) for start, end in lsh.hashranges)
    assert band_ranges(threshold, NUM_PERM) == theirs
    if threshold == BAND_THRESHOLD:
        assert DEFAULT_BANDS == theirs and len(theirs) == 25
    else:
        assert theirs != DEFAULT_BANDS


def test_the_band_key_matrix_of_many_signatures_is_their_band_keys() -> None:
    """The bulk form (bench/scale.py's fill) gives each row exactly the keys band_keys gives it alone."""
    values = np.random.default_rng(3).integers(0, 2**32, size=(50, NUM_PERM), dtype=np.uint64)
    values[7] = decode_signature(signature(article(1)))  # a real signature among the random ones
    matrix = band_key_matrix(values)
    assert matrix.shape == (50, 25) and matrix.dtype == np.int64
    assert [row.tolist() for row in matrix] == [[key for _band, key in band_keys(v)] for v in values]


def test_a_first_copy_has_bands_a_copy_has_none_and_a_revision_replaces_them(engine: Engine) -> None:
    first = store_page(engine, record("https://a.example/1", article(1)))
    copy = store_page(engine, record("https://b.example/1", edited(article(1))))
    assert (first.outcome, copy.outcome, copy.duplicate_of_id, copy.reason) == ("new", "duplicate", first.item_id,
                                                                                  "near")
    with session_scope(engine) as session:
        by_item = dict(session.execute(select(ItemBand.item_id, func.count()).group_by(ItemBand.item_id)).all())
        assert by_item == {first.item_id: 25}
    revised = store_page(engine, record("https://a.example/1", article(2), revise_id=first.item_id))
    assert revised.outcome == "updated"
    with session_scope(engine) as session:
        assert near_matches(session, signature(article(1))) == []
        assert [i for i, _ in near_matches(session, signature(edited(article(2))))] == [first.item_id]


def test_deleting_an_item_removes_its_bands(engine: Engine) -> None:
    kept = store_page(engine, record("https://a.example/kept", article(3)))
    gone = store_page(engine, record("https://a.example/gone", article(4)))
    with session_scope(engine) as session:
        session.delete(session.get_one(Item, gone.item_id))
    with session_scope(engine) as session:
        session.execute(delete(Item).where(Item.id == -1))  # a bulk delete path too (nothing matched)
        assert set(session.scalars(select(ItemBand.item_id).distinct())) == {kept.item_id}
        assert near_matches(session, signature(article(4))) == []


_SECOND_PROCESS = """
import sys
from storage.database import make_engine
from storage.items import PageRecord, store_page
from crawler.dedup import content_fingerprint, signature
url, body = sys.argv[1], sys.stdin.read()
stored = store_page(make_engine(sys.argv[2]), PageRecord(canonical_url=url, url=url, title="t", text=body,
                    content_hash=content_fingerprint(body), minhash=signature(body)))
print(stored.outcome, stored.item_id, stored.duplicate_of_id)
"""


def _in_other_process(db_url: str, url: str, body: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, url, db_url], input=body, text=True,
                          capture_output=True, cwd=ROOT, timeout=120, check=True)
    return done.stdout.split()


def test_a_first_copy_is_seen_by_another_process_the_moment_it_is_committed(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:  # this process is up (and has looked) before anything is stored
            assert near_matches(session, signature(article(5))) == []
        outcome, other_id, _ = _in_other_process(db_url, "https://other.example/1", article(5))
        assert outcome == "new"
        mine = store_page(engine, record("https://mine.example/1", edited(article(5))))
        assert (mine.outcome, mine.duplicate_of_id) == ("duplicate", int(other_id))
        first = store_page(engine, record("https://mine.example/2", article(6)))
        outcome, _, of = _in_other_process(db_url, "https://other.example/2", edited(article(6)))
        assert (outcome, int(of)) == ("duplicate", first.item_id)
    finally:
        engine.dispose()


_PAIR_WORKER = """
import sys, time
from storage.database import make_engine
from storage.items import PageRecord, store_page
from crawler.dedup import content_fingerprint, signature
db_url, side, start_at, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
import random
vocab = [f"word{n}" for n in range(3000)]
engine = make_engine(db_url)
while time.time() < start_at:
    time.sleep(0.005)
for n in range(count):
    rng = random.Random(1000 + n)
    body = " ".join(rng.choice(vocab) for _ in range(150))
    if side == "b":
        body = "Skip to main content. Home. " + body + " Share this page."
    url = f"https://{side}.example/{n}"
    store_page(engine, PageRecord(canonical_url=url, url=url, title="t", text=body,
                                  content_hash=content_fingerprint(body), minhash=signature(body)))
print("done")
"""


def test_concurrent_crawls_storing_near_duplicates_of_each_other_keep_one_first_copy(db_url: str) -> None:
    import time

    pairs = 15
    start_at = f"{time.time() + 3:.3f}"
    workers = [
        subprocess.Popen([sys.executable, "-c", _PAIR_WORKER, db_url, side, start_at, str(pairs)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for side in ("a", "b")
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(select(Item.canonical_url, Item.duplicate_of_id)).all()
        assert len(rows) == 2 * pairs
        by_n: dict[str, list[int | None]] = {}
        for url, of in rows:
            by_n.setdefault(url.rsplit("/", 1)[1], []).append(of)
        assert all(sorted(v, key=lambda x: x is not None)[0] is None and sum(x is None for x in v) == 1
                   for v in by_n.values()), by_n
    finally:
        engine.dispose()


def test_lookup_work_does_not_depend_on_archive_size(engine: Engine) -> None:
    """No full read of the index: the same statements, and only candidate rows, whatever the archive holds."""

    def statements_of_one_store(url: str, body: str) -> list[str]:
        seen: list[str] = []

        def capture(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            seen.append(statement.split()[0].upper())

        event.listen(engine, "before_cursor_execute", capture)
        try:
            store_page(engine, record(url, body))
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        return seen

    small = statements_of_one_store("https://probe.example/0", article(10_000))
    for n in range(300):
        store_page(engine, record(f"https://archive.example/{n}", article(20_000 + n)))
    large = statements_of_one_store("https://probe.example/1", article(10_001))
    assert small == large
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ItemBand)) == 25 * 302
    with session_scope(engine) as session:
        session.execute(text("SELECT 1"))
        # a page that shares bands with nothing reads no candidate rows at all
        assert near_matches(session, signature(article(30_000))) == []


# --- migration 0007 backfill ----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema): migrations are run by the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"milai_m_{uuid.uuid4().hex[:12]}"
    try:
        try:
            conn_cm = admin.connect()
        except Exception as exc:
            unavailable("MILAI_REQUIRE_POSTGRES", f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
        with conn_cm as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def test_migration_backfills_bands_of_first_copies_from_their_signatures(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        upgrade(engine, "0006")
        texts = [article(40 + n) for n in range(5)]
        columns = ("INSERT INTO items (canonical_url, url, kind, title, text, date_origin, fetched_at, relevant, "
                   "score, "
                   "matches, revision, text_truncated, minhash, duplicate_of_id) VALUES (:u, :u, 'article', 't', "
                   ":text, 'none', CURRENT_TIMESTAMP, false, 0, '{}', 1, false, :sig, :of)")
        ids: list[int] = []
        with engine.begin() as conn:
            for n, body in enumerate(texts):
                conn.execute(text(columns), {"u": f"https://old.example/{n}", "text": body, "sig": signature(body),
                                             "of": ids[0] if n == 4 else None})
                ids.append(conn.scalar(text("SELECT id FROM items WHERE canonical_url = :u"),
                                       {"u": f"https://old.example/{n}"}))
            conn.execute(text(columns), {"u": "https://old.example/nosig", "text": "short", "sig": None, "of": None})
        upgrade(engine)
        with session_scope(engine) as session:
            counts = dict(session.execute(select(ItemBand.item_id, func.count()).group_by(ItemBand.item_id)).all())
            assert counts == {i: 25 for i in ids[:4]}  # the fifth is a copy, the last has no signature
            for n in range(4):
                assert [i for i, _ in near_matches(session, signature(edited(texts[n])))] == [ids[n]]
        new = store_page(engine, record("https://new.example/1", edited(texts[2])))
        assert (new.outcome, new.duplicate_of_id) == ("duplicate", ids[2])
    finally:
        engine.dispose()


def test_signatures_round_trip_and_foreign_bytes_are_ignored() -> None:
    sig = signature(article(7))
    values = decode_signature(sig)
    assert values is not None and values.dtype == np.uint64 and len(values) == NUM_PERM
    assert decode_signature(b"XX1" + sig[3:]) is None and decode_signature(sig[:-4]) is None


def test_index_item_replaces_rather_than_adds(engine: Engine) -> None:
    with session_scope(engine) as session:
        item = Item(canonical_url="https://x.example/", url="u", title="t", text="x", minhash=signature(article(8)))
        session.add(item)
        session.flush()
        assert index_item(session, item.id, item.minhash) == 25
        assert index_item(session, item.id, item.minhash) == 25
        assert session.scalar(select(func.count()).select_from(ItemBand)) == 25


def test_a_signatures_bands_are_computed_once_for_its_lock_lookup_and_index_rows(engine: Engine) -> None:
    """store_page needs a page's bands three times (lock keys, lookup, index rows): the same keys as
    band_keys, computed once per signature; a foreign or empty signature has none."""
    sig = signature(article(21))
    values = decode_signature(sig)
    assert values is not None
    signature_bands.cache_clear()
    assert signature_bands(sig, BAND_THRESHOLD) == tuple(band_keys(values))  # as store_page calls it
    store_page(engine, PageRecord(canonical_url="https://x.example/bands", url="u", text=article(21), minhash=sig))
    lock_keys(url="https://x.example/bands", sig=sig)
    info = signature_bands.cache_info()
    assert (info.misses, info.hits) == (1, 4)  # the test's call, then the store's lock keys, lookup and rows
    with session_scope(engine) as session:
        rows = set(session.execute(select(ItemBand.band, ItemBand.key)).tuples())
    assert rows == set(band_keys(values))
    assert signature_bands(b"XX1" + sig[3:]) == () and signature_bands(b"") == ()
