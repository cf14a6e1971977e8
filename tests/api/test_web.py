"""The server-rendered page (without a browser): escaping, sanitising, paging links, CSRF."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from storage.database import session_scope
from storage.models import Subscription
from tests.support.db import configured_engine


def test_search_page(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get("/", params={"q": "REAIM"})
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "&lt;script&gt;alert" in r.text
    assert "<mark>REAIM</mark>" in r.text and "Why:" in r.text
    r = client.get("/", params={"q": "drone*", "all": "1"})
    next_url = re.search(r'<a rel="next" href="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    assert client.get(next_url).status_code == 200
    bad = client.get("/", params={"since": "never"})
    assert bad.status_code == 400 and "invalid date" in bad.text


def test_item_page_sanitises(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get(f"/items/{ids['script']}")
    assert r.status_code == 200
    assert "<script" not in r.text.lower().replace("&lt;script", "")
    assert "onerror" not in r.text and "drone swarms" in r.text
    r = client.get(f"/items/{ids['resolution']}")
    assert 'href="https://undocs.org/A/RES/79/239"' in r.text
    assert client.get("/items/424242").status_code == 404


def test_sources_page(client: TestClient) -> None:
    r = client.get("/sources")
    assert "un-news" in r.text and 'class="bad">failing</span>: HTTP 503' in r.text
    assert "What to do: a network problem" in r.text


def test_sources_page_tells_each_source_health_with_reason_and_action(client: TestClient) -> None:
    from storage.database import get_engine, session_scope
    from storage.models import CrawlRun, Source

    with session_scope(get_engine()) as session:
        source = session.query(Source).filter_by(name="nl-gov").one()
        session.add(CrawlRun(source_id=source.id, status="failed", finished_at=source.last_run_at,
                             listing_status=403, problem="challenge:Akamai", health="blocked",
                             health_reason="the site answers HTTP 403 with an Akamai bot-challenge page <b>"))
    page = client.get("/sources").text
    assert 'class="bad">blocked</span>: the site answers HTTP 403 with an Akamai bot-challenge page &lt;b&gt;' in page
    assert "look for its RSS feed or sitemap" in page


def test_subscribe_form_needs_its_csrf_token(client: TestClient) -> None:
    page = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"email": "reader@example.org", "query": "REAIM", "frequency": "weekly", "csrf": token}
    client.cookies.clear()
    assert client.post("/subscribe", data=form).status_code == 403
    client.cookies.set("milai_csrf", token)
    r = client.post("/subscribe", data=form)
    assert r.status_code == 201 and "reader@example.org" in r.text
    bad = client.post("/subscribe", data={**form, "email": "not-an-address"})
    assert bad.status_code == 422
    with session_scope(configured_engine()) as s:
        sub = s.query(Subscription).one()
        assert (sub.channel, sub.frequency, sub.query) == ("email", "weekly", "REAIM")


def test_why_shows_phrases_by_group_never_rule_codes(client: TestClient) -> None:
    from crawler.relevance import classify
    from storage.items import add_item

    verdict = classify("Bundeswehr testet KI für Drohnen", "Die Streitkräfte erproben künstliche Intelligenz.", "de")
    with session_scope(configured_engine()) as s:
        new = add_item(s, canonical_url="http://t/why-new", url="http://t/why-new", title="Bundeswehr testet KI",
                       text="Drohnen", language="de", relevant=True, score=verdict.score, matches=verdict.stored())
        old = add_item(s, canonical_url="http://t/why-old", url="http://t/why-old", title="Zzyzx codes",
                       text="x", relevant=True, score=0.9, matches=["strong:LAWS", "mil:CCW", "rule:title-ai+mil"])
        new_id, old_id = new.id, old.id
    page = client.get("/", params={"q": "Bundeswehr"}).text
    assert "AI: <span class=\"match\">KI</span>" in page and "Military: " in page
    item = client.get(f"/items/{new_id}").text
    assert "AI: KI" in item and "rule:" not in item and "mil:" not in item
    legacy = client.get(f"/items/{old_id}").text
    assert "Named topic: LAWS · Military: CCW" in legacy and "strong:" not in legacy and "rule:" not in legacy
    data = client.get(f"/api/items/{new_id}").json()
    assert data["matches"] == verdict.matches and data["why"] == verdict.why
    assert any(c.startswith("rule:") for c in data["match_codes"])
