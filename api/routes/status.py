"""`GET /api/status`: the crawl cluster as `milai status` shows it (leader, job queue, workers alive).

Anyone may read the summary (it is on the public `/sources` page too): the deployment's mode, how the leader is
elected and whether one leads, the queue's length and each worker's role, last heartbeat, jobs done and the
sources it crawls (source names are public: the catalogue is). Who they are — the leader's and the workers'
host names and process ids, which may name machines of an internal network — only with a valid API token
(`Authorization: Bearer …`; a token that is sent but not valid is a 401). No URL is ever shown (a Redis or
database URL may hold a password): only kinds ("postgresql advisory lock", "redis").
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.deps import OPTIONAL_TOKEN, SettingsDep, get_engine, optional_token
from api.errors import responses
from milai.cluster import ClusterStatus, cluster_status
from storage.models import ApiToken

router = APIRouter()


class LeaderOut(BaseModel):
    election: str = Field(description="How the scheduler leader is elected: `postgresql advisory lock`, "
                          "`sqlite single node`, `redis lock` or `none`")
    elected: bool = Field(description="Whether a scheduler leads now (none: nothing is being queued)")
    name: str | None = Field(default=None, description="The leader (`host:pid`, since when); with a token only")


class QueueOut(BaseModel):
    kind: Literal["redis", "in-process"] = Field(
        description="`redis` (MILAI_REDIS_URL: any number of workers) or `in-process` (single node: the worker "
        "inside `milai run`, whose queue this process cannot see)")
    reachable: bool = Field(description="False when Redis does not answer (then `queued` is null)")
    detail: str | None = Field(default=None, description="Why the queue cannot be read (the error's kind)")
    queued: int | None = Field(default=None, description="Crawl jobs waiting for a worker")
    pending: int | None = Field(default=None, description="Crawl jobs queued or being crawled")


class WorkerOut(BaseModel):
    role: str = Field(description="`crawl` or `sender`")
    last_heartbeat_s: float = Field(description="Seconds since its last heartbeat (renewed every 10 s)")
    jobs_done: int
    crawling: list[str] = Field(description="Sources it is crawling now")
    id: str | None = Field(default=None, description="`host:pid:role:random`; with a token only")
    host: str | None = Field(default=None, description="With a token only")
    pid: int | None = Field(default=None, description="With a token only")


class StatusOut(BaseModel):
    mode: Literal["single node", "cluster"]
    detailed: bool = Field(description="True when a valid token was sent: names, hosts and pids are included")
    leader: LeaderOut
    queue: QueueOut
    workers: list[WorkerOut] = Field(description="Workers alive (heartbeat not expired), by id")


def status_out(status: ClusterStatus, *, detailed: bool) -> StatusOut:
    """The report as the API and the page show it: without names unless `detailed`."""
    return StatusOut(
        mode=status.mode,
        detailed=detailed,
        leader=LeaderOut(election=status.election, elected=status.leader is not None,
                         name=status.leader if detailed else None),
        queue=QueueOut(kind="redis" if status.redis else "in-process", reachable=status.queue_reachable,
                       detail=status.queue_error, queued=status.queued,
                       pending=len(status.pending) if status.redis and status.queue_reachable else None),
        workers=[WorkerOut(role=w.role, last_heartbeat_s=w.last_heartbeat_s, jobs_done=w.jobs_done,
                           crawling=w.crawling, **({"id": w.id, "host": w.host, "pid": w.pid} if detailed else {}))
                 for w in status.workers],
    )


@router.get("/api/status", response_model=StatusOut, response_model_exclude_none=False, tags=["health"],
            responses=responses(401, 503), openapi_extra=OPTIONAL_TOKEN)
def api_status(settings: SettingsDep, engine: Annotated[Engine, Depends(get_engine)],
               token: Annotated[ApiToken | None, Depends(optional_token)]) -> StatusOut:
    """The scheduler leader, the crawl job queue and the workers alive (names with a token only). 503 when
    the database cannot be used; a Redis that does not answer is a 200 saying so (`queue.reachable`)."""
    return status_out(cluster_status(settings, engine), detailed=token is not None)
