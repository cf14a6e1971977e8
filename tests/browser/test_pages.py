"""The web page in real headless Chromium against a uvicorn server: search, open an item, subscribe."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from milai.config import Settings
from storage.database import session_scope
from storage.models import Subscription
from tests.storage.search.seed import SCRIPT_TITLE, seed
from tests.support.db import configured_engine

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

_HAVE_CHROMIUM = CHROMIUM.exists() or shutil.which("chromium") is not None
pytestmark = [
    pytest.mark.browser,
    # CI installs Debian's chromium and sets MILAI_REQUIRE_BROWSER=1: there a missing browser fails instead
    pytest.mark.skipif(not _HAVE_CHROMIUM and os.environ.get("MILAI_REQUIRE_BROWSER") != "1",
                       reason="chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_url: str, milai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    ids = seed(configured_engine())
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:  # readiness wait, not a timed assertion
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join()


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """Browser tests run on SQLite only."""
    return sqlite_url


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page()
        yield pg
        browser.close()


def test_search_open_item_and_subscribe(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/")
    page.get_by_label("Query", exact=True).fill("REAIM")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=REAIM**")
    results = page.locator("ol.results > li")
    assert results.count() == 3
    assert page.locator("mark", has_text="REAIM").count() >= 3
    page.get_by_role("link", name=SCRIPT_TITLE).click()
    page.wait_for_url(f"**/items/{ids['script']}")
    assert page.get_by_role("heading", level=1).inner_text() == SCRIPT_TITLE
    assert "drone swarms" in page.locator("section.text").inner_text()
    assert dialogs == []

    page.goto(base + "/?q=Hague")
    page.get_by_label("Email address").fill("browser@example.org")
    page.get_by_label("Frequency").select_option("weekly")
    page.get_by_role("button", name="Subscribe").click()
    assert "Subscribed browser@example.org" in page.get_by_role("status").inner_text()
    with session_scope(configured_engine()) as s:
        sub = s.query(Subscription).one()
        assert (sub.target, sub.frequency, sub.query) == ("browser@example.org", "weekly", "Hague")
    assert dialogs == []


def test_filters_and_next_page(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page.goto(base + "/")
    page.get_by_label("Query", exact=True).fill("drone*")
    page.get_by_label("Language").select_option("en")
    page.get_by_label("include off-topic items and duplicates").check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**lang=en**")
    first = page.locator("ol.results h3").all_inner_texts()
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**cursor=**")
    second = page.locator("ol.results h3").all_inner_texts()
    assert len(first) == 20 and second and not set(first) & set(second)


def test_pages_obey_the_content_security_policy(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    """Under the strict CSP the pages still load their stylesheet and raise no violation or console error."""
    base, ids = server
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script("document.addEventListener('securitypolicyviolation',"
                         " e => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    for path in ["/", "/?q=REAIM", f"/items/{ids['script']}", "/sources", "/no-such-page"]:
        response = page.goto(base + path)
        assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
        # the stylesheet applied (a CSP blocking it would leave browser defaults)
        assert page.evaluate("document.styleSheets.length") >= 1
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0
    assert [e for e in errors if "404" not in e] == [], errors
