"""More hostile sources (issue 15, second pass): the forms an acceptance run may try beyond the first tests --
every spelling of a loopback address, every redirect code and a meta refresh, listing pages that lead to
internal hosts (sitemap indexes, next pages, a discovered fallback), scheme spellings, XML entities, every
Content-Encoding bomb, a page that drips. Each beside a normal source that must still be crawled in full.

Every hostile site is a real HTTP server on loopback; the "internal" service is another loopback server on
another port, which the guard treats exactly like an intranet host."""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest

from crawler.catalogue import SourceConfig
from tests.crawler import helpers
from tests.crawler.helpers import crawl, items
from tests.crawler.hostile import assert_normal_in_full, feed_of_links, normal_source, source_on
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

SECRET = "internal admin console: db password hunter2"


@pytest.fixture
def internal() -> Iterator[LoopbackSite]:
    """An internal service: every path answers with a secret page (so any request that reaches it shows)."""
    s = LoopbackSite().start()
    robots(s)
    for path in ("/secret", "/feed.xml", "/sitemap.xml", "/next", "/"):
        s.add(path, f"<html><body><main><p>{SECRET}</p></main></body></html>")
    yield s
    s.stop()


def _loopback_spellings(port: int) -> list[str]:
    return [
        f"http://0.0.0.0:{port}/secret",  # unspecified: Linux connects it to loopback
        f"http://2130706433:{port}/secret",  # decimal IPv4
        f"http://0177.0.0.1:{port}/secret",  # octal
        f"http://0x7f.1:{port}/secret",  # hex, short form
        f"http://127.1:{port}/secret",  # short form
        f"http://127.0.0.2:{port}/secret",  # the rest of 127/8
        f"http://[::1]:{port}/secret",
        f"http://[::ffff:7f00:1]:{port}/secret",  # IPv4-mapped, hex
        f"http://[2002:7f00:1::]:{port}/secret",  # 6to4 embedding 127.0.0.1
        f"http://[64:ff9b::7f00:1]:{port}/secret",  # NAT64 embedding 127.0.0.1
        f"http://localhost.:{port}/secret",  # trailing dot
        f"http://LOCALHOST:{port}/secret",
        f"http://user@127.0.0.1:{port}/secret",  # credentials before the host
        f"//127.0.0.1:{port}/secret",  # protocol-relative
        f"HTTP://127.0.0.1:{port}/secret",  # upper-case scheme
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://10.255.255.1/",  # RFC 1918
    ]


def test_every_spelling_of_an_internal_address_is_refused(
    site: LoopbackSite, hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    own = make_articles(ON_TOPIC[:1], prefix="/news")
    serve_articles(hostile, own)
    spellings = _loopback_spellings(internal.port)
    hostile.add("/feed.xml", feed_of_links(hostile.base, [hostile.url(own[0].path), *spellings]),
                content_type="application/rss+xml")
    anchors = "".join(f'<a href="{u}">x</a>' for u in spellings)
    hostile.add("/page", f"<html><body><main>{anchors}<a href='{own[0].path}'>own</a></main></body></html>")
    result = crawl(tmp_path, [normal, source_on(hostile, "feed", "/feed.xml"),
                              source_on(hostile, "page", "/page", kind="html", links="a")])
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    for name in ("feed", "page"):
        summary = result[name]
        assert summary["status"] == "ok", summary
        # one refusal per distinct URL: localhost./LOCALHOST and user@/HTTP:///protocol-relative 127.0.0.1 are
        # one canonical URL each (crawler.urls.canonicalize), listed once
        assert (summary["refused"], summary["errors"], summary["skipped"]) == (len(spellings) - 3,) * 2 + (0,), \
            summary
    assert result["feed"]["new"] + result["page"]["new"] == 1
    assert internal.hits() == []
    assert not any("hunter2" in i.text for i in stored)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_code_and_a_meta_refresh_to_an_internal_address_is_refused(
    site: LoopbackSite, hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path, status: int
):
    normal, normal_articles = normal_source(site)
    own = make_articles(ON_TOPIC[:1], prefix="/news")
    serve_articles(hostile, own)
    port = internal.port
    targets = [internal.url("/secret"), f"http://localhost:{port}/secret", f"http://0.0.0.0:{port}/secret",
               f"http://[::ffff:127.0.0.1]:{port}/secret"]
    links = [hostile.url(own[0].path)]
    for n, target in enumerate(targets):
        hostile.add(f"/r{n}", "", status=status, headers={"Location": target})
        hostile.add(f"/m{n}", f'<html><head><meta http-equiv="refresh" content="0; url={target}?meta"></head>'
                              "<body>moved</body></html>")
        links += [hostile.url(f"/r{n}"), hostile.url(f"/m{n}")]
    hostile.add("/feed.xml", feed_of_links(hostile.base, links), content_type="application/rss+xml")
    result = crawl(tmp_path, [normal, source_on(hostile, "jumps", "/feed.xml")])
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    jumps = result["jumps"]
    assert (jumps["status"], jumps["refused"]) == ("ok", 2 * len(targets)), jumps
    assert internal.hits() == []
    assert not any("hunter2" in i.text for i in stored)


def test_listing_pages_leading_to_internal_hosts_are_refused(
    site: LoopbackSite, hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path
):
    """A sitemap index naming an internal sitemap, an HTML next page on an internal host."""
    normal, normal_articles = normal_source(site)
    own = make_articles(ON_TOPIC[:2], prefix="/news")
    serve_articles(hostile, own)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    port = internal.port
    hostile.add("/index.xml", f'<sitemapindex xmlns="{sm}">'
                              f"<sitemap><loc>{internal.url('/sitemap.xml')}</loc></sitemap>"
                              f"<sitemap><loc>http://localhost:{port}/sitemap.xml</loc></sitemap>"
                              f"<sitemap><loc>{hostile.url('/urls.xml')}</loc></sitemap></sitemapindex>",
                content_type="application/xml")
    hostile.add("/urls.xml", f'<urlset xmlns="{sm}"><url><loc>{hostile.url(own[0].path)}</loc></url></urlset>',
                content_type="application/xml")
    hostile.add("/list", f"<html><body><main><a class='a' href='{own[1].path}'>a</a>"
                         f"<a class='next' href='{internal.url('/next')}'>next</a></main></body></html>")
    result = crawl(tmp_path, [normal, source_on(hostile, "index", "/index.xml", kind="sitemap"),
                              source_on(hostile, "list", "/list", kind="html", links="a.a", next_page="a.next")])
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert (result["index"]["new"], result["index"]["refused"]) == (1, 2), result["index"]
    assert (result["list"]["new"], result["list"]["refused"]) == (1, 1), result["list"]
    assert internal.hits() == []


def test_a_discovered_fallback_never_widens_the_sources_origin(
    site: LoopbackSite, hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path
):
    """A source on a private host (here loopback) whose configured feed keeps failing: discovery finds a feed
    its page announces on the same host but another port (an internal service). The fallback crawl must not
    treat that port as the source's own origin: the operator configured only the source URL's."""
    normal, normal_articles = normal_source(site)
    internal.add("/feed.xml", rss(internal.base, make_articles(ON_TOPIC[:1], prefix="/secret-news")),
                 content_type="application/rss+xml")
    serve_articles(internal, make_articles(ON_TOPIC[:1], prefix="/secret-news"))
    hostile.add("/", f'<html><head><link rel="alternate" type="application/rss+xml" '
                         f'href="{internal.url("/feed.xml")}"></head><body>moved</body></html>')
    src = source_on(hostile, "moved", "/news/feed.xml")
    first = crawl(tmp_path, [normal, src])
    assert_normal_in_full(first["normal"], items(sqlite_env["MILAI_DATABASE_URL"]), normal_articles)
    runs = [crawl(tmp_path, [src])["moved"] for _ in range(4)]  # not found x3, then discovery and the fallback
    assert internal.hits() == [], runs
    # the discovered feed is crawled as the replacement, and refused: outside the configured origin
    assert [r["status"] for r in runs[-2:]] == ["failed", "failed"] and runs[-1]["refused"] == 1, runs
    assert f"refusing {internal.url('/feed.xml')}" in runs[-1]["error"] and hostile.base in runs[-1]["error"]
    assert not any("secret-news" in i.url for i in items(sqlite_env["MILAI_DATABASE_URL"]))


def test_sources_add_never_checks_a_feed_announced_on_an_internal_host(
    hostile: LoopbackSite, internal: LoopbackSite, sqlite_env, tmp_path: Path, monkeypatch
):
    """`milai sources add URL`: the operator typed the URL, so only its origin may be private; a feed its page
    announces on another (internal) port is refused when it is checked, and is not added."""
    import os
    import subprocess
    import sys

    from tests.crawler.helpers import FAST_ENV, ROOT

    monkeypatch.setenv("MILAI_SOURCES", str(helpers.write_catalogue(tmp_path / "bundled.yaml", [
        {"name": "placeholder", "publisher": "Tests", "kind": "feed", "url": "http://127.0.0.1:9/x.xml",
         "enabled": False}])))
    internal.add("/feeds/news.rss", rss(internal.base, make_articles(ON_TOPIC[:2])), content_type="application/rss+xml")
    hostile.add("/en/newsroom", "<html><head><title>Ministry</title><link rel='alternate' type='application/rss+xml' "
                f"href='{internal.url('/feeds/news.rss')}'></head><body><main><p>News</p></main></body></html>")
    added = subprocess.run([sys.executable, "-m", "milai", "sources", "add", hostile.url("/en/newsroom"),
                            "--publisher", "Ministry"], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, **FAST_ENV, "COLUMNS": "200"}, timeout=180)
    assert internal.hits() == [], added.stdout + added.stderr
    assert not (Path(sqlite_env["MILAI_DATA_DIR"]) / "sources.yaml").exists() or \
        internal.base not in (Path(sqlite_env["MILAI_DATA_DIR"]) / "sources.yaml").read_text(encoding="utf-8")


# --- schemes and XML entities --------------------------------------------------------------------------------

SCHEME_SPELLINGS = ["FILE:///etc/passwd", " file:///etc/passwd", "file:/etc/passwd", "file://localhost/etc/passwd",
                    "view-source:file:///etc/passwd", "jar:file:///tmp/x.jar!/a", "Data:text/html,<b>x</b>",
                    "&#9;javascript:alert(1)", "java&#10;script:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)",
                    "gopher://127.0.0.1:6379/_INFO", "dict://127.0.0.1:11211/stat", "ldap://127.0.0.1/x",
                    "sftp://127.0.0.1/x", "ws://127.0.0.1/x", "feed:http://127.0.0.1/x"]


def test_scheme_spellings_and_xml_entities_never_reach_a_file(
    site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    good = make_articles(ON_TOPIC[:3], prefix="/news")
    serve_articles(hostile, good)
    xxe = '<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd"><!ENTITY p SYSTEM "/proc/self/environ">]>'
    entries = "".join(f"<item><title>Autonomous weapons {n} &e;</title><link>{u}</link>"
                      f"<description>Military AI &p; &e;</description></item>"
                      for n, u in enumerate([*SCHEME_SPELLINGS, hostile.url(good[0].path)]))
    hostile.add("/feed.xml", f'<?xml version="1.0"?>{xxe}<rss version="2.0"><channel><title>t &e;</title>'
                             f"<link>{hostile.base}/</link><description>d</description>{entries}</channel></rss>",
                content_type="application/rss+xml")
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    locs = "".join(f"<url><loc>{u}</loc></url>" for u in [*SCHEME_SPELLINGS, "&e;", hostile.url(good[1].path)])
    hostile.add("/urls.xml", f'<?xml version="1.0"?>{xxe}<urlset xmlns="{sm}">{locs}</urlset>',
                content_type="application/xml")
    rows = "".join(f'<li class="r"><a href="{u}">Autonomous weapons statement {n}</a> military AI</li>'
                   for n, u in enumerate([*SCHEME_SPELLINGS, hostile.url("/news/listed")]))
    hostile.add("/list", f"<html><body><ul>{rows}</ul></body></html>")
    sources = [normal, source_on(hostile, "feed", "/feed.xml"),
               source_on(hostile, "sitemap", "/urls.xml", kind="sitemap"),
               source_on(hostile, "listing", "/list", kind="html", follow=False, item_selector="li.r")]
    result = crawl(tmp_path, sources)
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert all(r["status"] == "ok" for r in result.values()), result
    assert all(i.url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")) for i in stored), [i.url for i in stored]
    texts = " ".join(f"{i.title} {i.text} {i.summary or ''}" for i in stored)
    assert "root:" not in texts and "MILAI_" not in texts and "PATH=" not in texts
    for name in ("feed", "sitemap", "listing"):  # each spelling skipped and counted, the page's good entry kept
        assert (result[name]["new"], result[name]["skipped"], result[name]["errors"]) == \
            (1, len(SCHEME_SPELLINGS), 0), result[name]


# --- every Content-Encoding bomb -----------------------------------------------------------------------------

def _deflate_stream(chunk: bytes, total: int, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join([*(compressor.compress(chunk) for _ in range(total // len(chunk))), compressor.flush()])


def test_every_content_encoding_bomb_stops_at_the_download_size_limit(
    site: LoopbackSite, hostile: LoopbackSite, sqlite_env, tmp_path: Path
):
    normal, normal_articles = normal_source(site)
    arts = make_articles(ON_TOPIC[:2], prefix="/news")
    serve_articles(hostile, arts)
    inflated = 64 * 1024 * 1024
    chunk = b"<p>" + b"a" * 4093 + b"</p>"
    bombs = {
        "/news/deflate": (_deflate_stream(chunk, inflated, 15), "deflate"),  # zlib stream
        "/news/raw-deflate": (_deflate_stream(chunk, inflated, -15), "deflate"),  # raw deflate (old IIS)
        "/news/br": (brotli.compress(chunk * (inflated // len(chunk)), quality=1), "br"),
    }
    bombs["/news/double"] = (zlib.compress(_deflate_stream(chunk, inflated, 31), 9), "gzip, deflate")  # twice
    for path, (body, encoding) in bombs.items():
        assert len(body) < 1024 * 1024, path
        hostile.add(path, body, headers={"Content-Encoding": encoding})
    links = [hostile.url(arts[0].path), *(hostile.url(p) for p in bombs)]
    hostile.add("/feed.xml", feed_of_links(hostile.base, links), content_type="application/rss+xml")
    # a sitemap (not named .gz) sent with Content-Encoding: gzip that inflates past the limit
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    loc = f"<url><loc>{hostile.url('/news/x')}</loc></url>".encode()
    hostile.add("/sitemap.xml", _deflate_stream(f'<urlset xmlns="{sm}">'.encode() + loc * 1000, inflated, 31),
                content_type="application/xml", headers={"Content-Encoding": "gzip"})
    # a .xml.gz sitemap, itself sent gzipped again
    hostile.add("/sm.xml.gz", zlib.compress(_deflate_stream(loc * 1000, inflated, 31), 9),
                content_type="application/gzip", headers={"Content-Encoding": "deflate"})
    result = crawl(tmp_path, [normal, source_on(hostile, "articles", "/feed.xml"),
                              source_on(hostile, "sitemap", "/sitemap.xml", kind="sitemap"),
                              source_on(hostile, "sitemap-gz", "/sm.xml.gz", kind="sitemap")],
                   env={"MILAI_DOWNLOAD_MAXSIZE": str(4 * 1024 * 1024)})
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    articles = result["articles"]
    assert (articles["status"], articles["new"], articles["errors"]) == ("ok", 1, len(bombs)), articles
    for name in ("sitemap", "sitemap-gz"):
        assert (result[name]["status"], result[name]["new"]) == ("failed", 0), result[name]
    assert not any(len(i.text) > 200_000 for i in stored)
    assert "exceeded DOWNLOAD_MAXSIZE" in articles["error"]
    assert "exceeded DOWNLOAD_MAXSIZE" in result["sitemap"]["error"]
    assert "larger than 4194304 bytes when decompressed" in result["sitemap-gz"]["error"]


# --- a page that drips ---------------------------------------------------------------------------------------

class _DripSite:
    """A source's own site whose /drip page (and /drip-feed.xml listing) sends one byte every 0.2 s, for ever."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.pages = pages
        self.stop_event = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ", 2)[1].decode()
            try:
                if path.startswith("/drip"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000000\r\n\r\n")
                    while not self.stop_event.is_set():
                        conn.sendall(b"<")
                        time.sleep(0.2)
                    return
                body = self.pages.get(path)
                head = b"HTTP/1.1 200 OK" if body is not None else b"HTTP/1.1 404 Not Found"
                body = body if body is not None else b"not found"
                conn.sendall(head + b"\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                return

    def close(self) -> None:
        """Stop accepting first, then close the socket (closing it under a waiting accept() raised EBADF)."""
        self.stop_event.set()
        self.acceptor.join(timeout=5)
        self.sock.close()


def test_a_page_that_drips_costs_its_source_one_timeout_and_the_others_nothing(
    site: LoopbackSite, sqlite_env, tmp_path: Path
):
    from tests.crawler.sites import article_html

    normal, normal_articles = normal_source(site, count=4)
    arts = make_articles(ON_TOPIC[:1], prefix="/news")
    drip = _DripSite({})
    try:
        drip.pages.update({a.path: article_html(a).encode() for a in arts})
        links = [drip.base + arts[0].path, drip.base + "/drip/article"]
        drip.pages["/feed.xml"] = feed_of_links(drip.base, links).encode()
        sources = [normal, SourceConfig(name="drip", publisher="Examples", kind="feed", url=drip.base + "/feed.xml",
                                        language="en"),
                   SourceConfig(name="drip-listing", publisher="Examples", kind="feed",
                                url=drip.base + "/drip-feed.xml", language="en")]
        started = time.monotonic()
        result = crawl(tmp_path, sources, env={"MILAI_DOWNLOAD_TIMEOUT": "4"})
        took = time.monotonic() - started
    finally:
        drip.close()
    stored = items(sqlite_env["MILAI_DATABASE_URL"])
    assert_normal_in_full(result["normal"], stored, normal_articles)
    assert (result["drip"]["status"], result["drip"]["new"], result["drip"]["errors"]) == ("ok", 1, 1), result["drip"]
    assert "took longer than 4.0 seconds" in result["drip"]["error"], result["drip"]
    assert result["drip-listing"]["status"] == "failed", result["drip-listing"]
    assert took < 60, took  # the download timeout bounds a drip: no source waits for it
