"""One active scheduler: leader election on the shared database (or Redis), standbys that take over.

APScheduler 3 job stores are not safe to share: two schedulers on one database would both fire every job.
So only the elected leader runs APScheduler; every other `milai run` / `milai scheduler` is a standby that
tries to become leader every `interval` seconds. Elections, by deployment:

- **PostgreSQL** (`PostgresElection`): a session advisory lock (storage.locks) held on a dedicated
  connection. It is released the moment the leader's connection closes (exit, `kill -9`) and, when its
  machine vanishes, once the server's keepalive gives up (~25 s). A standby takes over within `interval`
  seconds of the release; a leader whose connection breaks steps down at its next check.
- **Redis** (`RedisElection`, for a shared database that is not PostgreSQL): `SET milai:leader <id> NX PX`
  with a TTL of `3 * interval`, renewed every `interval` by its owner (compare-and-extend). A dead leader's
  key expires: takeover within `4 * interval` seconds.
- **SQLite** (`SqliteSingleNode`): a SQLite file lives on one machine, so there is no standby. An exclusive
  `flock` on `<database>.scheduler.lock` makes a second scheduler on the same file fail at once with a
  message naming the first one (`AnotherSchedulerRuns`).

With the default interval of 5 s, failover takes at most 5 s (PostgreSQL, process death), ~30 s (machine
death) or 20 s (Redis).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from milai.cluster import (
    APPLICATION_PREFIX,
    LEADER_LOCK_KEY,
    POSTGRES_ELECTION,
    REDIS_ELECTION,
    REDIS_LEADER_KEY,
    SQLITE_ELECTION,
    postgres_leader,
    redis_leader,
    sqlite_leader,
    sqlite_lock_file,
)
from milai.jobqueue import DELETE_OWNED, RENEW_OWNED
from storage.dberrors import describe, is_unavailable
from storage.locks import (
    holds_advisory_lock,
    prepare_lock_connection,
    release_advisory_lock,
    try_advisory_lock,
)

log = logging.getLogger("milai.scheduler")

DEFAULT_INTERVAL = 5.0


class AnotherSchedulerRuns(RuntimeError):
    """A second scheduler on a single-node (SQLite) deployment."""


def node_id() -> str:
    """host:pid of this scheduler process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Election(Protocol):
    kind: str

    def try_acquire(self) -> bool:
        """Become leader now if nobody is; True when this process is leader."""
        ...

    def still_leader(self) -> bool:
        """Renew/check the leadership; False when it was lost (the caller stops scheduling)."""
        ...

    def release(self) -> None:
        """Give the leadership up (clean shutdown)."""
        ...

    def holder(self) -> str | None:
        """Who leads now, for `milai status`."""
        ...


class PostgresElection:
    """Session advisory lock on a dedicated connection (see the module doc)."""

    kind = POSTGRES_ELECTION

    def __init__(self, url: str, *, key: int = LEADER_LOCK_KEY, name: str | None = None) -> None:
        from storage.database import normalise_url

        self.key = key
        self.name = f"{APPLICATION_PREFIX} {name or node_id()}"
        # its own engine without a pool: the lock's connection is never shared, and closing it releases the lock
        self.engine = create_engine(normalise_url(url), poolclass=NullPool,
                                    connect_args={"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10,
                                                  "keepalives_interval": 5, "keepalives_count": 3})
        self.conn: Connection | None = None

    def _connection(self) -> Connection:
        if self.conn is None:
            self.conn = self.engine.connect()
            prepare_lock_connection(self.conn, self.name)
        return self.conn

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def _failed(self, what: str, exc: Exception) -> None:
        """One line for a database that cannot be used (an outage is expected: no traceback), else the error."""
        if isinstance(exc, SQLAlchemyError) and is_unavailable(exc):
            log.warning("leader election: %s; %s", describe(exc, self.engine.url.render_as_string(hide_password=True)),
                        what)
        else:
            log.warning("leader election: %s", what, exc_info=True)

    def try_acquire(self) -> bool:
        try:
            return try_advisory_lock(self._connection(), self.key)
        except Exception as exc:
            self._failed("trying again next round", exc)
            self._drop()
            return False

    def still_leader(self) -> bool:
        try:
            if self.conn is not None and holds_advisory_lock(self.conn, self.key):
                return True
        except Exception as exc:
            self._failed("lost the lock connection", exc)
        self._drop()
        return False

    def release(self) -> None:
        try:
            if self.conn is not None:
                release_advisory_lock(self.conn, self.key)
        except Exception:
            pass
        self._drop()
        self.engine.dispose()

    def holder(self) -> str | None:
        try:
            return postgres_leader(self.engine, self.key)
        except Exception:
            return None


class RedisElection:
    """A Redis key with a TTL, renewed by its owner (see the module doc)."""

    kind = REDIS_ELECTION

    def __init__(self, url: str, *, interval: float = DEFAULT_INTERVAL, name: str | None = None,
                 key: str = "milai:" + REDIS_LEADER_KEY) -> None:
        import redis

        # Any: redis-py types replies as bytes | str whatever decode_responses says; ours are str
        self.redis: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=10)
        self.key = key
        self.me = f"{name or node_id()}@{time.time():.0f}"
        self.ttl_ms = int(interval * 3 * 1000)
        self._renew = self.redis.register_script(RENEW_OWNED)
        self._release = self.redis.register_script(DELETE_OWNED)

    def try_acquire(self) -> bool:
        try:
            return bool(self.redis.set(self.key, self.me, px=self.ttl_ms, nx=True)) or self.still_leader()
        except Exception:
            log.warning("leader election: Redis unreachable", exc_info=True)
            return False

    def still_leader(self) -> bool:
        try:
            return bool(self._renew(keys=[self.key], args=[self.me, self.ttl_ms]))
        except Exception:
            log.warning("leader election: Redis unreachable; stepping down", exc_info=True)
            return False

    def release(self) -> None:
        try:
            self._release(keys=[self.key], args=[self.me])
        except Exception:
            pass

    def holder(self) -> str | None:
        try:
            return redis_leader(self.redis, self.key)
        except Exception:
            return None


class SqliteSingleNode:
    """An exclusive flock next to the SQLite file: one scheduler per database, no standby."""

    kind = SQLITE_ELECTION

    def __init__(self, database_path: Path) -> None:
        self.path = sqlite_lock_file(database_path)
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process' life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise AnotherSchedulerRuns(
                f"another scheduler ({self._written() or 'unknown process'}) already runs on this SQLite database "
                f"(lock {self.path}). SQLite deployments are single-node: stop it first, or move to PostgreSQL "
                "(MILAI_DATABASE_URL) to run a standby scheduler."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(node_id() + "\n")
        handle.flush()
        self._file = handle
        return True

    def _written(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def still_leader(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def holder(self) -> str | None:
        """The scheduler holding the lock (None when nobody does: the file outlives its writer)."""
        if self._file is not None:
            return node_id()
        return sqlite_leader(self.path)


def election_for(database_url: str, redis_url: str | None, *, interval: float = DEFAULT_INTERVAL,
                 redis_prefix: str = "milai:") -> Election:
    """PostgreSQL → advisory lock; SQLite → single node; another shared database with Redis → Redis lock."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresElection(database_url)
    if url.get_backend_name() == "sqlite":
        return SqliteSingleNode(Path(url.database or "milai.sqlite3").resolve())
    if redis_url:
        return RedisElection(redis_url, interval=interval, key=redis_prefix + REDIS_LEADER_KEY)
    raise ValueError(f"no leader election for {url.get_backend_name()} without MILAI_REDIS_URL")


class Leadership:
    """Try to lead every `interval` seconds; call `on_elected` / `on_demoted` as leadership comes and goes."""

    def __init__(self, election: Election, on_elected: Callable[[], Any], on_demoted: Callable[[], Any], *,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.election = election
        self.on_elected = on_elected
        self.on_demoted = on_demoted
        self.interval = interval
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> bool:
        """One round: acquire, or check the leadership held; returns whether this process leads."""
        if not self.is_leader:
            if self.election.try_acquire():
                self.is_leader = True
                log.info("elected scheduler leader (%s)", self.election.kind)
                self.on_elected()
        elif not self.election.still_leader():
            self.is_leader = False
            log.warning("lost the scheduler leadership (%s); standing by", self.election.kind)
            self.on_demoted()
        return self.is_leader

    def start(self) -> None:
        """The first round now (so a single-node conflict raises here), the next ones in a thread."""
        if not self.step():
            log.info("standing by: the scheduler leader is %s", self.election.holder() or "unknown")
        self._thread = threading.Thread(target=self._loop, name="milai-leader", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception:  # never let the election thread die: the next round retries
                log.exception("leader election round failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        if self.is_leader:
            self.is_leader = False
            self.on_demoted()
        self.election.release()
