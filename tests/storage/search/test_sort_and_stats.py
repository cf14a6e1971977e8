"""Date sort with a text query (every match once, newest first, cursors bound to the sort) and the
counts and facets of a search, exact and estimated, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text

from storage.database import session_scope
from storage.models import Item, Source
from storage.search import ItemFilter, SearchError, bydate, count_items, search_items, search_stats, stats
from tests.storage.search.seed import BASE, seed


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    out = seed(engine, bulk=60)
    with session_scope(engine) as s:  # same-day and same-minute items, and undated ones
        for k in range(24):
            s.add(Item(canonical_url=f"http://t/d{k}", url=f"http://t/d{k}", title=f"Drone note {k}",
                       text="drone " * (1 + k % 5), relevant=bool(k % 3), language="en" if k % 4 else "fr",
                       published=None if k % 6 == 0 else BASE - timedelta(days=k % 3, seconds=k)))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE items"))
    return out


def walk(engine: Engine, f: ItemFilter) -> list[int]:
    seen: list[int] = []
    cursor = None
    with session_scope(engine) as s:
        for _ in range(500):
            page = search_items(s, replace(f, cursor=cursor))
            seen += [h.item.id for h in page.items]
            if not page.next:
                return seen
            cursor = page.next
    raise AssertionError("paging never ended")


def date_order(engine: Engine, found: set[int]) -> list[int]:
    """The expected order: published newest first, undated last, then newest archived first."""
    with session_scope(engine) as s:
        rows = s.execute(select(Item.id, Item.published).where(Item.id.in_(found))).all()
    dated = sorted((r for r in rows if r.published), key=lambda r: (r.published, r.id), reverse=True)
    return [r.id for r in dated] + sorted((r.id for r in rows if not r.published), reverse=True)


FILTERS = [{"include_all": True}, {}, {"languages": ["en"]}, {"include_all": True, "publishers": ["united nations"]},
           {"include_all": True, "since": BASE - timedelta(days=120), "until": BASE - timedelta(days=1)}]


@pytest.mark.parametrize("q", ["drone*", "REAIM OR swarm", "\"drone swarm\""])
@pytest.mark.parametrize("kw", FILTERS, ids=lambda kw: "|".join(kw) or "default")
@pytest.mark.parametrize("strategy", ["sort-all", "keyed-sort", "walk-months", "walk-one-month-then-sort",
                                      "sample-skips-the-fetch", "month-batches"])
def test_date_sort_pages_every_match_once_newest_first(engine: Engine, ids: dict[str, int], q: str, kw: dict,
                                                       strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if strategy != "sort-all":  # many matches: the date index walk, or month keys then the rest at once
        monkeypatch.setattr(bydate, "SORT_ALL", 0)
        monkeypatch.setattr(bydate, "SQLITE_SORT_ALL", 0)
    monkeypatch.setattr(bydate, "SQLITE_WALK_STEPS", 0)  # filters: the keyed plans (walked: test_sqlite_plans)
    if strategy.startswith("walk"):
        monkeypatch.setattr(bydate, "FEW", 0)
    if strategy == "walk-one-month-then-sort":
        monkeypatch.setattr(bydate, "MONTH_WALK", 1)
    if strategy == "month-batches":  # PostgreSQL: one month, the FEW fetch (too many), one more month, the rest
        monkeypatch.setattr(bydate, "PG_FIRST_MONTHS", 1)
        monkeypatch.setattr(bydate, "MONTH_WALK", 2)
        monkeypatch.setattr(bydate, "FEW", 0)
    decisions: list[bool] = []
    if strategy == "sample-skips-the-fetch":  # SQLite: the FEW fetch judged hopeless from a sample: months walked
        monkeypatch.setattr(bydate, "FEW", 0)
        monkeypatch.setattr(bydate, "FEW_SAMPLE", 1)
        likely = bydate._few_likely
        monkeypatch.setattr(bydate, "_few_likely", lambda *a: decisions.append(likely(*a)) or decisions[-1])
    ranked = walk(engine, ItemFilter(q=q, limit=500, **kw))
    for limit in (1, 6):
        by_date = walk(engine, ItemFilter(q=q, sort="date", limit=limit, **kw))
        assert len(by_date) == len(set(by_date)), "a match was listed twice"
        assert set(by_date) == set(ranked), "date order lost or added a match"
        assert by_date == date_order(engine, set(ranked))
    assert ranked, "the query should match something"
    if strategy == "sample-skips-the-fetch" and engine.dialect.name == "sqlite" and kw.get("languages"):
        assert False in decisions, "on-topic beyond the language key: the sample should have skipped the fetch"


def test_cursors_are_bound_to_the_sort(engine: Engine, ids: dict[str, int]) -> None:
    f = ItemFilter(q="drone", include_all=True, limit=3)
    with session_scope(engine) as s:
        ranked, dated = search_items(s, f).next, search_items(s, replace(f, sort="date")).next
        assert ranked and dated
        with pytest.raises(SearchError, match="cursor"):
            search_items(s, replace(f, sort="date", cursor=ranked))
        with pytest.raises(SearchError, match="cursor"):
            search_items(s, replace(f, cursor=dated))
        with pytest.raises(SearchError, match="invalid sort"):
            search_items(s, replace(f, sort="newest"))
        with pytest.raises(SearchError, match="invalid sort"):
            search_stats(s, replace(f, sort="random"))


def _expected(engine: Engine, found: list[int]) -> tuple[Counter, Counter, Counter, int]:
    with session_scope(engine) as s:
        rows = s.execute(select(Item.published, Source.publisher, Item.language)
                         .outerjoin(Source, Source.id == Item.source_id).where(Item.id.in_(found))).all()
    months = Counter(f"{p.year:04d}-{p.month:02d}" for p, _, _ in rows if p)
    pubs = Counter(pub for _, pub, _ in rows if pub)
    langs = Counter(lang for _, _, lang in rows)
    return months, pubs, langs, sum(1 for p, _, _ in rows if p is None)


@pytest.mark.parametrize("kw", [{"q": "drone*", "include_all": True}, {"q": "drone"}, {"q": "REAIM OR LAWS"},
                                {"include_all": True}, {"languages": ["fr"], "include_all": True},
                                {"q": "xylophone"}])
def test_stats_are_exact_below_the_threshold(engine: Engine, ids: dict[str, int], kw: dict) -> None:
    f = ItemFilter(**kw)
    found = walk(engine, replace(f, limit=500))
    months, pubs, langs, undated = _expected(engine, found)
    with session_scope(engine) as s:
        st = search_stats(s, f)
        assert count_items(s, f).to_dict() == {"total": len(found), "exact": True}
    assert st.count.total == len(found) and st.count.exact and st.sample_fraction is None
    assert dict(st.per_month) == months and st.undated == undated
    assert sum(n for _, n in st.per_week) + st.undated == len(found)
    assert dict(st.publishers) == pubs and dict(st.languages) == langs
    assert [n for _, n in st.publishers] == sorted((n for _, n in st.publishers), reverse=True)
    assert [p for p, _ in st.per_month] == sorted(p for p, _ in st.per_month)
    data = st.to_dict()
    assert data["count"] == {"total": len(found), "exact": True} and data["sample_fraction"] is None


def test_stats_estimate_beyond_the_threshold_and_say_so(engine: Engine, ids: dict[str, int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "STATS_EXACT", 10)
    monkeypatch.setattr(stats, "PG_STATS_EXACT", 10)
    monkeypatch.setattr(stats, "STATS_SAMPLE", 20)
    monkeypatch.setattr(stats, "PG_STATS_SAMPLE", 20)
    for f in (ItemFilter(q="drone*", include_all=True), ItemFilter(include_all=True)):
        true_total = len(walk(engine, replace(f, limit=500)))
        with session_scope(engine) as s:
            st = search_stats(s, f)
            count = count_items(s, f)
        assert not st.count.exact and not count.exact
        assert st.count.total > 10 and count.total > 10
        assert 0 < st.sample_fraction <= 1
        assert true_total / 4 <= st.count.total <= true_total * 4  # a sample of a tiny archive: rough, flagged
        assert st.per_month and st.publishers and st.languages


@pytest.mark.postgres
def test_a_phrase_is_sampled_on_postgresql_once_its_rarest_word_passes_the_threshold(
        engine: Engine, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner takes a phrase's words as independent and underestimates it; the count switches to the sample
    on the estimate of its rarest word (what ranking sizes its windows by), and says it is an estimate."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner estimate")
    from storage.search.engines import pg_planned_matches, tune
    from storage.search.ranking import match_estimate
    from storage.search.userquery import parse_user_query
    from storage.search.variants import query_languages

    f = ItemFilter(q='"drone swarm"', include_all=True)
    node = parse_user_query(f.q)
    with session_scope(engine) as s:
        tune(s)
        langs = query_languages(f.languages)
        bound = match_estimate(s, node, langs)
        planner = pg_planned_matches(s, node, langs)
    assert planner < bound  # the planner's own estimate would have kept the exact count
    monkeypatch.setattr(stats, "PG_STATS_EXACT", int(bound) - 1)
    true_total = len(walk(engine, replace(f, limit=500)))
    with session_scope(engine) as s:
        st = search_stats(s, f)
    assert not st.count.exact and st.sample_fraction is not None
    assert true_total / 4 <= st.count.total <= true_total * 4
