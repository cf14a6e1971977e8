"""Turn stored items into safe, plain snapshots shared by email digests and webhook payloads."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

import nh3
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage import query as query_language
from storage.links import TRANSLATION, symbol_url
from storage.matches import Explanation
from storage.matches import codes as stored_codes
from storage.models import Item, ItemLink, ItemSymbol
from storage.stories import precedence

_SPACE = re.compile(r"\s+")
SUMMARY_CHARS = 600
TITLE_CHARS = 500
_IN_CHUNK = 500  # ids per IN (...) list
MAX_MATCHES = 8  # human "why it matched" terms per item
_TERM_KINDS = ("strong:", "ai:", "mil:")  # classifier explanation prefixes kept (without the prefix)
_HIDDEN_KINDS = ("rule:", "neg:")  # scoring rules and negative evidence are not reasons to read


def plain_text(value: str | None, limit: int | None = None) -> str:
    """Scraped HTML or text reduced to one line of plain text (tags removed by nh3, entities decoded)."""
    if not value:
        return ""
    cleaned = html.unescape(nh3.clean(value, tags=set(), clean_content_tags={"script", "style"}))
    cleaned = _SPACE.sub(" ", cleaned).strip()
    if limit and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def header_safe(value: str, limit: int = 200) -> str:
    """Text fit for a mail header: no CR/LF or other control characters, bounded length."""
    value = "".join(" " if ord(ch) < 32 or ord(ch) in (127, 0x2028, 0x2029, 0x85) else ch for ch in value)
    value = _SPACE.sub(" ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start:start + _IN_CHUNK]


def load_relations(session: Session, item_ids: Iterable[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """{item id: {"symbols", "translations"}} for many items at once (three queries per 500 ids).

    symbols: [{"symbol", "url"}] sorted by symbol; translations: the items linked as hreflang
    alternates (ItemLink kind "translation", either direction), [{"id", "language", "url", "title"}]
    sorted by language, with the working URL and plain-text title.
    """
    ids = sorted({i for i in item_ids if i is not None})
    symbols: dict[int, set[str]] = {i: set() for i in ids}
    linked: dict[int, set[int]] = {i: set() for i in ids}
    for chunk in _chunks(ids):
        for item_id, symbol in session.execute(
            select(ItemSymbol.item_id, ItemSymbol.symbol).where(ItemSymbol.item_id.in_(chunk))
        ):
            symbols[item_id].add(symbol)
        for a, b in session.execute(
            select(ItemLink.item_id, ItemLink.other_id).where(
                ItemLink.kind == TRANSLATION, or_(ItemLink.item_id.in_(chunk), ItemLink.other_id.in_(chunk))
            )
        ):
            if a == b:
                continue
            if a in linked:
                linked[a].add(b)
            if b in linked:
                linked[b].add(a)
    other_ids = sorted({o for others in linked.values() for o in others})
    others: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(other_ids):
        for oid, url, canonical, title, language in session.execute(
            select(Item.id, Item.url, Item.canonical_url, Item.title, Item.language).where(Item.id.in_(chunk))
        ):
            working = url or canonical
            others[oid] = {
                "id": oid,
                "language": language,
                "url": working,
                "title": plain_text(title, TITLE_CHARS) or working,
            }
    result: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for i in ids:
        clean = sorted({plain_text(s, 120) for s in symbols[i]} - {""})
        translations = [others[o] for o in linked[i] if o in others]
        translations.sort(key=lambda t: (t["language"] or "~", t["id"]))
        result[i] = {
            "symbols": [{"symbol": s, "url": symbol_url(s)} for s in clean],
            "translations": [dict(t) for t in translations],
        }
    return result


def human_matches(raw: Any, limit: int = MAX_MATCHES) -> list[str]:
    """The classifier's explanation as terms a reader understands, at most `limit`: the stored shape of
    storage.matches (phrases by group), or an old list (`strong:autonomous weapons`, `mil:weapons`,
    `rule:near-ai+mil x3`: prefixes removed, rule and negative tokens dropped, each term once
    (case-insensitively), in the classifier's order). Already-human lists come back unchanged, so this
    is safe on old and new payloads alike."""
    if isinstance(raw, Mapping):
        return Explanation.from_stored(raw).phrases(limit)
    out: list[str] = []
    seen: set[str] = set()
    for entry in raw or ():
        if not isinstance(entry, str) or entry.startswith(_HIDDEN_KINDS):
            continue
        for kind in _TERM_KINDS:
            if entry.startswith(kind):
                entry = entry[len(kind):]
                break
        entry = entry.strip()
        if entry and entry.casefold() not in seen:
            seen.add(entry.casefold())
            out.append(entry)
        if len(out) >= limit:
            break
    return out


def _positive_terms(node: query_language.Node) -> list[query_language.Term | query_language.Phrase]:
    if isinstance(node, query_language.Term | query_language.Phrase):
        return [node]
    if isinstance(node, query_language.And | query_language.Or):
        return [leaf for child in node.children for leaf in _positive_terms(child)]
    return []  # terms under NOT are reasons to exclude, never to match


def _term_label(node: query_language.Term | query_language.Phrase) -> str:
    if isinstance(node, query_language.Phrase):
        return " ".join(node.words)
    return node.text + ("*" if node.prefix else "")


def query_matches(query: str | None, text: str, language: str | None = None) -> list[str]:
    """The subscriber's query terms (as typed, NOT terms left out) found in `text`, matched with the
    query language's own normalisation (storage.query: case, accents, stems, prefixes, phrases)."""
    compiled = query_language.compile_query(query)
    if compiled.ast is None:
        return []
    found: list[str] = []
    for node in _positive_terms(compiled.ast):
        label = _term_label(node)
        if label not in found and query_language.CompiledQuery(label, node).matches(text, language):
            found.append(label)
    return found


def item_text(item: Item) -> str:
    """The text a subscription query is matched against."""
    return "\n".join(part for part in (item.title, item.summary or "", item.text) if part)


def story_copies(item: Item) -> tuple[list[dict[str, Any]], list[str]]:
    """The other copies of an original's story (storage.stories), as digests and webhooks list them:
    ([{"publisher", "url"}] of the copies in its language, in order of publication; other languages)."""
    same, languages = [], set()
    for dup in sorted(item.duplicates, key=lambda d: precedence(d.published, d.fetched_at, d.id)):
        if dup.language and item.language and dup.language != item.language:
            languages.add(dup.language)
            continue
        same.append({"publisher": dup.source.publisher if dup.source else None, "url": dup.url or dup.canonical_url})
    return same, sorted(languages)


def item_snapshot(
    item: Item, relations: dict[str, list[dict[str, Any]]] | None = None, *, query: str | None = None,
    original_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The version-1 item object of webhook payloads, also used to render emails.

    `relations` is this item's entry of `load_relations` (load it once for a whole batch); `query`
    is the subscription's saved query, whose matching terms become `query_matches`; `original_of`
    ({"received", "copies"}, alerts.planner.received_copies) when the subscriber already got this
    story through a copy published later: the item is then not news to them.
    """
    source = item.source
    also, also_in = story_copies(item)
    relations = relations or {"symbols": [], "translations": []}
    return {
        "id": item.id,
        "url": item.url or item.canonical_url,  # the working URL; canonical_url is only the dedup key
        "title": plain_text(item.title, TITLE_CHARS) or (item.url or item.canonical_url),
        "published": item.published.isoformat() if item.published else None,
        "fetched": item.fetched_at.isoformat() if item.fetched_at else None,
        "source": source.name if source else None,
        "publisher": source.publisher if source else None,
        "language": item.language,
        "summary": plain_text(item.summary or item.text, SUMMARY_CHARS),
        "matches": human_matches(item.matches),
        "why": {g: p[:MAX_MATCHES] for g, p in Explanation.from_stored(item.matches).groups().items()},
        "query_matches": query_matches(query, item_text(item), item.language) if query else [],
        "classifier_matches": stored_codes(item.matches),  # rule codes, for debugging
        "also_published_by": also,
        "also_in": also_in,
        "symbols": [dict(s) for s in relations["symbols"]],
        "translations": [dict(t) for t in relations["translations"]],
        "original_of": original_of,
    }
