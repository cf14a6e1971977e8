"""Which URLs may be rendered as links: only absolute http(s) URLs with a host (no javascript:, data:, file:)."""

from __future__ import annotations

from urllib.parse import urlsplit

# Browsers ignore leading C0 controls and spaces and drop tabs/newlines anywhere in a URL
# ("java\tscript:" is "javascript:"), so the scheme is judged on the URL as a browser would read it.
_STRIP = "".join(chr(c) for c in range(0x21))
_DROP = str.maketrans("", "", "\t\n\r")


def safe_link(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL with a host, else None."""
    if not url or not isinstance(url, str):
        return None
    seen = url.lstrip(_STRIP).translate(_DROP)
    try:
        parts = urlsplit(seen)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.strip()


def is_safe_link(url: str | None) -> bool:
    """True when `url` may be rendered as a link."""
    return safe_link(url) is not None
