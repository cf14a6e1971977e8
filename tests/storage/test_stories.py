"""Stories: copies and language versions of one text are one result whose original is the earliest
published copy, whatever the order they were stored in (both dialects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from api.presentation import hits_to_dicts
from storage.database import session_scope
from storage.links import link_translations
from storage.models import Item, Source
from storage.search import ItemFilter, search_items
from storage.stories import copies_of, settle, summary

DAY = datetime(2025, 9, 25, 9, 0, tzinfo=UTC)
TEXT = "Autonomous weapons and military artificial intelligence were discussed by the ministers."


def _sources(s) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = [Source(name=n, publisher=p, kind="feed", url=f"http://127.0.0.1/{n}", consecutive_failures=0,
                   ever_yielded=False) for n, p in (("un", "United Nations"), ("gov", "Government of X"),
                                                    ("agg", "Aggregator"))]
    s.add_all(rows)
    s.flush()
    return {r.name: r.id for r in rows}


def _add(s, name: str, source: int, published: datetime | None, *, language: str = "en",  # type: ignore[no-untyped-def]
         duplicate_of: int | None = None, fetched: datetime | None = None) -> Item:
    url = f"http://127.0.0.1/{name}"
    item = Item(canonical_url=url, url=url, source_id=source, title=f"Military AI talks ({name})", text=TEXT,
                published=published, language=language, relevant=True, score=0.9, duplicate_of_id=duplicate_of,
                fetched_at=fetched or datetime.now(UTC))
    s.add(item)
    s.flush()
    return item


def test_an_earlier_copy_stored_later_becomes_the_original_and_the_others_point_at_it(engine: Engine) -> None:
    with session_scope(engine) as s:
        src = _sources(s)
        republished = _add(s, "gov", src["gov"], DAY)  # crawled first: the original for now
        copy = _add(s, "agg", src["agg"], DAY + timedelta(days=2), duplicate_of=republished.id)
        assert settle(s, copy) == republished.id
        un = _add(s, "un", src["un"], DAY - timedelta(days=1), duplicate_of=republished.id)  # the UN original
        assert settle(s, un) == un.id
        ids = {"gov": republished.id, "agg": copy.id, "un": un.id}
    with session_scope(engine) as s:
        rows = dict(s.execute(select(Item.id, Item.duplicate_of_id)).all())
        assert rows == {ids["un"]: None, ids["gov"]: ids["un"], ids["agg"]: ids["un"]}
        page = search_items(s, ItemFilter(q="military"))
        assert [h.item.id for h in page.items] == [ids["un"]]  # one result: the earliest copy
        [data] = hits_to_dicts(s, page.items)
        assert data["story"] == ids["un"]
        assert [c["id"] for c in data["copies"]] == [ids["gov"], ids["agg"]]  # in order of publication
        assert data["also_published_by"] == ["Government of X", "Aggregator"]
        assert data["also_in"] == []


def test_a_later_copy_stays_a_copy_and_same_day_copies_go_by_first_seen(engine: Engine) -> None:
    with session_scope(engine) as s:
        src = _sources(s)
        first = _add(s, "un", src["un"], DAY, fetched=DAY)
        same_day = _add(s, "gov", src["gov"], DAY + timedelta(hours=5), fetched=DAY + timedelta(hours=6),
                        duplicate_of=first.id)
        undated = _add(s, "agg", src["agg"], None, duplicate_of=first.id)
        assert settle(s, same_day) == first.id and settle(s, undated) == first.id
        assert same_day.duplicate_of_id == first.id and undated.duplicate_of_id == first.id
        assert first.duplicate_of_id is None


def test_language_versions_are_one_story_found_in_either_language(engine: Engine) -> None:
    with session_scope(engine) as s:
        src = _sources(s)
        fr = _add(s, "un-fr", src["un"], DAY, language="fr")  # stored first, published the same day later seen
        en = _add(s, "un-en", src["un"], DAY - timedelta(days=1))
        link_translations(s, fr, {"en": en.canonical_url})
        es = _add(s, "un-es", src["un"], DAY + timedelta(days=1), language="es")
        link_translations(s, es, {"en": en.canonical_url})
        ids = {"fr": fr.id, "en": en.id, "es": es.id}
    with session_scope(engine) as s:
        rows = dict(s.execute(select(Item.id, Item.duplicate_of_id)).all())
        assert rows == {ids["en"]: None, ids["fr"]: ids["en"], ids["es"]: ids["en"]}
        everything = search_items(s, ItemFilter(sort="date"))
        assert [h.item.id for h in everything.items] == [ids["en"]]
        [data] = hits_to_dicts(s, everything.items)
        assert data["also_in"] == ["es", "fr"] and data["also_published_by"] == []
        # a French reader finds the French version, with its original listed under it
        french = search_items(s, ItemFilter(languages=["fr"], sort="date"))
        assert [h.item.id for h in french.items] == [ids["fr"]]
        copies = copies_of(s, [h.item for h in french.items])[ids["fr"]]
        assert [(c.id, c.original) for c in copies] == [(ids["en"], True), (ids["es"], False)]
        assert summary(copies)["languages"] == ["en", "es"]
        # asking for English and French shows the story once, as its English original
        both = search_items(s, ItemFilter(languages=["en", "fr"], sort="date"))
        assert [h.item.id for h in both.items] == [ids["en"]]
        # with text, by date (the keyed month walk) and ranked
        for sort in ("date", "relevance"):
            hits = search_items(s, ItemFilter(q="military", languages=["fr"], sort=sort)).items
            assert [h.item.id for h in hits] == [ids["fr"]], sort


def test_digests_and_webhooks_list_the_story_like_the_search(engine: Engine) -> None:
    from alerts.snapshots import item_snapshot

    with session_scope(engine) as s:
        src = _sources(s)
        un = _add(s, "un", src["un"], DAY)
        gov = _add(s, "gov", src["gov"], DAY + timedelta(days=1), duplicate_of=un.id)
        fr = _add(s, "un-fr", src["un"], DAY + timedelta(days=1), language="fr")
        link_translations(s, fr, {"en": un.canonical_url})
        settle(s, gov)
        s.expire_all()
        snap = item_snapshot(s.get(Item, un.id))
        assert snap["also_published_by"] == [{"publisher": "Government of X", "url": gov.url}]
        assert snap["also_in"] == ["fr"]


def test_migration_0008_groups_existing_language_versions_under_the_earliest_copy(engine: Engine) -> None:
    from alembic import command

    from storage.database import alembic_config, upgrade
    from storage.models import ItemLink

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with session_scope(engine) as s:  # an archive as the crawler stored it before stories
        src = _sources(s)
        gov = _add(s, "gov", src["gov"], DAY)
        un = _add(s, "un", src["un"], DAY - timedelta(days=1), duplicate_of=gov.id)
        fr = _add(s, "un-fr", src["un"], DAY - timedelta(days=1), language="fr")
        s.add_all([ItemLink(item_id=un.id, other_id=fr.id, kind="translation"),
                   ItemLink(item_id=fr.id, other_id=un.id, kind="translation")])
        alone = _add(s, "alone", src["agg"], DAY)
        ids = {"gov": gov.id, "un": un.id, "fr": fr.id, "alone": alone.id}
    upgrade(engine)
    with session_scope(engine) as s:
        rows = dict(s.execute(select(Item.id, Item.duplicate_of_id)).all())
    # un and fr were published the same day; un was seen first
    assert rows == {ids["un"]: None, ids["gov"]: ids["un"], ids["fr"]: ids["un"], ids["alone"]: None}
