"""`milai crawl` run as cron runs it (stdout not a terminal): one plain line per source and a totals line, and one
clear line with exit 1 when no source could be reached at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawler import helpers
from tests.crawler.helpers import FAST_ENV, ROOT
from tests.crawler.sites import ON_TOPIC, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

pytestmark = pytest.mark.slow


def _crawl(catalogue: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **FAST_ENV, "MILAI_SOURCES": str(catalogue)}
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "milai", "crawl", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=180, check=False)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens on it once closed


def test_piped_crawl_prints_a_line_per_source_and_totals(site: LoopbackSite, sqlite_env, tmp_path: Path) -> None:
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    site.add("/news.rss", rss(site.base, arts), content_type="application/rss+xml")
    port = _closed_port()
    catalogue = helpers.write_catalogue(tmp_path / "sources.yaml", [
        {"name": "good-feed", "publisher": "Tests", "kind": "feed", "url": site.url("/news.rss")},
        {"name": "dead-feed", "publisher": "Tests", "kind": "feed", "url": f"http://127.0.0.1:{port}/x.xml"},
    ])
    done = _crawl(catalogue)
    assert done.returncode == 0, done.stdout + done.stderr  # one source answered: not offline
    lines = done.stdout.splitlines()
    good, dead = sorted(lines[:2], reverse=True)  # in the order the sources finished
    assert good == "good-feed: ok, 2 new, 0 errors", done.stdout
    assert dead.startswith("dead-feed: failed, 0 new, 1 error ("), done.stdout
    assert "robots.txt unreachable (DownloadConnectionRefusedError)" in dead
    assert lines[2] == "crawl done: 2 sources (1 failed, 1 ok), 2 new, 1 error"
    assert len(lines) == 3 and "\x1b[" not in done.stdout  # plain text, no live display or colour codes
    assert "offline" not in done.stdout + done.stderr

    again = _crawl(catalogue, "--progress-every", "0")  # a long cron run: periodic lines while it goes
    progress = [line for line in again.stdout.splitlines() if line.startswith("progress: ")]
    assert progress and again.stdout.startswith("progress: "), again.stdout
    assert progress[-1].startswith("progress: 2 sources started, ") and progress[-1].endswith(" 0 new")
    assert again.stdout.splitlines()[-1] == "crawl done: 2 sources (1 failed, 1 ok), 0 new, 1 error"


def test_every_source_unreachable_says_offline_and_exits_1(sqlite_env, tmp_path: Path) -> None:
    ports = [_closed_port(), _closed_port()]
    catalogue = helpers.write_catalogue(tmp_path / "sources.yaml", [
        {"name": f"dead-{i}", "publisher": "Tests", "kind": "feed", "url": f"http://127.0.0.1:{port}/x.xml"}
        for i, port in enumerate(ports)
    ])
    done = _crawl(catalogue)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: no source could be reached: is this machine offline?"
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1] == "crawl done: 2 sources (2 failed), 0 new, 2 errors"


@pytest.mark.parametrize(("error", "offline"), [
    ("DNSLookupError: DNS lookup failed: no results for hostname lookup: www.un.org. (https://www.un.org/x)", True),
    ("TimeoutError: User timeout caused connection failure: Getting https://a.org/ took longer than 5.0 seconds.",
     True),
    ("IgnoreRequest: robots.txt unreachable (CannotResolveHostError): not crawling a.org this run (RFC 9309)", True),
    ("HTTP 503 (https://a.org/feed)", False),
    ("robots.txt disallows the listing https://a.org/feed", False),
])
def test_only_network_level_failures_count_as_unreachable(error: str, offline: bool) -> None:
    from crawler.runner import SourceSummary
    from milai.cli.crawl import unreachable

    assert unreachable(SourceSummary(name="s", status="failed", errors=1, error=error)) is offline
    assert not unreachable(SourceSummary(name="s", status="failed", fetched=3, errors=1, error=error))
    assert not unreachable(SourceSummary(name="s", status="ok", errors=1, error=error))


def test_each_source_line_comes_as_that_source_finishes_not_after_the_slowest(
    site: LoopbackSite, sqlite_env, tmp_path: Path,
) -> None:
    """The slow source's article is held until the fast source's line has been read from the running crawl."""
    import queue
    import threading

    from tests.support.site import Page, Request

    fast, slow = make_articles(ON_TOPIC[:1]), make_articles(ON_TOPIC[1:2], prefix="/slow")
    robots(site)
    serve_articles(site, fast)
    site.add("/news.rss", rss(site.base, fast), content_type="application/rss+xml")
    slow_site = LoopbackSite().start()
    held, release = threading.Event(), threading.Event()
    page = article_html(slow[0], slow_site.base)

    def slow_article(_: Request) -> Page:
        held.set()
        release.wait(60)  # never longer: a broken test must not hang the crawl for ever
        return Page(page)

    try:
        robots(slow_site)
        slow_site.add(slow[0].path, slow_article)
        slow_site.add("/news.rss", rss(slow_site.base, slow), content_type="application/rss+xml")
        catalogue = helpers.write_catalogue(tmp_path / "sources.yaml", [
            {"name": "slow-feed", "publisher": "Tests", "kind": "feed", "url": slow_site.url("/news.rss")},
            {"name": "fast-feed", "publisher": "Tests", "kind": "feed", "url": site.url("/news.rss")},
        ])
        env = {**os.environ, **FAST_ENV, "MILAI_SOURCES": str(catalogue), "MILAI_DOWNLOAD_TIMEOUT": "90"}
        env.pop("COLUMNS", None)
        err_path = tmp_path / "stderr.txt"
        with err_path.open("w") as err_file:  # a file, not a pipe nobody reads while we wait
            proc = subprocess.Popen([sys.executable, "-m", "milai", "crawl"], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=err_file, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stdout or ()],
                                  daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=120)
            assert first == "fast-feed: ok, 1 new, 0 errors", first
            assert held.wait(60), "the slow source never asked for its article"
            assert not release.is_set() and proc.poll() is None  # the slow source is still being crawled
        finally:
            release.set()
            proc.wait(timeout=180)
        reader.join(10)
        err = err_path.read_text()
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert proc.returncode == 0, err
        assert rest == ["slow-feed: ok, 1 new, 0 errors", "crawl done: 2 sources (2 ok), 2 new, 0 errors"], rest
    finally:
        slow_site.stop()
