"""Scrapy extensions of a crawl, one job each, each off (`NotConfigured`) when its setting is absent:

* `runs.CrawlRunRecorder` — a `crawl_runs` row per source crawl: status, counters, health, heartbeat
  (needs MILAI_DATABASE_URL);
* `backoff.UrlBackoff` — article URLs that failed back off across crawls, fetched ones are cleared
  (needs MILAI_DATABASE_URL);
* `progress.ProgressReporter` — live counters to a callback (MILAI_PROGRESS, set by `milai crawl`).

`counters` turns a crawl's stats into the run counters all three (and the runner's summary) report.
"""
