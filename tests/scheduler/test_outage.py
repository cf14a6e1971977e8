"""`milai run` through a database outage: the web answers 503, the scheduler logs one line per try
and keeps trying, and everything works again once the database is back (PostgreSQL refusing
connections to the service's database, its open connections terminated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL
from tests.scheduler.test_service import _free_port


def _status(url: str) -> tuple[int | None, dict[str, str]]:
    """Status and headers (names in lower case) of a GET, or (None, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}
    except OSError:
        return None, {}


def _set_reachable(database: str, reachable: bool) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(reachable).lower()}'))
            if not reachable:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                             {"d": database})
    finally:
        admin.dispose()


def _wait(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.postgres
def test_milai_run_rides_out_a_database_outage(milai_env: dict[str, str], db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the outage is made on PostgreSQL (a root process can read any SQLite file)")
    database = make_url(db_url).database
    assert database
    port = _free_port()
    env = {**os.environ, **milai_env, "MILAI_PORT": str(port), "MILAI_DIGEST_CHECK_MINUTES": "1",
           "MILAI_DATABASE_TIMEOUT": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "milai", "run", "--no-initial-crawl"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        _wait(lambda: _status(f"{base}/healthz")[0] == 200, 60, "the service to come up")
        assert _status(f"{base}/api/items")[0] == 200
        _set_reachable(database, False)
        try:
            status, headers = _status(f"{base}/api/items")
            assert status == 503 and headers.get("retry-after") == "30"
            assert _status(f"{base}/healthz")[0] == 503
            assert time.monotonic() - started < 55, "too slow to block before the first digest check"

            def outage_lines() -> list[str]:
                return [line for line in list(lines) if "scheduler" in line and "database unavailable" in line]

            # the digest check falls due a minute after start: the scheduler meets the outage, logs, retries
            _wait(lambda: len(outage_lines()) >= 2, 120, "two scheduler outage lines")
            assert proc.poll() is None
            # the leader election meets the outage first (its lock connection closed), then every retry
            # finds the server unreachable; every line names the place
            assert any("the database server cannot be reached" in line for line in outage_lines())
            assert all(f"127.0.0.1:5432/{database}" in line for line in outage_lines())
        finally:
            _set_reachable(database, True)
        _wait(lambda: _status(f"{base}/api/items")[0] == 200, 30, "the web to answer again")
        assert _status(f"{base}/healthz")[0] == 200
        _wait(lambda: any("digest run:" in line for line in list(lines)), 60, "the digest check to run again")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        reader.join(5)
        output = "".join(lines)
        assert "Traceback" not in output and "[SQL:" not in output and "sqlalche.me" not in output, output[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
