"""Cluster tests: real Redis (a private key prefix per test) and real PostgreSQL, processes started for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _pg_url
from tests.support.required import unavailable

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("MILAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the real Redis (MILAI_REDIS_PREFIX); its keys are deleted after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unavailable("MILAI_REQUIRE_REDIS", f"no Redis at {REDIS_URL}: {exc!r}")
    prefix = f"milai-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (the cluster runs on PostgreSQL only)."""
    yield from _pg_url()


class Processes:
    """Child processes of a test, killed at the end whatever happened; their output kept in files."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "milai", *args], cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT)
        handle.close()
        self.procs.append((proc, log))
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        for p, log in self.procs:
            if p is proc:
                return log.read_text(encoding="utf-8", errors="replace")
        return ""

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def cluster_env(db_url: str, prefix: str, catalogue: Path, tmp_path: Path, **extra: Any) -> dict[str, str]:
    """The environment of one cluster process: the shared database, Redis and catalogue; fast crawls."""
    from tests.crawler.helpers import FAST_ENV

    env = {key: value for key, value in os.environ.items() if not key.startswith("MILAI_")}
    env.update(FAST_ENV)
    env.update({
        "MILAI_DATABASE_URL": db_url,
        "MILAI_REDIS_URL": REDIS_URL,
        "MILAI_REDIS_PREFIX": prefix,
        "MILAI_SOURCES": str(catalogue),
        "MILAI_DATA_DIR": str(tmp_path / "data"),
        "MILAI_LOG_LEVEL": "INFO",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env
