"""Ranked search in windows of the newest matches (storage.search.ranking.RANK_WINDOW): many-matches queries
page through every match exactly once, filters hold, few-matches queries keep exact global ranking."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from sqlalchemy import Engine, text

import storage.search as S
from storage.database import session_scope
from storage.models import Item
from storage.search import ItemFilter, SearchError, filters, search_items
from storage.search import ranking as R
from tests.storage.search.seed import BASE, seed


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    out = seed(engine, bulk=60)
    with session_scope(engine) as s:  # matches whose rank does not follow their age
        for k in range(40):
            s.add(Item(canonical_url=f"http://t/x{k}", url=f"http://t/x{k}", title="drone " * (1 + k % 4) + "log",
                       text="drone notes " + "filler " * (k % 7), relevant=bool(k % 3), language="en",
                       published=BASE.replace(day=1 + k % 28)))
    if engine.dialect.name == "postgresql":  # the planner's match estimate sizes the windows
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE items"))
    return out


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(R, "RANK_WINDOW", 8)
    monkeypatch.setattr(R, "RANK_WINDOW_MIN", 2)
    return 8


def walk(engine: Engine, f: ItemFilter) -> list[int]:
    """Every id of a query, page after page."""
    seen: list[int] = []
    cursor = None
    with session_scope(engine) as s:
        for _ in range(1000):
            page = search_items(s, replace(f, cursor=cursor))
            seen += [h.item.id for h in page.items]
            if not page.next:
                return seen
            cursor = page.next
    raise AssertionError("paging never ended")


def everything(engine: Engine, f: ItemFilter) -> list[int]:
    with session_scope(engine) as s:
        return [h.item.id for h in search_items(s, replace(f, limit=500)).items]


FILTERS = [
    ItemFilter(q="drone*", include_all=True, limit=3),
    ItemFilter(q="drone*", limit=5),  # on-topic, duplicates hidden
    ItemFilter(q="drone* OR REAIM", sources=["un-news"], limit=4),
    ItemFilter(q="drone* OR REAIM", publishers=["government of the netherlands"], languages=["en"], limit=2),
    ItemFilter(q="military", since=BASE.replace(year=2025, month=2), include_all=True, limit=3),
    ItemFilter(q="lethal OR drone*", symbol="a/res/79/239", include_all=True, limit=1),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f"{f.q}|{f.limit}")
def test_many_matches_paging_has_no_loss_or_repeat(engine: Engine, ids: dict[str, int], small_windows: int,
                                                    f: ItemFilter) -> None:
    seen = walk(engine, f)
    assert len(seen) == len(set(seen))
    with pytest.MonkeyPatch.context() as mp:  # one window: the exact, global ranking
        mp.setattr(R, "RANK_WINDOW", 10**9)
        exact_order = everything(engine, f)
    assert set(seen) == set(exact_order)
    if f.symbol:
        assert seen == [ids["resolution"]]


def test_windows_rank_newest_matches_first(engine: Engine, ids: dict[str, int], small_windows: int) -> None:
    f = ItemFilter(q="drone*", include_all=True, limit=500)
    seen = everything(engine, f)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(R, "RANK_WINDOW", 10**9)
        exact = everything(engine, f)
    assert seen != exact and sorted(seen) == sorted(exact)  # 101 matches: ranked in windows
    if engine.dialect.name == "sqlite":  # exact windows: the 8 newest matches, best first, then 16, 32…
        newest = sorted(exact, reverse=True)
        k, size = 0, 8
        while k < len(newest):
            window = set(newest[k : k + size])
            assert set(seen[k : k + size]) == window
            assert seen[k : k + size] == [i for i in exact if i in window]  # same order as the global ranking
            k, size = k + size, size * 2
    else:  # estimated windows: still newest first, window after window
        assert seen[0] in sorted(exact, reverse=True)[:16]


def test_few_matches_keep_exact_global_ranking(engine: Engine, ids: dict[str, int], small_windows: int) -> None:
    f = ItemFilter(q="REAIM", include_all=True)  # 3 matches < window
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(R, "RANK_WINDOW", 10**9)
        exact = everything(engine, f)
    assert everything(engine, f) == exact and len(exact) == 3


def test_window_size_shrinks_with_query_phrases(small_windows: int) -> None:
    langs = S.query_languages(["en"])
    one = R.window_size(S.parse_user_query("REAIM"), langs)  # one phrase
    many = R.window_size(S.parse_user_query("drone autonomous weapons lethal"), S.query_languages([]))
    assert one == 8 and R.RANK_WINDOW_MIN <= many < one


def test_items_archived_while_paging_stay_out_of_later_pages(engine: Engine, ids: dict[str, int],
                                                               small_windows: int) -> None:
    f = ItemFilter(q="drone*", include_all=True, limit=5)
    before = set(everything(engine, f))
    seen: list[int] = []
    new: list[int] = []
    cursor = None
    with session_scope(engine) as s:
        for n in range(100):
            page = search_items(s, replace(f, cursor=cursor))
            seen += [h.item.id for h in page.items]
            if n < 3:  # new, strongly matching items arrive while paging
                item = Item(canonical_url=f"http://t/new{n}", url=f"http://t/new{n}", title="Drone drone drone",
                            text="drone", relevant=True)
                s.add(item)
                s.commit()
                new.append(item.id)
            if not page.next:
                break
            cursor = page.next
    assert set(seen) <= before and not set(new) & set(seen)
    assert set(new) <= set(everything(engine, f))  # a new search finds them


@pytest.mark.parametrize("window", [[1, 2], [None, None, 0], ["a", None, None], [2**70, None, None], {"x": 1}])
def test_forged_window_in_cursor_is_rejected(engine: Engine, ids: dict[str, int], small_windows: int,
                                             window: object) -> None:
    f = ItemFilter(q="drone*", include_all=True, limit=3)
    with session_scope(engine) as s:
        cursor = search_items(s, f).next
        assert cursor
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        data["w"] = window
        forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        with pytest.raises(SearchError, match="cursor"):
            search_items(s, replace(f, cursor=forged))


def test_sqlite_filters_read_the_covering_index(engine: Engine, ids: dict[str, int]) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with session_scope(engine) as s:
        conds = filters.filter_conditions(ItemFilter(q="drone"))
        r = R._ranker("sqlite", S.parse_user_query("drone"), ("en",), conds)
        sql = str(r.ranked.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        assert f"INDEXED BY {R.SQLITE_FILTER_INDEX}" in sql
        plan = " ".join(str(row[-1]) for row in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "COVERING INDEX" in plan
