"""Helpers for alerts tests: items in the database, SMTP settings, subscriptions."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.subscriptions import create_subscription
from milai.config import Settings
from storage.database import ensure_schema, session_scope
from storage.models import Item, Source
from tests.alerts.servers import WAIT
from tests.support.db import configured_engine
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def env(milai_env: dict[str, str]) -> dict[str, str]:
    ensure_schema(configured_engine())
    return milai_env


@pytest.fixture
def use_smtp(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    def _set(url: str | None) -> None:
        if url is None:
            monkeypatch.delenv("MILAI_SMTP_URL", raising=False)
        else:
            monkeypatch.setenv("MILAI_SMTP_URL", url)

    return _set


@pytest.fixture
def smtp_server(use_smtp: Callable[[str | None], None]) -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        use_smtp(server.url())
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as r:
        yield r


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    path = tmp_path / "tls"
    path.mkdir()
    return path


_counter = iter(range(1, 10**6))


def add_item(
    *, title: str = "UN talks on lethal autonomous weapons", publisher: str = "United Nations",
    source: str = "un-news", relevant: bool = True, language: str = "en", summary: str | None = None,
    text: str = "States discussed autonomous weapons systems.", duplicate_of: int | None = None,
    fetched_at: datetime | None = None, matches: list[str] | None = None,
) -> int:
    """Store one item (and its source on first use); returns its id."""
    n = next(_counter)
    with session_scope(configured_engine()) as session:
        src = session.scalar(select(Source).where(Source.name == source))
        if src is None:
            src = Source(name=source, publisher=publisher, kind="feed", url=f"https://{source}.example/feed")
            session.add(src)
            session.flush()
        item = Item(
            canonical_url=f"https://{source}.example/news/{n}", url=f"https://{source}.example/news/{n}",
            source_id=src.id, title=title, summary=summary or f"Summary {n}", text=text,
            published=datetime(2026, 11, 28, tzinfo=UTC), language=language, relevant=relevant,
            score=1.0, matches=matches or ["autonomous weapons"], duplicate_of_id=duplicate_of,
            fetched_at=fetched_at or datetime.now(UTC) + timedelta(seconds=1),
        )
        session.add(item)
        session.flush()
        return item.id


def subscribe(**kwargs: Any) -> int:
    """Create a subscription; a webhook or Apprise target is checked by the settings' policy unless
    `policy` is given."""
    kwargs.setdefault("channel", "email")
    kwargs.setdefault("target", "reader@example.org")
    kwargs.setdefault("policy", Settings().target_policy)
    with session_scope(configured_engine()) as session:
        return create_subscription(session, **kwargs).id


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    """Every claim's heartbeat thread ends with its send."""
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("lease-"):
            thread.join(WAIT)
            assert not thread.is_alive()
