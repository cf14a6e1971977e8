"""milai.safeurl: which scraped URLs may become links."""

from __future__ import annotations

import pytest

from milai.safeurl import is_safe_link, safe_link


@pytest.mark.parametrize("url", [
    "http://example.org/a", "https://www.un.org/press/en?x=1#y", "HTTPS://EXAMPLE.ORG", "  https://example.org/ ",
])
def test_http_and_https_with_a_host_are_links(url: str) -> None:
    assert safe_link(url) == url.strip()


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "\x01javascript:alert(1)",
    "java\tscript:alert(1)", "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd", "vbscript:msgbox", "mailto:a@b.c", "//evil.example/x", "/items/1", "http:///nohost",
    "https://[::1", "", None,
])
def test_everything_else_is_not(url: str | None) -> None:
    assert safe_link(url) is None
    assert not is_safe_link(url)
