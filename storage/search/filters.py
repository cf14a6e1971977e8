"""The filters of a search: checked (`validate`) and turned into SQL conditions on items."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from storage.languages import iso639_1
from storage.models import Item, ItemSymbol, Source
from storage.search.cursors import CURSOR_ERROR
from storage.search.keys import KeyFilter
from storage.search.types import MAX_FILTER_LENGTH, MAX_LIMIT, SORTS, ItemFilter, SearchError


def filter_conditions(f: ItemFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions on `items` of everything but the text query."""
    conds: list[ColumnElement[bool]] = []
    langs = _languages(f)
    if not f.include_all:
        conds += [Item.relevant.is_(True), _story_head(langs)]
    if langs:
        conds.append(Item.language.in_(langs))
    if f.sources or f.publishers:
        src = select(Source.id)
        if f.sources:
            src = src.where(Source.name.in_(f.sources))
        if f.publishers:
            src = src.where(func.lower(Source.publisher).in_([p.lower() for p in f.publishers]))
        conds.append(Item.source_id.in_(src.scalar_subquery()))
    conds += _residual(f)
    return conds


def _languages(f: ItemFilter) -> list[str]:
    return list(dict.fromkeys(lang.strip().lower() for lang in f.languages))


def _story_head(langs: list[str]) -> ColumnElement[bool]:
    """One item per story (storage.stories): its original; with a language filter, the copy in one of
    those languages when the original is in none of them (an English story found as its French version)."""
    if not langs:
        return Item.duplicate_of_id.is_(None)
    original = _original()
    return or_(
        Item.duplicate_of_id.is_(None),
        exists().where(original.id == Item.duplicate_of_id,
                       or_(original.language.is_(None), original.language.not_in(langs))),
    )


@cache
def _original() -> Any:
    """The alias of a copy's original in `_story_head` (made once: an ORM alias costs ~0.3 ms)."""
    return aliased(Item, name="original")


def _residual(f: ItemFilter) -> list[ColumnElement[bool]]:
    """The conditions no index key answers: dates (months are keys, days are not) and symbols."""
    conds: list[ColumnElement[bool]] = []
    if f.since is not None:
        conds.append(Item.published >= f.since)
    if f.until is not None:
        conds.append(Item.published <= f.until)
    if f.symbol:
        sym = f.symbol.strip()
        conds.append(
            exists().where(
                ItemSymbol.item_id == Item.id,
                or_(ItemSymbol.symbol == sym, func.upper(ItemSymbol.symbol) == sym.upper()),
            )
        )
    return conds


def key_conditions(session: Session, f: ItemFilter) -> tuple[KeyFilter, list[ColumnElement[bool]]]:
    """The filters of a text search as index keys (storage.search.keys) and the conditions left over.

    Together they select exactly what filter_conditions does; sources and publishers are looked up
    here (the sources table is small) and become source keys."""
    languages = tuple(_languages(f)) or None
    source_ids = None
    if f.sources or f.publishers:
        src = select(Source.id)
        if f.sources:
            src = src.where(Source.name.in_(f.sources))
        if f.publishers:
            src = src.where(func.lower(Source.publisher).in_([p.lower() for p in f.publishers]))
        source_ids = tuple(sorted(session.execute(src).scalars()))
    residual = _residual(f)
    on_topic = not f.include_all
    if on_topic and languages:  # the on-topic key also means "an original": a language version is not
        residual = [Item.relevant.is_(True), _story_head(list(languages)), *residual]
        on_topic = False
    return KeyFilter(on_topic=on_topic, languages=languages, source_ids=source_ids), residual


def _check_text(name: str, value: str) -> None:
    if "\x00" in value:
        raise SearchError(f"{name} contains a NUL byte")
    if len(value) > MAX_FILTER_LENGTH:
        raise SearchError(f"{name} too long (at most {MAX_FILTER_LENGTH} characters)")


def validate(f: ItemFilter) -> None:
    """SearchError when a filter cannot be searched (limit, dates, NUL bytes, lengths, language codes)."""
    if isinstance(f.limit, bool) or not isinstance(f.limit, int) or not 1 <= f.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}")
    if f.sort not in SORTS:
        raise SearchError(f"invalid sort {f.sort!r}: use one of {', '.join(SORTS)}")
    if f.since and f.until and f.since > f.until:
        raise SearchError("`since` is after `until`")
    if f.q is not None and "\x00" in f.q:
        raise SearchError("query contains a NUL byte")
    for name, values in (("source", f.sources), ("publisher", f.publishers), ("language", f.languages)):
        for value in values:
            _check_text(name, value)
    if f.symbol:
        _check_text("symbol", f.symbol)
    for lang in f.languages:
        if lang.strip().lower() not in iso639_1():
            raise SearchError(f"invalid language {lang!r}: use an ISO 639-1 two-letter code, e.g. en, fr, nl")
    if f.cursor is not None and "\x00" in f.cursor:
        raise SearchError(CURSOR_ERROR)
