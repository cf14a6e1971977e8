"""Benchmark: full-text search (FTS5 / tsvector) against a plain LIKE scan on a synthetic archive.

    python -m bench.search --items 1000000 [--db /tmp/bench.sqlite3] [--pg postgresql://…/db] [--runs 15]
                           [--reuse] [--no-sqlite]

`--reuse` keeps an archive already filled by an earlier run (same --items) instead of refilling it.

Fills the archive through the real schema (migrations, so the FTS triggers run on every insert; the
normalised search columns are computed in Python with storage.search.search_columns, as the ORM events
do), then prints p50/p95 latency per query for search_items() (ranking and Python snippets included)
and for a LIKE scan, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text

from storage.database import make_engine, session_scope, upgrade
from storage.models import Item, Source
from storage.search import ItemFilter, search_columns, search_items

VOCAB = {
    "en": (
        "the of and to in a for on with by government ministry statement security defence cooperation "
        "conference delegation meeting policy international agreement military forces operations training "
        "strategy development technology research report council member states peace support region "
        "weapons systems human control responsible use artificial intelligence data cyber maritime"
    ).split(),
    "fr": (
        "le la les de des et en pour sur avec par gouvernement ministère déclaration sécurité défense "
        "coopération conférence délégation réunion politique accord militaire forces opérations stratégie "
        "technologie recherche rapport conseil États membres paix région armes systèmes contrôle humain "
        "intelligence artificielle données"
    ).split(),
    "es": (
        "el la los de y en para con por gobierno ministerio declaración seguridad defensa cooperación "
        "conferencia delegación reunión política acuerdo militar fuerzas operaciones estrategia tecnología "
        "investigación informe consejo estados miembros paz región armas sistemas control humano "
        "inteligencia artificial datos"
    ).split(),
    "de": (
        "der die das und in für auf mit von Regierung Ministerium Erklärung Sicherheit Verteidigung "
        "Zusammenarbeit Konferenz Delegation Treffen Politik Abkommen militärisch Streitkräfte Einsatz "
        "Strategie Technologie Forschung Bericht Rat Mitgliedstaaten Frieden Region Waffen Systeme "
        "Kontrolle künstliche Intelligenz Daten"
    ).split(),
}
# (phrase, probability per item): from common to very rare
TOPICS = [
    ("drone", 0.08),
    ("autonomous weapons", 0.02),
    ("lethal autonomous weapons systems", 0.006),
    ("REAIM summit", 0.002),
    ("Sahel", 0.0003),
]
QUERIES = [
    ("drone (8%)", "drone", "drone"),
    ("autonomous weapons (2%)", "autonomous weapons", "autonomous weapons"),
    ('"lethal autonomous" (0.6%)', '"lethal autonomous"', "lethal autonomous"),
    ("REAIM (0.2%)", "REAIM", "REAIM"),
    ("Sahel (0.03%)", "Sahel", "Sahel"),
    ("absent word", "xylophone", "xylophone"),
    ("armes (fr inflection)", "arme", "arme"),
    ("drone* prefix", "drone*", "drone"),
]


def _items(n: int, source_ids: list[int], seed: int = 7) -> Iterator[dict]:
    rnd = random.Random(seed)
    langs = list(VOCAB)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    for i in range(n):
        lang = rnd.choices(langs, weights=(6, 2, 1, 1))[0]
        words = VOCAB[lang]
        body = rnd.choices(words, k=rnd.randint(40, 120))
        for phrase, p in TOPICS:
            if rnd.random() < p:
                body.insert(rnd.randrange(len(body)), phrase)
        title = " ".join(rnd.choices(words, k=8)).capitalize()
        relevant = rnd.random() < 0.3
        text = " ".join(body)
        search_title, search_text = search_columns(title, None, text, lang)
        yield {
            "canonical_url": f"https://example.org/{i}",
            "url": f"https://example.org/{i}",
            "kind": "article",
            "title": title,
            "summary": None,
            "text": text,
            "search_title": search_title,
            "search_text": search_text,
            "published": start + timedelta(minutes=rnd.randrange(5_000_000)) if rnd.random() > 0.05 else None,
            "date_origin": "page",
            "fetched_at": start,
            "language": lang,
            "relevant": relevant,
            "score": 0.9 if relevant else 0.1,
            "matches": [],
            "revision": 1,
            "source_id": source_ids[i % len(source_ids)],
        }


def fill(engine: Engine, n: int, batch: int = 20_000) -> float:
    """Insert n synthetic items (normalised in Python, FTS maintained by the triggers); returns seconds."""
    upgrade(engine)
    t0 = time.perf_counter()
    with session_scope(engine) as s:
        s.add_all(
            Source(name=f"src-{k}", publisher=f"Publisher {k}", kind="feed", url=f"https://s{k}.example")
            for k in range(20)
        )
    with engine.connect() as conn:
        source_ids = [r[0] for r in conn.execute(text("SELECT id FROM sources"))]
    rows: list[dict] = []
    with engine.begin() as conn:
        for row in _items(n, source_ids):
            rows.append(row)
            if len(rows) >= batch:
                conn.execute(insert(Item), rows)
                rows.clear()
        if rows:
            conn.execute(insert(Item), rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE items"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def _filled(engine: Engine) -> bool:
    """Whether the database already holds a bench archive."""
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM items LIMIT 1")).first())
    except Exception:  # no schema yet
        return False


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def _time(fn, runs: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    fn()  # warm the cache
    samples, count = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        count = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return _pct(samples, 50), _pct(samples, 95), count


def measure(engine: Engine, runs: int) -> list[dict]:
    like = text(
        "SELECT id FROM items WHERE (title LIKE :p OR summary LIKE :p OR text LIKE :p) "
        "ORDER BY published DESC, id DESC LIMIT 50"
    )
    if engine.dialect.name == "postgresql":
        like = text(like.text.replace("LIKE", "ILIKE").replace("published DESC", "published DESC NULLS LAST"))
    out = []
    for label, q, needle in QUERIES:

        def fts(q: str = q) -> int:
            with session_scope(engine) as s:
                return len(search_items(s, ItemFilter(q=q, include_all=True, limit=50)).items)

        def fts_filtered(q: str = q) -> int:
            with session_scope(engine) as s:
                return len(search_items(s, ItemFilter(q=q, languages=["en"], limit=50)).items)

        def scan(needle: str = needle) -> int:
            with engine.connect() as conn:
                return len(conn.execute(like, {"p": f"%{needle}%"}).all())

        f50, f95, fn = _time(fts, runs)
        g50, g95, _ = _time(fts_filtered, runs)
        l50, l95, ln = _time(scan, max(3, runs // 3))
        out.append(
            {
                "query": label,
                "fts_p50_ms": round(f50, 1),
                "fts_p95_ms": round(f95, 1),
                "fts_en_ontopic_p50_ms": round(g50, 1),
                "like_p50_ms": round(l50, 1),
                "like_p95_ms": round(l95, 1),
                "like/fts_p50": round(l50 / f50, 1) if f50 else None,
                "hits_page": fn,
                "like_hits_page": ln,
            }
        )
    return out


def _print(name: str, n: int, fill_s: float, rows: list[dict]) -> None:
    filled = "reused" if math.isnan(fill_s) else f"filled in {fill_s:.0f} s ({n / fill_s:,.0f} items/s)"
    print(f"\n== {name}: {n:,} items, {filled}")
    cols = list(rows[0])
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/milai-bench.sqlite3"))
    ap.add_argument("--pg", help="also run on this (empty) PostgreSQL database URL")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON too")
    ap.add_argument("--reuse", action="store_true", help="measure an archive already filled (skip the fill)")
    ap.add_argument("--no-sqlite", action="store_true", help="only run on --pg")
    args = ap.parse_args()
    results = {}
    targets = [] if args.no_sqlite else [("sqlite", f"sqlite:///{args.db}")]
    targets += [("postgresql", args.pg)] if args.pg else []
    for name, url in targets:
        if name == "sqlite" and not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(args.db) + suffix).unlink(missing_ok=True)
        engine = make_engine(url)
        if args.reuse and _filled(engine):
            upgrade(engine)
            fill_s = float("nan")
        else:
            fill_s = fill(engine, args.items)
        rows = measure(engine, args.runs)
        _print(name, args.items, fill_s, rows)
        results[name] = {"items": args.items, "fill_seconds": None if math.isnan(fill_s) else round(fill_s),
                         "queries": rows}
        engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
