"""The filter keys in the full-text index (storage.search.keys, migration 0005) stay in sync with the
items on every kind of write, on both dialects: insert, revision, on-topic and duplicate changes,
language / source / date changes, ORM bulk and raw SQL updates, deletes, and the migration's backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session

from storage.database import session_scope
from storage.models import Item, Source
from storage.search import ItemFilter, count_items, search_items
from storage.search.keys import pg_lexemes, sqlite_tokens

T0 = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)


def _indexed(engine: Engine) -> dict[int, tuple[set[str], set[str]]]:
    """What the full-text index holds per item: (filter keys, word tokens)."""
    out: dict[int, tuple[set[str], set[str]]] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_v "
                              "USING fts5vocab(main, items_fts, instance)"))
            for term, doc, col in conn.execute(text("SELECT term, doc, col FROM temp.fts_v")):
                keys, words = out.setdefault(doc, (set(), set()))
                (keys if col == "meta" else words).add(term)
        else:
            for ident, lexeme in conn.execute(text("SELECT id, unnest(tsvector_to_array(search_vector)) FROM items")):
                keys, words = out.setdefault(ident, (set(), set()))
                (keys if lexeme.startswith("~") else words).add(lexeme)
    return out


def _expected(engine: Engine) -> dict[int, tuple[set[str], set[str]]]:
    """What it must hold, from the items' columns and storage.search.keys."""
    out = {}
    with session_scope(engine) as s:
        for it in s.query(Item):
            words = set(f"{it.search_title or ''} {it.search_text or ''}".split())
            if engine.dialect.name == "sqlite":
                keys = set(sqlite_tokens(it.relevant, it.duplicate_of_id, it.language, it.source_id,
                                         it.published).lower().split())
            else:
                keys = pg_lexemes(it.relevant, it.duplicate_of_id, it.language, it.source_id, it.published, it.id)
            out[it.id] = (keys, words)
    return out


def assert_in_sync(engine: Engine) -> None:
    assert _indexed(engine) == _expected(engine)


def _search(engine: Engine, **kw: object) -> set[int]:
    with session_scope(engine) as s:
        return {h.item.id for h in search_items(s, ItemFilter(**kw)).items}


def _add(s: Session, name: str, **kw: object) -> Item:
    kw.setdefault("relevant", True)
    kw.setdefault("score", 0.9)
    item = Item(canonical_url=f"http://k/{name}", url=f"http://k/{name}", title=f"{name} drone", **kw)
    s.add(item)
    s.flush()
    return item


@pytest.fixture
def archive(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        a, b = Source(name="a", publisher="A", kind="feed", url="http://k/a"), \
            Source(name="b", publisher="B", kind="feed", url="http://k/b")
        s.add_all([a, b])
        s.flush()
        ids = {"a": a.id, "b": b.id}
        ids["en"] = _add(s, "en", text="drone swarm over the sea", language="en", source_id=a.id, published=T0).id
        ids["fr"] = _add(s, "fr", text="essaim de drones", language="fr", source_id=b.id,
                         published=T0 - timedelta(days=40)).id
        ids["undated"] = _add(s, "undated", text="drone without a date", language="en", source_id=None).id
        ids["off"] = _add(s, "off", text="drone hobby", language="en", relevant=False, source_id=a.id,
                          published=T0).id
    return ids


def test_insert_and_backfill_are_in_sync(engine: Engine, archive: dict[str, int]) -> None:
    assert_in_sync(engine)
    # the month key is the UTC month (23:30 on 31 March stays March), undated items have month 0
    keys = _indexed(engine)
    assert ("9m9202403" if engine.dialect.name == "sqlite" else "~m202403") in keys[archive["en"]][0]
    assert ("9m90" if engine.dialect.name == "sqlite" else "~m0") in keys[archive["undated"]][0]
    assert _search(engine, q="drone") == {archive["en"], archive["fr"], archive["undated"]}


def test_every_kind_of_write_keeps_the_keys(engine: Engine, archive: dict[str, int]) -> None:
    with session_scope(engine) as s:  # a revision: new text
        it = s.get(Item, archive["en"])
        it.text, it.revision = "a new revision about a quadcopter", 2
    assert_in_sync(engine)
    assert archive["en"] not in _search(engine, q="swarm") and archive["en"] in _search(engine, q="quadcopter")

    with session_scope(engine) as s:  # on-topic changes, both ways
        s.get(Item, archive["off"]).relevant = True
        s.get(Item, archive["fr"]).relevant = False
    assert_in_sync(engine)
    assert _search(engine, q="drone") == {archive["en"], archive["off"], archive["undated"]}

    with session_scope(engine) as s:  # marked a duplicate of another item: hidden by default
        s.get(Item, archive["off"]).duplicate_of_id = archive["undated"]
    assert_in_sync(engine)
    assert _search(engine, q="drone") == {archive["en"], archive["undated"]}
    assert archive["off"] in _search(engine, q="drone", include_all=True)

    with session_scope(engine) as s:  # language, source and date corrected
        it = s.get(Item, archive["undated"])
        it.language, it.source_id, it.published = "fr", archive["b"], T0
    assert_in_sync(engine)
    assert _search(engine, q="drone", languages=["fr"]) == {archive["undated"]}
    assert _search(engine, q="drone", sources=["b"]) == {archive["undated"]}
    assert _search(engine, q="drone", publishers=["a"]) == {archive["en"]}
    assert _search(engine, q="drone", publishers=["nobody"]) == set()

    with session_scope(engine) as s:  # an ORM bulk update and a raw SQL one
        s.execute(update(Item).where(Item.id == archive["fr"]).values(relevant=True, language="de"))
        s.execute(text("UPDATE items SET published = NULL, source_id = NULL WHERE id = :i"), {"i": archive["fr"]})
    assert_in_sync(engine)
    assert _search(engine, q="drone", languages=["de"]) == {archive["fr"]}
    assert _search(engine, q="drone", languages=["de"], sort="date") == {archive["fr"]}

    with session_scope(engine) as s:  # deleting a source sets its items' source to NULL
        s.delete(s.get(Source, archive["a"]))
    assert_in_sync(engine)

    with session_scope(engine) as s:  # delete (ORM) and raw delete
        s.delete(s.get(Item, archive["off"]))
        s.execute(text("DELETE FROM items WHERE id = :i"), {"i": archive["undated"]})
    assert_in_sync(engine)
    assert _search(engine, q="drone", include_all=True) == {archive["en"], archive["fr"]}
    with session_scope(engine) as s:
        assert count_items(s, ItemFilter(q="drone", include_all=True)).total == 2


def test_keys_cannot_be_searched_as_words(engine: Engine, archive: dict[str, int]) -> None:
    # the key tokens live in their own column (SQLite) or start with `~`, which no word holds (PostgreSQL)
    for q in ("9on9", "~on", "on", "9l9656E", "~len", "meta:9on9"):
        assert _search(engine, q=q, include_all=True) == set(), q
    with session_scope(engine) as s:  # a word that looks like a key is still only a word
        _add(s, "lookalike", text="9on9 9m90 ~on", language="en")
    assert_in_sync(engine)
    assert len(_search(engine, q="9on9")) == 1
