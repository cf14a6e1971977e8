"""Benchmark: full-text search (FTS5 / tsvector) against a plain LIKE scan on a synthetic archive.

    python -m bench.search --items 1000000 [--runs 15] [--no-sqlite] [--no-pg] [--rebuild] [--fill-only]
                           [--cache-dir DIR] [--db FILE] [--pg postgresql://…/db] [--no-freeze]

Both archives are cached: the SQLite file under --cache-dir (default $MILAI_BENCH_CACHE or
~/.cache/milai-bench) and the PostgreSQL database `milai_bench_search` (`_<items>` appended below a
million) on 127.0.0.1:5432, created when missing. A cached archive is reused when it holds the same
number of items of the same generator (table `bench_meta`), after the migrations are run on it (so a
new index is built once, not a new archive); otherwise, or with --rebuild, it is filled anew (about
6 min each for a million on a quiet machine). `--fill-only` builds the caches and measures nothing.

Fills the archive through the real schema (migrations, so the FTS triggers run on every insert; the
normalised search columns are computed in Python with storage.search.search_columns, as the ORM events
do), then prints p50/p95 latency per query of search_items() (snippets included): ranked and by date, the
first page and page 20, unfiltered (`--all`) and for English on-topic items; of search_stats() (count,
per month/week, top publishers and languages); and of a LIKE scan (newest first), with its ratio.
Before measuring, the objects alive are frozen out of the garbage collector's reach, as the web app does at
start-up (milai.heap); without that (--no-freeze) a full collection of ~75,000 objects (40-90 ms) lands in
about one count-and-facet call in five and becomes the p95.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, event, insert, make_url, text
from sqlalchemy.exc import OperationalError

from milai.heap import freeze_startup_objects
from storage.database import make_engine, session_scope, upgrade
from storage.models import Item, Source
from storage.search import ItemFilter, search_columns, search_items, search_stats

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
DEEP_PAGE = 20  # the deep page measured: items 951-1000 of a 50-per-page walk
DATA_VERSION = "1"  # of _items(): a cached archive of another version is refilled
FILL_CACHE_KB = 1_000_000  # SQLite page cache of the fill's connections
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _items(n: int, source_ids: list[int], seed: int = 7, skip: int = 0) -> Iterator[dict]:
    """Items 1..n (explicit ids), without the first `skip` (generated all the same: the random stream
    of a resumed fill is the one of a fill from scratch)."""
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
        dated = rnd.random() > 0.05
        minutes = rnd.randrange(5_000_000) if dated else 0
        if i < skip:
            continue
        text = " ".join(body)
        search_title, search_text = search_columns(title, None, text, lang)
        yield {
            "id": i + 1,
            "canonical_url": f"https://example.org/{i}",
            "url": f"https://example.org/{i}",
            "kind": "article",
            "title": title,
            "summary": None,
            "text": text,
            "search_title": search_title,
            "search_text": search_text,
            "published": start + timedelta(minutes=minutes) if dated else None,
            "date_origin": "page",
            "fetched_at": start,
            "language": lang,
            "relevant": relevant,
            "score": 0.9 if relevant else 0.1,
            "matches": [],
            "revision": 1,
            "source_id": source_ids[i % len(source_ids)],
        }


def fill(engine: Engine, n: int, batch: int = 10_000) -> float:
    """Insert n synthetic items (normalised in Python, FTS maintained by the triggers); returns seconds.

    Each batch is its own transaction (a million in one transaction grew SQLite's WAL to 768 MB and ran
    for hours), so a stopped fill keeps what it committed and the next run goes on from there (items
    carry explicit ids 1..n, the stream is deterministic). A partial archive is never measured: only a
    finished fill writes `bench_meta` (_mark_cached)."""
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        # the items indexes on (random) dates and the FTS5 segments outgrow SQLite's 2 MB default page
        # cache within 50,000 items: every insert then re-reads their pages (the fill slowed to ~400 items/s)
        event.listen(engine, "connect",
                     lambda dbapi_conn, _rec: dbapi_conn.execute(f"PRAGMA cache_size=-{FILL_CACHE_KB}"))
        engine.dispose()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        has_sources = conn.execute(text("SELECT count(*) FROM sources")).scalar_one()
    if not has_sources:
        with session_scope(engine) as s:
            s.add_all(
                Source(name=f"src-{k}", publisher=f"Publisher {k}", kind="feed", url=f"https://s{k}.example")
                for k in range(20)
            )
    with engine.connect() as conn:
        source_ids = [r[0] for r in conn.execute(text("SELECT id FROM sources ORDER BY id"))]
        done = conn.execute(text("SELECT coalesce(max(id), 0) FROM items")).scalar_one()
    if done:
        print(f"resuming a partial fill at item {done + 1:,}", flush=True)
    rows: list[dict] = []
    fts = _sqlite_fts_batch(engine) if engine.dialect.name == "sqlite" else None

    def flush() -> None:
        with engine.begin() as conn:
            if fts is None:
                conn.execute(insert(Item), rows)
            else:  # the same index rows as the trigger writes, one statement per batch (see _sqlite_fts_batch)
                trigger_sql, batch_sql = fts
                conn.execute(text("DROP TRIGGER items_fts_ai"))
                conn.execute(insert(Item), rows)
                conn.execute(text(batch_sql), {"lo": rows[0]["id"], "hi": rows[-1]["id"]})
                conn.execute(text(trigger_sql))
        rows.clear()

    for row in _items(n, source_ids, skip=done):
        rows.append(row)
        if len(rows) >= batch:
            flush()
            if row["id"] % 100_000 == 0:
                print(f"  {row['id']:,} items, {time.perf_counter() - t0:.0f} s, load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
    if rows:
        flush()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('items', 'id'), (SELECT max(id) FROM items))"))
            conn.execute(text("VACUUM ANALYZE items"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def _sqlite_fts_batch(engine: Engine) -> tuple[str, str]:
    """The schema's FTS insert trigger, and the same insert as one statement over a range of ids.

    FTS5 flushes its pending terms to a new segment at every statement savepoint, and a trigger on an
    items INSERT opens one per row: one segment per item, merged over and over (1.3 ms an item on a
    fresh file, slower as it grows: the 1M fill ran for hours). The bench drops the trigger for a
    batch, writes that batch's index rows with the trigger's own expression (read from the schema, so
    it is whatever the migrations made it) and recreates it, in the batch's transaction."""
    with engine.connect() as conn:
        trigger_sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                                        "AND name = 'items_fts_ai'")).scalar_one()
    body = trigger_sql[trigger_sql.index(" BEGIN ") + 7: trigger_sql.rindex(" END")].strip().rstrip(";")
    head, values = body.split(" VALUES (", 1)
    batch_sql = (f"{head} SELECT {values.strip()[:-1].replace('new.', 'items.')} "
                 "FROM items WHERE id BETWEEN :lo AND :hi ORDER BY id")
    return trigger_sql, batch_sql


def _partial(engine: Engine, n: int) -> bool:
    """Whether the database holds a stopped fill of this archive (no bench_meta yet) to go on with."""
    try:
        with engine.connect() as conn:
            meta: dict[str, str] = dict(conn.execute(text("SELECT key, value FROM bench_fill")).all())
    except Exception:
        return False
    return meta == {"items": str(n), "version": DATA_VERSION}


def _mark_partial(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_fill (key VARCHAR(20) PRIMARY KEY, value VARCHAR(40))"))
        conn.execute(text("INSERT INTO bench_fill VALUES ('items', :n), ('version', :v)"),
                     {"n": str(n), "v": DATA_VERSION})


def _cached(engine: Engine, n: int) -> bool:
    """Whether the database holds a complete bench archive of n items of this generator."""
    try:
        with engine.connect() as conn:
            meta: dict[str, str] = dict(conn.execute(text("SELECT key, value FROM bench_meta")).all())
    except Exception:  # no such table: empty, or a fill that did not finish
        return False
    return meta == {"items": str(n), "version": DATA_VERSION}


def _mark_cached(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_meta (key VARCHAR(20) PRIMARY KEY, value VARCHAR(40))"))
        conn.execute(text("INSERT INTO bench_meta VALUES ('items', :n), ('version', :v)"),
                     {"n": str(n), "v": DATA_VERSION})


def _reset_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _reset_pg(url: str) -> bool:
    """Drop and recreate the database of `url`; False when the server is not reachable."""
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    except OperationalError as exc:
        print(f"PostgreSQL not reachable ({str(exc.orig).strip().splitlines()[0]}): skipped")
        return False
    finally:
        admin.dispose()
    return True


def _pg_reachable(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def _time(fn, runs: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    fn()  # warm the cache
    samples, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return _pct(samples, 50), _pct(samples, 95), out


def _deep_cursor(engine: Engine, f: ItemFilter, pages: int) -> tuple[str | None, int]:
    """The cursor of page `pages` + 1 (or of the last page there is), and that page's number."""
    cursor, walked = None, 0
    with session_scope(engine) as s:
        while walked < pages:
            page = search_items(s, replace(f, cursor=cursor))
            if not page.next:
                break
            cursor, walked = page.next, walked + 1
    return cursor, walked + 1


def measure(engine: Engine, runs: int, deep: int = DEEP_PAGE - 1) -> list[dict]:
    like = text(
        "SELECT id FROM items WHERE (title LIKE :p OR summary LIKE :p OR text LIKE :p) "
        "ORDER BY published DESC, id DESC LIMIT 50"
    )
    if engine.dialect.name == "postgresql":
        like = text(like.text.replace("LIKE", "ILIKE").replace("published DESC", "published DESC NULLS LAST"))
    out = []
    for label, q, needle in QUERIES:
        row: dict[str, object] = {"query": label}
        worst = 0.0
        cases = [("rank", ItemFilter(q=q, include_all=True, limit=50)),
                 ("date", ItemFilter(q=q, include_all=True, limit=50, sort="date")),
                 ("en_rank", ItemFilter(q=q, languages=["en"], limit=50)),
                 ("en_date", ItemFilter(q=q, languages=["en"], limit=50, sort="date"))]
        for name, f in cases:
            def page(f: ItemFilter = f) -> int:
                with session_scope(engine) as s:
                    return len(search_items(s, f).items)

            p50, p95, _ = _time(page, runs)
            row[f"{name}_p50/p95"] = f"{p50:.0f}/{p95:.0f}"
            worst = max(worst, p95)
            if name in ("rank", "date"):
                cursor, n = _deep_cursor(engine, f, deep)
                if cursor:
                    deep_f = replace(f, cursor=cursor)
                    p50, p95, _ = _time(lambda deep_f=deep_f: page(deep_f), runs)
                    row[f"{name}_deep_p50/p95"] = f"{p50:.0f}/{p95:.0f}" + ("" if n == deep + 1 else f" (p{n})")
                    worst = max(worst, p95)
                else:
                    row[f"{name}_deep_p50/p95"] = "- (1 page)"
        for name, f in [("stats", ItemFilter(q=q, include_all=True)), ("en_stats", ItemFilter(q=q, languages=["en"]))]:
            def facets(f: ItemFilter = f) -> object:
                with session_scope(engine) as s:
                    return search_stats(s, f).count

            p50, p95, count = _time(facets, runs)
            row[f"{name}_p50/p95"] = f"{p50:.0f}/{p95:.0f}"
            if name == "stats":
                row["total"] = f"{count.total:,}" + ("" if count.exact else " (est.)")  # type: ignore[attr-defined]

        def scan(needle: str = needle) -> int:
            with engine.connect() as conn:
                return len(conn.execute(like, {"p": f"%{needle}%"}).all())

        l50, _, _ = _time(scan, max(3, runs // 3))
        rank50 = float(str(row["rank_p50/p95"]).split("/")[0])
        row["like_p50"] = round(l50)
        row["like/rank_p50"] = round(l50 / rank50, 1) if rank50 else None
        row["worst_page_p95"] = round(worst)
        out.append(row)
    return out


def _print(name: str, n: int, fill_s: float, rows: list[dict]) -> None:
    filled = "cached" if math.isnan(fill_s) else f"filled in {fill_s:.0f} s ({n / fill_s:,.0f} items/s)"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n== {name}: {n:,} items, {filled}; load average {load} (1/5/15 min); times in ms (p50/p95); "
          f"deep = page {DEEP_PAGE} (or the last, pN)")
    cols = list(dict.fromkeys(c for r in rows for c in r))
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "-")) for c in cols))


def _default_cache() -> Path:
    return Path(os.environ.get("MILAI_BENCH_CACHE") or Path.home() / ".cache" / "milai-bench")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--cache-dir", type=Path, default=None, help="where the SQLite archive is kept")
    ap.add_argument("--db", type=Path, help="the SQLite archive (default: <cache-dir>/search-<items>.sqlite3)")
    ap.add_argument("--pg", help="the PostgreSQL database URL (default: milai_bench_search on 127.0.0.1)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON too")
    ap.add_argument("--rebuild", action="store_true", help="refill the archives even if cached")
    ap.add_argument("--fill-only", action="store_true", help="build the cached archives, measure nothing")
    ap.add_argument("--no-sqlite", action="store_true", help="skip SQLite")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument("--no-freeze", action="store_true",
                    help="leave the start-up objects in the garbage collector's reach (the web app freezes them)")
    args = ap.parse_args()
    n = args.items
    db = args.db or (args.cache_dir or _default_cache()) / f"search-{n}.sqlite3"
    pg = args.pg or f"{PG_SERVER}/milai_bench_search" + ("" if n == 1_000_000 else f"_{n}")
    results = {}
    targets = [] if args.no_sqlite else [("sqlite", f"sqlite:///{db}")]
    targets += [] if args.no_pg else [("postgresql", pg)]
    for name, url in targets:
        if name == "postgresql" and not _pg_reachable(url) and not _reset_pg(url):
            continue
        engine = make_engine(url)
        if not args.rebuild and _cached(engine, n):
            upgrade(engine)  # new migrations run on the cached archive
            fill_s = float("nan")
        else:
            if args.rebuild or not _partial(engine, n):
                engine.dispose()
                if name == "sqlite":
                    _reset_sqlite(db)
                elif not _reset_pg(url):
                    continue
                engine = make_engine(url)
                _mark_partial(engine, n)
            fill_s = fill(engine, n)
            _mark_cached(engine, n)
            print(f"{name}: {n:,} items filled in {fill_s:.0f} s, cached at {url}")
        if not args.fill_only:
            if not args.no_freeze:  # as the web app's start-up does (api.app's lifespan)
                freeze_startup_objects()
            rows = measure(engine, args.runs)
            _print(name, n, fill_s, rows)
            results[name] = {"items": n, "fill_seconds": None if math.isnan(fill_s) else round(fill_s),
                             "queries": rows}
        engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
