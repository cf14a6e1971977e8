"""Subscriptions: create, list, pause, resume (failed batches due again), delete; validation of
languages, sources, targets.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.dispatch import send_due
from alerts.subscriptions import (
    SubscriptionError,
    create_subscription,
    delete_subscription,
    list_subscriptions,
    pause_subscription,
    resume_subscription,
    unsubscribe,
)
from milai.cli.main import app
from milai.config import Settings
from storage.database import session_scope
from storage.models import DeliveryBatch, Subscription
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver

runner = CliRunner()


def test_create_list_pause_resume_delete(env: dict[str, str]) -> None:
    with session_scope(configured_engine()) as session:
        sub = create_subscription(
            session, channel="email", target="Reader@Example.org", frequency="weekly",
            timezone="Europe/Paris", delivery_hour=9, languages=["EN"], publishers=["United Nations"],
        )
        sid, token = sub.id, sub.unsubscribe_token
    assert len(token) >= 32
    with session_scope(configured_engine()) as session:
        pause_subscription(session, sid)
    with session_scope(configured_engine()) as session:
        [sub] = list_subscriptions(session)
        assert (sub.active, sub.paused_reason, sub.languages, sub.target) == (
            False, "paused by user", ["en"], "Reader@example.org"
        )
        resume_subscription(session, sid)
    with session_scope(configured_engine()) as session:
        assert session.get(Subscription, sid).active
        assert unsubscribe(session, token) is True
        assert unsubscribe(session, "nope") is False
    with session_scope(configured_engine()) as session:
        assert session.get(Subscription, sid).paused_reason == "unsubscribed"
        delete_subscription(session, sid)
    with session_scope(configured_engine()) as session:
        assert list_subscriptions(session) == []
        with pytest.raises(SubscriptionError, match="no subscription"):
            delete_subscription(session, sid)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": "email", "target": "not-an-address"}, "invalid email"),
        ({"channel": "email", "target": "a@b.org", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"channel": "email", "target": "a@b.org", "frequency": "hourly"}, "unknown frequency"),
        ({"channel": "email", "target": "a@b.org", "delivery_hour": 24}, "delivery hour"),
        ({"channel": "sms", "target": "123"}, "unknown channel"),
        ({"channel": "webhook", "target": "ftp://x.org/h", "secret": SECRET}, "scheme"),
        ({"channel": "webhook", "target": "not a url", "secret": SECRET}, "invalid URL"),
        ({"channel": "webhook", "target": "http://127.0.0.1:9/h"}, "needs --secret"),
        ({"channel": "webhook", "target": "http://127.0.0.1:9/h", "secret": "abc"}, "whsec_"),
        ({"channel": "webhook", "target": "http://127.0.0.1:9/h", "secret": "whsec_!!!"}, "base64"),
        ({"channel": "email", "target": "a@b.org", "query": '"unclosed AND ('}, "invalid query"),
    ],
)
def test_validation_errors(env: dict[str, str], kwargs: dict, message: str) -> None:
    with session_scope(configured_engine()) as session:
        with pytest.raises(SubscriptionError, match=message):
            create_subscription(session, **kwargs, policy=Settings().target_policy)


def test_a_webhook_or_apprise_target_needs_the_callers_policy(env: dict[str, str]) -> None:
    """The subscription checks a target with the policy its caller read from the settings, never its own."""
    from milai.netguard import TargetPolicy

    with session_scope(configured_engine()) as session:
        for channel, target in (("webhook", "https://93.184.215.14/hook"), ("apprise", "slack://T1/A1/x")):
            with pytest.raises(TypeError, match="Settings.target_policy"):
                create_subscription(session, channel=channel, target=target, secret=SECRET)
        assert create_subscription(session, channel="email", target="a@b.org").channel == "email"  # needs none
        with pytest.raises(SubscriptionError, match="loopback"):
            create_subscription(session, channel="webhook", target="http://127.0.0.1:9/h", secret=SECRET,
                                policy=TargetPolicy())
        sub = create_subscription(session, channel="webhook", target="http://127.0.0.1:9/h", secret=SECRET,
                                  policy=TargetPolicy(allow_private=True))
        assert sub.target == "http://127.0.0.1:9/h"


def test_resume_makes_failed_batches_due_now(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET, fail_times=1) as receiver:
        sid = subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        assert send_due(Settings()).failed == 1
        assert send_due(Settings()).batches_sent == 0  # backoff
        with session_scope(configured_engine()) as session:
            pause_subscription(session, sid)
        with session_scope(configured_engine()) as session:
            resume_subscription(session, sid)
        with session_scope(configured_engine()) as session:
            batch = session.scalar(select(DeliveryBatch))
            assert batch.state == "failed" and batch.next_attempt_at is None
        assert send_due(Settings()).batches_sent == 1  # no --now needed
        assert len(receiver.accepted) == 1


@pytest.mark.parametrize("lang", ["english", "eng", "xx", "e"])
def test_language_must_be_iso_639_1(env: dict[str, str], lang: str) -> None:
    with session_scope(configured_engine()) as session, pytest.raises(SubscriptionError, match="ISO 639-1"):
        create_subscription(session, channel="email", target="a@b.org", languages=[lang])
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--lang", lang])
    assert result.exit_code == 2 and "ISO 639-1" in result.output


def test_language_codes_are_normalised(env: dict[str, str]) -> None:
    with session_scope(configured_engine()) as session:
        sub = create_subscription(session, channel="email", target="a@b.org", languages=["FR", "zh"])
        assert sub.languages == ["fr", "zh"]


def test_unknown_source_is_an_error_once_the_catalogue_has_rows(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "nonexistent-source"])
    assert result.exit_code == 0, result.output  # empty catalogue: accepted...
    assert "warning" in result.output and "nonexistent-source" in result.output  # ...with a warning
    add_item(source="un-news")
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "nonexistent-source"])
    assert result.exit_code == 2 and "unknown source" in result.output
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--source", "un-news"])
    assert result.exit_code == 0 and "warning" not in result.output
