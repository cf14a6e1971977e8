"""Tokens, the subscription endpoints and one-click unsubscribe."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from milai.cli.main import app
from storage.database import session_scope
from storage.models import ApiToken, Subscription
from tests.support.db import configured_engine


def make_token() -> str:
    result = CliRunner().invoke(app, ["tokens", "create", "tester"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_tokens_cli_stores_only_a_hash(client: TestClient) -> None:
    token = make_token()
    with session_scope(configured_engine()) as s:
        row = s.query(ApiToken).one()
        assert token not in row.token_hash and len(row.token_hash) == 64
    listing = CliRunner().invoke(app, ["tokens", "list"])
    assert "tester" in listing.stdout and token not in listing.stdout
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/subscriptions", headers=headers).status_code == 200
    assert CliRunner().invoke(app, ["tokens", "revoke", str(row.id)]).exit_code == 0
    assert client.get("/api/subscriptions", headers=headers).status_code == 401
    assert CliRunner().invoke(app, ["tokens", "revoke", "9999"]).exit_code == 1


def test_subscription_endpoints(client: TestClient) -> None:
    assert client.get("/api/subscriptions").status_code == 401
    assert client.post("/api/subscriptions", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    h = {"Authorization": f"Bearer {make_token()}"}
    r = client.post("/api/subscriptions", headers=h,
                    json={"channel": "email", "target": "analyst@example.org", "query": "REAIM", "languages": ["en"]})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["active"] and sub["query"] == "REAIM" and "unsubscribe_token" not in sub
    bad = client.post("/api/subscriptions", headers=h, json={"channel": "pigeon", "target": "x"})
    assert bad.status_code == 422 and "channel" in bad.json()["detail"]
    assert [s["id"] for s in client.get("/api/subscriptions", headers=h).json()] == [sub["id"]]
    paused = client.post(f"/api/subscriptions/{sub['id']}/pause", headers=h).json()
    assert paused["active"] is False
    assert client.post(f"/api/subscriptions/{sub['id']}/resume", headers=h).json()["active"] is True
    assert client.post("/api/subscriptions/999/pause", headers=h).status_code == 404
    assert client.delete(f"/api/subscriptions/{sub['id']}", headers=h).status_code == 204
    assert client.get("/api/subscriptions", headers=h).json() == []
    assert client.delete(f"/api/subscriptions/{sub['id']}", headers=h).status_code == 404


def test_one_click_unsubscribe(client: TestClient) -> None:
    from alerts.subscriptions import create_subscription

    with session_scope(configured_engine()) as s:
        token = create_subscription(s, channel="email", target="a@example.org").unsubscribe_token
    form = client.get(f"/unsubscribe/{token}")
    assert form.status_code == 200 and 'method="post"' in form.text
    assert client.head(f"/unsubscribe/{token}").status_code == 200  # link checkers send HEAD
    with session_scope(configured_engine()) as s:  # a GET or HEAD (mail scanners) changes nothing
        assert s.query(Subscription).one().active
    r = client.post(f"/unsubscribe/{token}", content="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    with session_scope(configured_engine()) as s:
        assert not s.query(Subscription).one().active
    assert client.post("/unsubscribe/unknown", data={"List-Unsubscribe": "One-Click"}).status_code == 404
