"""Operator alerts: a change of a source's health reaches MILAI_ADMIN_EMAIL / the admin webhook once, all
changes of one run in one message, through the delivery ledger; steady health and item digests never do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts.dispatch import send_due
from alerts.subscriptions import list_subscriptions
from milai.config import Settings
from storage.database import session_scope
from storage.models import CrawlRun, DeliveryBatch, Source, Subscription
from tests.alerts.conftest import SECRET, add_item
from tests.support.db import configured_engine

T0 = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def _source(name: str) -> int:
    with session_scope(configured_engine()) as session:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:
            source = Source(name=name, publisher=f"Publisher of {name}", kind="feed", url=f"https://{name}.example/rss",
                            consecutive_failures=0, ever_yielded=True, config={})
            session.add(source)
            session.flush()
        return source.id


def _run(name: str, health: str, reason: str, at: datetime) -> None:
    source_id = _source(name)
    with session_scope(configured_engine()) as session:
        session.add(CrawlRun(source_id=source_id, started_at=at, finished_at=at, status="ok", health=health,
                             health_reason=reason, links=0 if health != "ok" else 3))


@pytest.fixture
def admin(env, smtp_server):
    return smtp_server


@pytest.fixture
def settings(admin) -> Settings:
    """The configured mail server (MILAI_SMTP_URL) and MILAI_ADMIN_EMAIL=ops@example.org."""
    return Settings(smtp_url=admin.url(), admin_email="ops@example.org")


def test_a_health_change_is_mailed_once_and_steady_health_never(admin, settings):
    _run("nato-news", "ok", "3 link(s), 1 new", T0)
    send_due(settings, T0 + timedelta(minutes=1))
    assert admin.messages == []  # a first verdict that is ok is no news
    _run("nato-news", "ok", "3 link(s), 0 new", T0 + timedelta(hours=3))
    send_due(settings, T0 + timedelta(hours=3, minutes=1))
    assert admin.messages == []  # still ok: nothing to tell
    _run("nato-news", "not_found", "the listing answers HTTP 404 (not found)", T0 + timedelta(hours=6))
    send_due(settings, T0 + timedelta(hours=6, minutes=1))
    assert len(admin.messages) == 1
    mail = admin.messages[0]
    assert mail["To"] == "ops@example.org" and mail["Subject"] == "MilAI Watch: source nato-news is not found"
    body = mail.get_content()
    assert "nato-news (Publisher of nato-news): not found (was ok)" in body
    assert "why: the listing answers HTTP 404 (not found)" in body and "what to do: the URL has moved" in body
    # the same state again, and another run with nothing new: no second message
    _run("nato-news", "not_found", "the listing answers HTTP 404 (not found)", T0 + timedelta(hours=9))
    send_due(settings, T0 + timedelta(hours=9, minutes=1))
    send_due(settings, T0 + timedelta(hours=9, minutes=2))
    assert len(admin.messages) == 1


def test_changes_of_one_run_go_out_in_one_message(admin, settings):
    for name in ("a-ministry", "b-ministry", "c-ministry"):
        _run(name, "ok", "3 link(s)", T0)
    send_due(settings, T0 + timedelta(minutes=1))
    _run("a-ministry", "blocked", "the listing answers HTTP 403 (the site refuses access)", T0 + timedelta(hours=1))
    _run("b-ministry", "layout_changed", "no links found although earlier crawls found some",
         T0 + timedelta(hours=1))
    _run("c-ministry", "ok", "3 link(s)", T0 + timedelta(hours=1))
    report = send_due(settings, T0 + timedelta(hours=1, minutes=1))
    assert len(admin.messages) == 1 and report.batches_sent == 1
    mail = admin.messages[0]
    assert mail["Subject"] == "MilAI Watch: 2 sources changed health (2 with a problem)"
    body = mail.get_content()
    assert "a-ministry" in body and "b-ministry" in body and "c-ministry" not in body
    # recovery is a change too
    _run("a-ministry", "ok", "3 link(s), 2 new", T0 + timedelta(hours=2))
    send_due(settings, T0 + timedelta(hours=2, minutes=1))
    assert admin.messages[1]["Subject"] == "MilAI Watch: source a-ministry is ok"


def test_the_operator_channel_gets_no_item_digests_and_is_not_a_subscription(admin, settings):
    add_item(title="Talks on lethal autonomous weapons resume")
    _run("un-news", "failing", "the listing could not be fetched: TCPTimedOutError", T0)
    send_due(settings, T0 + timedelta(minutes=1))
    assert [m["Subject"] for m in admin.messages] == ["MilAI Watch: source un-news is failing"]
    with session_scope(configured_engine()) as session:
        assert list_subscriptions(session) == []
        operator = session.scalars(select(Subscription).where(Subscription.purpose == "operator")).one()
        assert (operator.channel, operator.target) == ("email", "ops@example.org")
        batch = session.scalars(select(DeliveryBatch)).one()
        assert batch.state == "sent" and batch.payload["type"] == "milai.health"


def test_the_admin_webhook_gets_a_signed_health_payload(env, receiver):
    settings = Settings(admin_webhook_url=receiver.url, admin_webhook_secret=SECRET)
    _run("war-gov", "blocked", "the site answers HTTP 403 with a Akamai bot-challenge page", T0)
    send_due(settings, T0 + timedelta(minutes=1))
    assert len(receiver.accepted) == 1
    payload = receiver.accepted[0]
    assert payload["type"] == "milai.health"
    assert [(c["source"], c["state"], c["previous"]) for c in payload["changes"]] == [("war-gov", "blocked", None)]


def test_without_an_admin_channel_changes_are_only_logged(env, caplog):
    _run("quiet", "no_links", "no links found on the listing", T0)
    with caplog.at_level("INFO", logger="milai.alerts"):
        send_due(Settings(), T0 + timedelta(minutes=1))
    assert "no MILAI_ADMIN_EMAIL / MILAI_ADMIN_WEBHOOK_URL set" in caplog.text
    with session_scope(configured_engine()) as session:
        assert session.scalars(select(DeliveryBatch)).all() == []
        assert all(r.notified_at for r in session.scalars(select(CrawlRun)))
