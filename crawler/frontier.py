"""The shared request frontier of a cluster crawl: scrapy-redis' scheduler, kept until a crawl really finishes.

scrapy-redis keeps a source's requests (a Redis sorted set, `milai:frontier:<source>:requests`) and its
seen-set (`milai:frontier:<source>:dupefilter`) in Redis, so every request of a crawl is scheduled once
whichever worker runs it, and a crawl that stops keeps its queue. `ClusterScheduler` adds the two rules
of MilAI's crawl jobs:

- **Kept until finished.** The queue and seen-set are flushed when a crawl *finishes* (reason
  "finished") and kept otherwise: a worker killed (`kill -9`, machine gone) or stopped (SIGTERM,
  "shutdown") leaves its unfinished requests in Redis, and the next worker that takes the source up
  resumes them. Between finished crawls nothing is kept: what is known lives in the database
  (crawler.middlewares.SkipKnownUrlsMiddleware), so a URL that failed is retried with backoff and a
  changed article is revisited, which a seen-set kept forever would forbid.
- **Resumed without losing in-flight requests.** A request a dead worker had popped but not finished
  (downloading, or its item still in the pipeline) is in the seen-set but no longer in the queue; when
  the resumed crawl's listing yields it again, plain scrapy-redis would drop it as seen. So on resume the
  seen-set is rebuilt from the requests still queued: those stay scheduled once, the in-flight ones are
  requested again (at most CONCURRENT_REQUESTS of them are fetched twice), and everything already stored
  is skipped by the database check.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

logger = logging.getLogger(__name__)

FINISHED = "finished"


class ClusterScheduler(Scheduler):
    """scrapy-redis' scheduler: persistent until the crawl finishes; rebuilds the seen-set on resume."""

    resumed: int = 0

    def open(self, spider: Any) -> None:
        super().open(spider)
        self.resumed = len(self.queue)
        if self.resumed:
            self._rebuild_seen()
            if self.stats is not None:
                self.stats.set_value("milai/resumed_requests", self.resumed, spider=spider)
            logger.info("source %s: resuming %d unfinished request(s) left by a stopped crawl", spider.name,
                        self.resumed)

    def _rebuild_seen(self) -> None:
        """The seen-set := fingerprints of the requests still queued (see the module doc)."""
        if not isinstance(self.queue, PriorityQueue):  # the queue class milai configures
            return
        fingerprints = set()
        for data in self.server.zrange(self.queue.key, 0, -1):
            try:
                request = self.queue._decode_request(data)
            except Exception:  # a request of an older code version: it stays queued, only not deduplicated
                logger.warning("source %s: a queued request could not be decoded", self.spider.name, exc_info=True)
                continue
            fingerprints.add(self.df.request_fingerprint(request))
        pipe = self.server.pipeline()
        pipe.delete(self.df.key)
        if fingerprints:
            pipe.sadd(self.df.key, *fingerprints)
        pipe.execute()

    def close(self, reason: str) -> None:
        if reason == FINISHED:
            self.flush()
