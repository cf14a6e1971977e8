"""Double opt-in: a web request is paused until its signed link is confirmed; nothing but the
confirmation mail is sent before; unconfirmed requests expire (both dialects, aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import confirmation
from alerts.dispatch import send_due
from alerts.subscriptions import SubscriptionError
from milai.config import Settings
from storage.database import session_scope
from storage.models import Subscription
from tests.alerts.conftest import add_item
from tests.support.db import configured_engine
from tests.support.smtp import SmtpServer


def _request(email: str = "reader@example.org", **kw: object) -> tuple[int, str]:
    with session_scope(configured_engine()) as session:
        sub = confirmation.request_subscription(session, email=email, query="autonomous weapons", **kw)
        return sub.id, confirmation.confirm_token(sub)


def test_nothing_is_sent_before_confirming_and_digests_follow_after(smtp_server: SmtpServer) -> None:
    sid, token = _request()
    add_item()
    assert send_due(Settings(), datetime.now(UTC) + timedelta(minutes=1), force=True).batches_sent == 0
    assert smtp_server.messages == []
    with session_scope(configured_engine()) as session:
        sub = session.get(Subscription, sid)
        with pytest.raises(SubscriptionError, match="not valid"):
            confirmation.confirm(session, sub, token[:-2] + "xx")
        assert confirmation.is_pending(sub)
        confirmation.confirm(session, sub, token)
        assert sub.active and sub.paused_reason is None
    assert send_due(Settings(), datetime.now(UTC) + timedelta(minutes=2), force=True).batches_sent == 1
    [digest] = smtp_server.messages
    assert digest["To"] == "reader@example.org" and "autonomous weapons" in digest["Subject"]


def test_unconfirmed_requests_expire(env: dict[str, str]) -> None:
    old = datetime.now(UTC) - timedelta(hours=confirmation.CONFIRM_HOURS + 1)
    sid, token = _request(now=old)
    with session_scope(configured_engine()) as session:
        with pytest.raises(SubscriptionError, match="expired"):
            confirmation.check_link(session.get(Subscription, sid), token)
    _request("other@example.org")  # a new request sweeps the expired one away
    with session_scope(configured_engine()) as session:
        assert [s.target for s in session.query(Subscription)] == ["other@example.org"]


def test_every_sender_run_sweeps_expired_requests_without_waiting_for_a_new_one(env: dict[str, str]) -> None:
    now = datetime.now(UTC)
    _request("stale@example.org", now=now - timedelta(hours=confirmation.CONFIRM_HOURS + 1))
    _request("recent@example.org", now=now - timedelta(hours=confirmation.CONFIRM_HOURS - 1))
    # (ids are compared by address: SQLite may give a new row the id of a deleted one)
    send_due(Settings(), now, force=True)
    with session_scope(configured_engine()) as session:
        assert [s.target for s in session.query(Subscription)] == ["recent@example.org"]
    send_due(Settings(), now + timedelta(hours=2), force=True)  # two hours on, the second one has expired too
    with session_scope(configured_engine()) as session:
        assert session.query(Subscription).count() == 0


def test_the_confirmation_mail_names_the_search_and_its_schedule(env: dict[str, str]) -> None:
    with session_scope(configured_engine()) as session:
        sub = confirmation.request_subscription(session, email="reader@example.org", query="drones",
                                                frequency="weekly", delivery_hour=18, timezone="Asia/Seoul")
        message = confirmation.confirmation_message(sub, confirm_url="http://x/confirm/1/abc",
                                                    mail_from="MilAI Watch <milai@localhost>")
    assert message["Subject"] == "MilAI Watch: confirm your subscription to drones"
    body = message.get_content()
    assert "weekly at 18:00 Asia/Seoul" in body and "http://x/confirm/1/abc" in body
