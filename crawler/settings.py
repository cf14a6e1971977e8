"""Scrapy settings built from a `Settings` object the caller passes in (polite, incremental, size-capped).

Nothing here reads the environment: the runner's entry point (`python -m crawler.runner`) and the CLI read
`Settings` once; `scrapy crawl` reads them through the settings module scrapy.cfg names
(crawler.project_settings)."""

from __future__ import annotations

from typing import Any

from scrapy.settings import BaseSettings, default_settings
from scrapy.settings import Settings as ScrapySettings
from sqlalchemy import Engine

from crawler.guard import MAX_URL_LENGTH
from milai.config import Settings

BOT_NAME = "milai"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

ITEM_PIPELINES = {
    "crawler.pipelines.ExtractPipeline": 100,
    "crawler.pipelines.NormalisePipeline": 200,
    "crawler.pipelines.ClassifyPipeline": 300,
    "crawler.pipelines.DedupPipeline": 400,
    "crawler.pipelines.StorePipeline": 500,
}
SPIDER_MIDDLEWARES = {"crawler.middlewares.SkipKnownUrlsMiddleware": 950}
DOWNLOADER_MIDDLEWARES = {
    # first: every request, redirect and robots.txt request passes the network guard (crawler.guard)
    "crawler.guard.NetworkGuardMiddleware": 10,
    # robots.txt per RFC 9309: unreachable means disallow
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.StrictRobotsTxtMiddleware": 100,
}
# Only http(s) is ever fetched, by Twisted's HTTP/1.1 handler: its connections resolve through the guarded
# resolver (crawler.resolver), which checks the addresses really connected to.
DOWNLOAD_HANDLERS = {
    "http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    "https": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    "file": None,
    "data": None,
    "s3": None,
    "ftp": None,
}
SHARED_ROBOTS = "crawler.robots.SharedRobotsTxtMiddleware"
GUARDED_RESOLVER = "crawler.resolver.GuardedResolver"
# with Redis: the same HTTP/1.1 handler, keeping DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN per host
# across the cluster (crawler.politeness)
CLUSTER_HTTP_HANDLER = "crawler.politeness.ClusterPolitenessHTTPHandler"
RUN_RECORDER = "crawler.extensions.runs.CrawlRunRecorder"
# each off (NotConfigured) when its setting is absent; on close the run is recorded first, then the URLs
EXTENSIONS = {
    "crawler.diagnosis.ListingDiagnosis": 400,  # what the listing and robots.txt answered (source health)
    RUN_RECORDER: 500,
    "crawler.extensions.backoff.UrlBackoff": 510,
    "crawler.extensions.progress.ProgressReporter": 520,
}

# Scrapy's built-in extensions less the two that are off anyway (TELNETCONSOLE_ENABLED, REMOTE_CONTROL_ENABLED
# below): Scrapy imports every extension it is given, even one mapped to None in EXTENSIONS, and the remote
# control's module imports aiohttp, 0.2 s of every crawl process's start
EXTENSIONS_BASE = {path: order for path, order in default_settings.EXTENSIONS_BASE.items()
                   if path not in ("scrapy.extensions.telnet.TelnetConsole",
                                   "scrapy.extensions.remote_control.RemoteControl")}

# custom_settings of a spider that looks at a site without crawling it as a source (discovery, the fallback's
# probe of the configured URL): none of the crawl's extensions (no crawl-run record, no URL backoff, no
# progress) and no item pipelines. Each extension is named as EXTENSIONS names it (a spider's EXTENSIONS
# replaces the project's dict anyway; naming them all says so).
NOT_A_CRAWL: dict[str, Any] = {"EXTENSIONS": dict.fromkeys(EXTENSIONS), "ITEM_PIPELINES": {}}


CONCURRENT_ITEMS = 8  # items of one response in the pipelines at once


def _user_agent(cfg: Settings) -> str:
    if cfg.contact_url and cfg.contact_url not in cfg.user_agent:
        return f"{cfg.user_agent} (+{cfg.contact_url})"
    return cfg.user_agent


def settings_dict(cfg: Settings) -> dict[str, Any]:
    """The Scrapy settings as a plain dict, derived from `cfg`."""
    values: dict[str, Any] = {
        "BOT_NAME": BOT_NAME,
        "SPIDER_MODULES": SPIDER_MODULES,
        "NEWSPIDER_MODULE": NEWSPIDER_MODULE,
        "USER_AGENT": _user_agent(cfg),
        "ROBOTSTXT_OBEY": True,
        "COOKIES_ENABLED": True,  # mofa.go.kr answers 307 + session cookie first
        "REDIRECT_ENABLED": True,
        "REDIRECT_MAX_TIMES": 10,
        "CONCURRENT_REQUESTS": 16,
        # Scrapy starts this many asyncio tasks for every response's output, whatever it yields (default 100:
        # ~100 tasks per article page, which yields one item); the pipeline's worker lanes are 3 threads
        "CONCURRENT_ITEMS": CONCURRENT_ITEMS,
        "CONCURRENT_REQUESTS_PER_DOMAIN": cfg.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": cfg.download_delay,
        "DOWNLOAD_DELAY_JITTER": 0.5 if cfg.download_delay > 0 else 0.0,
        "AUTOTHROTTLE_ENABLED": cfg.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(cfg.download_delay, 1.0),
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": cfg.download_timeout,
        "DOWNLOAD_MAXSIZE": cfg.download_maxsize,
        "DOWNLOAD_WARNSIZE": max(cfg.download_maxsize // 4, 1),
        "RETRY_ENABLED": cfg.retry_times > 0,
        "RETRY_TIMES": cfg.retry_times,
        # no 403/429-style retry storms: retry only transient server errors
        "RETRY_HTTP_CODES": [500, 502, 503, 504, 522, 524],
        "HTTPERROR_ALLOW_ALL": False,
        "HTTPCACHE_ENABLED": cfg.httpcache,
        "HTTPCACHE_POLICY": "crawler.httpcache.MilaiCachePolicy",  # RFC 2616; robots.txt kept 24 h
        "HTTPCACHE_STORAGE": "scrapy.extensions.httpcache.FilesystemCacheStorage",
        "HTTPCACHE_DIR": str(cfg.httpcache_dir),
        "HTTPCACHE_IGNORE_HTTP_CODES": [403, 404, 429, 500, 502, 503, 504],
        "HTTPCACHE_GZIP": True,
        "ITEM_PIPELINES": ITEM_PIPELINES,
        "SPIDER_MIDDLEWARES": SPIDER_MIDDLEWARES,
        "DOWNLOADER_MIDDLEWARES": DOWNLOADER_MIDDLEWARES,
        "EXTENSIONS": EXTENSIONS,
        "EXTENSIONS_BASE": EXTENSIONS_BASE,
        "DOWNLOAD_HANDLERS": DOWNLOAD_HANDLERS,
        "TWISTED_DNS_RESOLVER": GUARDED_RESOLVER,
        "MILAI_NETWORK_ALLOWLIST": cfg.network_allowlist,
        "MILAI_MAX_TEXT_CHARS": cfg.max_text_chars,
        "MILAI_MAX_TITLE_CHARS": cfg.max_title_chars,
        "MILAI_MAX_HTML_BYTES": cfg.max_html_bytes,
        "MILAI_EXTRACT_WORKERS": cfg.extract_workers,  # None: automatic (crawler.pipelines_pool.AUTO_AFTER)
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy >= 2.19 starts, in every crawl, an HTTP server that runs any Python code sent with the bearer
        # token it writes to ~/.local/state/scrapy/job_files (for its MCP server): not in a crawler of hostile
        # pages, and in a long-lived worker an aiohttp server started and stopped per job (bench/worker.py)
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": cfg.log_level,
        "LOG_INSTALL_ROOT_HANDLER": False,  # the caller (CLI, runner entry point) configures logging
        "DNS_TIMEOUT": min(cfg.download_timeout, 20.0),
        "URLLENGTH_LIMIT": MAX_URL_LENGTH,  # also the longest canonical key stored (crawler.guard)
        "MILAI_DATABASE_URL": cfg.effective_database_url,
        "MILAI_DATABASE_TIMEOUT": cfg.database_timeout,
    }
    if cfg.redis_url:
        values.update(
            {
                # scrapy-redis' shared frontier, kept until a crawl finishes and resumed by the next worker
                # (crawler.frontier); the per-host delay and concurrency hold for the whole cluster (crawler.politeness)
                "SCHEDULER": "crawler.frontier.ClusterScheduler",
                "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
                "SCHEDULER_QUEUE_KEY": cfg.redis_prefix + "frontier:%(spider)s:requests",
                "SCHEDULER_DUPEFILTER_KEY": cfg.redis_prefix + "frontier:%(spider)s:dupefilter",
                "MILAI_REDIS_PREFIX": cfg.redis_prefix,
                "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                "SCHEDULER_PERSIST": True,
                "REDIS_URL": cfg.redis_url,
                "DOWNLOAD_HANDLERS": {**DOWNLOAD_HANDLERS, "http": CLUSTER_HTTP_HANDLER, "https": CLUSTER_HTTP_HANDLER},
                # after the guard: a host's robots.txt fetched once per TTL for the whole cluster (crawler.robots)
                "DOWNLOADER_MIDDLEWARES": {**DOWNLOADER_MIDDLEWARES, SHARED_ROBOTS: 50},
            }
        )
    return values


def build_settings(cfg: Settings, overrides: dict[str, Any] | None = None) -> ScrapySettings:
    """Scrapy Settings for a crawl: milai defaults at project priority, then `overrides` at cmdline priority."""
    settings = ScrapySettings()
    settings.setdict(settings_dict(cfg), priority="project")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


def crawl_engine(settings: BaseSettings) -> Engine:
    """The engine of the crawl's database (MILAI_DATABASE_URL) with the MILAI_DATABASE_TIMEOUT of the Settings
    handed to build_settings (storage's default when the Scrapy settings name none): the engine `engine_of` gives
    the caller's own Settings, so a crawl inside `milai run` shares the CLI's."""
    from storage.database import DEFAULT_TIMEOUT, get_engine

    return get_engine(settings.get("MILAI_DATABASE_URL"), timeout=settings.getfloat("MILAI_DATABASE_TIMEOUT",
                                                                                    DEFAULT_TIMEOUT))
