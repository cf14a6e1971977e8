"""Benchmark: how long the web page takes to render for typical queries, on SQLite and PostgreSQL.

    python -m bench.frontend [--items 100000] [--db /tmp/milai-bench-frontend.sqlite3]
                             [--pg postgresql://…/db] [--runs 15] [--reuse] [--no-sqlite]

Fills a synthetic archive with bench.search's generator (every tenth item a copy of the one before, so
results list their stories), serves the real app with uvicorn on loopback and times whole HTTP requests
(search, story copies, counts, facets, the SVG chart and the template) with httpx: p50 / p95 per page,
and the ratio to the JSON API's answer for the same query (search and count, no facets or chart).
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import Engine, text

from bench.search import _cached, fill
from storage.database import make_engine, upgrade

PAGES = [
    ("home (latest stories)", "/", None),
    ("drone, ranked", "/?q=drone", "/api/items?q=drone&limit=20"),
    ("drone, newest first", "/?q=drone&sort=date", "/api/items?q=drone&sort=date&limit=20"),
    ("autonomous weapons, en+fr", "/?q=autonomous+weapons&lang=en&lang=fr",
     "/api/items?q=autonomous+weapons&lang=en&lang=fr&limit=20"),
    ("REAIM, one publisher", "/?q=REAIM&publisher=Publisher+3", "/api/items?q=REAIM&publisher=Publisher+3&limit=20"),
    ("no match", "/?q=xylophone", "/api/items?q=xylophone&limit=20"),
    ("trends drone, per week", "/trends?q=drone&interval=week", "/api/stats?q=drone"),
    ("item page (a story)", "/items/{story}", "/api/items/{story}"),
    ("sources", "/sources", "/api/sources"),
]


def make_stories(engine: Engine) -> int:
    """Every tenth item becomes a copy of the item before it; returns the id of one such story's original."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET duplicate_of_id = id - 1 WHERE id % 10 = 0 AND duplicate_of_id IS NULL"))
        return int(conn.execute(text("SELECT MIN(duplicate_of_id) FROM items WHERE duplicate_of_id IS NOT NULL"))
                   .scalar_one())


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _serve(url: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    from api.app import create_app
    from milai.config import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
            create_app(Settings(database_url=url)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _time(client: httpx.Client, path: str, runs: int) -> tuple[float, float, int]:
    client.get(path)  # warm caches (facets, plans)
    times = []
    size = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(path, headers={"accept": "text/html"})
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return _pct(times, 50), _pct(times, 95), size


def measure(url: str, story: int, runs: int) -> list[dict]:
    server, thread, base = _serve(url)
    rows = []
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            for name, page, api in PAGES:
                p50, p95, size = _time(client, page.format(story=story), runs)
                row = {"page": name, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "kb": round(size / 1024, 1)}
                if api:
                    a50, _, _ = _time(client, api.format(story=story), runs)
                    row |= {"api_p50_ms": round(a50, 1), "ratio": round(p50 / a50, 2) if a50 else None}
                rows.append(row)
    finally:
        server.should_exit = True
        thread.join()
    return rows


def _print(name: str, n: int, fill_s: float, rows: list[dict]) -> None:
    filled = "reused" if math.isnan(fill_s) else f"filled in {fill_s:.0f} s"
    print(f"\n{name}: {n:,} items ({filled}); whole HTTP requests over loopback")
    print(f"{'page':30} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>7} {'API p50':>8} {'page/API':>9}")
    for r in rows:
        api = f"{r['api_p50_ms']:8.1f} {r['ratio']:9.2f}" if "api_p50_ms" in r else f"{'-':>8} {'-':>9}"
        print(f"{r['page']:30} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['kb']:7.1f} {api}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/milai-bench-frontend.sqlite3"))
    ap.add_argument("--pg", help="also run on this (empty) PostgreSQL database URL")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--reuse", action="store_true", help="measure an archive already filled (skip the fill)")
    ap.add_argument("--no-sqlite", action="store_true", help="only run on --pg")
    args = ap.parse_args()
    targets = [] if args.no_sqlite else [("sqlite", f"sqlite:///{args.db}")]
    targets += [("postgresql", args.pg)] if args.pg else []
    for name, url in targets:
        if name == "sqlite" and not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(args.db) + suffix).unlink(missing_ok=True)
        engine = make_engine(url)
        if args.reuse and _cached(engine, args.items):
            upgrade(engine)
            fill_s = float("nan")
        else:
            fill_s = fill(engine, args.items)
        story = make_stories(engine)
        engine.dispose()
        _print(name, args.items, fill_s, measure(url, story, args.runs))


if __name__ == "__main__":
    main()
