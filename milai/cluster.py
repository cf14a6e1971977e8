"""The cluster's state, read only: who leads the scheduling, how many crawl jobs wait, which workers are alive.

Shared by `milai status` (CLI) and `GET /api/status` / the `/sources` page (api), so it sits below both
(layers: beside crawler and alerts, above storage and the job queue). It only *looks*: taking, renewing and
giving up the leadership stay in scheduler.leader, which takes its keys and names from here.

Leader lookups, by deployment (scheduler.leader.election_for picks the same way):

- PostgreSQL: the session holding the scheduler's advisory lock, named by its `application_name`
  (`milai-scheduler host:pid`) in pg_stat_activity. Needs the database: errors propagate (the API answers 503,
  the CLI one line and exit 1, like every other database read).
- SQLite: the process holding the flock on `<database>.scheduler.lock` (single node, no standby).
- another shared database with Redis: the value of the Redis leader key.

Nothing here shows a URL: the report names kinds ("postgresql advisory lock", "redis"), never a host, user
or password, and a Redis failure is described by its exception class only.
"""

from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from milai.config import Settings
from milai.jobqueue import RedisJobQueue, WorkerInfo
from storage.locks import advisory_lock_holder

LEADER_LOCK_KEY = 0x4D494C41  # "MILA": the advisory lock of the scheduler leader (per database)
REDIS_LEADER_KEY = "leader"  # after MILAI_REDIS_PREFIX
APPLICATION_PREFIX = "milai-scheduler"
STATUS_REDIS_TIMEOUT = 3.0  # seconds: a status read never hangs on a Redis that does not answer

POSTGRES_ELECTION = "postgresql advisory lock"
REDIS_ELECTION = "redis lock"
SQLITE_ELECTION = "sqlite single node"
NO_ELECTION = "none"


def election_kind(database_url: str, redis_url: str | None) -> str:
    """How the leader is elected for this deployment (the same choice as scheduler.leader.election_for)."""
    backend = make_url(database_url).get_backend_name()
    if backend == "postgresql":
        return POSTGRES_ELECTION
    if backend == "sqlite":
        return SQLITE_ELECTION
    return REDIS_ELECTION if redis_url else NO_ELECTION


def sqlite_lock_path(database_url: str) -> Path:
    """The flock file next to a SQLite database."""
    return sqlite_lock_file(Path(make_url(database_url).database or "milai.sqlite3").resolve())


def sqlite_lock_file(database_path: Path) -> Path:
    """The single-node scheduler's flock file beside the SQLite file at `database_path`."""
    return Path(f"{database_path}.scheduler.lock")


def postgres_leader(engine: Engine, key: int = LEADER_LOCK_KEY) -> str | None:
    """`host:pid since …` of the session holding the leader lock; None when nobody leads. Raises when the
    database cannot be used."""
    with engine.connect() as conn:
        found = advisory_lock_holder(conn, key)
    if found is None:
        return None
    name = found.application_name.removeprefix(APPLICATION_PREFIX).strip() or f"backend {found.pid}"
    since = f" since {found.since:%Y-%m-%d %H:%M:%S %Z}" if found.since else ""
    return f"{name}{since}"


def redis_leader(client: Any, key: str) -> str | None:
    """The leader's name from the Redis leader key (`name@started`); None when the key is absent/expired."""
    value: str | None = client.get(key)
    return value.rsplit("@", 1)[0] if value else None


def sqlite_leader(lock_path: Path) -> str | None:
    """The process holding the single-node flock, as it wrote itself in the file; None when nobody holds it
    (the file outlives its writer). The caller's own lock cannot be seen this way: flock is per open file."""
    try:
        with open(lock_path, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:  # held: the text names the holder
                return handle.read().strip() or "unknown process"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except OSError:
        return None


@dataclass(frozen=True)
class WorkerStatus:
    """One worker alive, from its last heartbeat."""

    id: str
    role: str
    host: str
    pid: int
    last_heartbeat_s: float
    jobs_done: int
    crawling: list[str]

    @classmethod
    def of(cls, info: WorkerInfo, now: float) -> WorkerStatus:
        return cls(id=info.id, role=info.role, host=info.host, pid=info.pid,
                   last_heartbeat_s=round(max(now - info.beat_at, 0.0), 1), jobs_done=info.jobs_done,
                   crawling=list(info.current))


@dataclass
class ClusterStatus:
    """What `milai status` and `GET /api/status` report."""

    election: str
    leader: str | None
    redis: bool
    queue_reachable: bool = True
    queue_error: str | None = None
    queued: int | None = None
    pending: list[str] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)

    @property
    def mode(self) -> Literal["single node", "cluster"]:
        return "cluster" if self.redis else "single node"


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=STATUS_REDIS_TIMEOUT,
                                socket_connect_timeout=STATUS_REDIS_TIMEOUT)


def cluster_status(settings: Settings, engine: Engine, *, now: float | None = None) -> ClusterStatus:
    """The leader, the Redis queue and its workers. A database that cannot be used raises (SQLAlchemyError);
    a Redis that does not answer is reported (`queue_reachable` False, `queue_error` its exception class)."""
    kind = election_kind(settings.effective_database_url, settings.redis_url)
    report = ClusterStatus(election=kind, leader=None, redis=bool(settings.redis_url))
    if kind == POSTGRES_ELECTION:
        report.leader = postgres_leader(engine)
    else:  # every route of the API needs the database: check it answers, as the PostgreSQL lookup does
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if kind == SQLITE_ELECTION:
            report.leader = sqlite_leader(sqlite_lock_path(settings.effective_database_url))
    if not settings.redis_url:
        return report
    import redis

    client = _redis_client(settings.redis_url)
    try:
        if kind == REDIS_ELECTION:
            report.leader = redis_leader(client, settings.redis_prefix + REDIS_LEADER_KEY)
        queue = RedisJobQueue(settings.redis_url, prefix=settings.redis_prefix, client=client)
        report.queued = queue.length()
        report.pending = sorted(queue.pending())
        at = time.time() if now is None else now
        report.workers = [WorkerStatus.of(w, at) for w in queue.workers()]
    except (redis.RedisError, OSError) as exc:  # say so, never the URL (it may hold a password)
        report.queue_reachable = False
        report.queue_error = f"Redis does not answer ({exc.__class__.__name__})"
        report.queued, report.pending, report.workers = None, [], []
    finally:
        client.close()
    return report
