"""Digest links use the item's working URL; a new subscription's first digest reaches back a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.digest import send_due
from storage.database import session_scope
from storage.models import Item
from tests.alerts.conftest import add_item, subscribe
from tests.support.db import configured_engine
from tests.support.smtp import SmtpServer


def _html(msg) -> str:
    return next(p.get_content() for p in msg.walk() if p.get_content_type() == "text/html")


def test_links_point_at_the_fetched_url_not_the_dedup_key(smtp_server: SmtpServer) -> None:
    subscribe()
    item_id = add_item(title="Autonomous weapons talks resume")
    with session_scope(configured_engine()) as session:
        item = session.get(Item, item_id)
        item.url = "http://127.0.0.1:8081/news/talks"  # an http-only site; canonical_url says https
    send_due(force=True)
    html = _html(smtp_server.messages[0])
    assert 'href="http://127.0.0.1:8081/news/talks"' in html
    assert "https://un-news.example/news/" not in html


def test_first_digest_includes_the_last_day_but_not_the_archive(smtp_server: SmtpServer) -> None:
    add_item(title="Fetched this morning", fetched_at=datetime.now(UTC) - timedelta(hours=3))
    add_item(title="Fetched last week", fetched_at=datetime.now(UTC) - timedelta(days=7))
    subscribe()
    report = send_due(force=True)
    assert report.items_sent == 1
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "Fetched this morning" in text and "Fetched last week" not in text
