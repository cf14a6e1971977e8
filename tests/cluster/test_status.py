"""`milai status` shows the leader, the queue and the workers alive; the sender loop keeps sending."""

from __future__ import annotations

import json
import threading
import time

import pytest
from typer.testing import CliRunner

from milai.cli.main import app
from milai.jobqueue import RedisJobQueue, WorkerInfo
from scheduler.leader import PostgresElection
from scheduler.sender import run_sender
from tests.cluster.conftest import REDIS_URL


@pytest.mark.redis
@pytest.mark.postgres
def test_status_shows_leader_queue_and_workers_with_their_heartbeat(
    pg_url: str, redis_prefix: str
) -> None:
    env = {"MILAI_DATABASE_URL": pg_url, "MILAI_REDIS_URL": REDIS_URL, "MILAI_REDIS_PREFIX": redis_prefix}
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    leader = PostgresElection(pg_url, name="sched-host:4242")
    try:
        assert leader.try_acquire()
        for name in ("a", "b", "c"):
            queue.put(name)
        assert queue.take("box:7:crawl:x", 1) == "a"
        queue.beat(WorkerInfo(id="box:7:crawl:x", host="box", pid=7, beat_at=time.time() - 2, jobs_done=5,
                              current=["a"]))
        result = CliRunner().invoke(app, ["status", "--format", "json"], env=env)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["leader"].startswith("sched-host:4242") and report["election"] == "postgresql advisory lock"
        assert report["queued"] == 2 and report["pending"] == ["a", "b", "c"]
        [worker] = report["workers"]
        assert worker["id"] == "box:7:crawl:x" and worker["crawling"] == ["a"] and worker["jobs_done"] == 5
        assert 1.5 <= worker["last_heartbeat_s"] < 60
        table = CliRunner().invoke(app, ["status"], env=env)
        assert "sched-host:4242" in table.output and "box:7:crawl:x" in table.output
    finally:
        leader.release()


def test_sender_runs_until_stopped_and_survives_a_failed_run() -> None:
    calls: list[float] = []
    stop = threading.Event()

    def send() -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("database away")
        if len(calls) == 3:
            stop.set()
        return "sent"

    assert run_sender(0.05, stop=stop, send=send) == 3
    assert len(calls) == 3
