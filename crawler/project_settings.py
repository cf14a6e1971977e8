"""The settings module scrapy.cfg names, for the `scrapy` command line (`scrapy list`, `scrapy crawl`):
the crawler's Scrapy settings from the MILAI_* environment, read once, when Scrapy imports this module.
Nothing in the crawler imports it; the runner builds its settings from the `Settings` it is given."""

from __future__ import annotations

from crawler.settings import settings_dict
from milai.config import Settings

globals().update(settings_dict(Settings()))
