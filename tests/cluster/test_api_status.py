"""`GET /api/status` and the `/sources` page's status section: leader, crawl queue and workers alive.

Real parts: a SQLite single node whose scheduler lock is held; PostgreSQL with the leader's advisory lock held on
another connection; Redis with two real `milai worker` processes registered. The database and Redis URLs carry
passwords (PostgreSQL's trust authentication and Redis' `nopass` default user accept any), and no answer shows
them; host names and pids only with an API token.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.auth import create_token
from milai.config import Settings
from milai.jobqueue import RedisJobQueue
from scheduler.leader import PostgresElection, SqliteSingleNode, node_id
from storage.database import engine_of, session_scope
from tests.cluster.conftest import REDIS_URL, Processes, cluster_env
from tests.crawler.helpers import write_catalogue

PG_PASSWORD = "s3cret-pg-pw"
REDIS_PASSWORD = "s3cret-redis-pw"
HTML = {"accept": "text/html"}


def _with_password(url: str, password: str, username: str | None = None) -> str:
    parsed = make_url(url).set(password=password)
    if username:
        parsed = parsed.set(username=username)
    return parsed.render_as_string(hide_password=False)


def _token(settings: Settings) -> dict[str, str]:
    with session_scope(engine_of(settings)) as session:
        _, secret = create_token(session, "status-test")
    return {"Authorization": f"Bearer {secret}"}


def _section(page: str) -> str:
    found = re.search(r'<section class="cluster".*?</section>', page, re.S)
    assert found, page[-2000:]
    return found.group(0)


@pytest.fixture
def sqlite_client(sqlite_url: str) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(database_url=sqlite_url, redis_url=None)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def test_single_node_status_shows_the_sqlite_scheduler_and_no_queue(
        sqlite_client: tuple[TestClient, Settings]) -> None:
    client, settings = sqlite_client
    idle = client.get("/api/status")
    assert idle.status_code == 200
    assert idle.json() == {
        "mode": "single node", "detailed": False,
        "leader": {"election": "sqlite single node", "elected": False, "name": None},
        "queue": {"kind": "in-process", "reachable": True, "detail": None, "queued": None, "pending": None},
        "workers": [],
    }
    assert "no scheduler leads" in _section(client.get("/sources", headers=HTML).text)
    url = make_url(settings.effective_database_url)
    scheduler = SqliteSingleNode(Path(url.database or "").resolve())
    assert scheduler.try_acquire()
    try:
        public = client.get("/api/status").json()
        assert public["leader"] == {"election": "sqlite single node", "elected": True, "name": None}
        detailed = client.get("/api/status", headers=_token(settings)).json()
        assert detailed["detailed"] is True and detailed["leader"]["name"] == node_id()
        section = _section(client.get("/sources", headers=HTML).text)
        assert "a leader schedules the crawls" in section and "single node" in section
        assert node_id() not in section  # names only with a token, and the page has none
        for wrong in ("Bearer nope", "Basic dXNlcjpwdw==", ""):
            refused = client.get("/api/status", headers={"Authorization": wrong})
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", wrong
    finally:
        scheduler.release()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_cluster_status_shows_the_postgres_leader_and_real_workers_without_secrets(
        pg_url: str, redis_prefix: str, tmp_path: Path, processes: Processes) -> None:
    db_url = _with_password(pg_url, PG_PASSWORD)
    redis_url = _with_password(REDIS_URL, REDIS_PASSWORD, username="default")
    catalogue = write_catalogue(tmp_path / "sources.yaml", [{"name": "placeholder", "publisher": "Tests",
                                                             "kind": "feed", "url": "http://127.0.0.1:9/feed.xml",
                                                             "enabled": False}])
    env = cluster_env(db_url, redis_prefix, catalogue, tmp_path) | {"MILAI_REDIS_URL": redis_url}
    workers = [processes.start(["worker"], env, f"worker-{i}") for i in range(2)]
    queue = RedisJobQueue(REDIS_URL, prefix=redis_prefix)
    leader = PostgresElection(db_url, name="sched-box:4242")  # its own connection, as another scheduler's
    settings = Settings(database_url=db_url, redis_url=redis_url, redis_prefix=redis_prefix)
    try:
        deadline = time.monotonic() + 90
        while len(queue.workers()) < 2:
            assert time.monotonic() < deadline, [processes.output(w)[-2000:] for w in workers]
            time.sleep(0.3)
        with TestClient(create_app(settings)) as client:
            assert client.get("/api/status").json()["leader"]["elected"] is False
            assert leader.try_acquire()
            r = client.get("/api/status")
            assert r.status_code == 200
            public = r.json()
            assert public["mode"] == "cluster" and public["detailed"] is False
            assert public["leader"] == {"election": "postgresql advisory lock", "elected": True, "name": None}
            assert public["queue"]["kind"] == "redis" and public["queue"]["reachable"] is True
            assert (public["queue"]["queued"], public["queue"]["pending"]) == (0, 0)
            assert len(public["workers"]) == 2
            for w in public["workers"]:
                assert w["role"] == "crawl" and w["id"] is None and w["host"] is None and w["pid"] is None
                assert 0 <= w["last_heartbeat_s"] < 30
            detailed = client.get("/api/status", headers=_token(settings)).json()
            assert detailed["leader"]["name"].startswith("sched-box:4242 since ")
            assert sorted(w["id"] for w in detailed["workers"]) == sorted(w.id for w in queue.workers())
            assert sorted(w["pid"] for w in detailed["workers"]) == sorted(p.pid for p in workers)
            assert {w["host"] for w in detailed["workers"]} == {socket.gethostname()}
            page = client.get("/sources", headers=HTML)
            section = _section(page.text)
            assert "a leader schedules the crawls" in section and "postgresql advisory lock" in section
            assert re.search(r"<dt>Workers alive</dt><dd>2</dd>", section)
            assert section.count("s ago</span>") == 2
            assert "unsafe-inline" not in page.headers["content-security-policy"]
            assert "<script" not in section and "style=" not in section
            for text in (r.text, page.text, client.get("/api/status", headers=_token(settings)).text):
                assert PG_PASSWORD not in text and REDIS_PASSWORD not in text and "redis://" not in text
            assert socket.gethostname() not in r.text and socket.gethostname() not in section
    finally:
        leader.release()


@pytest.mark.redis
@pytest.mark.postgres
def test_redis_that_does_not_answer_is_reported_without_its_url(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, redis_url=f"redis://default:{REDIS_PASSWORD}@127.0.0.1:1/0")
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/status")
        assert r.status_code == 200
        assert r.json()["queue"] == {"kind": "redis", "reachable": False,
                                     "detail": "Redis does not answer (ConnectionError)", "queued": None,
                                     "pending": None}
        page = client.get("/sources", headers=HTML)
        assert page.status_code == 200 and "Redis does not answer" in _section(page.text)
        assert REDIS_PASSWORD not in r.text + page.text and "127.0.0.1:1" not in r.text + page.text
