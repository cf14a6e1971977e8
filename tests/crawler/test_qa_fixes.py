"""Regression tests for the crawler findings of the acceptance QA report (/tmp/qa/REPORT.md #2 #4 #5 #6 #7 #8)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from crawler.catalogue import SourceConfig
from crawler.extensions.counters import run_status
from crawler.extract import extract_page
from crawler.settings import build_settings, settings_dict
from milai.config import Settings
from storage.database import make_engine, session_scope
from storage.items import MAX_URL_FAILURES, finish_run, start_run
from storage.models import Source, UrlAlias, utcnow
from tests.crawler import helpers
from tests.crawler.helpers import FAST_ENV, ROOT, article_hits, crawl, items, source_row, write_catalogue
from tests.crawler.sites import ON_TOPIC, Article, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite, Page, Request

sqlite_env = helpers.sqlite_env


def _feed(site: LoopbackSite, path: str = "/feed.xml", name: str = "ministry") -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind="feed", url=site.url(path), language="en")


def _adds_up(s: dict) -> bool:
    return s["fetched"] == s["new"] + s["updated"] + s["duplicate"]


def _disguised_feed(site: LoopbackSite, a: Article, b: Article) -> None:
    """A feed listing `a` five ways (tracking parameters, https + fragment, trailing slash, a mirror) and `b`."""
    site.add(a.path + "/", article_html(a))
    site.add("/mirror/copy-of-a", article_html(replace(a, canonical=site.url(a.path))))
    spellings = [
        Article(a.path + "?utm_source=rss&utm_medium=feed", a.title, a.paragraphs, a.date),
        Article(a.path + "/", a.title, a.paragraphs, a.date),
        Article(a.path + "?utm_medium=email#top", a.title, a.paragraphs, a.date),
        Article("/mirror/copy-of-a", a.title, a.paragraphs, a.date),
        a,
        b,
    ]
    feed = rss(site.base, spellings).replace(
        f"<link>{site.base}{a.path}?utm_medium=email#top</link>",
        f"<link>{site.base.replace('http://', 'HTTPS://')}{a.path}?utm_medium=email#top</link>",
    )
    site.add("/feed.xml", feed, content_type="application/rss+xml")


# --- #2 + #6: one request per canonical URL in a crawl, clean displayed URL, a summary that adds up ------------


def test_disguised_spellings_in_one_listing_are_fetched_once(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    _disguised_feed(site, a, b)

    summary = crawl(tmp_path, [_feed(site)])["ministry"]

    # a once (the clean http spelling, not the https one the site cannot serve), the mirror once, b once
    assert sorted(article_hits(site, "/news/")) == sorted([a.path, b.path])
    assert article_hits(site, "/mirror/") == ["/mirror/copy-of-a"]
    assert summary["errors"] == 0
    assert (summary["new"], summary["duplicate"]) == (2, 1)
    assert _adds_up(summary), summary
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert {i.url for i in stored} == {site.url(a.path), site.url(b.path)}
    assert {i.canonical_url for i in stored} == {site.url(p).replace("http://", "https://") for p in (a.path, b.path)}


def test_displayed_url_is_clean_or_the_honoured_canonical(site: LoopbackSite, sqlite_env, tmp_path: Path):
    """Only disguised spellings are listed: the stored `url` is still a working, clean URL."""
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    site.add("/mirror/copy-of-b", article_html(replace(b, canonical=site.url(b.path))))
    listed = [
        Article(a.path + "?utm_source=rss&keep=1#section", a.title, a.paragraphs, a.date),
        Article("/mirror/copy-of-b", b.title, b.paragraphs, b.date),
    ]
    feed = rss(site.base, listed).replace("?utm_source=rss&keep=1#section", "?utm_source=rss&amp;keep=1#section")
    site.add("/feed.xml", feed, content_type="application/rss+xml")
    site.add(a.path + "?utm_source=rss&keep=1", article_html(a))

    summary = crawl(tmp_path, [_feed(site)])["ministry"]

    assert summary["new"] == 2 and summary["errors"] == 0
    by_title = {i.title: i for i in items(sqlite_env["MILAI_DATABASE_URL"])}
    assert by_title[a.title].url == site.url(a.path + "?keep=1")  # same scheme/host/port, tracking + fragment gone
    assert by_title[b.title].url == site.url(b.path)  # the page's rel=canonical, not the mirror
    assert by_title[b.title].canonical_url == site.url(b.path).replace("http://", "https://")


# --- #4: an unchanged source costs about one request -------------------------------------------------------------


def test_fetched_mirror_is_remembered_and_not_fetched_again(site: LoopbackSite, milai_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [a, b])
    _disguised_feed(site, a, b)
    crawl(tmp_path, [_feed(site)])
    url = milai_env["MILAI_DATABASE_URL"]
    engine = make_engine(url)
    with session_scope(engine) as session:
        aliases = {row.url: row.item_id for row in session.scalars(select(UrlAlias))}
    engine.dispose()
    assert list(aliases) == [site.url("/mirror/copy-of-a").replace("http://", "https://")]

    site.clear_log()
    summary = crawl(tmp_path, [_feed(site)])["ministry"]
    assert article_hits(site, "/news/") == [] and article_hits(site, "/mirror/") == []
    assert (summary["fetched"], summary["new"], summary["duplicate"], summary["errors"]) == (0, 0, 0, 0)
    assert len(items(url)) == 2


def _set_failure(db_url: str, *, failures: int | None = None, due: bool = True) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        values: dict = {"retry_after": utcnow() - timedelta(minutes=1)} if due else {}
        if failures is not None:
            values["failures"] = failures
        session.execute(update(UrlAlias).values(**values))
    engine.dispose()


def _failures(db_url: str) -> dict[str, tuple[int, bool]]:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = {r.url: (r.failures, r.retry_after is not None) for r in session.scalars(select(UrlAlias))}
    engine.dispose()
    return rows


def test_failing_article_is_retried_with_backoff_then_given_up(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    site.add(a.path, "boom", status=500, content_type="text/plain")
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    db = sqlite_env["MILAI_DATABASE_URL"]
    key = site.url(a.path).replace("http://", "https://")

    assert crawl(tmp_path, [_feed(site)])["ministry"]["errors"] == 1
    assert _failures(db) == {key: (1, True)}

    site.clear_log()  # backing off: the next poll does not ask again
    summary = crawl(tmp_path, [_feed(site)])["ministry"]
    assert article_hits(site) == [] and summary["errors"] == 0 and summary["status"] == "ok"

    _set_failure(db)  # the backoff has passed: one more try
    site.clear_log()
    crawl(tmp_path, [_feed(site)])
    assert article_hits(site) == [a.path]
    assert _failures(db) == {key: (2, True)}

    _set_failure(db, failures=MAX_URL_FAILURES - 1)  # the last try fails: given up
    crawl(tmp_path, [_feed(site)])
    assert _failures(db) == {key: (MAX_URL_FAILURES, False)}
    _set_failure(db)
    site.clear_log()
    crawl(tmp_path, [_feed(site)])
    assert article_hits(site) == []


def test_recovered_article_is_stored_and_its_failure_forgotten(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    site.add(a.path, "boom", status=503, content_type="text/plain")
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    db = sqlite_env["MILAI_DATABASE_URL"]
    crawl(tmp_path, [_feed(site)])
    assert len(_failures(db)) == 1

    serve_articles(site, [a])
    _set_failure(db)
    assert crawl(tmp_path, [_feed(site)])["ministry"]["new"] == 1
    assert _failures(db) == {}


def test_oversized_article_is_not_fetched_again(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    a, b = make_articles(ON_TOPIC[:2])
    serve_articles(site, [b])
    site.add(a.path, article_html(replace(a, paragraphs=[*a.paragraphs, "x " * 200_000])))
    site.add("/feed.xml", rss(site.base, [a, b]), content_type="application/rss+xml")
    env = {"MILAI_DOWNLOAD_MAXSIZE": "100000"}

    first = crawl(tmp_path, [_feed(site)], env=env)["ministry"]
    assert (first["new"], first["errors"]) == (1, 1)
    assert list(_failures(sqlite_env["MILAI_DATABASE_URL"]).values()) == [(MAX_URL_FAILURES, False)]

    site.clear_log()
    second = crawl(tmp_path, [_feed(site)], env=env)["ministry"]
    assert article_hits(site) == [] and second["errors"] == 0


# --- #5: a malformed feed is not "ok, 0 links" -------------------------------------------------------------------


def test_malformed_feed_with_linkless_entries_is_an_error(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    broken = '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item><title>Broken & <b>item'
    site.add("/broken.xml", broken, content_type="application/rss+xml")

    summary = crawl(tmp_path, [_feed(site, "/broken.xml", name="broken")])["broken"]

    assert summary["status"] == "failed" and summary["errors"] == 1 and summary["links"] == 0
    assert "malformed feed" in (summary["error"] or "")
    source, runs = source_row(sqlite_env["MILAI_DATABASE_URL"], "broken")
    assert source.consecutive_failures == 1 and "malformed feed" in (source.last_error or "")
    assert runs[-1].status == "failed"


# --- #7: a stop on request is not a source failure ---------------------------------------------------------------


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


def test_sigterm_to_a_running_crawl_records_an_interrupted_run(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    [a] = make_articles(ON_TOPIC[:1])
    release = threading.Event()

    def slow(req: Request) -> Page:
        release.wait(60)
        return Page(article_html(a))

    site.add(a.path, slow)
    site.add("/feed.xml", rss(site.base, [a]), content_type="application/rss+xml")
    catalogue = write_catalogue(tmp_path / "sources.yaml", [_feed(site)])
    env = {**os.environ, **FAST_ENV, "MILAI_DOWNLOAD_TIMEOUT": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crawler.runner", "--catalogue", str(catalogue)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120  # waits for the event; no assertion on how long anything takes
        while not site.hits(a.path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert site.hits(a.path), "the article request never arrived"
        proc.send_signal(signal.SIGTERM)
        release.set()
        out, err = proc.communicate(timeout=120)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    summaries = {s["name"]: s for s in json.loads(out)}
    assert summaries["ministry"]["status"] == "interrupted"
    source, runs = source_row(sqlite_env["MILAI_DATABASE_URL"], "ministry")
    assert runs[-1].status == "interrupted"
    assert source.consecutive_failures == 0 and source.last_error is None
    assert "RANDOMIZE_DOWNLOAD_DELAY" not in err


# --- #8: summaries, settings, JSON paging ------------------------------------------------------------------------


def test_summary_does_not_start_with_the_date_line():
    page = Article("/news/x", "Summit on military AI closes", [
        "25 September 2025",
        "The Dutch government hosted a summit on responsible military use of artificial intelligence.",
        "Ministers from many countries took part in the discussions on autonomous weapons.",
    ])
    ex = extract_page(article_html(page).encode(), "http://example.org/news/x")
    assert ex.summary and ex.summary.startswith("The Dutch government hosted")


def test_no_deprecated_randomize_setting():
    from scrapy.core.downloader import _default_jitter
    from scrapy.exceptions import ScrapyDeprecationWarning

    assert "RANDOMIZE_DOWNLOAD_DELAY" not in settings_dict(Settings())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScrapyDeprecationWarning)
        assert _default_jitter(build_settings(Settings())) in (0.0, 0.5)


def test_json_offset_paging_stops_after_a_short_page(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    for start in (0, 2, 4):
        chunk = arts[start : start + 2]
        site.add(f"/api/search.json?start={start}", json.dumps(
            {"results": [{"title": x.title, "link": site.url(x.path)} for x in chunk]}
        ), content_type="application/json")
    src = SourceConfig(name="api", publisher="Examples", kind="json", url=site.url("/api/search.json"),
                       language="en", items="results", link_field="link", title_field="title",
                       page_param="start", page_start=0, page_step=2)
    assert crawl(tmp_path, [src])["api"]["new"] == 3
    assert [r.path for r in site.hits() if r.path.startswith("/api/")] == [
        "/api/search.json?start=0", "/api/search.json?start=2",
    ]
