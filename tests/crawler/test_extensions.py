"""crawler/extensions.py: the run recorder, the status of a run and the health of a source."""

from __future__ import annotations

from crawler.catalogue import SourceConfig
from crawler.extensions import run_status
from storage.database import make_engine, session_scope
from storage.items import LAYOUT_WARNING, finish_run, start_run
from storage.models import Source
from tests.crawler import helpers
from tests.crawler.helpers import crawl, source_row
from tests.crawler.sites import (
    ON_TOPIC,
    make_articles,
    robots,
    serve_articles,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def test_health_flags_a_source_whose_links_vanish_and_counts_failures(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    arts = make_articles(ON_TOPIC[:2])
    serve_articles(site, arts)
    old_layout = "<ul class='news'>" + "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in arts) + "</ul>"
    new_layout = "<div class='cards'>" + "".join(f'<div data-href="{a.path}">{a.title}</div>' for a in arts) + "</div>"
    src = _src(site, "html", "/news", links="ul.news a")
    url = sqlite_env["MILAI_DATABASE_URL"]

    def run(body: str | None) -> tuple:
        if body is None:
            site.add("/news", "server error", status=500, content_type="text/plain")
        else:
            site.add("/news", body)
        summary = crawl(tmp_path, [src])["src"]
        source, _runs = source_row(url, "src")
        return summary["status"], source.warning, source.consecutive_failures

    assert run(old_layout) == ("ok", None, 0)
    assert run(new_layout) == ("ok", LAYOUT_WARNING, 0)  # the layout changed: no links, flagged
    assert run(None) == ("failed", LAYOUT_WARNING, 1)
    assert run(None) == ("failed", LAYOUT_WARNING, 2)
    assert run(old_layout) == ("ok", None, 0)  # links are back: warning cleared, streak reset
    source, runs = source_row(url, "src")
    assert [r.links for r in runs] == [2, 0, 0, 0, 2]
    assert [r.status for r in runs] == ["ok", "ok", "failed", "failed", "ok"]
    assert source.last_error and "500" in source.last_error and source.last_links_found == 2


def test_a_source_that_never_yielded_is_not_flagged(site: LoopbackSite, sqlite_env, tmp_path):
    robots(site)
    site.add("/news", "<p>nothing yet</p>")
    crawl(tmp_path, [_src(site, "html", "/news", links="ul.news a")])
    source, _ = source_row(sqlite_env["MILAI_DATABASE_URL"], "src")
    assert source.warning is None and not source.ever_yielded and source.last_links_found == 0


def test_shutdown_is_interrupted_not_failed(sqlite_env):
    assert run_status({}, "shutdown") == "interrupted"
    assert run_status({"milai/listing_failures": 1}, "shutdown") == "interrupted"
    engine = make_engine(sqlite_env["MILAI_DATABASE_URL"])
    from storage.database import ensure_schema

    ensure_schema(engine)
    with session_scope(engine) as session:
        source = Source(name="s", publisher="p", kind="feed", url="http://x", consecutive_failures=2,
                        ever_yielded=True)
        session.add(source)
        session.flush()
        run = start_run(session, source)
        finish_run(session, run.id, status="interrupted", counters={"new": 1}, error="crawl ended: shutdown")
        assert source.consecutive_failures == 2 and source.last_error is None
        assert run.status == "interrupted"
    engine.dispose()
