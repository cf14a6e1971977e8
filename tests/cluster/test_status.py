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


@pytest.mark.redis
@pytest.mark.postgres
def test_status_table_fits_80_and_narrow_columns(pg_url: str, redis_prefix: str) -> None:
    env = {"MILAI_DATABASE_URL": pg_url, "MILAI_REDIS_URL": REDIS_URL, "MILAI_REDIS_PREFIX": redis_prefix}
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    long_id = "crawl-worker-17.eu-west.cluster.milai-watch.example.org:48213:crawl:5f0c2d9e8b7a4c1d"
    queue.beat(WorkerInfo(id=long_id, host="crawl-worker-17", pid=48213, beat_at=time.time() - 1, jobs_done=12,
                          current=["un-news-peace-security", "unoda-news", "ministry-of-defence-of-the-netherlands"]))
    for columns, width in ((None, 80), ("50", 50)):
        result = CliRunner().invoke(app, ["status"], env={**env, "COLUMNS": columns})
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        too_long = [line for line in lines if len(line) > width]
        cropped = [line for line in lines if line[:1] in "┏┃┡│└" and line[-1:] not in "┓┃┩│┘"]
        assert not too_long and not cropped, result.stdout
        body = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
        worker, _, crawling = ("".join(row[i].strip() for row in body) for i in range(3))
        assert worker == long_id + "(crawl)", result.stdout  # the whole id, wrapped, never cropped
        assert crawling == "un-news-peace-security,unoda-news,ministry-of-defence-of-the-netherlands"
        assert "1 worker(s) alive" in result.stdout and "12 jobs done" in result.stdout
    wide = CliRunner().invoke(app, ["status"], env={**env, "COLUMNS": "250"}).stdout.splitlines()
    assert long_id in "\n".join(wide) and any("jobs done" in line for line in wide)  # one column per field


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
