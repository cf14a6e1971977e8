"""storage.items.store_page: one call and one transaction per page; a crash inside it stores nothing, and the
page stored again afterwards is stored exactly once."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine, func, select

from crawler.dedup import content_fingerprint, signature
from storage import items as storage_items
from storage.database import session_scope
from storage.items import PageRecord, store_page
from storage.models import Item, ItemBand, ItemLink, ItemRevision, ItemSymbol, PendingAlternate, UrlAlias

VOCAB = [f"term{n}" for n in range(3000)]


def body(seed: int) -> str:
    rng = random.Random(seed)
    return "See A/RES/79/239. " + " ".join(rng.choice(VOCAB) for _ in range(150))


def record(url: str, text: str, **kw: object) -> PageRecord:
    return PageRecord(canonical_url=url, url=url, title="Title", text=text, content_hash=content_fingerprint(text),
                      minhash=signature(text) or None, symbols=["A/RES/79/239"], **kw)  # type: ignore[arg-type]


def counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Item, ItemSymbol, ItemBand, UrlAlias, ItemLink, PendingAlternate, ItemRevision)
        }


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("step", ["index_item", "link_translations", "remember_alias"])
def test_a_crash_inside_the_store_stores_nothing_and_the_retry_stores_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    page = record("https://gov.example/a", body(1), fetched_key="https://mirror.example/a",
                  alternates={"fr": "https://gov.example/fr/a"})
    real = getattr(storage_items, step)

    def crash(*args: object, **kw: object) -> None:
        real(*args, **kw)  # the step's rows are written ... and then the process fails inside the transaction
        raise Boom(step)

    monkeypatch.setattr(storage_items, step, crash)
    with pytest.raises(Boom):
        store_page(engine, page)
    assert set(counts(engine).values()) == {0}
    monkeypatch.undo()
    stored = store_page(engine, page)
    assert stored.outcome == "new"
    assert store_page(engine, page).outcome == "known"  # and once more: nothing is duplicated
    assert counts(engine) == {"items": 1, "item_symbols": 1, "item_bands": 25, "url_aliases": 1, "item_links": 0,
                              "pending_alternates": 1, "item_revisions": 0}


def test_outcomes_new_duplicate_known_updated_unchanged_vanished(engine: Engine) -> None:
    first = store_page(engine, record("https://gov.example/1", body(2)))
    exact = store_page(engine, record("https://wire.example/1", body(2).upper()))
    near = store_page(engine, record("https://wire.example/2", "Press release. " + body(2) + " Share."))
    known = store_page(engine, record("https://gov.example/1", body(3), fetched_key="https://gov.example/1?x"))
    assert (first.outcome, exact.outcome, near.outcome, known.outcome) == ("new", "duplicate", "duplicate", "known")
    assert (exact.duplicate_of_id, exact.reason, near.duplicate_of_id, near.reason) == (
        first.item_id, "fingerprint", first.item_id, "near")
    assert known.item_id == first.item_id
    copy_of_copy = store_page(engine, record("https://wire.example/3", "Press release. " + body(2) + " Share."))
    assert (copy_of_copy.duplicate_of_id, copy_of_copy.reason) == (first.item_id, "fingerprint")  # the first copy
    updated = store_page(engine, record("https://gov.example/1", body(4), revise_id=first.item_id))
    unchanged = store_page(engine, record("https://gov.example/1", body(4), revise_id=first.item_id))
    vanished = store_page(engine, record("https://gov.example/9", body(5), revise_id=10**6))
    assert (updated.outcome, unchanged.outcome, vanished.outcome) == ("updated", "unchanged", "vanished")
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ItemRevision)) == 1
        assert session.scalars(select(UrlAlias.url)).all() == ["https://gov.example/1?x"]


def test_a_short_text_is_not_matched_by_fingerprint(engine: Engine) -> None:
    store_page(engine, record("https://gov.example/s1", "Statement"))
    other = store_page(engine, record("https://gov.example/s2", "Statement", match_fingerprint=False))
    assert other.outcome == "new"


def test_search_columns_given_with_a_record_are_stored_and_otherwise_computed(engine: Engine) -> None:
    """The crawler's worker processes compute a page's search columns (storage.index_terms) with its extraction:
    store_page stores them as given; without them it computes the same from the record's fields."""
    from storage.index_terms import search_columns
    from storage.search import ItemFilter, search_items

    text = body(7) + " autonomous weapons systems"
    given = record("https://gov.example.org/a", text, summary="A summary", language="en")
    given.search_columns = search_columns(given.title, given.summary, given.text, given.language)
    computed = record("https://gov.example.org/b", body(8) + " autonomous weapons systems", summary="A summary",
                      language="en")
    assert store_page(engine, given).outcome == "new" and store_page(engine, computed).outcome == "new"
    with session_scope(engine) as session:
        rows = {i.canonical_url: (i.search_title, i.search_text) for i in session.scalars(select(Item))}
        assert rows["https://gov.example.org/a"] == given.search_columns
        assert rows["https://gov.example.org/b"] == search_columns(computed.title, computed.summary, computed.text,
                                                                    computed.language)
        page = search_items(session, ItemFilter(q="autonomous weapons", include_all=True))
        assert {hit.item.canonical_url for hit in page.items} >= {"https://gov.example.org/a",
                                                                  "https://gov.example.org/b"}
