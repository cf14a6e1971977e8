"""Near-duplicate detection: precision/recall on a labelled set, and throughput on a 100,000-item archive.

Usage: python -m bench.dedup [--rebuild] [--archive N]

The labelled set (bench/data/near_duplicates.jsonl) is built from bench/data/releases.yaml (original texts)
by realistic edits applied programmatically: other boilerplate, title case changed, a line added,
paragraphs reordered, and combinations. Hard negatives: other releases on the same topic, and titles alone.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import yaml

from crawler.dedup import NearDuplicateIndex, shingles

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


def evaluate(rows: list[dict[str, object]], threshold: float) -> tuple[float, float, dict[str, int]]:
    index = NearDuplicateIndex(threshold=threshold)
    originals = [r for r in rows if r["edit"] == "original"]
    ids = {r["id"]: n for n, r in enumerate(originals)}
    for r in originals:
        index.add(ids[r["id"]], index.signature(str(r["text"])))
    tp = fp = fn = 0
    for r in rows:
        hits = [originals[i]["id"] for i, _ in index.query(index.signature(str(r["text"])))]
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


def throughput(n: int) -> None:
    index = NearDuplicateIndex()
    texts = _synthetic_texts(n, 180, 1)
    start = time.perf_counter()
    sigs = [index.signature(t) for t in texts]
    sig_s = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for i, sig in enumerate(sigs):
        index.add(i, sig)
    add_s = n / (time.perf_counter() - start)
    rng = random.Random(2)
    probes = [("Press release. " + texts[rng.randrange(n)] + " Share this page.") for _ in range(1000)]
    probes += _synthetic_texts(1000, 180, 3)
    start = time.perf_counter()
    found = sum(bool(index.query(index.signature(p))) for p in probes)
    q_s = len(probes) / (time.perf_counter() - start)
    print(
        f"archive: {n:,} items | signatures: {sig_s:,.0f}/s | inserts: {add_s:,.0f}/s | "
        f"signature+query: {q_s:,.0f}/s | probes with a hit: {found}/{len(probes)} (1000 are copies)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--archive", type=int, default=100_000)
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
        throughput(args.archive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
