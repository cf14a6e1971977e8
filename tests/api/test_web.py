"""The server-rendered page (without a browser): escaping, sanitising, paging links, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from milai.config import Settings
from storage.database import session_scope
from storage.models import Subscription
from tests.support.db import configured_engine
from tests.support.smtp import SmtpServer


def test_search_page(client: TestClient, ids: dict[str, int]) -> None:
    r = client.get("/", params={"q": "REAIM"})
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "&lt;script&gt;alert" in r.text
    assert "<mark>REAIM</mark>" in r.text and '<span class="label">Matched</span>' in r.text
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
    from storage.database import session_scope
    from storage.models import CrawlRun, Source

    with session_scope(configured_engine()) as session:
        source = session.query(Source).filter_by(name="nl-gov").one()
        session.add(CrawlRun(source_id=source.id, status="failed", finished_at=source.last_run_at,
                             listing_status=403, problem="challenge:Akamai", health="blocked",
                             health_reason="the site answers HTTP 403 with an Akamai bot-challenge page <b>"))
    page = client.get("/sources").text
    assert 'class="bad">blocked</span>: the site answers HTTP 403 with an Akamai bot-challenge page &lt;b&gt;' in page
    assert "look for its RSS feed or sitemap" in page


@pytest.fixture
def smtp(milai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A mail server the app is configured with: set before `client` builds the app (it reads its settings once)."""
    with SmtpServer() as server:
        monkeypatch.setenv("MILAI_SMTP_URL", server.url())
        yield server


@pytest.fixture
def client(ids: dict[str, int], request: pytest.FixtureRequest) -> Iterator[TestClient]:
    if "smtp" in request.fixturenames:
        request.getfixturevalue("smtp")
    with TestClient(create_app(Settings())) as c:
        yield c


def _token(client: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_subscribe_form_needs_its_csrf_token(client: TestClient, smtp: SmtpServer) -> None:
    token = _token(client)
    form = {"email": "reader@example.org", "query": "REAIM", "frequency": "weekly", "csrf": token}
    client.cookies.clear()
    assert client.post("/subscribe", data=form).status_code == 403
    client.cookies.set("milai_csrf", token)
    r = client.post("/subscribe", data=form)
    assert r.status_code == 202 and "reader@example.org" in r.text
    bad = client.post("/subscribe", data={**form, "email": "not-an-address"})
    assert bad.status_code == 422
    bad_zone = client.post("/subscribe", data={**form, "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422 and "time zone" in bad_zone.text
    with session_scope(configured_engine()) as s:
        sub = s.query(Subscription).one()
        assert (sub.channel, sub.frequency, sub.query, sub.active) == ("email", "weekly", "REAIM", False)


def test_double_opt_in_through_the_page(client: TestClient, smtp: SmtpServer) -> None:
    from alerts.dispatch import send_due
    from tests.alerts.conftest import add_item

    token = _token(client)
    r = client.post("/subscribe", data={"email": "analyst@example.org", "query": "autonomous weapons",
                                        "frequency": "daily", "hour": "18", "timezone": "Asia/Seoul",
                                        "lang": ["en", "fr"], "csrf": token})
    assert r.status_code == 202 and "we sent a confirmation email to <strong>analyst@example.org" in r.text
    [mail] = smtp.messages
    assert mail["To"] == "analyst@example.org" and "confirm your subscription" in mail["Subject"]
    link = re.search(r"http://\S+/confirm/\d+/\S+", mail.get_content()).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    add_item(title="Autonomous weapons at the UN")
    # not yet confirmed
    assert send_due(Settings(), datetime.now(UTC) + timedelta(minutes=1), force=True).batches_sent == 0
    page = client.get("/" + path)
    assert page.status_code == 200 and "<button type=\"submit\">Confirm</button>" in page.text
    with session_scope(configured_engine()) as s:
        assert s.query(Subscription).one().active is False  # a GET (a mail scanner) confirms nothing
    assert client.get("/" + path[:-3] + "xyz").status_code == 404
    done = client.post("/" + path)
    assert done.status_code == 200 and "Confirmed: analyst@example.org" in done.text
    assert "18:00 (Asia/Seoul)" in done.text
    with session_scope(configured_engine()) as s:
        sub = s.query(Subscription).one()
        assert (sub.active, sub.delivery_hour, sub.timezone, sub.languages) == (True, 18, "Asia/Seoul", ["en", "fr"])
    assert send_due(Settings(), datetime.now(UTC) + timedelta(minutes=2), force=True).batches_sent == 1
    assert len(smtp.messages) == 2 and "autonomous weapons" in smtp.messages[1]["Subject"]


def test_no_mail_server_means_no_subscription(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MILAI_SMTP_URL", raising=False)
    r = client.post("/subscribe", data={"email": "a@example.org", "csrf": _token(client)})
    assert r.status_code == 503 and "not set up" in r.text
    with session_scope(configured_engine()) as s:
        assert s.query(Subscription).count() == 0


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
    assert '<span class="group">AI:</span> <span class="match" lang="de">KI</span>' in page
    assert '<span class="group">Military:</span>' in page
    item = client.get(f"/items/{new_id}").text
    assert '<span class="group">AI:</span> <span class="match" lang="de">KI</span>' in item
    assert "rule:" not in item and "mil:" not in item
    legacy = client.get(f"/items/{old_id}").text
    assert ('<span class="group">Named topic:</span> <span class="match">LAWS</span>; '
            '<span class="group">Military:</span> <span class="match">CCW</span>') in legacy
    assert "strong:" not in legacy and "rule:" not in legacy
    data = client.get(f"/api/items/{new_id}").json()
    assert data["matches"] == verdict.matches and data["why"] == verdict.why
    assert any(c.startswith("rule:") for c in data["match_codes"])


def _fresh_item(title: str, days_ago: int, language: str = "en") -> int:
    from datetime import UTC, datetime, timedelta

    from storage.items import add_item

    with session_scope(configured_engine()) as s:
        item = add_item(s, canonical_url=f"http://t/{title}", url=f"http://t/{title}", title=title,
                        text="Autonomous drone swarms in military exercises.", language=language, relevant=True,
                        score=0.9, published=datetime.now(UTC) - timedelta(days=days_ago), matches=["drone"])
        return item.id


def test_languages_are_offered_from_the_archive_with_their_names(client: TestClient) -> None:
    _fresh_item("korean-item", 3, "ko")
    from api.routes.web import forget_facets

    forget_facets()
    page = client.get("/").text
    assert re.search(r'name="lang" value="ko"[^>]*>\s*<span lang="ko">Korean \(한국어\)</span>', page)
    assert '<span lang="fr">French (français)</span>' in page
    assert 'value="ja"' not in page  # only languages the archive holds


def test_several_languages_publishers_and_sources_at_once(client: TestClient, ids: dict[str, int]) -> None:
    both = client.get("/", params=[("q", "REAIM"), ("lang", "en"), ("lang", "fr")]).text
    assert f'href="/items/{ids["reaim"]}"' in both and f'href="/items/{ids["reaim-fr"]}"' in both
    assert re.search(r'value="en" checked', both) and re.search(r'value="fr" checked', both)
    french = client.get("/", params=[("q", "REAIM"), ("lang", "fr")]).text
    assert f'href="/items/{ids["reaim"]}"' not in french and f'href="/items/{ids["reaim-fr"]}"' in french
    un = client.get("/", params=[("sort", "date"), ("publisher", "United Nations")]).text
    assert f'href="/items/{ids["resolution"]}"' in un and f'href="/items/{ids["reaim"]}"' not in un
    nl = client.get("/", params=[("sort", "date"), ("source", "nl-gov")]).text
    assert f'href="/items/{ids["reaim"]}"' in nl and f'href="/items/{ids["resolution"]}"' not in nl


def test_result_count_and_sort_links(client: TestClient, ids: dict[str, int]) -> None:
    page = client.get("/", params={"q": "autonomous weapons"}).text
    assert re.search(r'<p class="count" role="status">2 stories', page)
    assert 'href="/?q=autonomous+weapons&amp;sort=date">newest first</a>' in page
    assert 'aria-current="true">relevance</a>' in page
    by_date = client.get("/", params={"q": "autonomous weapons", "sort": "date"}).text
    first, second = (by_date.index(f'href="/items/{ids[n]}"') for n in ("reaim", "resolution"))
    assert first < second  # newest first
    assert 'aria-current="true">newest first</a>' in by_date


def test_date_presets_keep_the_last_7_or_30_days(client: TestClient, ids: dict[str, int]) -> None:
    recent, month_old = _fresh_item("recent", 2), _fresh_item("month-old", 20)
    week = client.get("/", params={"within": "7", "q": "drone"}).text
    assert f'href="/items/{recent}"' in week and f'href="/items/{month_old}"' not in week
    assert 'name="within" value="7" checked' in week
    month = client.get("/", params={"within": "30", "q": "drone"}).text
    assert f'href="/items/{recent}"' in month and f'href="/items/{month_old}"' in month
    assert f'href="/items/{ids["bulk1"]}"' not in month  # the seeded drones are 100+ days old


def test_a_result_lists_the_other_copies_of_its_story(client: TestClient, ids: dict[str, int]) -> None:
    page = client.get("/", params={"q": "resolution"}).text
    result = page[page.index(f'href="/items/{ids["resolution"]}"'):]
    result = result[:result.index("</article>")]
    assert "Also published by" in result
    assert f'<a href="/items/{ids["resolution-copy"]}">Government of the Netherlands</a>' in result
    assert f'href="/items/{ids["resolution-copy"]}"' not in page.replace(result, "")  # the copy is no result
    item = client.get(f"/items/{ids['resolution-copy']}").text
    assert "This is a copy. The original, published first, is" in item
    assert f'<a href="/items/{ids["resolution"]}">General Assembly adopts resolution on LAWS</a>' in item


def test_the_item_page_shows_symbols_and_items_citing_them(client: TestClient, ids: dict[str, int]) -> None:
    from storage.models import ItemSymbol

    other = _fresh_item("citing", 5)
    with session_scope(configured_engine()) as s:
        s.add(ItemSymbol(item_id=other, symbol="A/RES/79/239"))
    page = client.get(f"/items/{ids['resolution']}").text
    assert '<a href="https://undocs.org/A/RES/79/239" rel="noopener noreferrer">A/RES/79/239</a>' in page
    assert 'href="/?symbol=A/RES/79/239">in the archive</a>' in page
    assert "Related: citing the same documents" in page and f'href="/items/{other}"' in page


def test_trends_page_draws_items_per_month_or_week(client: TestClient) -> None:
    page = client.get("/trends", params={"q": "drone"}).text
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    months = re.findall(r"<rect [^>]*><title>(\d{4}-\d\d): (\d+)</title>", svg)
    assert months
    stats = client.get("/api/stats", params={"q": "drone"}).json()
    assert {(p["period"], p["count"]) for p in stats["per_month"]} <= {(m, int(n)) for m, n in months}
    assert "Top publishers" in page and "United Nations" in page
    weekly = client.get("/trends", params={"q": "drone", "interval": "week"}).text
    assert re.search(r"<title>\d{4}-W\d\d: \d+</title>", weekly)
    assert "style=" not in svg  # presentation by the stylesheet: the CSP allows no inline style


def test_atom_entries_carry_the_story_copies(client: TestClient, ids: dict[str, int]) -> None:
    body = client.get("/feeds/items.atom", params={"q": "resolution"}).text
    assert 'rel="related" href="http://127.0.0.1/resolution-copy"' in body
    assert "Also published by Government of the Netherlands." in body


def test_every_digest_links_to_a_signed_manage_page(client: TestClient, smtp: SmtpServer) -> None:
    from alerts.dispatch import send_due
    from alerts.subscriptions import create_subscription
    from tests.alerts.conftest import add_item

    with session_scope(configured_engine()) as s:
        sid = create_subscription(s, channel="email", target="a@example.org", query="autonomous weapons").id
    item = add_item(title="Autonomous weapons at the UN")
    assert send_due(Settings(), datetime.now(UTC) + timedelta(minutes=1), force=True).batches_sent == 1
    text = smtp.messages[0].get_body(("plain",)).get_content()
    link = re.search(r"Change this digest or pause it: (http://\S+)", text).group(1)
    assert "In MilAI Watch: http://" in text and f"/items/{item}" in text  # the item's page here
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert path.startswith(f"/manage/{sid}/")
    form = client.get(path)
    assert form.status_code == 200 and 'value="autonomous weapons"' in form.text
    assert client.get(path[:-2] + "zz").status_code == 404
    saved = client.post(path, data={"query": "drones", "frequency": "weekly", "hour": "9",
                                    "timezone": "Europe/Paris", "paused": "1"})
    assert saved.status_code == 200 and "Saved: weekly at 09:00 (Europe/Paris), paused." in saved.text
    with session_scope(configured_engine()) as s:
        sub = s.get(Subscription, sid)
        assert (sub.query, sub.frequency, sub.delivery_hour, sub.timezone, sub.active) == (
            "drones", "weekly", 9, "Europe/Paris", False)
    feedback = re.search(rf"Not relevant\? (http://\S+/{item}/not_relevant)", text).group(1)
    fpath = "/" + feedback.split("://", 1)[1].split("/", 1)[1]
    assert "Yes, not relevant" in client.get(fpath).text
    assert client.get(fpath.replace(f"/{item}/", f"/{item}x/")).status_code == 404
    assert client.post(fpath.replace(f"/feedback/{sid}/", f"/feedback/{sid}/x")).status_code == 404
    assert "recorded as not relevant" in client.post(fpath).text
    with session_scope(configured_engine()) as s:
        from storage.models import ItemLabel

        assert [(lb.item_id, lb.label, lb.via) for lb in s.query(ItemLabel)] == [(item, "not_relevant", "email")]
    bad = client.post(path, data={"query": "drones", "frequency": "hourly", "hour": "9", "timezone": "UTC"})
    assert bad.status_code == 422 and "unknown frequency" in bad.text
    client.post(path, data={"query": "drones", "frequency": "daily", "hour": "9", "timezone": "UTC"})
    with session_scope(configured_engine()) as s:
        assert (s.get(Subscription, sid).frequency, s.get(Subscription, sid).active) == ("daily", True)


def test_relevant_and_not_relevant_labels_from_page_and_api_and_their_export(
        client: TestClient, ids: dict[str, int], tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json as jsonlib

    from typer.testing import CliRunner

    from api.auth import create_token
    from milai.cli.main import app
    from storage.items import revise_item
    from storage.models import Item

    page = client.get(f"/items/{ids['offtopic']}")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert '<button type="submit" name="label" value="not_relevant"' in page.text
    r = client.post(f"/items/{ids['offtopic']}/label", data={"csrf": token, "label": "relevant"},
                    follow_redirects=True)
    assert r.status_code == 200 and "Thank you: recorded as relevant." in r.text
    forged = client.post(f"/items/{ids['offtopic']}/label", data={"csrf": "forged", "label": "relevant"})
    assert forged.status_code == 403
    with session_scope(configured_engine()) as s:
        _, secret = create_token(s, "tests")
        revise_item(s, s.get(Item, ids["reaim"]), text="A corrected text about REAIM.")  # revision 2
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.post(f"/api/items/{ids['reaim']}/labels", json={"label": "not_relevant"}).status_code == 401
    done = client.post(f"/api/items/{ids['reaim']}/labels", json={"label": "not_relevant"}, headers=auth)
    assert done.status_code == 201 and done.json()["revision"] == 2
    assert client.post(f"/api/items/{ids['reaim']}/labels", json={"label": "maybe"}, headers=auth).status_code == 422
    out = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(app, ["labels", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = [jsonlib.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in records}
    assert by_id[f"item-{ids['offtopic']}-r1"]["label"] == "relevant"
    assert by_id[f"item-{ids['reaim']}-r2"]["label"] == "not_relevant"
    assert by_id[f"item-{ids['reaim']}-r2"]["text"] == "A corrected text about REAIM."
    assert {"id", "lang", "title", "text", "label"} <= set(records[0])
