"""Item snapshots in batch payloads: links to the fetched URL, document symbols and translations,
relations loaded once per batch, human "why it matched" with the subscriber's query terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from alerts.digest_email import build_digest
from alerts.dispatch import send_due
from milai.config import Settings
from storage.database import session_scope
from storage.links import TRANSLATION
from storage.models import Item, ItemLink, ItemSymbol
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

RES = "A/RES/79/239"


REPORT = "A/79/88"


GGE = "CCW/GGE.1/2024/2"


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _cite(item_id: int, *symbols: str) -> None:
    with session_scope(configured_engine()) as session:
        session.add_all(ItemSymbol(item_id=item_id, symbol=s) for s in symbols)


def _translate(a: int, b: int) -> None:
    """Link two items as hreflang alternates, both ways (as storage.links does)."""
    with session_scope(configured_engine()) as session:
        session.add_all([ItemLink(item_id=a, other_id=b, kind=TRANSLATION),
                         ItemLink(item_id=b, other_id=a, kind=TRANSLATION)])


def _url(item_id: int) -> str:
    with session_scope(configured_engine()) as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item.url


def _section(body: str, start: str, end: str) -> str:
    return body[body.index(start):body.index(end, body.index(start))]


def test_items_citing_the_same_symbol_are_grouped(smtp_server: SmtpServer) -> None:
    subscribe()
    un = add_item(title="UN <b>General Assembly</b> adopts LAWS resolution &amp; more", source="un-news")
    nl = add_item(title="Netherlands welcomes resolution on autonomous weapons", publisher="Rijksoverheid",
                  source="gov-nl")
    gge = add_item(title="GGE report on lethal autonomous weapons", publisher="UNODA", source="unoda")
    _cite(un, RES, REPORT)
    _cite(nl, RES)
    _cite(gge, GGE, REPORT)

    assert send_due(Settings(), force=True).items_sent == 3
    [message] = smtp_server.messages
    html, text = _html(message), _text(message)

    # The section at the top lists shared symbols only, most-cited first, with the citing items.
    cited = _section(html, "UN documents cited", "</ul>")
    assert html.index("UN documents cited") < html.index("Rijksoverheid")
    assert '<a href="https://undocs.org/A/RES/79/239">A/RES/79/239</a>' in cited
    assert '<a href="https://undocs.org/A/79/88">A/79/88</a>' in cited
    assert GGE not in cited
    res_entry = _section(cited, "A/RES/79/239</a>", "</li>")
    assert f'<a href="{_url(un)}">UN General Assembly adopts LAWS resolution &amp; more</a>' in res_entry
    assert f'<a href="{_url(nl)}">Netherlands welcomes resolution on autonomous weapons</a>' in res_entry
    assert "GGE report" not in res_entry
    report_entry = _section(cited, "A/79/88</a>", "</li>")
    assert "GGE report on lethal autonomous weapons" in report_entry and "UN General Assembly" in report_entry
    assert "<b>" not in html  # scraped markup stays stripped

    # Each item says what it cites, linked to undocs.org.
    assert html.count("Cites:") == 3
    assert '<a href="https://undocs.org/CCW/GGE.1/2024/2">CCW/GGE.1/2024/2</a>' in html

    text_cited = _section(text, "== UN documents cited ==", "\n== ")
    assert "* A/RES/79/239 (https://undocs.org/A/RES/79/239), cited by:" in text_cited
    assert "  - UN General Assembly adopts LAWS resolution & more" in text_cited
    assert "  - Netherlands welcomes resolution on autonomous weapons" in text_cited
    assert "* A/79/88 (https://undocs.org/A/79/88), cited by:" in text_cited
    assert GGE not in text_cited
    assert text_cited.index(REPORT) < text_cited.index(RES)  # both cited twice: ordered by symbol
    assert "  Cites: A/79/88 (https://undocs.org/A/79/88), A/RES/79/239 (https://undocs.org/A/RES/79/239)" in text
    assert f"  Cites: A/79/88 (https://undocs.org/A/79/88), {GGE} (https://undocs.org/{GGE})" in text


def test_no_cited_section_without_a_shared_symbol(smtp_server: SmtpServer) -> None:
    subscribe()
    _cite(add_item(title="Resolution adopted"), RES)
    add_item(title="Unrelated story on military AI")
    send_due(Settings(), force=True)
    [message] = smtp_server.messages
    for body in (_html(message), _text(message)):
        assert "UN documents cited" not in body
        assert "Cites:" in body and "Also in:" not in body


def test_language_versions_shown_as_also_in(smtp_server: SmtpServer) -> None:
    subscribe(languages=["en"])
    en = add_item(title="Government statement on military AI", publisher="Rijksoverheid", source="gov-nl")
    nl = add_item(title="Kabinet over <script>alert(1)</script>militaire AI", publisher="Rijksoverheid",
                  source="gov-nl", language="nl")
    fr = add_item(title="Déclaration sur l'IA militaire", publisher="Rijksoverheid", source="gov-nl",
                  language="fr")
    _translate(en, nl)
    _translate(fr, en)  # stored from the other side: still a language version of `en`
    with session_scope(configured_engine()) as session:
        session.get(Item, fr).url = "javascript:alert(1)"

    assert send_due(Settings(), force=True).items_sent == 1  # only the English version matches the filter
    [message] = smtp_server.messages
    html, text = _html(message), _text(message)
    nl_url = _url(nl)
    assert f'<a href="{nl_url}" title="Kabinet over militaire AI">Nederlands</a>' in html
    assert '<a href="#" title="Déclaration sur l&#39;IA militaire">Français</a>' in html
    assert "javascript:" not in html and "<script>" not in html and "alert(1)" not in html
    assert f"  Also in: Français (#), Nederlands ({nl_url})" in text
    assert "javascript:" not in text


def test_webhook_payload_carries_symbols_and_translations(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily", languages=["en"])
    en = add_item(title="UN adopts resolution on autonomous weapons")
    nl = add_item(title="VN neemt <i>resolutie</i> aan", language="nl")
    plain = add_item(title="Item without relations")
    _cite(en, RES, GGE)
    _translate(en, nl)

    assert send_due(Settings(), force=True).batches_sent == 1
    [payload] = receiver.accepted
    assert payload["version"] == 1
    items = {item["id"]: item for item in payload["items"]}
    assert set(items) == {en, plain}
    assert items[en]["symbols"] == [
        {"symbol": RES, "url": "https://undocs.org/A/RES/79/239"},
        {"symbol": GGE, "url": "https://undocs.org/CCW/GGE.1/2024/2"},
    ]
    assert items[en]["translations"] == [
        {"id": nl, "language": "nl", "url": _url(nl), "title": "VN neemt resolutie aan"}
    ]
    assert items[en]["also_published_by"] == []
    assert items[plain]["symbols"] == [] and items[plain]["translations"] == []


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    engine = configured_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_relations_loaded_once_per_batch(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="daily", languages=["en"])
    for n in range(12):
        en = add_item(title=f"English story {n}")
        nl = add_item(title=f"Nederlands verhaal {n}", language="nl")
        _cite(en, RES, f"A/79/{n + 1}")
        _translate(en, nl)
    with _statements() as seen:
        assert send_due(Settings(), force=True).items_sent == 12
    assert sum("FROM item_symbols" in s for s in seen) == 1
    assert sum("FROM item_links" in s for s in seen) == 1
    [payload] = receiver.accepted
    assert all(len(i["symbols"]) == 2 and len(i["translations"]) == 1 for i in payload["items"])


def test_batches_stored_before_relations_existed_still_render() -> None:
    payload = {
        "created": "2026-11-29T07:00:00+00:00",
        "items": [{"id": 1, "url": "https://example.org/a", "title": "Old snapshot", "published": None,
                   "publisher": "United Nations", "language": "en", "summary": "", "matches": [],
                   "also_published_by": []}],
    }
    message = build_digest(batch_id="msg_old", payload=payload, to="reader@example.org",
                           mail_from="MilAI Watch <milai@localhost>", unsubscribe_url="http://x/unsubscribe/t")
    for body in (_html(message), _text(message)):
        assert "Old snapshot" in body and "Cites:" not in body and "UN documents cited" not in body


def test_links_point_at_the_fetched_url_not_the_dedup_key(smtp_server: SmtpServer) -> None:
    subscribe()
    item_id = add_item(title="Autonomous weapons talks resume")
    with session_scope(configured_engine()) as session:
        item = session.get(Item, item_id)
        item.url = "http://127.0.0.1:8081/news/talks"  # an http-only site; canonical_url says https
    send_due(Settings(), force=True)
    html = _html(smtp_server.messages[0])
    assert 'href="http://127.0.0.1:8081/news/talks"' in html
    assert "https://un-news.example/news/" not in html


RAW_MATCHES = [
    "strong:autonomous weapons", "strong:Autonomous Weapons", "ai:artificial intelligence", "mil:weapons",
    "mil:drones", "neg:fisheries", "rule:title-ai+mil", "rule:near-ai+mil x10", "rule:title+body-ai+mil",
]


def test_webhook_matches_are_human_with_query_terms(env: dict[str, str], receiver: WebhookReceiver) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate",
              query='("autonomous weapons" OR drone* OR NATO) NOT cyber')
    add_item(title="Drones and autonomous weapons at the UN", text="Swarming drones were discussed.",
             matches=RAW_MATCHES)
    assert send_due(Settings()).batches_sent == 1
    [payload] = receiver.accepted
    [item] = payload["items"]
    assert item["matches"] == ["autonomous weapons", "artificial intelligence", "weapons", "drones"]
    assert item["query_matches"] == ["autonomous weapons", "drone*"]
    assert item["classifier_matches"] == RAW_MATCHES
    assert payload["version"] == 1


def test_matches_are_capped_and_query_matches_empty_without_query(
    env: dict[str, str], receiver: WebhookReceiver,
) -> None:
    subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
    add_item(matches=[f"strong:term {n}" for n in range(12)] + ["rule:title-ai+mil"])
    send_due(Settings())
    [item] = receiver.accepted[0]["items"]
    assert item["matches"] == [f"term {n}" for n in range(8)]
    assert item["query_matches"] == []


def test_old_batches_with_raw_tokens_render_human(env: dict[str, str]) -> None:
    from alerts.digest_email import build_digest

    payload = {"created": "2026-11-29T07:00:00+00:00", "items": [{
        "id": 1, "url": "https://x.example/1", "title": "T", "published": None, "publisher": "P",
        "language": "en", "summary": "", "matches": RAW_MATCHES, "also_published_by": [],
    }]}
    message = build_digest(batch_id="msg_old", payload=payload, to="a@b.org", mail_from="milai@localhost",
                           unsubscribe_url="https://m.example/unsubscribe/x")
    text = message.get_body(("plain",)).get_content()
    assert "Why it matched: autonomous weapons, artificial intelligence, weapons, drones" in text
