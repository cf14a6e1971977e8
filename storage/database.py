"""Engine creation (SQLite in WAL mode, or PostgreSQL), unit-of-work sessions and migrations."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.search_index import register_listeners

if TYPE_CHECKING:
    from alembic.config import Config

    from milai.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: dict[tuple[str, float], Engine] = {}  # one engine per database URL and timeout
_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Map plain `postgresql://` URLs to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


DEFAULT_TIMEOUT = 30.0
# SQLite page cache per connection (KiB; SQLite's default is 2,000): a search at a million items reads
# tens of MB of FTS5 doclists and covering-index pages, which otherwise come back through a read()
# each from the OS cache on every query (a date-sorted page of a 2 % word: 60 -> 30 ms). Memory is
# taken as pages are read, up to this bound, per pooled connection.
SQLITE_CACHE_KB = 65_536


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """A new engine; SQLite gets WAL, foreign keys and a busy timeout. Its sessions keep the search
    columns in sync (storage.search_index.register_listeners).

    `timeout` (MILAI_DATABASE_TIMEOUT, seconds) bounds every wait on the database: SQLite's busy
    timeout (a locked database), PostgreSQL's connect timeout and lock timeout."""
    register_listeners()
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})
        busy_ms = int(timeout * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
            cur.close()

        return engine
    connect_args = {
        "connect_timeout": max(2, round(timeout)),  # libpq: whole seconds, at least 2
        "options": f"-c lock_timeout={int(timeout * 1000)}",
    }
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def get_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """The process-wide engine for `url` with `timeout` (the caller reads both from its Settings: `engine_of`);
    another timeout is another engine, so the first caller's timeout is never handed to the next."""
    key = (normalise_url(url), float(timeout))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(key[0], timeout=timeout)
        return engine


def engine_of(settings: Settings) -> Engine:
    """The engine of the configured database, with its MILAI_DATABASE_TIMEOUT."""
    return get_engine(settings.effective_database_url, timeout=settings.database_timeout)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


# the one sessionmaker of session_scope, bound per session: each sessionmaker makes its own Session subclass, and
# SQLAlchemy builds a class's event dispatch on its first session (a sessionmaker per session paid that every time)
_sessions: sessionmaker[Session] = sessionmaker(expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    session = _sessions(bind=engine)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config


    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


@contextmanager
def _sqlite_upgrade_lock(engine: Engine) -> Iterator[None]:
    """An exclusive flock on `<database>.upgrade.lock` for a SQLite file: workers started together on a new file
    (`milai worker` ×2, the scaling bench) otherwise both run the first migration and one dies with 'table …
    already exists'. A SQLite file lives on one machine, so a file lock is enough; nothing for other databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.upgrade.lock", "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to date with Alembic."""
    from alembic import command

    cfg = alembic_config(engine)
    with _sqlite_upgrade_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # processes starting together (a cluster) upgrade one at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


_upgraded: set[str] = set()
UPGRADE_LOCK_KEY = 0x4D494C42  # PostgreSQL advisory lock held by the transaction that upgrades the schema


def ensure_schema(engine: Engine) -> Engine:
    """Upgrade once per process and engine; cheap on later calls."""
    key = str(engine.url)
    if key not in _upgraded:
        upgrade(engine)
        _upgraded.add(key)
    return engine


def forget_upgrades() -> None:
    _upgraded.clear()


def has_table(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)
