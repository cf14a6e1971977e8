"""Bounded, storable items: length caps (page bytes extracted, text, title, summary) and strings that every
database accepts (no NUL characters, no lone surrogates).

The caps come from MILAI_MAX_TEXT_CHARS, MILAI_MAX_TITLE_CHARS and MILAI_MAX_HTML_BYTES (Scrapy settings
of the same names). Text is cut at a paragraph, sentence or word boundary; the item is marked
(`PageItem.text_truncated`, stored as Item.text_truncated) and counted (`milai/truncated`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Self

from scrapy.settings import BaseSettings

SUMMARY_MAX_CHARS = 2_000  # summaries are a few sentences; a feed may hand us megabytes
MAX_ALTERNATES = 50  # hreflang alternates kept per page
MAX_PDF_LINKS = 100  # PDF links followed per page
_BOUNDARY_WINDOW = 0.1  # look back at most this share of the limit for a clean place to cut
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    """The per-item caps."""

    text_chars: int = 200_000
    title_chars: int = 1_000
    html_bytes: int = 2 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self:
        default = cls()
        return cls(
            text_chars=settings.getint("MILAI_MAX_TEXT_CHARS", default.text_chars),
            title_chars=settings.getint("MILAI_MAX_TITLE_CHARS", default.title_chars),
            html_bytes=settings.getint("MILAI_MAX_HTML_BYTES", default.html_bytes),
        )


def cut_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` at most `limit` characters, cut after the last paragraph, sentence or word that fits
    (never inside a word when there is a boundary near the limit); (text, whether it was cut)."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    floor = int(limit * (1 - _BOUNDARY_WINDOW))
    for pattern in (r"\n\s*\n", r"[.!?。！？](?=\s)", r"\s"):
        ends = [m.end() for m in re.finditer(pattern, head[floor:])]
        if ends:
            return head[: floor + ends[-1]].rstrip(), True
    return head.rstrip(), True


def cut_title(title: str, limit: int) -> tuple[str, bool]:
    """A title of at most `limit` characters, ending in "…" when it was cut."""
    if len(title) <= limit:
        return title, False
    cut, _ = cut_text(title, limit - 1)
    return cut.rstrip(" ,;:-–—") + "…", True


def cut_html(body: bytes, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of a page, cut before a tag starts (HTML parsers close what is left open)."""
    if len(body) <= limit:
        return body, False
    cut = body.rfind(b"<", 0, limit)
    return body[: cut if cut > limit // 2 else limit], True


def storable(value: Any) -> Any:
    """`value` with every string freed of what databases reject: NUL characters (PostgreSQL text) are
    dropped, lone surrogates (invalid UTF-8, e.g. from a JSON "\\ud800") become U+FFFD; lists, tuples
    and dicts are cleaned recursively."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        return _SURROGATES.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, tuple):
        return tuple(storable(v) for v in value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
