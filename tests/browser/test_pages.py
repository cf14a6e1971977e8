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
from tests.support.smtp import SmtpServer

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
def smtp(milai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A mail server the app is configured with (set before `server` builds the app: it reads its settings once)."""
    with SmtpServer() as mail:
        monkeypatch.setenv("MILAI_SMTP_URL", mail.url())
        yield mail


@pytest.fixture
def server(sqlite_url: str, milai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
           request: pytest.FixtureRequest) -> Iterator[str]:
    if "smtp" in request.fixturenames:
        request.getfixturevalue("smtp")
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


def test_subscribe_confirm_by_mail_then_digests(smtp: SmtpServer, server: tuple[str, dict[str, int]],
                                                page) -> None:  # type: ignore[no-untyped-def]
    import re
    from datetime import UTC, datetime, timedelta

    from alerts.dispatch import send_due
    from tests.alerts.conftest import add_item

    base, _ = server
    page.goto(base + "/?q=Hague")
    page.get_by_label("Email address").fill("browser@example.org")
    page.get_by_label("Frequency").select_option("weekly")
    page.get_by_label("At", exact=True).select_option("18")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Subscribe").click()
    assert "we sent a confirmation email to browser@example.org" in page.get_by_role("status").inner_text()
    [mail] = smtp.messages
    link = re.search(r"http://\S+/confirm/\d+/\S+", mail.get_content()).group(0)
    add_item(title="Hague talks", text="The Hague hosted talks on autonomous weapons.")
    # forced (the schedule does not matter) within the 48 h a request waits: nothing goes before it is confirmed
    # (eight days on, as below, the sender would have swept the request away)
    assert send_due(Settings(), datetime.now(UTC) + timedelta(hours=47), force=True).batches_sent == 0
    page.goto(base + "/" + link.split("://", 1)[1].split("/", 1)[1])
    page.get_by_role("button", name="Confirm").click()
    assert "Confirmed: browser@example.org" in page.get_by_role("status").inner_text()
    with session_scope(configured_engine()) as s:
        sub = s.query(Subscription).one()
        assert (sub.frequency, sub.query, sub.delivery_hour, sub.timezone, sub.active) == (
            "weekly", "Hague", 18, "Europe/Paris", True)
    assert send_due(Settings(), datetime.now(UTC) + timedelta(days=8), force=True).batches_sent == 1
    assert len(smtp.messages) == 2 and smtp.messages[1]["Subject"].startswith("MilAI Watch · Hague: ")
    digest = smtp.messages[1].get_body(("plain",)).get_content()
    manage = re.search(r"Change this digest or pause it: (http://\S+)", digest).group(1)
    page.goto(base + "/" + manage.split("://", 1)[1].split("/", 1)[1])
    page.get_by_label("Frequency").select_option("daily")
    page.get_by_role("button", name="Save").click()
    assert "Saved: daily at 18:00 (Europe/Paris)." in page.get_by_role("status").inner_text()
    with session_scope(configured_engine()) as s:
        assert s.query(Subscription).one().frequency == "daily"


def test_filters_and_next_page(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page.goto(base + "/")
    page.get_by_label("Query", exact=True).fill("drone*")
    page.locator("details.pick summary", has_text="Languages").click()
    page.get_by_label("English").check()
    page.get_by_label("include off-topic items and every copy").check()
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
    for path in ["/", "/?q=REAIM", f"/items/{ids['script']}", f"/items/{ids['resolution-copy']}", "/sources",
                 "/trends?q=drone&interval=week", "/no-such-page"]:
        response = page.goto(base + path)
        assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
        # the stylesheet applied (a CSP blocking it would leave browser defaults)
        assert page.evaluate("document.styleSheets.length") >= 1
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0
    assert [e for e in errors if "404" not in e] == [], errors


def test_stories_sort_and_chart(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page.goto(base + "/?q=resolution")
    results = page.locator("ol.results > li")
    assert results.count() == 1  # the copy is listed under its original, not as a second result
    story = results.first.locator(".story")
    assert story.is_visible() and "Also published by Government of the Netherlands" in story.inner_text()
    assert page.get_by_role("status").first.inner_text().startswith("1 story")
    page.goto(base + "/?q=autonomous+weapons")
    page.get_by_role("link", name="newest first").click()
    page.wait_for_url("**sort=date**")
    titles = page.locator("ol.results h3").all_inner_texts()
    assert titles[0].startswith("Netherlands hosts REAIM") and titles[1].startswith("General Assembly")
    chart = page.get_by_role("img", name="Items per month")
    assert chart.is_visible() and chart.locator("rect").count() >= 2
    page.get_by_role("link", name="Trends of this search").click()
    page.wait_for_url("**/trends?**")
    big = page.get_by_role("img", name="Items per month")
    assert big.bounding_box()["width"] > 500  # drawn at the page's width
    page.get_by_role("link", name="week", exact=True).click()
    assert page.get_by_role("img", name="Items per week").locator("rect").count() >= 1


def test_keyboard_only_search_and_open_a_result(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page.goto(base + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("resolution")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=resolution**")
    for _ in range(80):  # Tab through the form to the first result
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('ol.results') !== null"):
            break
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/items/{ids['resolution']}")
    # the filter panels open and check from the keyboard
    page.goto(base + "/")
    page.locator("details.pick summary", has_text="Languages").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked") is True


MOBILE = {"width": 390, "height": 844}


def test_pages_fit_a_phone_screen(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page.set_viewport_size(MOBILE)
    for path in ["/?q=REAIM", f"/items/{ids['resolution']}", "/sources", "/trends?q=drone"]:
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= MOBILE["width"], (path, width)  # nothing scrolls sideways
    page.goto(base + "/?q=drone")
    search = page.get_by_role("button", name="Search").bounding_box()
    query = page.locator("#q").bounding_box()
    assert search["y"] > query["y"]  # stacked under the query box
    side = page.locator("aside.facets").bounding_box()
    first = page.locator("ol.results > li").first.bounding_box()
    assert side["y"] > first["y"]  # the chart column goes below the results


def test_no_serious_accessibility_violation(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    base, ids = server
    axe = Axe()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ["/?q=REAIM", f"/items/{ids['resolution-copy']}", "/sources", "/trends?q=drone"]:
            page.goto(base + path)
            violations = axe.run(page).response["violations"]
            serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in violations
                       if v["impact"] in ("serious", "critical")]
            assert serious == [], (path, width, serious)


def test_docs_render_with_no_network(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    outside: list[str] = []
    errors: list[str] = []

    def only_loopback(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(base):
            route.continue_()
        else:  # the machine is offline: anything from elsewhere fails
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation',"
                         " e => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page.goto(base + "/docs")
    page.locator(".opblock-summary-path", has_text="/api/stats").first.wait_for()
    assert page.locator(".opblock").count() >= 5
    assert page.get_by_text("MilAI Watch", exact=False).first.is_visible()
    assert outside == [] and errors == [], (outside, errors)


def test_not_relevant_is_recorded_from_the_item_page(server: tuple[str, dict[str, int]], page) -> None:  # type: ignore[no-untyped-def]
    from storage.models import ItemLabel

    base, ids = server
    page.goto(base + f"/items/{ids['reaim']}")
    page.get_by_role("button", name="Not relevant").click()
    page.wait_for_url("**labelled=not_relevant")
    assert "recorded as not relevant" in page.get_by_role("status").inner_text()
    with session_scope(configured_engine()) as s:
        [label] = s.query(ItemLabel).all()
        assert (label.item_id, label.label, label.revision, label.via) == (ids["reaim"], "not_relevant", 1, "web")
