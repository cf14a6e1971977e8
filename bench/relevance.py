"""Precision, recall and F1 of the relevance classifier per language, and its speed.

Usage: python -m bench.relevance [PATH]   (default ../shared/fixtures/relevance-dev.jsonl)
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from crawler.relevance import classify

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "relevance-dev.jsonl"


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT
    if not path.exists():
        print(f"skipped: {path} is absent")
        return 0
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fp fn tn
    errors = []
    for row in rows:
        res = classify(row["title"], row["text"], row.get("lang"))
        gold = row["label"] == "relevant"
        k = (0 if gold else 1) if res.relevant else (2 if gold else 3)
        for key in (row.get("lang") or "?", "ALL"):
            counts[key][k] += 1
        if res.relevant != gold:
            errors.append((row["id"], row.get("lang"), row["label"], res.score, row["title"][:70], res.matches))
    print(f"{'lang':6} {'n':>4} {'P':>6} {'R':>6} {'F1':>6}   tp fp fn tn")
    for key in sorted(counts, key=lambda x: (x == "ALL", x)):
        tp, fp, fn, tn = counts[key]
        p, r, f = prf(tp, fp, fn)
        print(f"{key:6} {tp + fp + fn + tn:4} {p:6.3f} {r:6.3f} {f:6.3f}   {tp:2} {fp:2} {fn:2} {tn:2}")
    for err in errors:
        print("MISCLASSIFIED", *err)
    reps = max(1, 20000 // len(rows))
    start = time.perf_counter()
    for _ in range(reps):
        for row in rows:
            classify(row["title"], row["text"], row.get("lang"))
    elapsed = time.perf_counter() - start
    print(f"throughput: {reps * len(rows) / elapsed:,.0f} items/s ({reps * len(rows)} classifications)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
