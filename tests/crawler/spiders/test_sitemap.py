"""The sitemap kind: indexes, URL patterns, news sitemaps and conditional GETs end to end; sitemap responses
read through Scrapy's SitemapSpider (capped decompression)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest
from scrapy.http import Request, Response, XmlResponse
from scrapy.utils.test import get_crawler

from crawler.catalogue import SourceConfig
from crawler.spiders.sitemap import SitemapSpider
from tests.crawler import helpers
from tests.crawler.helpers import article_hits, crawl, items
from tests.crawler.sites import (
    ON_TOPIC,
    make_articles,
    robots,
    serve_articles,
)
from tests.support.site import LoopbackSite

sqlite_env = helpers.sqlite_env  # storage is dialect-neutral here: SQLite only keeps the suite fast

SM = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
URLSET = (f'<urlset xmlns="{SM}" xmlns:news="{NEWS}">'
          "<url><loc>https://example.org/news/1</loc><lastmod>2026-01-02</lastmod></url>"
          "<url><loc>https://example.org/news/2</loc><news:news><news:title>Drones at the UN</news:title>"
          "<news:publication_date>2026-01-03</news:publication_date></news:news></url>"
          "<url><lastmod>2026-01-04</lastmod></url></urlset>").encode()


def _spider(**settings: object) -> SitemapSpider:
    crawler = get_crawler(SitemapSpider, {"DOWNLOAD_MAXSIZE": 64 * 1024, "DOWNLOAD_WARNSIZE": 16 * 1024, **settings})
    source = {"name": "sm", "publisher": "Examples", "kind": "sitemap", "url": "https://example.org/sitemap.xml"}
    spider = SitemapSpider.from_crawler(crawler, source=source)
    crawler.spider = spider
    return spider


def _response(body: bytes, url: str = "https://example.org/sitemap.xml.gz", cls: type[Response] = Response,
              **meta: object) -> Response:
    return cls(url=url, body=body, request=Request(url, meta=meta))


def _bomb(total: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"<url><loc>https://example.org/news/x</loc></url>" * 100
    return b"".join([*(compressor.compress(chunk) for _ in range(total // len(chunk))), compressor.flush()])


def test_a_gzipped_sitemap_is_read_with_its_news_titles_dates_and_lastmod():
    spider = _spider()
    requests = list(spider.parse_listing(_response(gzip.compress(URLSET))))
    assert [r.url for r in requests] == ["https://example.org/news/1", "https://example.org/news/2"]
    infos = [r.meta["milai_info"] for r in requests]
    assert infos[0]["updated"].isoformat() == "2026-01-02T00:00:00+00:00"
    assert (infos[1]["title"], infos[1]["date"].date().isoformat()) == ("Drones at the UN", "2026-01-03")


def test_gzip_bytes_labelled_as_xml_are_decompressed_too():
    body = _spider().sitemap_body(_response(gzip.compress(URLSET), cls=XmlResponse))
    assert body == URLSET


def test_a_sitemap_that_inflates_beyond_download_maxsize_fails_the_listing():
    spider = _spider()
    assert list(spider.parse_listing(_response(_bomb(1024 * 1024)))) == []
    stats = spider.crawler.stats.get_stats()
    assert stats["milai/decompression_too_large"] == 1 and stats["milai/listing_failures"] == 1
    assert "larger than 65536 bytes when decompressed" in stats["milai/last_error"]


def test_the_requests_download_maxsize_caps_decompression_below_the_setting():
    spider = _spider(DOWNLOAD_MAXSIZE=8 * 1024 * 1024)
    assert spider.sitemap_body(_response(_bomb(1024 * 1024), download_maxsize=100_000)) is None
    assert "larger than 100000 bytes" in spider.crawler.stats.get_value("milai/last_error")


def test_a_broken_gzip_file_fails_the_listing_with_its_cause():
    spider = _spider()
    assert spider.sitemap_body(_response(b"\x1f\x8b\x08" + b"\x00" * 20)) is None
    assert "broken gzipped sitemap" in spider.crawler.stats.get_value("milai/last_error")


def test_decompression_beyond_download_warnsize_is_logged(caplog: pytest.LogCaptureFixture):
    body = _spider().sitemap_body(_response(gzip.compress(URLSET * 100)))
    assert body == URLSET * 100
    assert "larger than the download warning size" in caplog.text


def test_a_sitemap_served_under_another_name_and_type_is_still_parsed():
    spider = _spider()
    requests = list(spider.parse_listing(_response(URLSET, url="https://example.org/sitemap")))
    assert len(requests) == 2


def test_sitemap_filter_is_the_hook_for_entries():
    class Newest(SitemapSpider):
        def sitemap_filter(self, entries):
            return (e for e in entries if e["lastmod"])

    crawler = get_crawler(Newest)
    spider = Newest.from_crawler(crawler, source={"name": "sm", "publisher": "E", "kind": "sitemap",
                                                  "url": "https://example.org/sitemap.xml"})
    crawler.spider = spider
    assert [r.url for r in spider.parse_listing(_response(gzip.compress(URLSET)))] == ["https://example.org/news/1"]


def _src(site: LoopbackSite, kind: str, path: str, name: str = "src", **kw) -> SourceConfig:
    return SourceConfig(name=name, publisher="Examples", kind=kind, url=site.url(path), language="en", **kw)


def test_sitemap_index_pattern_news_sitemap_and_conditional_get(site: LoopbackSite, sqlite_env, tmp_path: Path):
    robots(site)
    arts = make_articles(ON_TOPIC[:3])
    serve_articles(site, arts)
    sm = "http://www.sitemaps.org/schemas/sitemap/0.9"
    news = "http://www.google.com/schemas/sitemap-news/0.9"
    index = f'<sitemapindex xmlns="{sm}"><sitemap><loc>{site.url("/sm/1.xml")}</loc></sitemap>' \
            f'<sitemap><loc>{site.url("/sm/2.xml")}</loc></sitemap></sitemapindex>'
    urlset = (f'<urlset xmlns="{sm}"><url><loc>{site.url(arts[0].path)}</loc><lastmod>2025-09-01</lastmod></url>'
              f'<url><loc>{site.url("/about/contact")}</loc></url></urlset>')
    news_set = f'<urlset xmlns="{sm}" xmlns:news="{news}">' + "".join(
        f"<url><loc>{site.url(a.path)}</loc><news:news><news:title>{a.title}</news:title>"
        f"<news:publication_date>2025-09-0{i + 2}</news:publication_date></news:news></url>"
        for i, a in enumerate(arts[1:])
    ) + "</urlset>"
    for path, body in (("/sitemap.xml", index), ("/sm/1.xml", urlset), ("/sm/2.xml", news_set)):
        site.add(path, body, content_type="application/xml", headers={"ETag": f'"{path}-v1"'})
    src = _src(site, "sitemap", "/sitemap.xml", pattern=r"/news/")

    summary = crawl(tmp_path, [src])["src"]
    assert (summary["status"], summary["links"], summary["new"]) == ("ok", 3, 3)
    assert "/about/contact" not in [r.path for r in site.hits()]
    assert {i.title for i in items(sqlite_env["MILAI_DATABASE_URL"])} == {a.title for a in arts}

    site.clear_log()
    summary = crawl(tmp_path, [src])["src"]
    assert summary["new"] == 0 and article_hits(site) == []
    # conditional GET: the cached sitemaps were revalidated with their ETags (the site answered 304)
    sent = {r.path: r.headers.get("if-none-match") for r in site.hits() if r.path.startswith(("/sitemap", "/sm/"))}
    assert sent == {"/sitemap.xml": '"/sitemap.xml-v1"', "/sm/1.xml": '"/sm/1.xml-v1"', "/sm/2.xml": '"/sm/2.xml-v1"'}
