"""One giant page must not stall other sources: a normal source crawled alone, then beside giant articles.

Usage: python -m bench.crawl_isolation [--articles 20] [--giant-mb 5 1] [--timeout 600] [--shape paragraphs]

Two loopback websites: a "normal" ministry feed with N ordinary articles, and a "giant" feed whose
articles are multi-megabyte pages (`paragraphs`: on-topic prose, the worst case for the relevance
scorer; `table`: dense markup, the worst case for extraction). Each crawl runs `python -m crawler.runner`
in a fresh process on a fresh SQLite database; the durations are the sources' own crawl runs
(crawl_runs.started_at → finished_at), so they show how long the normal source waited.
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PARAGRAPHS = [
    "Defence ministers agreed on principles for the responsible military use of artificial intelligence, "
    "including human control over autonomous weapon systems and legal reviews of new capabilities.",
    "The group of governmental experts on lethal autonomous weapons systems resumed its work in Geneva, "
    "where delegations discussed a rolling text on prohibitions and regulations.",
    "The navy completed trials of an artificial intelligence system that helps crews detect sea mines "
    "with autonomous underwater vehicles under human supervision.",
]


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta property="article:published_time" content="2025-09-01T10:00:00+00:00"></head>'
        f"<body><main><article><h1>{html.escape(title)}</h1>{body}</article></main></body></html>"
    ).encode()


def giant_page(megabytes: float, shape: str) -> bytes:
    target = int(megabytes * 1024 * 1024)
    parts: list[str] = []
    size = i = 0
    while size < target:
        if shape == "table":
            chunk = f"<tr><td>military ai {i}</td><td>autonomous</td></tr>"
        else:
            chunk = f"<p>{html.escape(PARAGRAPHS[i % len(PARAGRAPHS)])} ({i})</p>"
        parts.append(chunk)
        size += len(chunk)
        i += 1
    body = "<table>" + "".join(parts) + "</table>" if shape == "table" else "".join(parts)
    return _page(f"A {megabytes:g} MB report on military artificial intelligence", body)


def normal_page(i: int) -> bytes:
    body = "".join(f"<p>{html.escape(p)} Article {i}.</p>" for p in PARAGRAPHS)
    return _page(f"Statement {i} on autonomous weapons systems", body)


def rss(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Item {n}</title><link>{base}{p}</link><guid>{base}{p}</guid>"
        "<pubDate>Mon, 01 Sep 2025 10:00:00 +0000</pubDate></item>"
        for n, p in enumerate(paths)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"<description>d</description>{items}</channel></rss>"
    ).encode()


class Site:
    """A loopback HTTP server for a dict of path -> (content type, body)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                ctype, body = pages.get(self.path, ("text/plain", b""))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.pages["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow:\n")

    def feed(self, articles: dict[str, bytes]) -> str:
        for path, body in articles.items():
            self.pages[path] = ("text/html; charset=utf-8", body)
        self.pages["/feed.xml"] = ("application/rss+xml", rss(self.base, list(articles)))
        return self.base + "/feed.xml"


def _source(name: str, url: str) -> dict[str, object]:
    return {"name": name, "publisher": name, "kind": "feed", "url": url, "language": "en"}


def crawl(sources: list[dict[str, object]], timeout: float) -> tuple[float, dict[str, float | None], str]:
    """Crawl `sources` in a fresh process; (wall seconds, per-source run seconds, outcome)."""
    with tempfile.TemporaryDirectory(prefix="milai-bench-") as tmp:
        catalogue = Path(tmp) / "sources.yaml"
        catalogue.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
        db = f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            **os.environ, "MILAI_DATABASE_URL": db, "MILAI_DATA_DIR": tmp, "MILAI_DOWNLOAD_DELAY": "0",
            "MILAI_AUTOTHROTTLE": "false", "MILAI_HTTPCACHE": "false", "MILAI_RETRY_TIMES": "0",
            "MILAI_LOG_LEVEL": "ERROR", "MILAI_SOURCES": str(catalogue),
        }
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
            outcome = "finished" if proc.returncode == 0 else f"exit {proc.returncode}: {stderr[-300:]}"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            outcome = f"killed after {timeout:g} s"
        wall = time.monotonic() - started
        engine = create_engine(db)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT s.name, r.started_at, r.finished_at FROM crawl_runs r JOIN sources s ON s.id = r.source_id"
            )).all()
            stored = conn.execute(text(
                "SELECT s.name, count(*), max(length(i.text)) FROM items i JOIN sources s ON s.id = i.source_id"
                " GROUP BY s.name ORDER BY s.name"
            )).all()
        engine.dispose()
        outcome += "; stored " + ", ".join(f"{name}: {n} items (longest text {chars:,} chars)"
                                           for name, n, chars in stored)
    durations: dict[str, float | None] = {}
    for name, start, end in rows:
        durations[name] = (_ts(end) - _ts(start)) if start and end else None
    return wall, durations, outcome


def _ts(value: object) -> float:
    from datetime import datetime

    return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=20, help="articles of the normal source")
    parser.add_argument("--giant-mb", type=float, nargs="+", default=[5.0, 1.0], help="sizes of the giant pages")
    parser.add_argument("--shape", choices=["paragraphs", "table"], default="paragraphs")
    parser.add_argument("--timeout", type=float, default=600.0, help="kill a crawl after this many seconds")
    args = parser.parse_args(argv)

    normal, giant = Site(), Site()
    normal_url = normal.feed({f"/news/{i}": normal_page(i) for i in range(args.articles)})
    giant_url = giant.feed({f"/giant/{n}": giant_page(mb, args.shape) for n, mb in enumerate(args.giant_mb)})
    runs: list[tuple[str, Callable[[], tuple[float, dict[str, float | None], str]]]] = [
        ("normal alone", lambda: crawl([_source("normal", normal_url)], args.timeout)),
        ("normal beside giant", lambda: crawl([_source("normal", normal_url), _source("giant", giant_url)],
                                              args.timeout)),
    ]
    sizes = " + ".join(f"{mb:g} MB" for mb in args.giant_mb)
    print(f"normal source: {args.articles} articles; giant source: {sizes} ({args.shape})")
    print(f"{'crawl':<22}{'wall s':>9}{'normal s':>11}{'giant s':>10}  outcome")
    results: dict[str, dict[str, float | None]] = {}
    for label, run in runs:
        wall, durations, outcome = run()
        results[label] = durations
        fmt = lambda v: f"{v:.1f}" if v is not None else "-"  # noqa: E731
        print(f"{label:<22}{wall:>9.1f}{fmt(durations.get('normal')):>11}{fmt(durations.get('giant')):>10}  {outcome}",
              flush=True)
    alone, beside = results["normal alone"].get("normal"), results["normal beside giant"].get("normal")
    if alone and beside:
        print(f"slow-down of the normal source beside the giant pages: {beside / alone:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
