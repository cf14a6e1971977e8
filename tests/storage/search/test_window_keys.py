"""Ranked windows over item ids spread across many id buckets (storage.search.keys.BUCKET): matching a
window with its bucket lexemes (PostgreSQL, ranking.PG_WINDOW_BUCKETS_MAX) or with the filters' key
lexemes (ranking.PG_RANK_KEYS) changes no page: the same rows, ranks and cursors; sizing the windows
with a phrase's rarest word (ranking.PG_PHRASE_ESTIMATE) still lists every match exactly once. On both
dialects (SQLite has none of these: its pages must not change either)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, select, text

import storage.search as S
from storage.database import session_scope
from storage.models import Item, Source
from storage.search import ItemFilter, search_items
from storage.search import ranking as R
from storage.search.engines import PG_VECTOR, pg_tsquery, planner_rows
from storage.search.keys import BUCKET

STEP = 997  # ids 1, 998, 1995, …: 160 items over 32 buckets
N = 160


@pytest.fixture
def spread(engine: Engine) -> Engine:
    with session_scope(engine) as s:
        srcs = [Source(name=f"w{k}", publisher=f"Pub {k}", kind="feed", url=f"http://127.0.0.1/w{k}.xml")
                for k in range(2)]
        s.add_all(srcs)
        s.flush()
        for k in range(N):
            phrase = " lethal autonomous weapons" if k % 5 == 0 else ""
            i = 1 + k * STEP
            s.add(Item(id=i, canonical_url=f"http://t/s{i}", url=f"http://t/s{i}",
                       title="drone " * (1 + k % 3) + "report", text="drone notes" + phrase + " filler" * (k % 7),
                       relevant=k % 4 != 0, language="en" if k % 3 else "fr", source_id=srcs[k % 7 % 2].id))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE items"))
    return engine


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "RANK_WINDOW", 8)
    monkeypatch.setattr(R, "RANK_WINDOW_MIN", 2)


def pages(engine: Engine, f: ItemFilter) -> list[tuple[list[tuple[int, float | None]], str | None]]:
    """Every page of a query: its (id, rank) rows and its next cursor."""
    out: list[tuple[list[tuple[int, float | None]], str | None]] = []
    cursor = None
    with session_scope(engine) as s:
        for _ in range(500):
            page = search_items(s, replace(f, cursor=cursor))
            out.append(([(h.item.id, h.rank) for h in page.items], page.next))
            if not page.next:
                return out
            cursor = page.next
    raise AssertionError("paging never ended")


def ids_of(walk: list[tuple[list[tuple[int, float | None]], str | None]]) -> list[int]:
    return [i for rows, _ in walk for i, _ in rows]


QUERIES = [
    ItemFilter(q="drone", include_all=True, limit=7),
    ItemFilter(q="drone", languages=["en"], limit=5),  # on-topic English only
    ItemFilter(q='"lethal autonomous"', include_all=True, limit=4),
    ItemFilter(q='drone "lethal autonomous"', include_all=True, limit=3),
    ItemFilter(q="report OR weapons", include_all=True, limit=9),
    ItemFilter(q="drone", languages=["fr"], include_all=True, limit=4),
    ItemFilter(q="drone", sources=["w1"], limit=6),
    ItemFilter(q="drone", publishers=["pub 0"], languages=["en", "fr"], include_all=True, limit=8),
    ItemFilter(q="drone", publishers=["nobody"], limit=8),  # names no source: nothing
    ItemFilter(q="dron*", languages=["en"], limit=6),
]


@pytest.mark.parametrize("f", QUERIES, ids=lambda f: f"{f.q}|{f.limit}")
@pytest.mark.parametrize("off", [("PG_WINDOW_BUCKETS_MAX", 0), ("PG_RANK_KEYS", False)])
def test_keyed_windows_give_the_same_pages(spread: Engine, small_windows: None, monkeypatch: pytest.MonkeyPatch,
                                           f: ItemFilter, off: tuple[str, object]) -> None:
    keyed = pages(spread, f)
    monkeypatch.setattr(R, *off)
    plain = pages(spread, f)
    assert keyed == plain  # rows, ranks and cursors
    seen = ids_of(keyed)
    assert len(seen) == len(set(seen))
    monkeypatch.setattr(R, "RANK_WINDOW", 10**9)  # one window: every match, globally ranked
    assert set(seen) == set(ids_of(pages(spread, f)))


@pytest.mark.parametrize("f", QUERIES, ids=lambda f: f"{f.q}|{f.limit}")
def test_phrase_estimate_lists_every_match_once(spread: Engine, small_windows: None,
                                                monkeypatch: pytest.MonkeyPatch, f: ItemFilter) -> None:
    with_estimate = ids_of(pages(spread, f))
    monkeypatch.setattr(R, "PG_PHRASE_ESTIMATE", False)
    without = ids_of(pages(spread, f))
    assert len(with_estimate) == len(set(with_estimate))
    assert sorted(with_estimate) == sorted(without)


def test_window_buckets_cover_the_window_or_give_up() -> None:
    assert R.window_buckets((BUCKET - 1, 2 * BUCKET + 1, 7)) == (0, 1, 2)
    assert R.window_buckets((BUCKET, 2 * BUCKET, 7)) == (1,)  # hi is exclusive
    assert R.window_buckets((None, 10, None)) is None  # the rest of the matches: no bounds to key
    assert R.window_buckets((0, (R.PG_WINDOW_BUCKETS_MAX + 1) * BUCKET, 1)) is None  # too many lexemes


def test_postgresql_windows_are_matched_with_their_buckets(spread: Engine, small_windows: None) -> None:
    if spread.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    node = S.parse_user_query("drone")
    r = R._ranker("postgresql", node, ("en",), [])
    with session_scope(spread) as s:
        w = R._next_window(s, "postgresql", r, None)
        assert w[0] is not None  # a bounded window: 160 matches, windows of about 2
        sql = str(r.in_window(w).compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        assert f"~b{w[0] // BUCKET}" in sql and f"~b{(w[1] - 1) // BUCKET}" in sql
        unbounded = str(r.in_window((None, w[1], None)).compile(s.get_bind(),
                                                                 compile_kwargs={"literal_binds": True}))
        assert "~b" not in unbounded
        prefixed = R._ranker("postgresql", S.parse_user_query("dron*"), ("en",), [])
        sql = str(prefixed.in_window(w).compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        assert "~b" not in sql  # a prefix term's postings are read whole anyway: buckets would only add theirs


def test_postgresql_phrase_estimate_is_its_rarest_word(spread: Engine) -> None:
    if spread.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    node = S.parse_user_query('"lethal autonomous"')
    langs = S.query_languages(["en"])
    with session_scope(spread) as s:
        planner = planner_rows(s, select(Item.id).where(PG_VECTOR.op("@@")(pg_tsquery(node, langs))))
        estimate = R.match_estimate(s, node, langs)
        actual = s.execute(select(Item.id).where(PG_VECTOR.op("@@")(pg_tsquery(node, langs)))).all()
    assert len(actual) == N // 5
    assert planner < len(actual) / 2  # the words taken as independent
    assert len(actual) / 2 <= estimate <= len(actual) * 2
