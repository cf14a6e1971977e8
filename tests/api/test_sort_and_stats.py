"""sort=relevance|date and the counts/facets of a query in the API, the exports, Atom, the page and the CLI."""

from __future__ import annotations

import csv
import io
import json
import re

import feedparser
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from milai.cli.main import app


def _all(client: TestClient, **params: object) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        r = client.get("/api/items", params={**params, "limit": 4, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next"]
        if not cursor:
            return out


def _newest_first(rows: list[dict]) -> bool:
    dated = [r["published"] for r in rows if r["published"]]
    undated_after = all(r["published"] is None for r in rows[len(dated):])
    return dated == sorted(dated, reverse=True) and undated_after


def test_sort_by_date_pages_every_match_once_and_counts(client: TestClient) -> None:
    ranked = _all(client, q="drone*", all=1)
    by_date = _all(client, q="drone*", all=1, sort="date")
    assert sorted(r["id"] for r in by_date) == sorted(r["id"] for r in ranked) and len(ranked) > 4
    assert _newest_first(by_date) and not _newest_first(ranked)
    assert all(r["rank"] is None for r in by_date) and all(r["rank"] is not None for r in ranked)
    body = client.get("/api/items", params={"q": "drone*", "all": 1, "limit": 2}).json()
    assert body["count"] == {"total": len(ranked), "exact": True}
    assert client.get("/api/items", params={"q": "xylophone"}).json()["count"] == {"total": 0, "exact": True}


def test_bad_sort_and_foreign_cursor_are_400(client: TestClient) -> None:
    r = client.get("/api/items", params={"q": "drone", "sort": "newest"})
    assert r.status_code in (400, 422) and "sort" in r.text
    nxt = client.get("/api/items", params={"q": "drone*", "all": 1, "limit": 2}).json()["next"]
    r = client.get("/api/items", params={"q": "drone*", "all": 1, "limit": 2, "sort": "date", "cursor": nxt})
    assert r.status_code == 400 and "cursor" in r.text


def test_exports_and_atom_follow_the_sort(client: TestClient) -> None:
    lines = client.get("/api/items.jsonl", params={"q": "drone*", "all": 1, "sort": "date"}).text.splitlines()
    assert _newest_first([json.loads(x) for x in lines])
    rows = list(csv.DictReader(io.StringIO(client.get("/api/items.csv", params={"q": "drone*", "all": 1,
                                                                                 "sort": "date"}).text)))
    assert [int(r["id"]) for r in rows] == [json.loads(x)["id"] for x in lines]
    feed = feedparser.parse(client.get("/feeds/items.atom", params={"q": "drone*", "all": 1}).text)
    dates = [e.published for e in feed.entries if "published" in e]
    assert dates and dates == sorted(dates, reverse=True)  # a feed is newest first unless sort=relevance


def test_stats_route(client: TestClient) -> None:
    r = client.get("/api/stats", params={"q": "drone*", "all": 1})
    assert r.status_code == 200, r.text
    data = r.json()
    total = len(_all(client, q="drone*", all=1))
    assert data["count"] == {"total": total, "exact": True} and data["sample_fraction"] is None
    assert sum(p["count"] for p in data["per_month"]) + data["undated"] == total
    assert sum(p["count"] for p in data["per_week"]) + data["undated"] == total
    assert {p["publisher"] for p in data["publishers"]} <= {"Government of the Netherlands", "United Nations"}
    assert data["languages"][0] == {"language": "en", "count": total}
    assert all(p["period"][:4].isdigit() for p in data["per_month"] + data["per_week"])
    assert client.get("/api/stats", params={"q": '"unbalanced'}).status_code == 400
    assert client.get("/api/stats", params={"lang": "xx"}).status_code == 400
    assert client.get("/api/stats", params={"top": 0}).status_code == 422
    assert "/api/stats" in client.get("/openapi.json").json()["paths"]


def test_page_has_a_sort_control_and_a_count(client: TestClient) -> None:
    html = client.get("/", params={"q": "drone*", "all": 1, "sort": "date"}).text
    assert '<select id="sort" name="sort">' in html and '<option value="date" selected>' in html
    assert re.search(r'class="count" role="status">\d+ items</p>', html)  # every copy counted: items
    stories = client.get("/", params={"q": "drone*"}).text
    assert re.search(r'class="count" role="status">\d+ stories</p>', stories)
    assert client.get("/", params={"q": "drone", "sort": "bogus"}).status_code == 400


def test_cli_sort_and_total(ids: dict[str, int]) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["search", "drone*", "--all", "--sort", "date", "--format", "json", "--limit", "100"])
    assert r.exit_code == 0, r.output
    assert _newest_first(json.loads(r.stdout))
    r = runner.invoke(app, ["search", "drone*", "--all", "--limit", "3"])
    assert r.exit_code == 0 and "showing 3 of" in r.stdout and "matching items" in r.stdout
    r = runner.invoke(app, ["search", "drone", "--sort", "newest"])
    assert r.exit_code == 2
