from __future__ import annotations

import pytest

from alerts.subscriptions import (
    SubscriptionError,
    create_subscription,
    delete_subscription,
    list_subscriptions,
    pause_subscription,
    resume_subscription,
    unsubscribe,
)
from storage.database import session_scope
from storage.models import Subscription
from tests.alerts.conftest import SECRET
from tests.support.db import configured_engine


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
            create_subscription(session, **kwargs)
