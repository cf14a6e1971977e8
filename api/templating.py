"""The Jinja2 environment of the web page (autoescaping on) and its filters."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import nh3
from babel import Locale, UnknownLocaleError
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from milai.safeurl import safe_link
from storage.matches import Explanation

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

_ALLOWED_TAGS = {"p", "br", "ul", "ol", "li", "em", "strong", "b", "i", "blockquote", "a", "h2", "h3", "h4",
                 "table", "thead", "tbody", "tr", "th", "td", "code", "pre"}


def sanitise(text: str | None) -> Markup:
    """Scraped text or HTML made safe to display: nh3 keeps a few harmless tags, paragraphs from blank lines."""
    if not text:
        return Markup("")
    if "<" in text:
        clean = nh3.clean(text, tags=_ALLOWED_TAGS, link_rel="noopener noreferrer nofollow")
        return Markup(clean)  # noqa: S704 - nh3 output
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return Markup("".join(Markup("<p>{}</p>").format(p) for p in paragraphs))


def snippet(html: str | None) -> Markup:
    """A search snippet is already escaped by storage.search (only <mark> added)."""
    return Markup(html or "")  # noqa: S704


templates.env.filters["sanitise"] = sanitise
templates.env.filters["snippet"] = snippet


def why(matches: object, limit: int = 8) -> list[tuple[str, list[str]]]:
    """An item's stored classifier explanation as [(group label, phrases)] for people (no rule codes)."""
    return Explanation.from_stored(matches).labelled(limit)


templates.env.filters["why"] = why
# `{% if url | safe_link %}<a href=…>{% endif %}`: only http(s) URLs become links (scraped URLs may be javascript:).
templates.env.filters["safe_link"] = safe_link


@lru_cache(maxsize=512)
def language_name(code: str | None) -> str:
    """`ko` → "Korean (한국어)", `en` → "English"; an unknown code comes back as it is."""
    if not code:
        return "unknown language"
    try:
        english = Locale("en").languages.get(code)
        native = Locale.parse(code).get_display_name(code)
    except (UnknownLocaleError, ValueError):
        return code
    if not english:
        return code
    if native and native.casefold() != english.casefold():
        return f"{english} ({native})"
    return english


templates.env.filters["language_name"] = language_name
