"""Crawler settings come from the `Settings` passed in; only the scrapy.cfg module reads the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from crawler.settings import build_settings, settings_dict
from milai.config import Settings
from tests.crawler.helpers import ROOT


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_importing_the_crawler_reads_no_settings():
    # an environment Settings would refuse: importing the crawler must not touch it
    proc = _python("import crawler.settings, crawler.runner, crawler.spiders, crawler.catalogue",
                   MILAI_DOWNLOAD_DELAY="not-a-number")
    assert proc.returncode == 0, proc.stderr


def test_crawler_settings_are_built_from_the_settings_passed_in():
    settings = build_settings(Settings(download_delay=2.5, download_maxsize=100_000, database_url="sqlite:///x.db"),
                              {"LOG_LEVEL": "ERROR"})
    assert settings.getfloat("DOWNLOAD_DELAY") == 2.5 and settings.getint("DOWNLOAD_MAXSIZE") == 100_000
    assert settings.get("MILAI_DATABASE_URL") == "sqlite:///x.db"
    assert settings.get("LOG_LEVEL") == "ERROR" and settings.getpriority("LOG_LEVEL") > settings.getpriority("BOT_NAME")


@pytest.mark.slow
def test_the_scrapy_command_line_reads_the_environment_through_scrapy_cfg():
    proc = _python("import crawler.project_settings as s; print(s.DOWNLOAD_DELAY, s.BOT_NAME)",
                   MILAI_DOWNLOAD_DELAY="3")
    assert proc.stdout.split() == ["3.0", "milai"], proc.stderr
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=dict(os.environ))
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {"feed", "sitemap", "html", "json"}


def test_no_deprecated_randomize_setting():
    from scrapy.core.downloader import _default_jitter
    from scrapy.exceptions import ScrapyDeprecationWarning

    assert "RANDOMIZE_DOWNLOAD_DELAY" not in settings_dict(Settings())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScrapyDeprecationWarning)
        assert _default_jitter(build_settings(Settings())) in (0.0, 0.5)


def test_scrapy_settings_are_polite_and_capped():
    s = build_settings(cfg=Settings(contact_url="https://example.org/contact", redis_url=None))
    assert s.getbool("ROBOTSTXT_OBEY") and s.getbool("COOKIES_ENABLED")
    assert s.getint("DOWNLOAD_MAXSIZE") == 10 * 1024 * 1024
    assert 403 not in s.getlist("RETRY_HTTP_CODES")
    assert s.get("HTTPCACHE_POLICY") == "crawler.httpcache.MilaiCachePolicy"  # RFC 2616 + robots.txt kept a day
    assert "https://example.org/contact" in s.get("USER_AGENT")
    assert "scrapy_redis" not in str(s.get("SCHEDULER"))
    r = build_settings(cfg=Settings(redis_url="redis://127.0.0.1:6379/5"))
    assert r.get("SCHEDULER") == "crawler.frontier.ClusterScheduler" and r.get("REDIS_URL").endswith("/5")


def test_few_item_tasks_per_response():
    # Scrapy starts CONCURRENT_ITEMS tasks for each response's output (default 100, ~100 tasks per article page);
    # a handful is enough to keep the pipeline's 3 worker threads busy
    s = build_settings(cfg=Settings(redis_url=None))
    assert 4 <= s.getint("CONCURRENT_ITEMS") <= 16


def test_discovery_and_probes_run_none_of_the_crawls_extensions_named_as_the_settings_name_them():
    from scrapy.utils.misc import load_object

    from crawler.discover import DiscoverySpider
    from crawler.extensions.runs import CrawlRunRecorder
    from crawler.fallback import PROBES
    from crawler.settings import EXTENSIONS, RUN_RECORDER

    assert load_object(RUN_RECORDER) is CrawlRunRecorder and RUN_RECORDER in EXTENSIONS
    for spider in (DiscoverySpider, *PROBES.values()):
        assert spider.custom_settings == {"EXTENSIONS": dict.fromkeys(EXTENSIONS), "ITEM_PIPELINES": {}}, spider
    for path in EXTENSIONS:  # every name disabled is a real class (a misspelt one would disable nothing)
        assert isinstance(load_object(path), type), path


def test_crawls_start_no_remote_code_execution_server():
    """Scrapy 2.19's RemoteControl (an HTTP server per crawl running any Python code sent to it) is off: the
    extension refuses to load with our settings, so no crawl opens a port or writes a token file."""
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.exceptions import NotConfigured
    from scrapy.extensions.remote_control import RemoteControl

    for redis_url in (None, "redis://127.0.0.1:6379/5"):
        settings = build_settings(cfg=Settings(redis_url=redis_url))
        assert settings.getbool("REMOTE_CONTROL_ENABLED") is False and not settings.getbool("TELNETCONSOLE_ENABLED")
        with pytest.raises(NotConfigured):
            RemoteControl(Crawler(Spider, settings))


@pytest.mark.slow
def test_a_worker_imports_the_crawl_components_before_its_first_job():
    """crawler.worker.warm_up (called by CrawlWorker.run before the worker registers) imports what the first
    crawler would: the cluster download handler and its Scrapy base, the shared robots.txt middleware, the
    scrapy-redis frontier and dupefilter; nothing is left out."""
    code = (
        "import sys\n"
        "from crawler.settings import build_settings\n"
        "from crawler.worker import warm_up\n"
        "from milai.config import Settings\n"
        "wanted = ['scrapy.core.downloader.handlers.http11', 'crawler.politeness', 'crawler.robots',"
        " 'crawler.frontier', 'scrapy_redis.dupefilter']\n"
        "from crawler.extract import _load_identifier\n"
        "before = [m for m in wanted if m in sys.modules] + ['langid'] * _load_identifier.cache_info().currsize\n"
        "failed = warm_up(build_settings(Settings(redis_url='redis://127.0.0.1:6379/5')))\n"
        "print(before, failed, [m for m in wanted if m not in sys.modules]"
        " + ['langid'] * (1 - _load_identifier.cache_info().currsize))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    before, failed, missing = proc.stdout.strip().split("] [")
    assert "politeness" not in before and "http11" not in before  # imported by the warm-up, not before it
    assert failed == "" and missing == "]", proc.stdout
    assert "langid" not in before  # the language model is loaded by the warm-up too


def test_the_crawls_engine_has_the_database_timeout_of_the_settings_passed_in(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """MILAI_DATABASE_TIMEOUT reaches the pipeline's, middleware's and extensions' engine through the Scrapy
    settings (it was storage's 30 s default in a crawl whatever the setting said)."""
    from sqlalchemy import text

    from crawler.settings import crawl_engine
    from storage.database import dispose_engines

    url = f"sqlite:///{tmp_path / 'crawl.sqlite3'}"
    scrapy_settings = build_settings(Settings(database_url=url, database_timeout=4.5))
    assert scrapy_settings.getfloat("MILAI_DATABASE_TIMEOUT") == 4.5
    try:
        with crawl_engine(scrapy_settings).connect() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 4500
    finally:
        dispose_engines()


@pytest.mark.slow
def test_a_crawlers_extensions_leave_out_the_telnet_console_and_the_remote_control_without_importing_them():
    """Both are off in every crawl; Scrapy imports each extension it is given (even one mapped to None), and the
    remote control's module imports aiohttp: EXTENSIONS_BASE leaves both out, so a crawler's extension manager
    never imports them, and keeps Scrapy's other built-in extensions and ours."""
    code = """
import sys
from scrapy.extension import ExtensionManager
from scrapy.utils.misc import load_object
from crawler.settings import build_settings
from milai.config import Settings
paths = ExtensionManager._get_mwlist_from_settings(build_settings(Settings()))  # what a crawler's manager loads
print([load_object(path).__name__ for path in paths])
print(sorted(m for m in sys.modules if m.split(".")[0] == "aiohttp" or "remote_control" in m or m.endswith("telnet")))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names, unwanted = proc.stdout.strip().splitlines()[-2:]
    assert unwanted == "[]"
    for expected in ("CoreStats", "LogStats", "MemoryUsage", "CloseSpider", "ListingDiagnosis", "ProgressReporter"):
        assert expected in names
    base = build_settings(Settings()).getdict("EXTENSIONS_BASE")
    assert "scrapy.extensions.corestats.CoreStats" in base
    assert not [path for path in base if "telnet" in path or "remote_control" in path]
