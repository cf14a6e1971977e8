"""Crawl cost against archive size: start-up time, RSS and near-duplicate lookups with 0 … N archived signatures.

Usage: python -m bench.scale [--sizes 0 200000] [--postgres URL] [--dialects sqlite postgresql] [--articles 30]
                             [--repeats 3] [--cache DIR | --no-cache] [--fill-only]

For each archive size and dialect (SQLite; PostgreSQL when --postgres names a server's admin database, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres): a fresh migrated database is filled directly with N
first copies (random MinHash signatures and their bands, generated rows, no crawl; a bulk load, see `fill`), then

- a one-source crawl (`crawler.runner.run_crawl`, a loopback feed of --articles articles, politeness lowered) runs
  in a fresh process that reports the time from process start to its pipelines being open ("open s"; "+open s" is
  that beyond the same dialect's empty archive, when size 0 ran first; an unmeasured crawl runs before all, the
  first one pays the cold imports), its RSS then, and its peak RSS and wall
  time at the end; --repeats K crawls in all run on the same copy (the later ones find the articles stored) and
  "open s" is their median, with their range at the end of the row (start-up varies by ±1 s on a shared machine),
  and peak RSS the largest of them;
- 400 near-duplicate lookups (`storage.near_duplicates.near_matches`, half of them copies of archived items),
  after 100 unmeasured ones with other signatures, measure p50/p95 lookup time;
- "load" is the 1-minute load average when the crawl ended (the machine may be shared: compare rows of one run).

Filled databases are cached (a 1M fill takes minutes): an SQLite file under --cache (default
$MILAI_BENCH_CACHE or ~/.cache/milai-bench), a PostgreSQL database named milai_scale_cache_<revision>_<N> on the
server; each run works on a copy (a file copy, CREATE DATABASE … TEMPLATE), so the crawl never changes the
cache. The cache key holds the migration head and FILL_VERSION; --no-cache builds afresh and keeps nothing;
"fill s" is the time of the build ("cached" when the cache served it).

The crawl's cost must not grow with the archive: start-up, RSS and lookup time stay flat as N grows (goals at
1M items: start-up at most 1 s beyond the empty archive's, peak RSS at most 400 MB, lookup p95 at most 2 ms).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
PROBE_FILE = "MILAI_BENCH_PROBE_FILE"
LAUNCHED = "MILAI_BENCH_LAUNCHED"  # time.time() when the crawl process was launched
FILL_VERSION = 3  # bump when fill() changes what it writes: cached databases of another version are not used
FILL_BATCH = 5000  # items per generated batch (batch k's signatures depend only on k)


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident set (VmRSS) or its high-water mark (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Probe:
    """A Scrapy extension for the crawl process: time and RSS when the spider (and its pipelines) opened, and
    at the end; written to $MILAI_BENCH_PROBE_FILE."""

    def __init__(self, path: str, launched: float) -> None:
        self.path = path
        self.launched = launched
        self.data: dict[str, float] = {}

    def _since_launch(self) -> float:
        return time.time() - self.launched

    @classmethod
    def from_crawler(cls, crawler: Any) -> Probe:
        from scrapy import signals

        probe = cls(os.environ[PROBE_FILE], float(os.environ[LAUNCHED]))
        crawler.signals.connect(probe.opened, signal=signals.spider_opened)
        crawler.signals.connect(probe.first_item, signal=signals.item_scraped)
        crawler.signals.connect(probe.closed, signal=signals.spider_closed)
        return probe

    def opened(self, spider: Any) -> None:
        self.data.update(open_s=self._since_launch(), open_rss_mb=rss_mb())

    def first_item(self, item: Any, spider: Any) -> None:
        if "first_item_s" not in self.data:
            self.data.update(first_item_s=self._since_launch(), first_item_rss_mb=rss_mb())

    def closed(self, spider: Any) -> None:
        # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a crawl launched by a bench
        # process that had just filled a million items reported that process's 1.9 GB as its own peak
        self.data.update(closed_s=self._since_launch(), end_rss_mb=rss_mb(), peak_rss_mb=rss_mb("VmHWM"))
        Path(self.path).write_text(json.dumps(self.data), encoding="utf-8")


def _crawl_process(catalogue: Path) -> int:
    """The crawl, in this (fresh) process: one source, politeness lowered, with the probe."""
    from crawler.catalogue import load_catalogue
    from crawler.runner import run_crawl
    from crawler.settings import EXTENSIONS
    from milai.config import Settings

    summaries = run_crawl(Settings(), catalogue=load_catalogue(catalogue), overrides={
        "EXTENSIONS": {**EXTENSIONS, "bench.scale.Probe": 900}, "LOG_LEVEL": "ERROR",
    })
    print(json.dumps({"stored": sum(s.new + s.duplicate for s in summaries)}))
    return 0


def fill(engine: Engine, n: int, batch: int = FILL_BATCH, *, progress: bool = False) -> float:
    """Insert first copies with random signatures and their bands until the archive holds `n`; returns seconds
    taken. One transaction: the secondary indexes of items and item_bands (and item_bands' key and foreign key)
    are dropped, the rows bulk-loaded (SQLite: executemany, the bands in index order; PostgreSQL: COPY) and the
    indexes and constraints rebuilt from their own definitions, so the database is what the migrations make.
    Resumable: a fill of an archive that already holds whole batches goes on after them (an interrupted fill
    keeps nothing of its own); batch k's signatures depend only on k, so the result is what one fill writes."""
    from storage.models import Item, utcnow
    from storage.near_duplicates import band_key_matrix, encode_signature

    started = time.perf_counter()
    with engine.connect() as conn:  # one transaction, committed at the end (closed uncommitted: rolled back)
        have, last = conn.execute(select(func.count(), func.coalesce(func.max(Item.id), 0))
                                  .select_from(Item)).one()
        if have % batch:
            raise SystemExit(f"a partial fill with {have} items is not a whole number of batches of {batch}")
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # the bands' item ids are the items just inserted: checking each one's foreign key reads the items
            # table at random (25 lookups an item) and thrashes the page cache at 1M items
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction (else ignored); back on below
            conn.exec_driver_sql("PRAGMA cache_size=-1048576")  # 1 GB: the load's pages stay in memory
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would begin only at the first insert: the drops too
        else:
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        try:
            restore = _drop_bulk_indexes(conn)
            ids, keys = [], []
            for at in range(have, n, batch):
                count = min(batch, n - at)
                values = np.random.default_rng([7, at]).integers(0, 2**32, size=(count, 128), dtype=np.uint64)
                rows = [{"id": last + 1 + i, "canonical_url": f"https://archive.example/{at + i}", "url": "u",
                         "kind": "article", "title": "archived", "text": "", "date_origin": "none", "relevant": False,
                         "score": 0.0, "matches": {}, "revision": 1, "text_truncated": False,
                         "minhash": encode_signature(v), "fetched_at": utcnow()} for i, v in enumerate(values)]
                if sqlite:
                    conn.execute(insert(Item), rows)
                else:
                    _copy(conn, "items", list(rows[0]),
                          ([json.dumps(v) if k == "matches" else v for k, v in r.items()] for r in rows))
                ids.append(np.arange(last + 1, last + 1 + count, dtype=np.int64))
                keys.append(band_key_matrix(values))
                last += count
                if progress and (at // batch) % 40 == 39:
                    print(f"  fill: {at + count:,} of {n:,} items, {time.perf_counter() - started:.0f} s", flush=True)
            if ids:
                _load_bands(conn, np.concatenate(ids), np.vstack(keys))
            for statement in restore:
                conn.exec_driver_sql(statement)
            if not sqlite:
                conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('items', 'id'), "
                                     "(SELECT coalesce(max(id), 1) FROM items))")
            conn.commit()
        except BaseException:
            conn.invalidate()  # closed, so rolled back; and no pooled SQLite connection keeps foreign keys off
            raise
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")  # make_engine's setting, for the pooled connection
    if engine.dialect.name == "postgresql":  # what autovacuum does to a loaded table; SQLite has no such thing
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE items, item_bands")
    if progress:
        print(f"  fill: {n:,} items, {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def _drop_bulk_indexes(conn: Connection) -> list[str]:
    """Drop what slows a bulk load of items and item_bands (their secondary indexes; item_bands' primary key and
    foreign key on PostgreSQL, where they can be dropped); returns the statements that rebuild them as they were."""
    if conn.dialect.name == "sqlite":
        indexes = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('items', 'item_bands') "
            "AND sql IS NOT NULL ORDER BY rowid").all()
        for name, _sql in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [sql for _name, sql in indexes]
    indexes = conn.exec_driver_sql(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid IN ('items'::regclass, 'item_bands'::regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY i.oid").all()
    constraints = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'item_bands'::regclass "
        "AND contype IN ('p', 'f') ORDER BY contype DESC").all()
    for name, _definition in reversed(constraints):
        conn.exec_driver_sql(f'ALTER TABLE item_bands DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [definition for _name, definition in indexes] + [
        f'ALTER TABLE item_bands ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints]


def _copy(conn: Connection, table: str, columns: list[str], rows: Any) -> None:
    """COPY `rows` (tuples of `columns`) into `table` on the connection's PostgreSQL transaction."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _load_bands(conn: Connection, ids: np.ndarray, keys: np.ndarray) -> None:
    """The bands of items `ids` (keys: one row of band keys per item), band by band in (band, key, item_id)
    order: SQLite appends to its primary-key index instead of inserting at random places."""
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")  # ids ascend: ties stay in item order
        band_keys, band_ids = keys[order, band].tolist(), ids[order].tolist()
        if conn.dialect.name == "sqlite":
            cursor.executemany("INSERT INTO item_bands (band, key, item_id) VALUES (?, ?, ?)",
                               zip(itertools.repeat(band), band_keys, band_ids, strict=False))
        else:
            with cursor.copy("COPY item_bands (band, key, item_id) FROM STDIN") as copy:
                for chunk in range(0, len(band_ids), 100_000):
                    copy.write("".join(f"{band}\t{k}\t{i}\n" for k, i in zip(
                        band_keys[chunk:chunk + 100_000], band_ids[chunk:chunk + 100_000], strict=True)))


def lookups(engine: Engine, probes: int = 400) -> tuple[float, float, int]:
    """p50 and p95 ms of near-duplicate lookups (half of the probes copy an archived item), and the hits."""
    from storage.database import session_scope
    from storage.models import Item
    from storage.near_duplicates import decode_signature, encode_signature, near_matches

    rng = np.random.default_rng(11)
    with session_scope(engine) as session:
        stored = [bytes(s) for s in session.scalars(select(Item.minhash).where(Item.minhash.is_not(None))
                                                     .order_by(Item.id).limit(probes // 2))]
    sigs = []
    for sig in stored:  # a copy: 10 % of the MinHash values differ
        values = decode_signature(sig)
        assert values is not None
        values = values.copy()
        values[rng.choice(128, 13, replace=False)] = rng.integers(0, 2**32, 13, dtype=np.uint64)
        sigs.append(encode_signature(values))
    sigs += [encode_signature(v) for v in rng.integers(0, 2**32, size=(probes - len(sigs), 128), dtype=np.uint64)]
    warm = [encode_signature(v) for v in np.random.default_rng(12).integers(0, 2**32, size=(100, 128),
                                                                            dtype=np.uint64)]
    times, hits = [], 0
    with session_scope(engine) as session:
        for sig in warm:  # other signatures: the statement cache and the index's upper pages, as in a running crawl
            near_matches(session, sig)
        for sig in sigs:
            started = time.perf_counter()
            hits += bool(near_matches(session, sig))
            times.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(times, [50, 95])
    return float(p50), float(p95), hits


def crawl(db_url: str, feed: str, tmp: Path) -> dict[str, float]:
    catalogue = tmp / "sources.yaml"
    catalogue.write_text(yaml.safe_dump({"sources": [
        {"name": "scale-probe", "publisher": "Scale", "kind": "feed", "url": feed}]}), encoding="utf-8")
    probe = tmp / f"probe-{uuid.uuid4().hex}.json"
    env = {**os.environ, "MILAI_DATABASE_URL": db_url, "MILAI_DATA_DIR": str(tmp), "MILAI_SOURCES": str(catalogue),
           "MILAI_DOWNLOAD_DELAY": "0", "MILAI_AUTOTHROTTLE": "false", "MILAI_HTTPCACHE": "false",
           "MILAI_RETRY_TIMES": "0", "MILAI_CONCURRENT_REQUESTS_PER_DOMAIN": "8", "MILAI_LOG_LEVEL": "ERROR",
           PROBE_FILE: str(probe)}
    started = time.perf_counter()
    env[LAUNCHED] = repr(time.time())
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--crawl-process", str(catalogue)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"crawl failed: {done.stderr[-2000:]}")
    data: dict[str, float] = json.loads(probe.read_text(encoding="utf-8"))
    data["wall_s"] = wall
    data["stored"] = json.loads(done.stdout.strip().splitlines()[-1])["stored"]
    return data


def _head() -> str:
    """The migration head the databases are built at (part of the cache key)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.database import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    return (head or "none")[:30]


def _build(url: str, n: int) -> float:
    """Migrate the database at `url` and fill it up to `n` first copies (an interrupted build resumes); seconds
    taken."""
    from storage.database import make_engine, upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        return fill(engine, n, progress=n >= 100_000)
    finally:
        engine.dispose()


def _sqlite(n: int, tmp: Path, cache: Path | None) -> tuple[str, str]:
    """A filled SQLite database of `n` items for this run, and how long its build took ("cached": none)."""
    work = tmp / f"scale-{uuid.uuid4().hex[:8]}.sqlite3"
    if cache is None:
        return f"sqlite:///{work}", f"{_build(f'sqlite:///{work}', n):.1f}"
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / f"scale-{_head()}-v{FILL_VERSION}-{n}.sqlite3"
    built = "cached"
    if not cached.exists():
        partial = cached.with_suffix(".partial")  # an interrupted build (one transaction) starts again
        partial.unlink(missing_ok=True)
        built = f"{_build(f'sqlite:///{partial}', n):.1f}"
        partial.rename(cached)
    shutil.copyfile(cached, work)
    return f"sqlite:///{work}", built


def _postgres(n: int, admin: str, cache: bool) -> tuple[str, str, Any]:
    """A filled PostgreSQL database of `n` items for this run (a copy of the cached one), its build time and
    its clean-up."""
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    base = admin.rsplit("/", 1)[0]
    name = f"milai_scale_{uuid.uuid4().hex[:10]}"
    built = "cached"
    with engine.connect() as conn:
        if not cache:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            built = f"{_build(f'{base}/{name}', n):.1f}"
        else:
            cached = f"milai_scale_cache_{_head()}_v{FILL_VERSION}_{n}"
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": cached}).first()
            if not exists:
                # an interrupted build goes on where it stopped (PostgreSQL cuts names at 63 bytes: so do we)
                partial = (cached + "_partial")[:63]
                if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": partial}).first():
                    conn.execute(text(f'CREATE DATABASE "{partial}"'))
                built = f"{_build(f'{base}/{partial}', n):.1f}"
                conn.execute(text(f'ALTER DATABASE "{partial}" RENAME TO "{cached}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{cached}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return f"{base}/{name}", built, drop


def _fill_only(args: argparse.Namespace) -> int:
    """Build (or finish building) the cached databases of every size: SQLite, or PostgreSQL with --postgres;
    prints each one's build time."""
    if args.no_cache:
        raise SystemExit("--fill-only builds the cache: it cannot go with --no-cache")
    for n in args.sizes:
        if args.postgres:
            _url, built, drop = _postgres(n, args.postgres, True)
            drop()
        else:
            with tempfile.TemporaryDirectory(prefix="milai-scale-") as tmp_name:
                _url, built = _sqlite(n, Path(tmp_name), args.cache)
        print(f"{'postgresql' if args.postgres else 'sqlite'} {n:,}: build {built} s", flush=True)
    return 0


def _nothing() -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 200_000])
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (a database is created per size)")
    parser.add_argument("--dialects", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"],
                        help="which of them to measure (postgresql only with --postgres)")
    parser.add_argument("--articles", type=int, default=30, help="articles of the crawled source")
    parser.add_argument("--repeats", type=int, default=3,
                        help="crawls per archive: open s is their median, peak RSS their largest")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("MILAI_BENCH_CACHE", Path.home() / ".cache" / "milai-bench")),
                        help="where filled SQLite databases are kept (PostgreSQL keeps its own on the server)")
    parser.add_argument("--no-cache", action="store_true", help="build every database afresh and keep none")
    parser.add_argument("--fill-only", action="store_true",
                        help="only build the cached databases of --sizes (run it in the background first at 1M)")
    parser.add_argument("--crawl-process", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.crawl_process:
        return _crawl_process(args.crawl_process)
    if args.fill_only:
        return _fill_only(args)

    from bench.crawl import Site
    from storage.database import make_engine

    site = Site(0, args.articles)
    with tempfile.TemporaryDirectory(prefix="milai-scale-") as tmp_name:  # a warm-up crawl, not measured: the
        crawl(_sqlite(0, Path(tmp_name), None)[0], site.feed, Path(tmp_name))  # first one also pays cold imports
    dialects = [d for d in args.dialects if d == "sqlite" or args.postgres]
    print(f"one-source crawl of {args.articles} loopback articles; archive of N first copies with signatures")
    print(f"{'dialect':<11}{'N':>10}{'fill s':>8}{'open s':>8}{'+open s':>8}{'RSS open':>10}{'1st item s':>11}"
          f"{'crawl s':>9}{'peak RSS':>10}{'stored':>8}{'lookup p50':>12}{'p95 ms':>8}{'load':>6}")
    for dialect in dialects:
        empty_open = float("nan")
        for n in args.sizes:
            with tempfile.TemporaryDirectory(prefix="milai-scale-") as tmp_name:
                tmp = Path(tmp_name)
                if dialect == "sqlite":
                    url, filled = _sqlite(n, tmp, None if args.no_cache else args.cache)
                    drop = _nothing
                else:
                    url, filled, drop = _postgres(n, args.postgres, not args.no_cache)
                try:
                    engine = make_engine(url)
                    p50, p95, _hits = lookups(engine) if n else (float("nan"), float("nan"), 0)
                    engine.dispose()
                    r = crawl(url, site.feed, tmp)
                    runs = [r] + [crawl(url, site.feed, tmp) for _ in range(args.repeats - 1)]
                finally:
                    drop()
            load = os.getloadavg()[0]
            opens = [run["open_s"] for run in runs]
            r["open_s"] = float(np.median(opens))
            r["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
            if n == 0:
                empty_open = r["open_s"]
            print(f"{dialect:<11}{n:>10,}{filled:>8}{r['open_s']:>8.2f}{r['open_s'] - empty_open:>+8.2f}"
                  f"{r['open_rss_mb']:>8.0f}MB{r.get('first_item_s', float('nan')):>11.2f}{r['closed_s']:>9.2f}"
                  f"{r['peak_rss_mb']:>8.0f}MB{int(r['stored']):>8}{p50:>12.2f}{p95:>8.2f}{load:>6.1f}"
                  f"  open s of {len(opens)}: {min(opens):.2f}-{max(opens):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
