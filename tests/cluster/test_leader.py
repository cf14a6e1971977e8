"""One active scheduler: leader election on PostgreSQL (advisory lock) or Redis, failover, single-node SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from crawler.catalogue import SourceConfig
from milai.jobqueue import RedisJobQueue
from scheduler.leader import AnotherSchedulerRuns, PostgresElection, RedisElection, SqliteSingleNode
from tests.cluster.conftest import REDIS_URL, ROOT, Processes, cluster_env
from tests.cluster.test_workers import wait_for
from tests.crawler.helpers import write_catalogue


def _sources(n: int) -> list[SourceConfig]:
    # never crawled here (no worker runs): the URLs only have to be valid
    return [SourceConfig(name=f"sched-{i}", publisher="P", kind="feed", url=f"http://127.0.0.1:9/{i}.xml")
            for i in range(n)]


def test_a_second_scheduler_on_one_sqlite_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    first = SqliteSingleNode(tmp_path / "milai.sqlite3")
    assert first.try_acquire()
    second = SqliteSingleNode(tmp_path / "milai.sqlite3")
    with pytest.raises(AnotherSchedulerRuns) as refused:
        second.try_acquire()
    message = str(refused.value)
    assert "single-node" in message and f"{socket.gethostname()}:{os.getpid()}" in message
    assert "PostgreSQL" in message
    assert second.holder() == f"{socket.gethostname()}:{os.getpid()}"
    first.release()
    assert second.holder() is None  # the lock file outlives its writer, but nobody holds it
    assert second.try_acquire()  # the first one stopped: the file is free again
    second.release()


@pytest.mark.slow
def test_milai_run_twice_on_one_sqlite_database_says_so_and_exits(sqlite_url: str, tmp_path: Path) -> None:
    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    catalogue = write_catalogue(tmp_path / "sources.yaml", _sources(1))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MILAI_")}, "MILAI_DATABASE_URL": sqlite_url,
           "MILAI_DATA_DIR": str(tmp_path / "data"), "MILAI_SOURCES": str(catalogue)}
    log = (tmp_path / "first.log").open("w")  # a file, not a pipe nobody reads: a full pipe would block the process
    first = subprocess.Popen([sys.executable, "-m", "milai", "run", "--no-initial-crawl", "--port", str(free_port())],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        lock = Path(make_url(env["MILAI_DATABASE_URL"]).database + ".scheduler.lock")
        wait_for(lambda: lock.exists() and lock.read_text().strip() != "", 60, "the first scheduler to start")
        second = subprocess.run([sys.executable, "-m", "milai", "run", "--no-initial-crawl", "--port",
                                 str(free_port())], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "another scheduler" in second.stderr and "single-node" in second.stderr
        assert f":{first.pid}" in second.stderr  # names the one that runs
        assert first.poll() is None  # the first one is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(45)
        except subprocess.TimeoutExpired:
            first.send_signal(signal.SIGUSR1)  # milai run prints every thread's stack: the log says where it hangs
            time.sleep(2)
            first.kill()
            raise
        finally:
            log.close()
            print((tmp_path / "first.log").read_text()[-4000:])  # shown when the test fails


@pytest.mark.postgres
def test_postgres_advisory_lock_elects_one_and_frees_on_connection_loss(pg_url: str) -> None:
    a, b = PostgresElection(pg_url, name="node-a"), PostgresElection(pg_url, name="node-b")
    try:
        assert a.try_acquire() and not b.try_acquire()
        assert a.still_leader() and not b.still_leader()
        assert (a.holder() or "").startswith("node-a")
        assert a.conn is not None
        a.conn.invalidate()  # the connection dies (as when the process is killed): the server frees the lock
        a.conn = None
        assert not a.still_leader()
        wait_for(b.try_acquire, 10, "the standby to take the lock", poll=0.1)
        assert (a.holder() or "").startswith("node-b")
    finally:
        a.release()
        b.release()


@pytest.mark.redis
def test_redis_lock_elects_one_and_expires_when_not_renewed(redis_prefix: str) -> None:
    key = redis_prefix + "leader"
    a = RedisElection(REDIS_URL, interval=0.2, name="node-a", key=key)
    b = RedisElection(REDIS_URL, interval=0.2, name="node-b", key=key)
    assert a.try_acquire() and not b.try_acquire()
    assert a.still_leader() and a.holder() == "node-a"
    time.sleep(0.8)  # a stops renewing (dead): its key expires after 3 intervals
    assert b.try_acquire() and not a.still_leader() and b.holder() == "node-b"
    a.release()  # not a's any more: nothing happens
    assert b.still_leader()
    b.release()
    assert b.holder() is None


def _pid_of(holder: str | None) -> int | None:
    if not holder:
        return None
    node = holder.split(" since ")[0]
    return int(node.rsplit(":", 1)[1])


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_two_schedulers_one_leader_failover_after_kill_and_every_job_queued_once(
    pg_url: str, redis_prefix: str, tmp_path: Path, processes: Processes
) -> None:
    sources = _sources(3)
    catalogue = write_catalogue(tmp_path / "sources.yaml", sources)
    env = cluster_env(pg_url, redis_prefix, catalogue, tmp_path, MILAI_DEFAULT_SCHEDULE="* * * * *",
                      MILAI_ADAPTIVE_POLLING="false")  # every minute, on the clock (not adaptive polling)
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    election = PostgresElection(pg_url, name="observer")
    try:
        one = processes.start(["scheduler", "--election-interval", "1"], env, "scheduler-1")
        two = processes.start(["scheduler", "--election-interval", "1"], env, "scheduler-2")
        wait_for(lambda: _pid_of(election.holder()) in (one.pid, two.pid), 60, "a leader")
        leader_pid = _pid_of(election.holder())
        leader, standby = (one, two) if leader_pid == one.pid else (two, one)
        wait_for(lambda: len(queue.offers()) >= 3, 60, "the start-up crawl to be queued")
        time.sleep(3)  # both schedulers run: the standby must queue nothing
        startup = [o for o in queue.offers() if o.reason == "startup"]
        assert sorted(o.name for o in startup) == [s.name for s in sources]
        assert {o.by.rsplit(":", 1)[1] for o in queue.offers()} == {str(leader.pid)}
        assert standby.poll() is None and "standing by" in processes.output(standby)

        os.kill(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        leader.wait(10)
        wait_for(lambda: _pid_of(election.holder()) == standby.pid, 30, "the standby to take over")
        failover = time.monotonic() - killed_at
        assert failover < 30
        # the new leader queues the crawls that come due (every minute) -- not the start-up crawl again
        wait_for(lambda: any(o.by.endswith(f":{standby.pid}") and o.reason == "schedule" for o in queue.offers()),
                 75, "a scheduled crawl from the new leader")
        time.sleep(2)
        offers = queue.offers()
        assert [o for o in offers if o.reason == "startup"] == startup
        per_due_time = Counter((o.name, int(o.at // 60)) for o in offers if o.reason == "schedule")
        assert per_due_time and set(per_due_time.values()) == {1}, per_due_time
        assert {name for name, _ in per_due_time} == {s.name for s in sources}
    finally:
        election.release()



@pytest.mark.redis
def test_a_leader_that_loses_its_lock_stops_scheduling_and_stands_by(redis_prefix: str) -> None:
    import redis

    from scheduler.leader import Leadership

    key = redis_prefix + "leader"
    events: list[str] = []
    election = RedisElection(REDIS_URL, interval=0.2, name="node-a", key=key)
    leadership = Leadership(election, lambda: events.append("elected"), lambda: events.append("demoted"),
                            interval=0.2)
    leadership.start()
    try:
        assert leadership.is_leader and events == ["elected"]
        client = redis.Redis.from_url(REDIS_URL)
        client.set(key, "node-b@1", px=1000)  # another node holds the lock now (e.g. after a partition)
        wait_for(lambda: events == ["elected", "demoted"], 5, "the demotion", poll=0.05)
        assert not leadership.is_leader
        client.delete(key)  # the other node went away: elected again
        wait_for(lambda: events == ["elected", "demoted", "elected"], 5, "the re-election", poll=0.05)
    finally:
        leadership.stop()
    assert events[-1] == "demoted" and election.holder() is None
