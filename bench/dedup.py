"""Near-duplicate detection: precision/recall on a labelled set, and throughput on a 100,000-item archive,
with the near-duplicate index in the database (storage.near_duplicates), as the crawler uses it.

Usage: python -m bench.dedup [--rebuild] [--archive N] [--database URL]

Each threshold gets a fresh SQLite database (the band layout depends on the threshold); the throughput run
uses --database (default: a temporary SQLite file; give an empty PostgreSQL database to measure that).

The labelled set (bench/data/near_duplicates.jsonl) is built from bench/data/releases.yaml (original texts)
by realistic edits applied programmatically: other boilerplate, title case changed, a line added,
paragraphs reordered, and combinations. Hard negatives: other releases on the same topic, and titles alone.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import Engine, insert

from crawler.dedup import THRESHOLD, shingles, signature
from storage.database import make_engine, session_scope, upgrade
from storage.models import Item
from storage.near_duplicates import index_item, near_matches

DATA = Path(__file__).resolve().parent / "data"
LABELLED = DATA / "near_duplicates.jsonl"

BOILERPLATES = [
    ("Skip to main content\nHome > News > Press releases\n", "\nShare this page: Email | Print\nCookie settings"),
    (
        "Menu Search Subscribe to our newsletter\n",
        "\nFor media enquiries, contact the press office.\n© All rights reserved",
    ),
    ("Press release | Distributed by public sources\n", "\nRelated news\nFollow us on social media"),
]
ADDED_LINES = [
    "Update: this release was corrected on Friday to give the right date of the meeting.",
    "Photographs of the event are available on request from the press office.",
    "The full text of the statement is attached below.",
]


def _doc(title: str, text: str) -> str:
    return f"{title}\n\n{text.strip()}"


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.strip().split("\n\n") if p.strip()]


def _edits(title: str, text: str, rng: random.Random) -> dict[str, str]:
    paras = _paragraphs(text)
    head, foot = rng.choice(BOILERPLATES)
    added = paras[:]
    added.insert(rng.randrange(1, len(paras) + 1), rng.choice(ADDED_LINES))
    shuffled = paras[:]
    while shuffled == paras:
        rng.shuffle(shuffled)
    return {
        "boilerplate": head + _doc(title, text) + foot,
        "title-case": _doc(title.upper(), text),
        "line-added": _doc(title, "\n\n".join(added)),
        "reordered": _doc(title, "\n\n".join(shuffled)),
        "combined": head + _doc(title.title(), "\n\n".join(added)) + foot,
    }


def build() -> list[dict[str, object]]:
    releases = yaml.safe_load((DATA / "releases.yaml").read_text(encoding="utf-8"))["releases"]
    rng = random.Random(4)
    rows: list[dict[str, object]] = []
    for rel in releases:
        rows.append(
            {
                "id": rel["id"],
                "of": None,
                "edit": "original",
                "topic": rel["topic"],
                "text": _doc(rel["title"], rel["text"]),
            }
        )
        for edit, text in _edits(rel["title"], rel["text"], rng).items():
            rows.append(
                {"id": f"{rel['id']}~{edit}", "of": rel["id"], "edit": edit, "topic": rel["topic"], "text": text}
            )
        rows.append(
            {
                "id": f"{rel['id']}~title-only",
                "of": None,
                "edit": "title-only",
                "topic": rel["topic"],
                "text": rel["title"],
            }
        )
    LABELLED.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows


@contextmanager
def _database(url: str | None = None) -> Iterator[Engine]:
    """A migrated database: `url`, or a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url or f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def _add_first_copies(engine: Engine, sigs: list[bytes], threshold: float, batch: int = 1000) -> list[int]:
    """Insert one first copy per signature with its bands; their ids in order."""
    ids: list[int] = []
    for start in range(0, len(sigs), batch):
        with session_scope(engine) as session:
            chunk = sigs[start : start + batch]
            rows = [{"canonical_url": f"https://bench.example/{start + n}", "url": "u", "minhash": sig or None}
                    for n, sig in enumerate(chunk)]
            new = list(session.scalars(insert(Item).returning(Item.id, sort_by_parameter_order=True), rows))
            for item_id, sig in zip(new, chunk, strict=True):
                index_item(session, item_id, sig, threshold)
            ids += new
    return ids


def evaluate(rows: list[dict[str, object]], threshold: float) -> tuple[float, float, dict[str, int]]:
    originals = [r for r in rows if r["edit"] == "original"]
    with _database() as engine:
        stored = _add_first_copies(engine, [signature(str(r["text"])) for r in originals], threshold)
        ids = dict(zip(stored, (r["id"] for r in originals), strict=True))
        tp = fp = fn = 0
        with session_scope(engine) as session:
            for r in rows:
                hits = [ids[i] for i, _ in near_matches(session, signature(str(r["text"])), threshold)]
                if r["edit"] == "original":
                    hits = [h for h in hits if h != r["id"]]  # the item itself is not a duplicate
                    fp += len(hits)
                elif r["of"] is None:
                    fp += len(hits)
                else:
                    tp += bool(hits) and hits[0] == r["of"]
                    fn += not hits or hits[0] != r["of"]
                    fp += len([h for h in hits if h != r["of"]])
    p = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return p, rec, {"tp": tp, "fp": fp, "fn": fn}


def similarity_margin(rows: list[dict[str, object]]) -> tuple[float, float]:
    """Lowest true Jaccard of a labelled duplicate pair, highest of a non-duplicate pair."""
    originals = {r["id"]: shingles(str(r["text"])) for r in rows if r["edit"] == "original"}

    def jac(a: set[bytes], b: set[bytes]) -> float:
        return len(a & b) / len(a | b) if a | b else 0.0

    dup = [jac(shingles(str(r["text"])), originals[str(r["of"])]) for r in rows if r["of"] is not None]
    keys = list(originals)
    neg = [jac(originals[a], originals[b]) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    return min(dup), max(neg)


def _synthetic_texts(n: int, words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30_000)])
    ranks = rng.zipf(1.3, size=(n, words)) % len(vocab)
    return [" ".join(vocab[row]) for row in ranks]


def throughput(n: int, url: str | None) -> None:
    texts = _synthetic_texts(n, 180, 1)
    start = time.perf_counter()
    sigs = [signature(t) for t in texts]
    sig_s = n / (time.perf_counter() - start)
    with _database(url) as engine:
        start = time.perf_counter()
        _add_first_copies(engine, sigs, THRESHOLD)
        add_s = n / (time.perf_counter() - start)
        rng = random.Random(2)
        probes = [("Press release. " + texts[rng.randrange(n)] + " Share this page.") for _ in range(1000)]
        probes += _synthetic_texts(1000, 180, 3)
        found = 0
        lookups: list[float] = []
        start = time.perf_counter()
        with session_scope(engine) as session:
            for p in probes:
                sig = signature(p)
                t0 = time.perf_counter()
                found += bool(near_matches(session, sig))
                lookups.append(time.perf_counter() - t0)
        q_s = len(probes) / (time.perf_counter() - start)
        p50, p95 = np.percentile(lookups, [50, 95]) * 1000
        print(
            f"archive: {n:,} items ({engine.dialect.name}) | signatures: {sig_s:,.0f}/s | inserts with bands: "
            f"{add_s:,.0f}/s | signature+query: {q_s:,.0f}/s | lookup p50 {p50:.2f} ms p95 {p95:.2f} ms | "
            f"probes with a hit: {found}/{len(probes)} (1000 are copies)"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--database", help="an empty database for the throughput run (default: temporary SQLite)")
    args = parser.parse_args()
    if args.rebuild or not LABELLED.exists():
        rows = build()
    else:
        rows = [json.loads(x) for x in LABELLED.read_text(encoding="utf-8").splitlines() if x.strip()]
    pos = sum(1 for r in rows if r["of"] is not None)
    print(
        f"labelled set: {len(rows)} texts, {pos} duplicates of {sum(r['edit'] == 'original' for r in rows)} originals"
    )
    low, high = similarity_margin(rows)
    print(f"true Jaccard: lowest duplicate pair {low:.3f}, highest distinct pair {high:.3f}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        p, r, c = evaluate(rows, threshold)
        print(f"threshold {threshold:.1f}: precision {p:.3f} recall {r:.3f} {c}")
    if args.archive:
        throughput(args.archive, args.database)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
