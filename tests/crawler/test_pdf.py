"""crawler/pdf.py: PDF links found in article pages become items when the source follows PDFs."""

from __future__ import annotations

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)

