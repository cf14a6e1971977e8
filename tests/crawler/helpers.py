"""Run real crawls from tests, each in a fresh process (Twisted's reactor cannot restart).

Use with the `milai_env` fixture (it sets MILAI_DATABASE_URL / MILAI_DATA_DIR):

    summaries = crawl(tmp_path, [SourceConfig(...)])          # -> {name: summary dict}
    stored = items(milai_env["MILAI_DATABASE_URL"])

`crawl` forks each crawl from a forkserver that has the crawler imported once (fast);
`crawl(..., cli=True)` runs `python -m crawler.runner --catalogue FILE` as a real child process instead.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.catalogue import SourceConfig
from storage.database import make_engine, session_scope
from storage.models import CrawlRun, Item, Source

ROOT = Path(__file__).resolve().parents[2]

FAST_ENV = {
    "MILAI_DOWNLOAD_DELAY": "0",
    "MILAI_AUTOTHROTTLE": "false",
    "MILAI_RETRY_TIMES": "0",
    "MILAI_DOWNLOAD_TIMEOUT": "5",
    "MILAI_LOG_LEVEL": "WARNING",
}


def write_catalogue(path: Path, sources: Iterable[SourceConfig | dict[str, Any]]) -> Path:
    entries = [
        s.model_dump(mode="json", exclude_defaults=True) if isinstance(s, SourceConfig) else dict(s) for s in sources
    ]
    path.write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8")
    return path


_forkserver: Any = None


def _context() -> Any:
    global _forkserver
    if _forkserver is None:
        _forkserver = multiprocessing.get_context("forkserver")
        _forkserver.set_forkserver_preload(["crawler.runner", "crawler.pipelines", "crawler.middlewares"])
    return _forkserver


def _crawl_child(conn: Any, env: dict[str, str], catalogue: str, names: list[str] | None,
                 overrides: dict[str, Any] | None = None) -> None:
    os.environ.clear()
    os.environ.update(env)  # a process of its own: its settings are read from `env` below, once
    try:
        from crawler.catalogue import load_catalogue
        from crawler.runner import run_crawl
        from milai.config import Settings

        summaries = run_crawl(Settings(), names or None, catalogue=load_catalogue(Path(catalogue)), overrides=overrides)
        conn.send(("ok", [asdict(s) for s in summaries]))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def crawl(
    tmp_path: Path,
    sources: Iterable[SourceConfig | dict[str, Any]],
    names: list[str] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    cli: bool = False,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Crawl `sources` in a child process with the current MILAI_* environment plus FAST_ENV and `env`
    (`overrides`: Scrapy settings, forked crawls only)."""
    catalogue = write_catalogue(tmp_path / "sources-under-test.yaml", sources)
    full_env = {**os.environ, **FAST_ENV, **(env or {})}
    if not cli:
        ctx = _context()
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_crawl_child, args=(child, full_env, str(catalogue), names, overrides))
        proc.start()
        child.close()
        status, payload = parent.recv() if parent.poll(240) else ("error", "crawl did not finish in 240 s")
        proc.join(30)
        if status != "ok":
            if check:
                raise AssertionError(f"crawl failed:\n{payload}")
            return {"__error__": {"stderr": payload}}
        return {s["name"]: s for s in payload}
    args = [sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue)]
    for name in names or []:
        args += ["--source", name]
    proc = subprocess.run(
        args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=240
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"crawl failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    if proc.returncode != 0:
        return {"__error__": {"returncode": proc.returncode, "stderr": proc.stderr}}
    return {s["name"]: s for s in json.loads(proc.stdout)}


def db_session(url: str) -> Session:
    """A plain session on the test database (close it, or use `items_by_path`)."""
    return Session(make_engine(url), expire_on_commit=False)


def items(url: str) -> list[Item]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            rows = list(session.scalars(select(Item).order_by(Item.id)))
            for row in rows:
                _ = (row.symbols, row.revisions)
            return rows
    finally:
        engine.dispose()


def source_row(url: str, name: str) -> tuple[Source, list[CrawlRun]]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            src = session.scalars(select(Source).where(Source.name == name)).one()
            runs = list(session.scalars(select(CrawlRun).where(CrawlRun.source_id == src.id).order_by(CrawlRun.id)))
            return src, runs
    finally:
        engine.dispose()


def article_hits(site: Any, prefix: str = "/news/") -> list[str]:
    """Paths of article requests the site answered (robots.txt and listings excluded)."""
    return [r.path for r in site.hits() if r.path.startswith(prefix)]


@pytest.fixture
def sqlite_env(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Like `milai_env`, on SQLite only (for crawl tests whose storage side is dialect-neutral).
    Expose it in a test module as `sqlite_env = helpers.sqlite_env`."""
    env = {"MILAI_DATABASE_URL": sqlite_url, "MILAI_DATA_DIR": str(tmp_path / "data")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
