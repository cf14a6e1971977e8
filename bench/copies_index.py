"""Benchmark: does a partial index on `items.duplicate_of_id` pay on SQLite, or is ANALYZE alone enough?

    python -m bench.copies_index [--items 30000] [--db /tmp/milai-bench-copies.sqlite3] [--runs 200] [--rounds 3]

Builds one scratch archive (bench.search's generator; every tenth item a copy of the one before, as
bench.frontend makes stories), then copies the file once per state of the planner's knowledge and times
the story queries on each copy:

* `stale stats`: the statistics of an ANALYZE run before the copies existed (the column all NULL), which is
  what a deployment has — migrations 0004/0005 ran ANALYZE once, nothing runs it since;
* `no stats`: sqlite_stat1 emptied (a database migrated empty, then filled);
* `ANALYZE alone`: statistics refreshed after the copies exist, the existing plain index
  `ix_items_duplicate_of_id` only;
* `index, stale stats`: `CREATE INDEX ix_items_copies ON items(duplicate_of_id) WHERE duplicate_of_id IS NOT
  NULL`, no new ANALYZE (a migration that only adds the index);
* `index + ANALYZE`: the partial index and fresh statistics (what stop 20 measured, both at once).

Queries, for one result page of 20 stories (10 with copies, 10 without):
* `or-with-sources`: copies and originals joined to their sources in one statement
  (`… WHERE duplicate_of_id IN (…) OR id IN (…)`), the shape stop 20 measured;
* `copy-ids`: `SELECT id … WHERE duplicate_of_id IN (…)`, the first query of `storage.stories.copies_of`
  today (and the inner query of the planner's `supersede_copies` / `received_copies`);
* `copies_of (both)`: copy ids, then the rows by primary key joined to sources — what a page costs today.

Prints the median and p95 of `runs` executions per query, per round, with SQLite's plan and the load
average; numbers only, never a pass/fail.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

from bench.frontend import make_stories
from bench.search import fill
from storage.database import make_engine

COLS = ("items.id, items.duplicate_of_id, items.title, items.url, items.canonical_url, items.language, "
        "items.published, items.fetched_at, sources.publisher, sources.name")
PARTIAL = "CREATE INDEX ix_items_copies ON items (duplicate_of_id) WHERE duplicate_of_id IS NOT NULL"
STATES = ("stale stats", "no stats", "ANALYZE alone", "index, stale stats", "index + ANALYZE")


def build(path: Path, n: int) -> float:
    """The scratch archive: n items, stale statistics (ANALYZE before the copies were made); seconds taken."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    t0 = time.perf_counter()
    fill(engine, n)  # ends with ANALYZE, while duplicate_of_id is still NULL everywhere
    make_stories(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    return time.perf_counter() - t0


def prepare(base: Path, state: str) -> Path:
    path = base.with_name(f"{base.stem}-{state.replace(' ', '-').replace(',', '').replace('+', 'and')}.sqlite3")
    shutil.copyfile(base, path)
    conn = sqlite3.connect(path)
    try:
        if state == "no stats":
            conn.execute("DELETE FROM sqlite_stat1")
        if state.startswith("index"):
            conn.execute(PARTIAL)
        if state in ("ANALYZE alone", "index + ANALYZE"):
            conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()
    return path


def page_roots(conn: sqlite3.Connection, seed: int = 13) -> list[int]:
    """20 story originals as a result page shows them: 10 with copies, 10 without."""
    with_copies = [r[0] for r in conn.execute(
        "SELECT DISTINCT duplicate_of_id FROM items WHERE duplicate_of_id IS NOT NULL ORDER BY 1")]
    alone = [r[0] for r in conn.execute(
        "SELECT id FROM items WHERE duplicate_of_id IS NULL AND id % 10 BETWEEN 1 AND 8 ORDER BY id")]
    rng = random.Random(seed)
    return sorted(rng.sample(with_copies, 10) + rng.sample(alone, 10))


def _marks(values: list[int]) -> str:
    return ",".join("?" * len(values))


def queries(conn: sqlite3.Connection, roots: list[int]) -> dict[str, tuple[str, list[int]]]:
    copies = [r[0] for r in conn.execute(f"SELECT id FROM items WHERE duplicate_of_id IN ({_marks(roots)})", roots)]
    members = roots + copies
    return {
        "or-with-sources": (
            f"SELECT {COLS} FROM items LEFT OUTER JOIN sources ON sources.id = items.source_id "
            f"WHERE items.duplicate_of_id IN ({_marks(roots)}) OR items.id IN ({_marks(roots)})", roots + roots),
        "copy-ids": (f"SELECT items.id FROM items WHERE items.duplicate_of_id IN ({_marks(roots)})", roots),
        "rows by id": (
            f"SELECT {COLS} FROM items LEFT OUTER JOIN sources ON sources.id = items.source_id "
            f"WHERE items.id IN ({_marks(members)})", members),
    }


def plan(conn: sqlite3.Connection, sql: str, params: list[int]) -> str:
    return "; ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def timed(conn: sqlite3.Connection, sql: str, params: list[int], runs: int) -> tuple[float, float, int]:
    rows = len(conn.execute(sql, params).fetchall())  # warm the page cache
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.execute(sql, params).fetchall()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[-1], rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=30_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/milai-bench-copies.sqlite3"))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="keep the scratch archive of an earlier run")
    args = ap.parse_args()
    if not (args.reuse and args.db.exists()):
        print(f"building {args.items:,} items in {args.db} … {build(args.db, args.items):.1f} s")
    paths = {state: prepare(args.db, state) for state in STATES}
    conns = {state: sqlite3.connect(path) for state, path in paths.items()}
    roots = page_roots(conns["stale stats"])
    print(f"SQLite {sqlite3.sqlite_version}; a page of {len(roots)} stories; {args.runs} runs per cell; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print("\nplans:")
    for state, conn in conns.items():
        for name, (sql, params) in queries(conn, roots).items():
            print(f"  {state:<20} {name:<16} {plan(conn, sql, params)}")
    for round_no in range(1, args.rounds + 1):
        print(f"\nround {round_no} (load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}), ms median / p95:")
        print(f"  {'state':<20} {'or-with-sources':>18} {'copy-ids':>16} {'copies_of (both)':>18}")
        for state, conn in conns.items():
            q = queries(conn, roots)
            cells = {name: timed(conn, sql, params, args.runs) for name, (sql, params) in q.items()}
            both = cells["copy-ids"][0] + cells["rows by id"][0], cells["copy-ids"][1] + cells["rows by id"][1]
            print(f"  {state:<20} {cells['or-with-sources'][0]:>8.3f} / {cells['or-with-sources'][1]:>7.3f}"
                  f" {cells['copy-ids'][0]:>7.3f} / {cells['copy-ids'][1]:>6.3f}"
                  f" {both[0]:>8.3f} / {both[1]:>7.3f}   ({cells['or-with-sources'][2]} rows)")
    for conn in conns.values():
        conn.close()


if __name__ == "__main__":
    main()
