"""SQLite's plans of issue 14 change no result: the date index walked with filters (bydate._walk_pays),
the date index probed in the full-text index for a dense word (bydate._probe_walk), the keyed ranking
window of filters that keep few matches (ranking.SQLITE_KEYED_FEW), prefix variants that another covers
dropped from the FTS5 expression (fulltext.fts5_variants), and the page cache."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, text

from storage.database import SQLITE_CACHE_KB, session_scope
from storage.search import ItemFilter, bydate, parse_user_query, search_items, to_fts5
from storage.search import ranking as R
from storage.search.filters import filter_conditions
from storage.search.fulltext import fts5_variants
from tests.storage.search.test_sort_and_stats import FILTERS, date_order, ids, walk

__all__ = ["ids"]  # the archive fixture of the date-sort tests


def _sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite plans")


@pytest.mark.parametrize("q", ["drone*", "REAIM OR swarm", "\"drone swarm\""])
@pytest.mark.parametrize("kw", FILTERS, ids=lambda kw: "|".join(kw) or "default")
def test_date_walk_with_filters_pages_every_match_once(engine: Engine, ids: dict[str, int], q: str, kw: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _sqlite(engine)
    monkeypatch.setattr(bydate, "SQLITE_SORT_ALL", 0)  # many matches
    monkeypatch.setattr(bydate, "SQLITE_WALK_STEPS", 10**9)  # the walk always pays
    decisions: list[bool] = []
    pays = bydate._walk_pays
    monkeypatch.setattr(bydate, "_walk_pays", lambda *a: decisions.append(pays(*a)) or decisions[-1])
    ranked = walk(engine, ItemFilter(q=q, limit=500, **kw))
    assert ranked, "the query should match something"
    for limit in (1, 6):
        by_date = walk(engine, ItemFilter(q=q, sort="date", limit=limit, **kw))
        assert len(by_date) == len(set(by_date)), "a match was listed twice"
        assert by_date == date_order(engine, set(ranked))
    if not kw.get("include_all") or kw.get("languages") or kw.get("publishers"):  # keyed filters
        assert True in decisions, "the filters keep many matches: the date index should have been walked"


def test_date_walk_is_not_taken_when_the_filters_keep_nothing(engine: Engine, ids: dict[str, int]) -> None:
    _sqlite(engine)
    f = ItemFilter(q="drone", languages=["de"], sort="date")  # no German item
    with session_scope(engine) as s:
        node = parse_user_query("drone")
        assert not bydate._walk_pays(s, node, ("de",), filter_conditions(f), 51)
        assert search_items(s, f).items == []


@pytest.mark.parametrize("q", ["drone*", "drone", "REAIM OR swarm"])
@pytest.mark.parametrize("budget", [3.0, 0.01], ids=["probes", "budget-short"])
def test_probing_the_date_index_pages_every_match_once(engine: Engine, ids: dict[str, int], q: str, budget: float,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """bydate._probe_walk (a dense word, no filter): the page it finds is the match-set walk's page; a walk
    whose budget of rows holds too few matches gives way to that walk."""
    _sqlite(engine)
    f = ItemFilter(q=q, include_all=True, limit=500)
    expected = date_order(engine, set(walk(engine, f)))
    assert expected, "the query should match something"
    monkeypatch.setattr(bydate, "SQLITE_SORT_ALL", 0)  # many matches
    monkeypatch.setattr(bydate, "SQLITE_PROBE_COST", 1e-9)  # probing always pays
    monkeypatch.setattr(bydate, "SQLITE_PROBE_BUDGET", budget)
    found: list[bool] = []
    probe = bydate._probe_walk
    monkeypatch.setattr(bydate, "_probe_walk", lambda *a: found.append(probe(*a) is not None) or probe(*a))
    for limit in (1, 4):
        by_date = walk(engine, ItemFilter(q=q, sort="date", limit=limit, include_all=True))
        assert by_date == expected
    if budget > 1:
        assert True in found, "the date index should have been probed"
    else:
        assert found and not any(found), "a budget of one row should have given way to the match-set walk"


def test_the_date_index_is_probed_only_for_a_word_in_a_large_share_of_a_large_archive(
        engine: Engine, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    _sqlite(engine)
    node = parse_user_query("drone")
    with session_scope(engine) as s:
        items = s.execute(text("SELECT max(id) FROM items")).scalar()
        counted, oldest = bydate._newest_matches(s, node, ("en",), 10**6)
        assert counted == s.execute(text("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'drone'")).scalar()
        assert bydate._probe_walk(s, node, ("en",), None, 51, counted, oldest) is None  # ~80 items: the set
        # the same share in a million items pays: share^2 x items > SQLITE_PROBE_COST x n
        share = counted / (items - oldest + 1)
        monkeypatch.setattr(bydate, "SQLITE_PROBE_COST", share * share * items / 2 / 2)
        rows = bydate._probe_walk(s, node, ("en",), None, 2, counted, oldest)
        assert rows is not None and [r[0] for r in rows] == date_order(engine, set(walk(engine, ItemFilter(
            q="drone", include_all=True, limit=500))))[:2]


KEYED = [
    ItemFilter(q="drone", languages=["fr"], include_all=True, limit=2),
    ItemFilter(q="drone", languages=["fr"], limit=2),  # on-topic French: the language key, on-topic joined
    ItemFilter(q="drone*", languages=["en"], limit=5),
    ItemFilter(q="drone", publishers=["united nations"], include_all=True, limit=4),
    ItemFilter(q="drone OR REAIM", limit=7),
    ItemFilter(q="drone", languages=["de"], limit=3),  # no keyed match at all
]


def _pages(engine: Engine, f: ItemFilter) -> list[list[tuple[int, float | None]]]:
    out, cursor = [], None
    with session_scope(engine) as s:
        for _ in range(500):
            page = search_items(s, replace(f, cursor=cursor))
            out.append([(h.item.id, h.rank) for h in page.items])
            if not page.next:
                return out
            cursor = page.next
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("f", KEYED, ids=lambda f: f"{f.q}|{'|'.join(f.languages + f.publishers)}|{f.limit}")
def test_keyed_rank_window_is_one_global_window(engine: Engine, ids: dict[str, int], f: ItemFilter,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _sqlite(engine)
    monkeypatch.setattr(R, "RANK_WINDOW", 8)  # many small windows of text matches
    monkeypatch.setattr(R, "RANK_WINDOW_MIN", 2)
    counted: list[int] = []
    count = R._keyed_count
    monkeypatch.setattr(R, "_keyed_count", lambda *a: counted.append(count(*a)) or counted[-1])
    monkeypatch.setattr(R, "SQLITE_KEYED_FEW", 10**6)  # every filtered query ranked in the keyed window
    keyed = _pages(engine, f)
    assert counted, "the keyed match should have been counted"
    monkeypatch.setattr(R, "SQLITE_KEYED_FEW", 0)
    windowed = [row for page in _pages(engine, f) for row in page]
    monkeypatch.setattr(R, "RANK_WINDOW", 10**9)  # one window: every match, globally ranked
    assert keyed == _pages(engine, f)  # same rows and ranks, page by page
    seen = [i for page in keyed for i, _ in page]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(i for i, _ in windowed)
    if f.languages == ["de"]:
        assert seen == [] and counted[0] == 0


def test_prefix_variants_covered_by_another_are_dropped() -> None:
    seqs = ((("drone", True),), (("dron", True),), (("drone", False),), (("drones", False),), (("dr", False),))
    assert fts5_variants(seqs) == [(("dron", True),), (("dr", False),)]
    phrase = ((("lethal", False), ("autonom", True)), (("lethal", False), ("autonomous", True)),
              (("letal", False), ("autonomous", False)))
    assert fts5_variants(phrase) == [phrase[0], phrase[2]]
    assert fts5_variants(((("a", True),), (("a", True),))) == [(("a", True),)]  # a duplicate kept once
    node = parse_user_query("drone* OR weapons*")
    assert to_fts5(node, ["en", "fr"]) == '(("drone"* OR "dron"*) OR ("weapon"* OR "weapons"*))'
    assert to_fts5(node, ["en", "fr"], merged=True) == '("dron"* OR "weapon"*)'


@pytest.mark.parametrize("q", ["drone*", "dron*", "swarm* drone*", "\"drone swarm*\"", "REAIM* OR drone*"])
def test_merged_prefixes_match_the_same_items(engine: Engine, ids: dict[str, int], q: str) -> None:
    _sqlite(engine)
    node = parse_user_query(q)
    langs = ("en", "nl", "fr", "de", "es")
    with engine.connect() as conn:
        def rowids(expr: str) -> set[int]:
            return {r[0] for r in conn.execute(text("SELECT rowid FROM items_fts WHERE items_fts MATCH :m"),
                                               {"m": "{search_title search_text} : (" + expr + ")"})}
        full, merged = to_fts5(node, langs), to_fts5(node, langs, merged=True)
        assert rowids(full) == rowids(merged) and rowids(full)


def test_sqlite_connections_get_the_search_page_cache(engine: Engine) -> None:
    _sqlite(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KB
