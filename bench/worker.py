"""Per-job cost of a crawl: a long-lived worker (crawler.worker) vs a process per crawl (crawler.runner).

Usage: python -m bench.worker [--jobs 20] [--processes 5] [--sources 1] [--redis]

A loopback site serves feeds (2 articles each) that do not change: after a first crawl has stored
them, every further crawl of a source is the scheduler's everyday case -- robots.txt from the HTTP
cache, a conditional GET of the feed answered 304 -- so what is measured is the cost around it.

- process per crawl: `python -m crawler.runner --catalogue FILE --source NAME`, wall time per run
  (process start, imports, schema check, reactor, the crawl) -- what the scheduler did before issue 10;
- long-lived worker, in process: a CrawlWorker (one reactor) on the in-process queue, jobs put one at
  a time; time from `put` to the job's summary (jobs after the first: the first pays the warm-up);
- with --redis, also a `milai worker` process on Redis: time from `put` to the job leaving the pending set.

Prints the medians, the ratio, and the sources per minute each way (one lane, one source at a time).
"""

from __future__ import annotations

import argparse
import html
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("Defence ministers agreed on principles for the responsible military use of artificial intelligence, "
        "including human control over autonomous weapon systems and legal reviews of new capabilities. ")


class Site:
    """Feeds /s<i>/feed.xml with ETags (304 when unchanged) and their articles."""

    def __init__(self, sources: int, processes: int = 1) -> None:
        pages: dict[str, tuple[bytes, str]] = {"/robots.txt": (b"User-agent: *\nDisallow:\n", "text/plain")}
        self.names = [f"bench-{i}" for i in range(sources)]
        for name in self.names:
            items = []
            for j in range(2):
                path = f"/{name}/news/{j}"
                title = f"{name} statement {j} on military AI"
                body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
                        f"<body><article><h1>{title}</h1><p>{html.escape(TEXT * (j + 2))} {name} {j}</p>"
                        "</article></body></html>")
                pages[path] = (body.encode(), "text/html; charset=utf-8")
                items.append(f"<item><title>{title}</title><link>{{base}}{path}</link>"
                             f"<pubDate>{formatdate(1756720800 + j * 3600, usegmt=True)}</pubDate></item>")
            feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{"".join(items)}' \
                   "</channel></rss>"
            pages[f"/{name}/feed.xml"] = (feed.encode(), "application/rss+xml")
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                entry = pages.get(self.path)
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, ctype = entry
                body = body.replace(b"{base}", site.base.encode())
                etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Cache-Control", "max-age=0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # processes > 1: more processes accept on the same socket (forked before any thread starts), so the
        # site is not one GIL-bound process that every worker's requests queue on (a loaded machine schedules it
        # rarely); the children end with this process
        self.children: list[int] = []
        for _ in range(processes - 1):
            pid = os.fork()
            if pid == 0:
                try:
                    self.server.serve_forever()
                finally:
                    os._exit(0)
            self.children.append(pid)
        if self.children:
            import atexit
            import signal

            atexit.register(lambda: [os.kill(child, signal.SIGTERM) for child in self.children])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def catalogue(self, path: Path) -> Path:
        entries = [{"name": n, "publisher": "Bench", "kind": "feed", "url": f"{self.base}/{n}/feed.xml",
                    "language": "en"} for n in self.names]
        path.write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
        return path


def run_process(catalogue: Path, name: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue), "--source", name],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def bench_worker_in_process(names: list[str], jobs: int) -> list[float]:
    """A CrawlWorker in this process on the in-process queue; seconds from put to summary per job."""
    from crawler.worker import CrawlWorker
    from milai.config import Settings
    from milai.jobqueue import LocalJobQueue

    queue = LocalJobQueue()
    done = threading.Event()
    times: list[float] = []
    statuses: list[str] = []

    def on_summary(summary: object) -> None:
        statuses.append(f"{getattr(summary, 'status', '?')}/{getattr(summary, 'requests', 0)} requests")
        done.set()

    worker = CrawlWorker(queue, settings=Settings(), concurrency=1, poll=0.2, on_summary=on_summary)

    def feed() -> None:
        worker.started.wait(60)
        for i in range(jobs):
            done.clear()
            started = time.perf_counter()
            queue.put(names[i % len(names)], "bench")
            if not done.wait(120):
                break
            times.append(time.perf_counter() - started)
        worker.stop()

    threading.Thread(target=feed, daemon=True).start()
    worker.run(install_signal_handlers=False)
    print("worker job outcomes (status/requests sent):", dict(Counter(statuses)))
    return times


def bench_worker_redis(names: list[str], jobs: int, env: dict[str, str]) -> list[float]:
    """A `milai worker` process on Redis; seconds from put until the job leaves the pending set."""
    from milai.jobqueue import RedisJobQueue

    prefix = f"milai-bench-{uuid.uuid4().hex[:8]}:"
    url = env.get("MILAI_REDIS_URL") or "redis://127.0.0.1:6379/0"
    env = {**env, "MILAI_REDIS_URL": url, "MILAI_REDIS_PREFIX": prefix}
    queue = RedisJobQueue(url, prefix=prefix)
    proc = subprocess.Popen([sys.executable, "-m", "milai", "worker", "--concurrency", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: list[float] = []
    try:
        deadline = time.monotonic() + 60
        while not queue.workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        for i in range(jobs):
            name = names[i % len(names)]
            started = time.perf_counter()
            queue.put(name, "bench")
            while name in queue.pending():
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(30)
        for key in queue.redis.scan_iter(f"{prefix}*"):
            queue.redis.delete(key)
    return times


class LeaseSampler:
    """Samples the cluster semaphore of the bench host (crawler.politeness) every ~2 ms while the crawls run: how
    often a lease was free while a request waited in line for one (capacity lost to the waiters' polling)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.samples = self.waiting = self.free_while_waiting = self.in_flight = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, client: object, prefix: str) -> None:
        key = f"{prefix}conc:127.0.0.1"

        def run() -> None:
            while not self._stop.is_set():
                pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
                pipe.zcard(key)
                pipe.zcard(key + ":line")
                leases, line = pipe.execute()
                self.samples += 1
                self.in_flight += leases
                if line:
                    self.waiting += 1
                    self.free_while_waiting += leases < self.limit
                time.sleep(0.002)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def report(self) -> str:
        n, waited = max(self.samples, 1), max(self.waiting, 1)
        return (f"leases in flight {self.in_flight / n:.2f} of {self.limit}; a request waiting "
                f"{100 * self.waiting / n:.0f}% of the time, of which a lease was free "
                f"{100 * self.free_while_waiting / waited:.0f}% ({self.samples} samples)")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes `pids` have used so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


CPU_USED: list[tuple[float, float]] = []  # per round of bench_scaling: (workers' CPU s, this process' CPU s)


def bench_scaling(names: list[str], workers: int, env: dict[str, str], tmp: Path,
                  database_url: str | None = None, sampler: LeaseSampler | None = None) -> tuple[float, float]:
    """`workers` `milai worker` processes (2 lanes each) on a fresh database (SQLite unless `database_url`, a
    migrated empty one) and Redis: seconds to crawl every source once (articles fetched and stored), then once
    more (all unchanged)."""
    from milai.jobqueue import RedisJobQueue

    tmp.mkdir(parents=True, exist_ok=True)
    prefix = f"milai-bench-{uuid.uuid4().hex[:8]}:"
    url = env.get("MILAI_REDIS_URL") or "redis://127.0.0.1:6379/0"
    env = {**env, "MILAI_REDIS_URL": url, "MILAI_REDIS_PREFIX": prefix,
           "MILAI_DATABASE_URL": database_url or f"sqlite:///{tmp / f'scale-{workers}.sqlite3'}",
           "MILAI_DATA_DIR": str(tmp / f"scale-{workers}")}
    queue = RedisJobQueue(url, prefix=prefix)
    if database_url is None:  # migrated before the workers start: N workers migrating one new file at once race
        from storage.database import make_engine, upgrade

        engine = make_engine(env["MILAI_DATABASE_URL"])
        upgrade(engine)
        engine.dispose()
    logs = [open(tmp / f"worker-{workers}-{i}.log", "wb") for i in range(workers)]  # noqa: SIM115
    procs = [subprocess.Popen([sys.executable, "-m", "milai", "worker", "--concurrency", "2"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        deadline = time.monotonic() + 120
        while len(queue.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(queue.workers()) < workers:  # never measure fewer workers than the row says
            raise SystemExit(f"only {len(queue.workers())} of {workers} workers registered; logs in {tmp}")
        if sampler is not None:
            sampler.start(queue.redis, prefix)
        rounds = []
        for _ in range(2):
            started = time.perf_counter()
            cpu_workers, cpu_self = cpu_seconds([p.pid for p in procs]), cpu_seconds([os.getpid()])
            for name in names:
                queue.put(name, "bench")
            while queue.pending():
                time.sleep(0.01)
            rounds.append(time.perf_counter() - started)
            CPU_USED.append((cpu_seconds([p.pid for p in procs]) - cpu_workers, cpu_seconds([os.getpid()]) - cpu_self))
        return rounds[0], rounds[1]
    finally:
        if sampler is not None:
            sampler.stop()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        for log in logs:
            log.close()
        for key in queue.redis.scan_iter(f"{prefix}*"):
            queue.redis.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20, help="jobs for the worker")
    parser.add_argument("--processes", type=int, default=5, help="runs of the process-per-crawl way")
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--redis", action="store_true", help="also a `milai worker` process on Redis")
    parser.add_argument("--scale", type=int, default=0, metavar="SOURCES",
                        help="also: SOURCES sources crawled by 1 and by 2 `milai worker` processes (Redis)")
    parser.add_argument("--scale-only", action="store_true", help="only the --scale rows (no per-job rows)")
    parser.add_argument("--repeat", type=int, default=1, help="--scale rounds of 1 then 2 workers, alternating")
    parser.add_argument("--site-processes", type=int, default=1, help="--scale-only: processes serving the "
                        "loopback site (1: one Python process, as every other row)")
    parser.add_argument("--sample-leases", action="store_true", help="--scale-only: also sample the host's "
                        "cluster semaphore (leases in flight, waiters, free leases while waiting)")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="--scale-only on a fresh PostgreSQL database per "
                        "run (created and dropped with this admin URL) instead of SQLite")
    args = parser.parse_args()
    if args.scale_only:
        scale_only(args.scale or 40, args.repeat, args.postgres, args.sample_leases, args.site_processes)
        return

    tmp = Path(tempfile.mkdtemp(prefix="milai-bench-worker-"))
    site = Site(args.sources)
    catalogue = site.catalogue(tmp / "sources.yaml")
    # every source is on one loopback host: MILAI_CONCURRENT_REQUESTS_PER_DOMAIN (kept from the environment) is a
    # cluster-wide limit on that host with Redis (crawler.politeness), so it bounds the scaling rows
    kept = ("MILAI_REDIS_URL", "MILAI_CONCURRENT_REQUESTS_PER_DOMAIN")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILAI_") or k in kept}
    env.update({"MILAI_DATABASE_URL": f"sqlite:///{tmp / 'milai.sqlite3'}", "MILAI_DATA_DIR": str(tmp / "data"),
                "MILAI_SOURCES": str(catalogue), "MILAI_DOWNLOAD_DELAY": "0", "MILAI_AUTOTHROTTLE": "false",
                "MILAI_LOG_LEVEL": "WARNING"})
    for name in site.names:  # the first crawl stores the articles; every later one finds nothing new
        run_process(catalogue, name, env)
    process_times = [run_process(catalogue, site.names[i % len(site.names)], env) for i in range(args.processes)]

    redis_times: list[float] = []
    if args.redis:
        redis_times = bench_worker_redis(site.names, args.jobs, env)
    scaling: dict[int, tuple[float, float]] = {}
    if args.scale:
        scale_site = Site(args.scale)
        for n in (1, 2):
            scaling[n] = bench_scaling(scale_site.names, n, {**env, "MILAI_SOURCES": str(
                scale_site.catalogue(tmp / "scale-sources.yaml"))}, tmp)
    os.environ.update(env)
    worker_times = bench_worker_in_process(site.names, args.jobs)

    def row(label: str, times: list[float], skip_first: bool = True) -> tuple[str, float]:
        steady = times[1:] if skip_first and len(times) > 1 else times
        med = statistics.median(steady)
        print(f"{label:<44} {len(times):>4} {med * 1000:>10.0f} {min(steady) * 1000:>9.0f} "
              f"{max(steady) * 1000:>9.0f} {60 / med:>11.0f}")
        return label, med

    print(f"\nper-job cost of crawling one unchanged feed source ({args.sources} source(s), loopback, one lane)")
    print(f"{'way':<44} {'runs':>4} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'sources/min':>11}")
    _, proc_med = row("process per crawl (python -m crawler.runner)", process_times, skip_first=False)
    _, work_med = row("long-lived worker, in-process queue", worker_times)
    if redis_times:
        _, redis_med = row("milai worker process, Redis queue", redis_times)
    print(f"\nratio process/worker: {proc_med / work_med:.1f}x"
          + (f"; process/Redis worker: {proc_med / redis_med:.1f}x" if redis_times else ""))
    print("(worker rows: jobs after the first, which pays the imports' and models' warm-up)")
    if scaling:
        print(f"\n{args.scale} sources (2 articles each) crawled by N `milai worker` processes, 2 lanes each, Redis")
        print(f"{'workers':>7} {'first crawl s':>14} {'sources/min':>12} {'unchanged s':>12} {'sources/min':>12}")
        for n, (fresh, again) in scaling.items():
            print(f"{n:>7} {fresh:>14.1f} {60 * args.scale / fresh:>12.0f} {again:>12.1f} "
                  f"{60 * args.scale / again:>12.0f}")
        print(f"scaling 1 -> 2 workers: first crawl {scaling[1][0] / scaling[2][0]:.2f}x, "
              f"unchanged {scaling[1][1] / scaling[2][1]:.2f}x (2 cores shared with other work)")


class PostgresDatabase:
    """A fresh, migrated PostgreSQL database for one run, dropped after."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"milai_bench_{uuid.uuid4().hex[:10]}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> str:
        from sqlalchemy import text

        from storage.database import make_engine, upgrade

        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()
        return self.url

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def scale_only(sources: int, repeat: int, postgres: str | None = None, sample: bool = False,
               site_processes: int = 1) -> None:
    """1 and 2 workers, alternating `repeat` times (the machine's load drifts: never one run), load per row."""
    from contextlib import nullcontext
    tmp = Path(tempfile.mkdtemp(prefix="milai-bench-scale-"))
    site = Site(sources, site_processes)
    catalogue = site.catalogue(tmp / "scale-sources.yaml")
    kept = ("MILAI_REDIS_URL", "MILAI_CONCURRENT_REQUESTS_PER_DOMAIN", "MILAI_CLUSTER_CONCURRENCY")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILAI_") or k in kept}
    env.update({"MILAI_SOURCES": str(catalogue), "MILAI_DOWNLOAD_DELAY": "0", "MILAI_AUTOTHROTTLE": "false",
                "MILAI_LOG_LEVEL": "WARNING"})
    print(f"{sources} sources (2 articles each), N `milai worker` processes, 2 lanes each, Redis, "
          f"{'PostgreSQL' if postgres else 'SQLite'}, site served by {site_processes} process(es); "
          f"MILAI_CONCURRENT_REQUESTS_PER_DOMAIN={env.get('MILAI_CONCURRENT_REQUESTS_PER_DOMAIN', 'default')}")
    print(f"{'round':>5} {'workers':>7} {'first s':>8} {'src/min':>8} {'unchanged s':>11} {'src/min':>8} "
          f"{'load 1 min':>10}  CPU s of the workers / of the bench (site, queue) per crawl, first; unchanged")
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for r in range(repeat):
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            sampler = LeaseSampler(int(env.get("MILAI_CONCURRENT_REQUESTS_PER_DOMAIN", 2))) if sample else None
            with PostgresDatabase(postgres) if postgres else nullcontext(None) as db_url:
                fresh, again = bench_scaling(site.names, n, env, tmp / f"r{r}", db_url, sampler)
            results[n].append((fresh, again))
            print(f"{r:>5} {n:>7} {fresh:>8.1f} {60 * sources / fresh:>8.0f} {again:>11.1f} "
                  f"{60 * sources / again:>8.0f} {os.getloadavg()[0]:>10.1f}  "
                  + "; ".join(f"{w:.1f} / {b:.1f}" for w, b in CPU_USED[-2:]), flush=True)
            if sampler is not None:
                print(f"{'':>14}{sampler.report()}", flush=True)
    med = {n: (statistics.median(f for f, _ in rows), statistics.median(a for _, a in rows))
           for n, rows in results.items()}
    print(f"median scaling 1 -> 2 workers over {repeat} round(s): first crawl {med[1][0] / med[2][0]:.2f}x, "
          f"unchanged {med[1][1] / med[2][1]:.2f}x")


if __name__ == "__main__":
    main()
