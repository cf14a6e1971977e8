"""Crawler settings come from the `Settings` passed in; only the scrapy.cfg module reads the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crawler.settings import build_settings
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
