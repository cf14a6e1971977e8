"""`milai sources add URL` as a new user runs it: on loopback sites of each kind (a feed announced by the page,
a sitemap named by robots.txt for a page rendered by JavaScript, a listing's repeated link pattern) it appends a
validated entry with a comment to the user's own catalogue, and that entry crawls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from crawler.catalogue import configured_catalogue
from milai.config import Settings
from tests.crawler import helpers
from tests.crawler.helpers import FAST_ENV, ROOT, items
from tests.crawler.sites import ON_TOPIC, make_articles, robots, rss, serve_articles
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env

NAV = "<nav><a href='/'>Home</a> <a href='/about/us'>About</a> <a href='/contact/form'>Contact</a></nav>"


def _milai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "milai", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **FAST_ENV, "COLUMNS": "200"}, timeout=180)


def _user_catalogue(env: dict[str, str]) -> list[dict]:
    path = Path(env["MILAI_DATA_DIR"]) / "sources.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]


def _add_and_crawl(env: dict[str, str], url: str, *extra: str) -> tuple[dict, str, dict]:
    added = _milai("sources", "add", url, "--publisher", "Ministry of Examples", *extra)
    assert added.returncode == 0, added.stdout + added.stderr
    entry = _user_catalogue(env)[-1]
    crawled = _milai("crawl", "--source", entry["name"])
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    text = (Path(env["MILAI_DATA_DIR"]) / "sources.yaml").read_text(encoding="utf-8")
    return entry, text, {i.title for i in items(env["MILAI_DATABASE_URL"])}


def test_add_finds_the_feed_a_page_announces(site: LoopbackSite, sqlite_env, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MILAI_SOURCES", str(helpers.write_catalogue(tmp_path / "bundled.yaml", [
        {"name": "placeholder", "publisher": "Tests", "kind": "feed", "url": "http://127.0.0.1:9/x.xml",
         "enabled": False}])))
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    site.add("/feeds/news.rss", rss(site.base, arts), content_type="application/rss+xml")
    site.add("/en/newsroom", "<html><head><title>Ministry of Examples</title>"
             "<link rel='alternate' type='application/rss+xml' title='News' href='/feeds/news.rss'></head>"
             f"<body>{NAV}<main><p>Latest news</p></main></body></html>")
    entry, text, titles = _add_and_crawl(sqlite_env, site.url("/en/newsroom"))
    assert (entry["kind"], entry["url"], entry["publisher"]) == ("feed", site.url("/feeds/news.rss"),
                                                                  "Ministry of Examples")
    assert entry["name"] == "127-0-0-1-newsroom" and entry["language"] == "en"
    assert "# added by `milai sources add" in text and "RSS announced by <link rel=alternate>" in text
    assert titles == {a.title for a in arts}
    # the bundled catalogue is untouched, and the merged one holds both
    assert [s.name for s in configured_catalogue(Settings())] == ["placeholder", entry["name"]]
    again = _milai("sources", "add", site.url("/en/newsroom"), "--name", entry["name"])
    assert again.returncode == 2 and "already in the catalogue" in again.stderr


def test_add_uses_the_sitemap_robots_txt_names_for_a_javascript_hub(site: LoopbackSite, sqlite_env):
    """Like nato.int's new site: the news hub has no links in its HTML; robots.txt names a news sitemap."""
    arts = make_articles(ON_TOPIC[:2], prefix="/en/news-and-events/articles/news")
    serve_articles(site, arts)
    site.add("/robots.txt", f"User-agent: *\nDisallow: /search\nSitemap: {site.url('/sitemaps/news.xml')}\n",
             content_type="text/plain")
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    news = "http://www.google.com/schemas/sitemap-news/0.9"
    rows = "".join(f"<url><loc>{site.url(a.path)}</loc><news:news><news:title>{a.title}</news:title>"
                   f"<news:publication_date>{a.date.date()}</news:publication_date></news:news></url>" for a in arts)
    rows += f"<url><loc>{site.url('/en/about-us/history')}</loc></url>"
    site.add("/sitemaps/news.xml", f'<urlset xmlns="{sm}" xmlns:news="{news}">{rows}</urlset>',
             content_type="application/xml")
    site.add("/en/news-and-events/articles/news", "<html><head><title>News</title></head><body>"
             "<div id='app'></div><script src='/app.js'></script></body></html>")
    entry, text, titles = _add_and_crawl(sqlite_env, site.url("/en/news-and-events/articles/news"))
    assert (entry["kind"], entry["url"]) == ("sitemap", site.url("/sitemaps/news.xml"))
    assert entry["pattern"] == r"/en/news\-and\-events/articles/news/"
    assert "news sitemap: listed in robots.txt" in text
    assert titles == {a.title for a in arts}


def test_add_suggests_selectors_from_a_listing_pattern(site: LoopbackSite, sqlite_env):
    robots(site)
    arts = make_articles(ON_TOPIC[:4] + ON_TOPIC[:1], prefix="/press/releases")
    arts[-1].path += "-again"
    serve_articles(site, arts)
    rows = "".join(f"<li class='teaser'><a href='{a.path}'>{a.title}</a><span>{a.date:%d.%m.%Y}</span></li>"
                   for a in arts)
    site.add("/press", f"<html><head><title>Press</title></head><body>{NAV}<main>"
             f"<ul class='press-list'>{rows}</ul></main>"
             "<footer><a href='/legal/notice'>Legal</a></footer></body></html>")
    entry, text, titles = _add_and_crawl(sqlite_env, site.url("/press"))
    assert (entry["kind"], entry["links"]) == ("html", "ul.press-list li.teaser a")
    assert "a listing: 5 links repeat the pattern" in text
    assert titles == {a.title for a in arts}


def test_add_on_a_site_with_nothing_to_crawl_says_so_and_writes_nothing(site: LoopbackSite, sqlite_env):
    robots(site)
    site.add("/", f"<html><body>{NAV}<p>Welcome</p></body></html>")
    proc = _milai("sources", "add", site.url("/"))
    assert proc.returncode == 1 and "nothing to crawl found" in proc.stderr
    assert not (Path(sqlite_env["MILAI_DATA_DIR"]) / "sources.yaml").exists()
