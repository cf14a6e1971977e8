"""The crawl job queue: each source queued once, taken by one worker, given back when its worker dies."""

from __future__ import annotations

import time

import pytest

from milai.jobqueue import JobQueue, LocalJobQueue, RedisJobQueue, WorkerInfo
from tests.cluster.conftest import REDIS_URL


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def queue(request: pytest.FixtureRequest) -> JobQueue:
    if request.param == "local":
        return LocalJobQueue()
    prefix = request.getfixturevalue("redis_prefix")
    return RedisJobQueue(REDIS_URL, prefix=prefix)


def test_a_source_waiting_or_being_crawled_is_not_queued_again(queue: JobQueue) -> None:
    assert queue.put("a", "schedule") and queue.put("b", "schedule")
    assert not queue.put("a", "startup")  # waiting
    assert queue.length() == 2
    assert queue.take("w1", 1) == "a"  # the oldest first
    assert not queue.put("a", "schedule")  # being crawled
    queue.done("w1", "a")
    assert queue.pending() == {"b"}
    assert queue.put("a", "schedule")  # finished: may be queued again
    offers = [(o.name, o.reason, o.queued) for o in queue.offers()]
    assert offers == [("a", "schedule", True), ("b", "schedule", True), ("a", "startup", False),
                      ("a", "schedule", False), ("a", "schedule", True)]


def test_take_waits_then_gives_up(queue: JobQueue) -> None:
    started = time.monotonic()
    assert queue.take("w1", 0.3) is None
    assert time.monotonic() - started >= 0.25


def test_jobs_of_a_worker_whose_heartbeat_expired_go_back_to_the_queue(queue: JobQueue) -> None:
    for name in ("a", "b", "c"):
        queue.put(name)
    queue.beat(WorkerInfo(id="dead"), ttl=0.3)
    queue.beat(WorkerInfo(id="alive"), ttl=30)
    assert queue.take("dead", 1) == "a" and queue.take("dead", 1) == "b"
    assert queue.take("alive", 1) == "c"
    assert queue.recover() == []  # heartbeat still fresh
    time.sleep(0.5)
    assert sorted(queue.recover()) == ["a", "b"]
    assert {w.id for w in queue.workers()} == {"alive"}
    assert sorted(n for n in (queue.take("alive", 1), queue.take("alive", 1))) == ["a", "b"]
    assert queue.pending() == {"a", "b", "c"}  # still owed a crawl, never queued twice


def test_a_released_job_goes_to_the_back_and_a_leaving_worker_hands_back_its_jobs(queue: JobQueue) -> None:
    for name in ("a", "b"):
        queue.put(name)
    assert queue.take("w1", 1) == "a"
    queue.release("w1", "a")
    assert queue.take("w2", 1) == "b" and queue.take("w2", 1) == "a"
    queue.leave("w2")
    assert queue.length() == 2 and queue.pending() == {"a", "b"}


def test_a_source_lock_has_one_owner_until_it_expires(queue: JobQueue) -> None:
    assert queue.lock_source("s", "w1", ttl=0.4)
    assert not queue.lock_source("s", "w2", ttl=0.4)
    assert queue.renew_source("s", "w1", ttl=0.4) and not queue.renew_source("s", "w2", ttl=0.4)
    queue.unlock_source("s", "w2")  # not its lock: nothing happens
    assert not queue.lock_source("s", "w2", ttl=0.4)
    time.sleep(0.6)
    assert queue.lock_source("s", "w2", ttl=0.4)  # the owner died and stopped renewing
    queue.unlock_source("s", "w2")
    assert queue.lock_source("s", "w3", ttl=0.4)


@pytest.mark.redis
def test_workers_seen_by_status_carry_their_heartbeat(redis_prefix: str) -> None:
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    queue.beat(WorkerInfo(id="h:1:crawl:x", role="crawl", host="h", pid=1, beat_at=123.5, jobs_done=4,
                          current=["s1", "s2"]))
    [info] = queue.workers()
    assert (info.id, info.pid, info.beat_at, info.jobs_done, info.current) == ("h:1:crawl:x", 1, 123.5, 4, ["s1", "s2"])
