"""PostgreSQL writes the on-topic filter of a text match as `relevant IS NOT DISTINCT FROM true`
(engines.pg_filters: no index matches it, so the planner cannot AND the GIN bitmap with every on-topic
item): the pages, in both orders, and the counts and facets are those of `relevant IS true`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from storage.database import session_scope
from storage.models import Item
from storage.search import ItemFilter, engines, ranking, search_items, search_stats
from tests.storage.search.seed import BASE


@pytest.fixture
def archive(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's filters only")
    with session_scope(engine) as s:
        for k in range(90):
            s.add(Item(canonical_url=f"http://t/f{k}", url=f"http://t/f{k}", title=f"Drone report {k}",
                       text="drone weapons " * (1 + k % 4), relevant=k % 3 != 0, language="en" if k % 4 else "fr",
                       published=None if k % 9 == 0 else BASE - timedelta(days=k * 11, minutes=k)))
        s.flush()
        copies = s.query(Item).order_by(Item.id).limit(6).all()
        for k, original in enumerate(copies):  # French copies of stories, on-topic ones among them
            s.add(Item(canonical_url=f"http://t/c{k}", url=f"http://t/c{k}", title=f"Drone copie {k}",
                       text="drone armes", relevant=True, language="fr", duplicate_of_id=original.id,
                       published=BASE - timedelta(days=k)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE items"))
    return engine


def _walk(engine: Engine, f: ItemFilter) -> list[tuple[int, float | None]]:
    out: list[tuple[int, float | None]] = []
    cursor = None
    with session_scope(engine) as s:
        for _ in range(200):
            page = search_items(s, replace(f, cursor=cursor))
            out += [(h.item.id, h.rank) for h in page.items]
            if not page.next:
                return out
            cursor = page.next
    raise AssertionError("paging never ended")


FILTERS = [{}, {"languages": ["en"]}, {"languages": ["fr"]}, {"languages": ["fr", "en"]}]


@pytest.mark.postgres
@pytest.mark.parametrize("kw", FILTERS, ids=lambda kw: "|".join(kw.get("languages", [])) or "on-topic")
def test_on_topic_written_unindexed_keeps_every_result(archive: Engine, kw: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> tuple[list, list, object]:
        ranked = _walk(archive, ItemFilter(q="drone", limit=7, **kw))
        dated = _walk(archive, ItemFilter(q="drone", limit=7, sort="date", **kw))
        with session_scope(archive) as s:
            stats = search_stats(s, ItemFilter(q="drone", **kw)).to_dict()
        return ranked, dated, stats

    rewritten = run()
    monkeypatch.setattr(engines, "pg_filters", lambda conds: conds)
    monkeypatch.setattr(ranking, "pg_filters", lambda conds: conds)
    assert run() == rewritten
    ranked, dated, stats = rewritten
    assert ranked, "the query should match something"
    assert {i for i, _ in ranked} == {i for i, _ in dated}, "both orders list the same matches"
    assert len(dated) == len({i for i, _ in dated}), "a match was listed twice"
    assert stats["count"]["total"] == len(dated) and stats["count"]["exact"]


@pytest.mark.postgres
def test_pg_filters_rewrites_only_the_on_topic_condition(archive: Engine) -> None:
    other = Item.language.in_(["en"])
    out = engines.pg_filters([Item.relevant.is_(True), other])
    assert out[1] is other
    sql = str(out[0].compile(dialect=archive.dialect))
    assert "IS NOT DISTINCT FROM" in sql and "relevant" in sql
