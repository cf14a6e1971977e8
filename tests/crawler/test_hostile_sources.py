"""Hostile sources (issue 15) beside a normal one that must still be crawled in full: local files and other
schemes, private addresses (SSRF), giant pages, gzip bombs, bad links, values PostgreSQL rejects.

Every hostile site is a real HTTP server on loopback; "private" targets are further loopback servers on
other ports (the guard treats 127.0.0.1:<other port> exactly as it treats an intranet host)."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from storage.database import make_engine
from storage.models import UrlAlias
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items, source_row
from tests.crawler.hostile import WORDS, assert_normal_in_full, feed_of_links, normal_source, source_on
from tests.crawler.sites import ON_TOPIC, Article, article_html, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env  # the network side is dialect-neutral; storage findings use milai_env (both)


@pytest.fixture
def internal() -> Iterator[LoopbackSite]:
    """An internal service the hostile source points at: another loopback server, another port."""
    s = LoopbackSite().start()
    robots(s)
    for path in ("/secret", "/secret?via=redirect"):
        s.add(path, "<html><body><main><p>internal admin console: db password hunter2</p></main></body></html>")
    s.add("/feed.xml", rss(s.base, make_articles(ON_TOPIC[:1], prefix="/internal")), content_type="application/rss+xml")
    yield s
    s.stop()


LOCAL = ["file:///etc/passwd", "file:///proc/self/environ", "data:text/html,<h1>Autonomous weapons</h1>",
         "ftp://127.0.0.1/pub/file.txt", "s3://bucket/key", "javascript:alert(document.cookie)",
         "mailto:press@example.org", "tel:+3170000000"]


# --- 1 and 6: only http(s) is requested or stored ----------------------------------------------------------


def test_local_files_and_other_schemes_are_skipped_and_counted_in_every_kind(
    site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    good = make_articles(ON_TOPIC[:4], prefix="/news")
    serve_articles(hostile, good)
    hostile.add("/to-file", "", status=302, headers={"Location": "file:///etc/passwd"})
    hostile.add("/feed.xml", feed_of_links(hostile.base, [*LOCAL, hostile.url(good[0].path), hostile.url("/to-file")]),
                content_type="application/rss+xml")
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    hostile.add("/index.xml", f'<sitemapindex xmlns="{sm}"><sitemap><loc>file:///etc/shadow</loc></sitemap>'
                              f'<sitemap><loc>{hostile.url("/urls.xml")}</loc></sitemap></sitemapindex>',
                content_type="application/xml")
    hostile.add("/urls.xml", f'<urlset xmlns="{sm}">' + "".join(f"<url><loc>{u}</loc></url>" for u in LOCAL[:4])
                + f"<url><loc>{hostile.url(good[1].path)}</loc></url></urlset>", content_type="application/xml")
    hostile.add("/api", json.dumps({"results": [{"url": u} for u in LOCAL] + [{"url": hostile.url(good[2].path)}]}),
                content_type="application/json")
    # follow: false -- the listing's own entries are stored as items: a javascript:/data: URL must never be one
    rows = "".join(f'<li class="r"><a href="{u}">Autonomous weapons statement {n}</a> military AI text</li>'
                   for n, u in enumerate([*LOCAL, hostile.url("/news/listed")]))
    hostile.add("/list", f"<html><body><ul>{rows}</ul><p><a href='mailto:x@example.org'>mail</a></p></body></html>")
    hostile.add("/links", f"<html><body>{''.join(f'<a href={chr(34)}{u}{chr(34)}>x</a>' for u in LOCAL)}"
                          f"<a href='{good[3].path}'>ok</a></body></html>")
    sources = [
        normal,
        source_on(hostile, "feed", "/feed.xml"),
        source_on(hostile, "sitemap", "/index.xml", kind="sitemap"),
        source_on(hostile, "api", "/api", kind="json", items="results", link_field="url"),
        source_on(hostile, "listing", "/list", kind="html", follow=False, item_selector="li.r"),
        source_on(hostile, "links", "/links", kind="html", links="a[href]"),
    ]
    result = crawl(tmp_path, sources)
    stored = items(sqlite_env["MILAI_DATABASE_URL"])

    assert_normal_in_full(result["normal"], stored, normal_articles)
    feed = result["feed"]
    assert (feed["status"], feed["new"], feed["skipped"], feed["errors"]) == ("ok", 1, len(LOCAL), 1), feed
    assert "302" in feed["error"]  # a redirect to file:// is not followed: an error of that article
    assert (result["sitemap"]["new"], result["sitemap"]["skipped"]) == (1, 5)
    assert (result["api"]["new"], result["api"]["skipped"]) == (1, len(LOCAL))
    assert (result["listing"]["new"], result["listing"]["skipped"]) == (1, len(LOCAL))
    assert (result["links"]["new"], result["links"]["skipped"]) == (1, len(LOCAL))
    assert all(r["status"] == "ok" for r in result.values()), result
    assert all(i.url.startswith("http://127.0.0.1:") for i in stored)
    assert not any("root:" in i.text or "MILAI_" in i.text or "Autonomous weapons</h1>" in i.text for i in stored)
    assert [i.url for i in stored if i.source_id and "listed" in i.url] == [hostile.url("/news/listed")]


# --- 2: private addresses only at the source's own origin ---------------------------------------------------


def test_private_addresses_are_refused_outside_the_source_origin(
    site: LoopbackSite, hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    own = make_articles(ON_TOPIC[:1], prefix="/news")
    serve_articles(hostile, own)
    port = internal.port
    hostile.add("/to-internal", "", status=302, headers={"Location": internal.url("/secret?via=redirect")})
    links = [
        hostile.url(own[0].path),  # the source's own origin: a private (loopback) address, allowed
        internal.url("/secret"),  # another port on loopback: refused
        f"http://localhost:{port}/secret",  # a host name resolving to 127.0.0.1: refused
        f"http://[::ffff:127.0.0.1]:{port}/secret",  # IPv4-mapped IPv6 literal of loopback: refused
        hostile.url("/to-internal"),  # the source's own page redirecting to the internal service: refused
    ]
    hostile.add("/feed.xml", feed_of_links(hostile.base, links), content_type="application/rss+xml")
    hostile.add("/jump.xml", "", status=302, headers={"Location": internal.url("/feed.xml")})
    sources = [normal, source_on(hostile, "ssrf", "/feed.xml"), source_on(hostile, "jump", "/jump.xml")]

    result = crawl(tmp_path, sources)
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    ssrf = result["ssrf"]
    assert (ssrf["status"], ssrf["new"], ssrf["refused"], ssrf["errors"]) == ("ok", 1, 4, 4), ssrf
    assert "loopback address" in ssrf["error"] and "MILAI_NETWORK_ALLOWLIST" in ssrf["error"]
    # a redirect of the source URL itself: the listing is refused, the source fails and says why
    assert (result["jump"]["status"], result["jump"]["refused"]) == ("failed", 1)
    assert "refusing" in result["jump"]["error"]
    assert internal.hits() == []  # not one request reached the internal service, not even robots.txt
    assert not any("hunter2" in i.text for i in stored)
    src, runs = source_row(sqlite_env["MILAI_DATABASE_URL"], "ssrf")
    assert "loopback address" in (runs[-1].error_summary or "")

    # an intranet deployment lists the internal service: then it is crawled like any site
    allowed = crawl(tmp_path, [source_on(hostile, "ssrf", "/feed.xml")],
                    env={"MILAI_NETWORK_ALLOWLIST": f"127.0.0.1:{port}, localhost:{port}"})["ssrf"]
    assert (allowed["status"], allowed["refused"], allowed["errors"]) == ("ok", 0, 0), allowed
    assert {"/robots.txt", "/secret", "/secret?via=redirect"} == {r.path for r in internal.hits()}
    assert any("hunter2" in i.text for i in items(sqlite_env["MILAI_DATABASE_URL"]))


def test_the_resolver_refuses_private_addresses_at_connect_time_on_its_own(
    site: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path
):
    """With the per-request middleware switched off, the guarded DNS resolver alone keeps connections off
    a loopback address that is not a configured origin: by name (localhost) and as an IP literal."""
    normal, normal_articles = normal_source(site)
    links = [f"http://localhost:{internal.port}/secret", internal.url("/secret")]
    site.add("/links.xml", feed_of_links(site.base, links), content_type="application/rss+xml")
    middlewares = {"crawler.guard.NetworkGuardMiddleware": None,
                   "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
                   "crawler.robots.StrictRobotsTxtMiddleware": 100}
    result = crawl(tmp_path, [normal, source_on(site, "links", "/links.xml")],
                   overrides={"DOWNLOADER_MIDDLEWARES": middlewares})
    assert_normal_in_full(result["normal"], items(sqlite_env["MILAI_DATABASE_URL"]), normal_articles)
    assert (result["links"]["new"], result["links"]["errors"]) == (0, 2)
    assert internal.hits() == []


# --- 3: giant pages are bounded and do not stall the others -------------------------------------------------


def test_giant_pages_are_stored_truncated_and_the_normal_source_in_full(
    site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site, count=6)
    sentence = ("The delegation said that autonomous weapon systems must remain under meaningful human control "
                "and that military uses of artificial intelligence require legal review. ")

    def giant(megabytes: float, seed: int) -> str:
        rng = random.Random(seed)  # paragraphs of their own: the two giant pages are no near-duplicates
        count = int(megabytes * 1024 * 1024 / 600)
        body = "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(50))}. {sentence}</p>" for _ in range(count))
        return article_html(Article("/x", f"A {megabytes:g} MB report on military AI", [])).replace(
            "</article>", body + "</article>")

    hostile.add("/giant/5mb", giant(5, 1))
    hostile.add("/giant/1mb", giant(1, 2))
    hostile.add("/giant/title", article_html(Article("/t", "Autonomous weapons " * 60_000, [sentence])))
    hostile.add("/feed.xml", feed_of_links(hostile.base, [hostile.url(p) for p in
                                                            ("/giant/5mb", "/giant/1mb", "/giant/title")]),
                content_type="application/rss+xml")

    result = crawl(tmp_path, [normal, source_on(hostile, "giant", "/feed.xml")], env={"MILAI_DOWNLOAD_TIMEOUT": "30"})
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert (result["giant"]["status"], result["giant"]["new"], result["giant"]["truncated"]) == ("ok", 3, 3)
    by_path = {i.url.rsplit("/", 1)[-1]: i for i in stored if "/giant/" in i.url}
    for name in ("5mb", "1mb"):
        item = by_path[name]
        assert item.text_truncated and 150_000 < len(item.text) <= 200_000
        assert item.text.endswith("legal review."), item.text[-80:]  # cut at a sentence, not mid-word
        assert item.relevant
    title = by_path["title"].title  # (its 1 MB heading also makes its text too long)
    assert len(title) <= 1_000 and title.startswith("Autonomous weapons")
    assert title.endswith("…") and title[:-1].split()[-1] in ("Autonomous", "weapons")  # cut after a word
    assert all(not i.text_truncated for i in stored if "/normal/" in i.url)


# --- 4: decompression is capped at the download size limit --------------------------------------------------


def _gzip_stream(chunk: bytes, total: int) -> bytes:
    """`chunk` repeated to `total` bytes, gzipped without ever holding the whole output."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    parts = [compressor.compress(chunk) for _ in range(total // len(chunk))]
    return b"".join([*parts, compressor.flush()])


def test_gzip_bombs_stop_at_the_download_size_limit(
    site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    arts = make_articles(ON_TOPIC[:3], prefix="/news")
    serve_articles(hostile, arts)
    urlset = f'<urlset xmlns="{sm}">' + "".join(f"<url><loc>{hostile.url(a.path)}</loc></url>" for a in arts[:2])
    hostile.add("/ok.xml.gz", gzip.compress((urlset + "</urlset>").encode()), content_type="application/gzip")
    bomb = _gzip_stream(f"<url><loc>{hostile.url('/news/x')}</loc></url>".encode() * 1000, 64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # under the download limit as sent: 64 MiB once inflated
    hostile.add("/bomb.xml.gz", bomb, content_type="application/gzip")
    # an article whose Content-Encoding inflates beyond the limit (Scrapy's HttpCompressionMiddleware)
    hostile.add("/news/bomb", _gzip_stream(b"<p>" + b"a" * 4093 + b"</p>", 64 * 1024 * 1024),
                headers={"Content-Encoding": "gzip"})
    hostile.add("/feed.xml", feed_of_links(hostile.base, [hostile.url(arts[2].path), hostile.url("/news/bomb")]),
                content_type="application/rss+xml")
    sources = [normal, source_on(hostile, "ok-gz", "/ok.xml.gz", kind="sitemap"),
               source_on(hostile, "bomb-gz", "/bomb.xml.gz", kind="sitemap"),
               source_on(hostile, "bomb-article", "/feed.xml")]

    result = crawl(tmp_path, sources, env={"MILAI_DOWNLOAD_MAXSIZE": str(4 * 1024 * 1024)})
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert (result["ok-gz"]["status"], result["ok-gz"]["new"]) == ("ok", 2)
    bombed = result["bomb-gz"]
    assert (bombed["status"], bombed["links"], bombed["new"]) == ("failed", 0, 0)
    assert "larger than 4194304 bytes when decompressed" in bombed["error"]
    article = result["bomb-article"]
    assert (article["status"], article["errors"]) == ("ok", 1)
    assert "DOWNLOAD_MAXSIZE" in article["error"]


# --- 5: one bad link loses nothing else ---------------------------------------------------------------------


def test_bad_links_are_skipped_one_by_one(site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path):
    normal, normal_articles = normal_source(site)
    good = make_articles(ON_TOPIC[:3], prefix="/news")
    serve_articles(hostile, good)
    links = ["mailto:press@example.org", hostile.url(good[0].path), "javascript:void(0)", "http://[::1/broken",
             hostile.url(good[1].path), "http://127.0.0.1:99999/port", hostile.url(good[2].path)]
    hostile.add("/feed.xml", feed_of_links(hostile.base, links), content_type="application/rss+xml")
    anchors = "".join(f'<a href="{u}">link</a>' for u in links)
    hostile.add("/page", f"<html><body><main>{anchors}</main></body></html>")
    sources = [normal, source_on(hostile, "feed", "/feed.xml"),
               source_on(hostile, "page", "/page", kind="html", links="a")]

    result = crawl(tmp_path, sources)
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    feed = result["feed"]  # (feedparser itself drops the unparsable "http://[::1/broken")
    assert (feed["status"], feed["links"], feed["skipped"], feed["errors"]) == ("ok", 3, 2, 1)
    assert "malformed link" in feed["error"] and "99999" in feed["error"]
    page = result["page"]  # the same links in an HTML listing
    assert (page["status"], page["links"], page["skipped"], page["errors"]) == ("ok", 3, 2, 2)
    assert feed["new"] + page["new"] == 3  # each article once, whichever source stored it first
    assert {g.title for g in good} <= {i.title for i in stored}


# --- 7: what PostgreSQL rejects is stored cleaned, and failures back off -------------------------------------


def _long_url(site: LoopbackSite, length: int) -> str:
    head = site.url("/news/long?q=")
    return head + "a" * (length - len(head))


def test_nul_bytes_and_long_urls_are_stored_on_both_databases(
    site: LoopbackSite, hostile: LoopbackSite, milai_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    fetched = Article("/news/nul", "Autonomous\x00 weapons page", ["Military artificial intelligence\x00 text.",
                                                                  ON_TOPIC[0][1][0]])
    hostile.add(fetched.path, article_html(fetched))
    results = [
        {"url": hostile.url("/news/a"), "title": "Lethal\x00 autonomous weapons", "summary": "AI\x00 in war \ud800."},
        {"url": _long_url(hostile, 2_060), "title": "A long but acceptable URL", "summary": "Military AI."},
        {"url": _long_url(hostile, 2_083), "title": "The longest URL accepted", "summary": "Military AI."},
        {"url": _long_url(hostile, 2_100), "title": "Too long", "summary": "Military AI."},
        {"url": hostile.url("/news/nul\x00url"), "title": "NUL in the URL", "summary": "Military AI."},
    ]
    hostile.add("/api", json.dumps({"results": results}), content_type="application/json")
    hostile.add("/feed.xml", rss(hostile.base, [fetched]), content_type="application/rss+xml")
    api = source_on(hostile, "api", "/api", kind="json", items="results", link_field="url", title_field="title",
               summary_field="summary", follow=False)
    result = crawl(tmp_path, [normal, api, source_on(hostile, "page", "/feed.xml")])
    stored = items(milai_env["MILAI_DATABASE_URL"])

    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert (result["api"]["status"], result["api"]["new"], result["api"]["skipped"], result["api"]["errors"]) == \
        ("ok", 4, 1, 0), result["api"]
    assert (result["page"]["new"], result["page"]["errors"]) == (1, 0), result["page"]
    by_title = {i.title: i for i in stored}
    assert by_title["Lethal autonomous weapons"].summary == "AI in war \ufffd."
    assert len(by_title["The longest URL accepted"].url) == 2_083
    assert len(by_title["A long but acceptable URL"].canonical_url) > 2_048
    assert "Too long" not in by_title
    assert by_title["NUL in the URL"].url.endswith("/news/nulurl")
    page = by_title["Autonomous weapons page"]
    assert "\x00" not in page.text and "Military artificial intelligence text." in page.text
    assert not any("\x00" in (i.title + i.text + (i.summary or "") + i.url + i.canonical_url) for i in stored)


def _reject_titles(url: str, marker: str) -> None:
    """A database trigger that refuses items whose title contains `marker`: a store stage that fails."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(f"CREATE TRIGGER reject_marker BEFORE INSERT ON items WHEN NEW.title LIKE '%{marker}%' "
                              "BEGIN SELECT RAISE(ABORT, 'rejected by the test trigger'); END"))
        else:
            conn.execute(text("CREATE FUNCTION reject_marker() RETURNS trigger AS $$ BEGIN "
                              f"IF NEW.title LIKE '%{marker}%' THEN RAISE EXCEPTION 'rejected by the test trigger';"
                              " END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER reject_marker BEFORE INSERT ON items FOR EACH ROW "
                              "EXECUTE FUNCTION reject_marker()"))
    engine.dispose()


def test_a_store_failure_backs_off_like_a_fetch_failure(
    site: LoopbackSite, hostile: LoopbackSite, milai_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    arts = make_articles(ON_TOPIC[:2], prefix="/news")
    arts[1].title = "REJECT-ME " + arts[1].title
    serve_articles(hostile, arts)
    hostile.add("/feed.xml", rss(hostile.base, arts), content_type="application/rss+xml")
    sources = [normal, source_on(hostile, "rejected", "/feed.xml")]
    url = milai_env["MILAI_DATABASE_URL"]
    crawl(tmp_path, [normal])  # creates the schema's rows for the sources
    _reject_titles(url, "REJECT-ME")

    first = crawl(tmp_path, sources)["rejected"]
    assert (first["status"], first["new"], first["errors"]) == ("ok", 1, 1), first
    assert "store failed" in first["error"] and "rejected by the test trigger" in first["error"]
    engine = make_engine(url)
    with engine.connect() as conn:
        [alias] = conn.execute(select(UrlAlias.url, UrlAlias.failures, UrlAlias.retry_after)).all()
    engine.dispose()
    assert alias.url.endswith(arts[1].path) and alias.failures == 1 and alias.retry_after is not None

    hostile.clear_log()
    second = crawl(tmp_path, sources)["rejected"]
    assert (second["new"], second["errors"]) == (0, 0), second  # not fetched, not failed again
    assert article_hits(hostile, "/news/") == []
    assert {a.title for a in [*normal_articles, arts[0]]} == {i.title for i in items(url)}
