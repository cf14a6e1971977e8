"""The crawl job queue between the scheduler and the crawl workers: source names, each queued at most once.

Two implementations behind one interface (`JobQueue`):

- `RedisJobQueue` (MILAI_REDIS_URL set): a Redis list any number of workers on any machines take from.
  Taking is Redis' reliable-queue pattern: `BLMOVE` moves the name atomically from the queue to the worker's
  own *taken* list, and `done` removes it from there. A worker renews a heartbeat key (TTL `WORKER_TTL`);
  `recover` moves the taken names of a worker whose heartbeat expired (killed, crashed, machine gone) back
  to the head of the queue, so another worker takes them up. A set of *pending* names (queued or taken)
  makes `put` idempotent: a source already waiting or being crawled is not queued a second time, whoever
  (leader, standby that just took over, `milai crawl --queue`) asks.
- `LocalJobQueue` (no Redis: one machine, SQLite): the same semantics in process (`milai run`'s embedded
  worker), a thread-safe deque and a pending set.

Workers' heartbeats carry what `milai status` shows: role, host, pid, sources being crawled, jobs done.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from milai.config import Settings

PREFIX = "milai:"  # MILAI_REDIS_PREFIX: several deployments (or test runs) can share one Redis
QUEUE_KEY = "jobs:crawl"
PENDING_KEY = "jobs:crawl:pending"
TAKEN_KEY = "jobs:crawl:taken:%s"
WORKERS_KEY = "workers"
WORKER_KEY = "worker:%s"
LOCK_KEY = "lock:source:%s"
WORKER_TTL = 30.0  # seconds a worker's heartbeat lives; it renews it every WORKER_TTL / 3

LOG_KEY = "jobs:crawl:log"
LOG_LENGTH = 2000

# put: queue `name` unless it is pending already (queued or being crawled); log the offer. 1 when queued.
_PUT = """
local queued = 0
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  queued = 1
end
redis.call('RPUSH', KEYS[3], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. queued)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
return queued
"""

# the owner's lock only: extend it / delete it (also the scheduler's Redis leader lock, scheduler.leader)
RENEW_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
DELETE_OWNED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def new_worker_id(role: str = "crawl") -> str:
    """host:pid:random, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerInfo:
    """One worker as its last heartbeat described it."""

    id: str
    role: str = "crawl"
    host: str = ""
    pid: int = 0
    beat_at: float = 0.0
    started_at: float = 0.0
    jobs_done: int = 0
    current: list[str] = field(default_factory=list)

    def as_mapping(self) -> dict[str, str]:
        return {
            "role": self.role, "host": self.host, "pid": str(self.pid), "beat_at": f"{self.beat_at:.3f}",
            "started_at": f"{self.started_at:.3f}", "jobs_done": str(self.jobs_done),
            "current": ",".join(self.current),
        }

    @classmethod
    def from_mapping(cls, worker_id: str, data: dict[str, str]) -> WorkerInfo:
        return cls(
            id=worker_id, role=data.get("role", "crawl"), host=data.get("host", ""), pid=int(data.get("pid", 0)),
            beat_at=float(data.get("beat_at", 0)), started_at=float(data.get("started_at", 0)),
            jobs_done=int(data.get("jobs_done", 0)), current=[c for c in data.get("current", "").split(",") if c],
        )


@dataclass(frozen=True)
class Offer:
    """One `put`: which source, why (schedule, startup, manual), when, by whom, and whether it was queued."""

    name: str
    reason: str
    at: float
    by: str
    queued: bool

    def encode(self) -> str:
        return f"{self.name}|{self.reason}|{self.at:.3f}|{self.by}|{int(self.queued)}"

    @classmethod
    def decode(cls, raw: str) -> Offer:
        name, reason, at, by, queued = raw.rsplit("|", 4)
        return cls(name, reason, float(at), by, queued == "1")


def offered_by() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobQueue(Protocol):
    """Crawl jobs (source names) from the scheduler to the workers."""

    def put(self, name: str, reason: str = "schedule") -> bool:
        """Queue `name` unless it is queued or being crawled already; True when queued now. Every offer
        (queued or not) is logged with `reason` and who offered it (`offers`)."""
        ...

    def offers(self) -> list[Offer]:
        """The latest offers, oldest first."""
        ...

    def take(self, worker_id: str, timeout: float) -> str | None:
        """The next source name for `worker_id`, waiting up to `timeout` seconds; None when there is none."""
        ...

    def done(self, worker_id: str, name: str) -> None:
        """`worker_id` finished `name` (crawled, failed or gave up): it may be queued again."""
        ...

    def release(self, worker_id: str, name: str) -> None:
        """`worker_id` cannot crawl `name` now (e.g. another worker holds its lock): back to the queue's tail."""
        ...

    def beat(self, info: WorkerInfo, ttl: float = WORKER_TTL) -> None:
        """Renew `info`'s heartbeat."""
        ...

    def leave(self, worker_id: str) -> None:
        """A worker stopping cleanly: forget its heartbeat, requeue whatever it still holds."""
        ...

    def recover(self) -> list[str]:
        """Requeue the names held by workers whose heartbeat expired; returns them."""
        ...

    def lock_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        """Take the crawl lock of source `name` for `owner` (expires after `ttl` unless renewed)."""
        ...

    def renew_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        """Extend `owner`'s lock of `name`; False when `owner` no longer holds it."""
        ...

    def unlock_source(self, name: str, owner: str) -> None:
        """Give up `owner`'s lock of `name` (a lock another owner holds is left alone)."""
        ...

    def length(self) -> int:
        """Names waiting in the queue."""
        ...

    def pending(self) -> set[str]:
        """Names waiting or being crawled."""
        ...

    def workers(self) -> list[WorkerInfo]:
        """Workers alive (heartbeat not expired)."""
        ...


class LocalJobQueue:
    """The in-process queue of a single-node deployment (`milai run` without Redis)."""

    def __init__(self) -> None:
        self._queue: deque[str] = deque()
        self._pending: set[str] = set()
        self._taken: dict[str, set[str]] = {}
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._log: deque[Offer] = deque(maxlen=LOG_LENGTH)
        self._cond = threading.Condition()

    def put(self, name: str, reason: str = "schedule") -> bool:
        with self._cond:
            queued = name not in self._pending
            self._log.append(Offer(name, reason, time.time(), offered_by(), queued))
            if queued:
                self._pending.add(name)
                self._queue.appendleft(name)
                self._cond.notify()
            return queued

    def offers(self) -> list[Offer]:
        with self._cond:
            return list(self._log)

    def take(self, worker_id: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            name = self._queue.pop()
            self._taken.setdefault(worker_id, set()).add(name)
            return name

    def done(self, worker_id: str, name: str) -> None:
        with self._cond:
            self._taken.get(worker_id, set()).discard(name)
            self._pending.discard(name)

    def release(self, worker_id: str, name: str) -> None:
        with self._cond:
            self._taken.get(worker_id, set()).discard(name)
            self._queue.appendleft(name)
            self._cond.notify()

    def beat(self, info: WorkerInfo, ttl: float = WORKER_TTL) -> None:
        with self._cond:
            self._workers[info.id] = (info, time.monotonic() + ttl)

    def leave(self, worker_id: str) -> None:
        with self._cond:
            self._workers.pop(worker_id, None)
            for name in self._taken.pop(worker_id, set()):
                self._queue.append(name)
            self._cond.notify_all()

    def recover(self) -> list[str]:
        now = time.monotonic()
        with self._cond:
            dead = [wid for wid, (_, expires) in self._workers.items() if expires < now]
            moved: list[str] = []
            for wid in dead:
                self._workers.pop(wid, None)
                names = self._taken.pop(wid, set())
                self._queue.extend(sorted(names))
                moved += sorted(names)
            if moved:
                self._cond.notify_all()
            return moved

    def lock_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        now = time.monotonic()
        with self._cond:
            holder = self._locks.get(name)
            if holder is not None and holder[0] != owner and holder[1] >= now:
                return False
            self._locks[name] = (owner, now + ttl)
            return True

    def renew_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        with self._cond:
            holder = self._locks.get(name)
            if holder is None or holder[0] != owner:
                return False
            self._locks[name] = (owner, time.monotonic() + ttl)
            return True

    def unlock_source(self, name: str, owner: str) -> None:
        with self._cond:
            if self._locks.get(name, ("",))[0] == owner:
                del self._locks[name]

    def length(self) -> int:
        with self._cond:
            return len(self._queue)

    def pending(self) -> set[str]:
        with self._cond:
            return set(self._pending)

    def workers(self) -> list[WorkerInfo]:
        now = time.monotonic()
        with self._cond:
            return [info for info, expires in self._workers.values() if expires >= now]


class RedisJobQueue:
    """The cluster queue on Redis (reliable queue: BLMOVE into a per-worker taken list)."""

    def __init__(self, url: str, *, prefix: str = PREFIX, client: Any = None) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        # Any: redis-py types every reply as bytes | str (| Awaitable) whatever decode_responses says; ours are str
        self.redis: Any = client or redis.Redis.from_url(url, decode_responses=True, socket_timeout=60,
                                                         socket_connect_timeout=10, health_check_interval=30)
        self._put = self.redis.register_script(_PUT)
        self._renew = self.redis.register_script(RENEW_OWNED)
        self._unlock = self.redis.register_script(DELETE_OWNED)

    def put(self, name: str, reason: str = "schedule") -> bool:
        return bool(self._put(keys=[self.prefix + QUEUE_KEY, self.prefix + PENDING_KEY, self.prefix + LOG_KEY],
                              args=[name, reason, f"{time.time():.3f}", offered_by(), LOG_LENGTH]))

    def offers(self) -> list[Offer]:
        return [Offer.decode(raw) for raw in self.redis.lrange(self.prefix + LOG_KEY, 0, -1)]

    def take(self, worker_id: str, timeout: float) -> str | None:
        # BLMOVE takes from the right (the oldest), recovered names are pushed back on the right
        name: str | None = self.redis.blmove(self.prefix + QUEUE_KEY, self.prefix + TAKEN_KEY % worker_id,
                                             max(timeout, 0.01), "RIGHT", "LEFT")
        return name

    def done(self, worker_id: str, name: str) -> None:
        pipe = self.redis.pipeline()
        pipe.lrem(self.prefix + TAKEN_KEY % worker_id, 0, name)
        pipe.srem(self.prefix + PENDING_KEY, name)
        pipe.execute()

    def release(self, worker_id: str, name: str) -> None:
        pipe = self.redis.pipeline()  # MULTI/EXEC: the name is never in neither list nor in both
        pipe.lrem(self.prefix + TAKEN_KEY % worker_id, 1, name)
        pipe.lpush(self.prefix + QUEUE_KEY, name)
        pipe.execute()

    def beat(self, info: WorkerInfo, ttl: float = WORKER_TTL) -> None:
        key = self.prefix + WORKER_KEY % info.id
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=info.as_mapping())
        pipe.pexpire(key, int(ttl * 1000))
        pipe.sadd(self.prefix + WORKERS_KEY, info.id)
        pipe.execute()

    def leave(self, worker_id: str) -> None:
        self._requeue(worker_id)
        pipe = self.redis.pipeline()
        pipe.delete(self.prefix + WORKER_KEY % worker_id)
        pipe.srem(self.prefix + WORKERS_KEY, worker_id)
        pipe.execute()

    def _requeue(self, worker_id: str) -> list[str]:
        """Move every name `worker_id` holds back to the head of the queue (taken next), one atomic move each."""
        moved: list[str] = []
        while True:
            name = self.redis.lmove(self.prefix + TAKEN_KEY % worker_id, self.prefix + QUEUE_KEY, "RIGHT", "RIGHT")
            if name is None:
                return moved
            moved.append(name)

    def recover(self) -> list[str]:
        moved: list[str] = []
        for worker_id in self.redis.smembers(self.prefix + WORKERS_KEY):
            if self.redis.exists(self.prefix + WORKER_KEY % worker_id):
                continue
            moved += self._requeue(worker_id)
            self.redis.srem(self.prefix + WORKERS_KEY, worker_id)
        return moved

    def lock_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        return bool(self.redis.set(self.prefix + LOCK_KEY % name, owner, px=int(ttl * 1000), nx=True))

    def renew_source(self, name: str, owner: str, ttl: float = WORKER_TTL) -> bool:
        return bool(self._renew(keys=[self.prefix + LOCK_KEY % name], args=[owner, int(ttl * 1000)]))

    def unlock_source(self, name: str, owner: str) -> None:
        self._unlock(keys=[self.prefix + LOCK_KEY % name], args=[owner])

    def length(self) -> int:
        return int(self.redis.llen(self.prefix + QUEUE_KEY))

    def pending(self) -> set[str]:
        return set(self.redis.smembers(self.prefix + PENDING_KEY))

    def workers(self) -> list[WorkerInfo]:
        found: list[WorkerInfo] = []
        for worker_id in sorted(self.redis.smembers(self.prefix + WORKERS_KEY)):
            data = self.redis.hgetall(self.prefix + WORKER_KEY % worker_id)
            if data:
                found.append(WorkerInfo.from_mapping(worker_id, data))
        return found


_local: LocalJobQueue | None = None
_local_lock = threading.Lock()


def local_queue() -> LocalJobQueue:
    """The process' in-process queue (shared by the scheduler and the embedded worker)."""
    global _local
    with _local_lock:
        if _local is None:
            _local = LocalJobQueue()
        return _local


def get_queue(settings: Settings) -> JobQueue:
    """The Redis queue when MILAI_REDIS_URL is set, the in-process queue otherwise."""
    if settings.redis_url:
        return RedisJobQueue(settings.redis_url, prefix=settings.redis_prefix)
    return local_queue()
