"""The sitemap spider reads sitemap responses through Scrapy's SitemapSpider: capped decompression."""

from __future__ import annotations

import gzip
import zlib

import pytest
from scrapy.http import Request, Response, XmlResponse
from scrapy.utils.test import get_crawler

from crawler.spiders.sitemap import SitemapSpider

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
