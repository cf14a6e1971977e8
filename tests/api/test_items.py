"""The archive API: search, paging, item, sources, health, exports, Atom."""

from __future__ import annotations

import csv
import io
import json

import feedparser
import pytest
from fastapi.testclient import TestClient

from tests.api.hostile import HOSTILE
from tests.storage.search.seed import SCRIPT_TITLE
from tests.support.db import configured_engine


def ids_of(r) -> list[int]:  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert "/api/items" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_filters(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get("/api/items", params={"q": "REAIM", "lang": "fr"})
    assert ids_of(r) == [ids["reaim-fr"]]
    item = r.json()["items"][0]
    for key in ("id", "url", "title", "published", "source", "publisher", "language", "score", "summary",
                "relevant", "matches", "snippet", "duplicate_of", "symbols"):
        assert key in item
    assert "<mark>REAIM</mark>" in item["snippet"]
    assert ids_of(client.get("/api/items", params={"symbol": "A/RES/79/239"})) == [ids["resolution"]]
    assert set(ids_of(client.get("/api/items", params={"q": "REAIM", "source": "nl-gov"}))) == {
        ids["reaim"], ids["reaim-fr"]}
    assert ids_of(client.get("/api/items", params={"q": "REAIM", "publisher": "United Nations"})) == [ids["script"]]
    assert ids_of(client.get("/api/items", params={"q": "hospitals"})) == []
    assert ids_of(client.get("/api/items", params={"q": "hospitals", "all": "true"})) == [ids["offtopic"]]
    got = ids_of(client.get("/api/items", params={"since": "2025-06-01", "until": "2025-06-01"}))
    assert set(got) == {ids["reaim"], ids["reaim-fr"]}


@pytest.mark.parametrize("params", [{"q": "drone*", "all": "1", "limit": "4"}, {"limit": "6"}, {"all": "1"}])
def test_paging_without_loss_or_repeat(client: TestClient, params: dict[str, str]) -> None:
    everything = ids_of(client.get("/api/items", params={**params, "limit": "500"}))
    seen: list[int] = []
    cursor = None
    while True:
        r = client.get("/api/items", params={**params, **({"cursor": cursor} if cursor else {})})
        seen += ids_of(r)
        cursor = r.json()["next"]
        if cursor is None:
            break
    assert seen == everything and len(set(seen)) == len(seen) > 4


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"until": "2025-13-40"}, {"limit": "0"},
                                    {"limit": "100000"}, {"limit": "x"}, {"cursor": "nope"}, {"q": "-alone"},
                                    {"since": "2025-06-02", "until": "2025-06-01"}, {"all": "maybe"}])
def test_bad_parameters_are_4xx_with_a_message(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/api/items", params=params)
    assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_item_detail(client: TestClient, ids: dict[str, int]) -> None:
    data = client.get(f"/api/items/{ids['resolution']}").json()
    assert data["symbol_links"] == [{"symbol": "A/RES/79/239", "url": "https://undocs.org/A/RES/79/239"}]
    assert [d["id"] for d in data["duplicates"]] == [ids["resolution-copy"]]
    assert "lethal autonomous" in data["text"]
    assert data["duplicates"][0]["publisher"] and data["same_symbol"] == []
    data = client.get(f"/api/items/{ids['reaim']}").json()
    assert [t["id"] for t in data["translations"]] == [ids["reaim-fr"]]
    assert client.get("/api/items/999999").status_code == 404
    assert client.get("/api/items/abc").status_code == 422


def test_item_detail_lists_other_stories_citing_the_same_symbol(client: TestClient, ids: dict[str, int]) -> None:
    from storage.database import session_scope
    from storage.models import ItemSymbol

    with session_scope(configured_engine()) as session:
        session.add(ItemSymbol(item_id=ids["laws-fr"], symbol="A/RES/79/239"))
    data = client.get(f"/api/items/{ids['resolution']}").json()
    assert [d["id"] for d in data["same_symbol"]] == [ids["laws-fr"]]
    page = client.get(f"/items/{ids['resolution']}").text
    assert "Related: citing the same documents" in page and f'href="/items/{ids["laws-fr"]}"' in page


def test_sources_with_health(client: TestClient) -> None:
    rows = {s["name"]: s for s in client.get("/api/sources").json()}
    assert rows["un-news"]["consecutive_failures"] == 2 and rows["un-news"]["last_error"] == "HTTP 503"
    assert rows["nl-gov"]["ever_yielded"] is True
    health = rows["un-news"]["health"]
    assert (health["state"], health["label"], health["reason"]) == ("failing", "failing", "HTTP 503")
    assert health["action"].startswith("a network problem")


def test_exports_stream_every_page(client: TestClient, ids: dict[str, int]) -> None:
    everything = ids_of(client.get("/api/items", params={"all": "1", "limit": "500"}))
    lines = client.get("/api/items.jsonl", params={"all": "1"}).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == everything
    r = client.get("/api/items.csv", params={"all": "1"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["id"]) for row in rows] == everything
    assert any(row["title"] == SCRIPT_TITLE for row in rows)
    assert client.get("/api/items.csv", params={"since": "bad"}).status_code == 400


def test_atom_feed_parses(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get("/feeds/items.atom", params={"q": "REAIM", "lang": "en"})
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert {e.link for e in feed.entries} == {"http://127.0.0.1/reaim", "http://127.0.0.1/script"}
    script = next(e for e in feed.entries if e.link.endswith("/script"))
    assert script.title == SCRIPT_TITLE and script.author == "United Nations"
    assert feed.feed.links[0].rel == "self" or any(link.rel == "self" for link in feed.feed.links)
    everything = feedparser.parse(client.get("/feeds/items.atom").content)
    assert everything.bozo == 0 and len(everything.entries) == len(ids_of(client.get("/api/items?limit=200")))
    assert client.get("/feeds/items.atom", params={"q": '"', "since": "x"}).status_code == 400


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_are_200_or_400(client: TestClient, q: str) -> None:
    for path in ("/api/items", "/feeds/items.atom", "/"):
        r = client.get(path, params={"q": q})
        assert r.status_code in (200, 400), (path, r.status_code, r.text)


def test_csv_with_a_byte_order_mark_for_spreadsheets(client: TestClient, ids: dict[str, int]) -> None:
    plain = client.get("/api/items.csv", params={"lang": "fr"}).content
    assert not plain.startswith(b"\xef\xbb\xbf")
    marked = client.get("/api/items.csv", params={"lang": "fr", "bom": "1"}).content
    assert marked.startswith(b"\xef\xbb\xbfid,") and marked[3:] == plain
    rows = list(csv.DictReader(io.StringIO(marked.decode("utf-8-sig"))))
    assert "Systèmes d'armes létales autonomes" in {r["title"] for r in rows}


def test_json_and_csv_carry_the_story(client: TestClient, ids: dict[str, int]) -> None:
    [item] = [i for i in client.get("/api/items", params={"q": "resolution"}).json()["items"]]
    assert item["id"] == ids["resolution"] and item["story"] == ids["resolution"]
    assert [c["id"] for c in item["copies"]] == [ids["resolution-copy"]]
    assert item["also_published_by"] == ["Government of the Netherlands"] and item["also_in"] == []
    copy = client.get(f"/api/items/{ids['resolution-copy']}").json()
    assert copy["story"] == ids["resolution"] and copy["copies"][0]["original"] is True
    [row] = list(csv.DictReader(io.StringIO(client.get("/api/items.csv", params={"q": "resolution"}).text)))
    assert row["also_published_by"] == "Government of the Netherlands"


def test_snippets_also_come_as_plain_text_with_highlight_offsets(client: TestClient, ids: dict[str, int]) -> None:
    [hit] = [i for i in client.get("/api/items", params={"q": "REAIM", "all": "1"}).json()["items"]
             if i["id"] == ids["script"]]
    text, marks = hit["snippet_text"], hit["highlights"]
    assert "<mark>" not in text and "&lt;" not in text and '<script>alert("x")</script>' in text
    assert marks and all(text[a:b].casefold() == "reaim" for a, b in marks)
