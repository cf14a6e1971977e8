"""The index tokens of a text: what the full-text indexes read in `items.search_title` / `items.search_text`
and what a user's query is normalised with (storage.search_index keeps the columns in sync). Pure functions of
storage.textnorm, no database: the crawler's worker processes compute a page's columns here too."""

from __future__ import annotations

from functools import lru_cache

from storage.textnorm import (
    CYRILLIC_RE,
    HANGUL_RE,
    TOKEN_RE,
    base_language,
    detect_language,
    normalise_word,
    strip_korean_particle,
)

# --- one normalisation for documents and queries (storage.textnorm) -------------------------------
#
# Every textnorm token of a text becomes one index token, so positions (phrases) are kept:
#   Latin and other scripts: the stem of the folded word (casefold, accents stripped, then Snowball in the
#     item's language), so `securite` and `sécurité`, `weapon` and `weapons` share one token;
#   Cyrillic: textnorm's norm (the Russian stemmer needs й/ё); Hangul: the run without its particle;
#   Han: one character per token.
# The engines only split on the spaces between those tokens (FTS5 `unicode61 remove_diacritics 2`,
# PostgreSQL `simple`), so what they index is exactly this Python normalisation.

@lru_cache(maxsize=200_000)
def index_word(surface: str, lang: str | None) -> str:
    """The index token of one textnorm token in a text of language `lang`."""
    folded, norm = normalise_word(surface, lang)
    if HANGUL_RE.match(surface):
        return strip_korean_particle(folded)
    if CYRILLIC_RE.match(surface):
        return norm
    return normalise_word(folded, lang)[1] if folded != surface.casefold() else norm


def index_text(text: str | None, lang: str | None) -> str:
    """`text` as the space-separated index tokens the full-text engines read."""
    if not text:
        return ""
    known = _tokens_of(lang)
    if len(known) > _KNOWN_MAX:  # bounded like index_word's cache (a crawl of many languages, a long run)
        known.clear()
    get = known.get
    out = []
    for surface in TOKEN_RE.findall(text):
        token = get(surface)
        if token is None:
            token = known[surface] = index_word(surface, lang)
        out.append(token)
    return " ".join(out)


_KNOWN_MAX = 200_000
_KNOWN: dict[str | None, dict[str, str]] = {}


def _tokens_of(lang: str | None) -> dict[str, str]:
    """The index token of each surface already seen in language `lang`: a dict lookup per token of a text,
    where index_word's lru_cache wrapper costs a call and a key tuple (0.5 of index_text's time)."""
    known = _KNOWN.get(lang)
    if known is None:
        known = _KNOWN.setdefault(lang, {})
    return known


def item_language(title: str | None, summary: str | None, text: str | None, language: str | None) -> str | None:
    """The language an item is normalised in: its own, else a guess (as CompiledQuery.matches does)."""
    return base_language(language) or detect_language(" ".join(x for x in (title, summary, text) if x))


def search_columns(
    title: str | None, summary: str | None, text: str | None, language: str | None
) -> tuple[str, str]:
    """(search_title, search_text) of an item: its normalised title, and normalised summary + text."""
    lang = item_language(title, summary, text, language)
    body = "\n".join(x for x in (summary, text) if x)
    return index_text(title, lang), index_text(body, lang)
