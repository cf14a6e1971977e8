"""Shared fixtures: fresh SQLite / PostgreSQL databases, settings, loopback sites, shared fixtures."""

from __future__ import annotations

import gc
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from storage.database import dispose_engines, forget_upgrades, make_engine, upgrade
from tests.support.required import unavailable
from tests.support.site import LoopbackSite

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MILAI_SHARED_DIR", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
PG_ADMIN_URL = os.environ.get("MILAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

_sqlite_template: Path | None = None
_pg_template: str | None = None


@pytest.fixture(autouse=True)
def _garbage_collector_unfrozen() -> Iterator[None]:
    """A web app's start-up freezes the objects alive then (milai.heap); in the test process that would keep every
    cycle of the earlier tests' apps and engines uncollectable, so each test ends with them given back."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()


def shared_fixture(*parts: str) -> Path:
    """Path to a file under ../shared/fixtures, or skip the test when it is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is absent")
    return path


def _sqlite_url(tmp_path: Path, tmp_root: Path) -> str:
    global _sqlite_template
    if _sqlite_template is None or not _sqlite_template.exists():
        _sqlite_template = tmp_root / "template.sqlite3"
        engine = make_engine(f"sqlite:///{_sqlite_template}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
    target = tmp_path / "milai.sqlite3"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


def _pg_db_url(name: str) -> str:
    """The admin URL pointed at database `name`."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _pg_url() -> Iterator[str]:
    global _pg_template
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        try:
            conn_cm = admin.connect()
        except Exception as exc:
            unavailable("MILAI_REQUIRE_POSTGRES", f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc.__class__.__name__}")
        with conn_cm as conn:
            if _pg_template is None:
                _pg_template = f"milai_tpl_{uuid.uuid4().hex[:10]}"
                conn.execute(text(f'CREATE DATABASE "{_pg_template}"'))
                tpl = make_engine(_pg_db_url(_pg_template))
                upgrade(tpl)
                tpl.dispose()
            name = f"milai_t_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
        yield _pg_db_url(name)
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _pg_template is None:
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_pg_template}" WITH (FORCE)'))
    except Exception:  # pragma: no cover - best effort cleanup
        pass
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, migrated database: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path, tmp_path_factory.getbasetemp())
    else:
        yield from _pg_url()


@pytest.fixture
def sqlite_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, migrated SQLite database only."""
    return _sqlite_url(tmp_path, tmp_path_factory.getbasetemp())


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def milai_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point the MILAI_* settings at the fresh database and a private data directory."""
    # A catalogue of one disabled loopback source, so no test can ever crawl the real (internet) catalogue.
    catalogue = tmp_path / "test-sources.yaml"
    catalogue.write_text(
        "sources:\n  - name: test-placeholder\n    publisher: Tests\n    kind: feed\n"
        "    url: http://127.0.0.1:9/feed.xml\n    enabled: false\n",
        encoding="utf-8",
    )
    env = {
        "MILAI_DATABASE_URL": db_url,
        "MILAI_DATA_DIR": str(tmp_path / "data"),
        "MILAI_ALLOW_PRIVATE_WEBHOOKS": "true",
        "MILAI_SOURCES": str(catalogue),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dispose_engines()
    forget_upgrades()
    yield env
    dispose_engines()
    forget_upgrades()


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    s = LoopbackSite().start()
    yield s
    s.stop()
