"""Search normalises like subscriptions (storage.textnorm), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, select, text, update

from storage.database import alembic_config, session_scope, upgrade
from storage.models import Item
from storage.query import Term, compile_query, parse_query
from storage.search import ItemFilter, SearchError, reindex, search_columns, search_items, to_fts5, to_tsquery

DOCS = {
    "en": ("en", "Autonomous weapons at the UN", "States discussed lethal weapons and drones in Geneva."),
    "en-drone": ("en", "Drone swarms tested", "The army's dronekrieg doctrine: droning on about swarming."),
    "fr": ("fr", "Une arme autonome contestée", "La sécurité internationale et le contrôle humain."),
    "fr-plural": ("fr", "Armes autonomes", "Les armes létales autonomes préoccupent les États."),
    "nl": ("nl", "Nieuwe wapensystemen", "Het ministerie koopt autonome wapens voor de krijgsmacht."),
    "nl-sing": ("nl", "Het wapensysteem", "Een wapen met menselijke controle."),
    "de": ("de", "Autonome Waffensysteme", "Die Bundeswehr prüft künstliche Intelligenz."),
    "es": ("es", "Sistemas de armas autónomas", "La seguridad y la inteligencia artificial militar."),
    "ko": ("ko", "국방부는 자율무기를 개발한다", "인공지능의 군사적 이용에 대한 논의."),
    "ko-plain": ("ko", "자율무기 체계", "국제 규범."),
    "zh": ("zh", "联合国讨论人工智能", "致命自主武器系统。"),
    "unknown": (None, "Sécurité et drones", "Texte sans langue déclarée, le contrôle des armes."),
}

QUERIES = [
    "weapon", "weapons", "Weapons", "drone*", "drone", "dron*", "armes autonomes", "arme autonome",
    '"armes autonomes"', '"arme autonome"', "wapensystemen", "wapensysteem", "wapens", "wapen",
    "자율무기", "자율무기를", "인공지능", "securite", "sécurité", "SÉCURITÉ", "controle", "letales",
    "Waffensystem", "autónoma", "人工智能", '"lethal weapons"', '"weapons lethal"', "weapons -drones",
    "weapons NOT Geneva", "(wapen OR arme) AND autonome*", "armes -létales", "swarm*", "intelligence",
]


@pytest.fixture
def docs(engine: Engine) -> dict[str, int]:
    ids = {}
    with session_scope(engine) as s:
        for name, (lang, title, body) in DOCS.items():
            item = Item(canonical_url=f"http://t/{name}", url=f"http://t/{name}", title=title, text=body,
                        language=lang, relevant=True)
            s.add(item)
            s.flush()
            ids[name] = item.id
    return ids


def found(engine: Engine, q: str, **kw: object) -> set[str | int]:
    names = {v: k for k, v in _ids.items()}
    with session_scope(engine) as s:
        page = search_items(s, ItemFilter(q=q, include_all=True, limit=500, **kw))  # type: ignore[arg-type]
        return {names.get(h.item.id, h.item.id) for h in page.items}


_ids: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _remember(docs: dict[str, int]) -> None:
    _ids.clear()
    _ids.update(docs)


def test_stems_accents_particles_and_cjk(engine: Engine) -> None:
    assert {"en"} <= found(engine, "weapon")
    assert found(engine, "weapon") == found(engine, "weapons")
    assert {"fr", "fr-plural"} <= found(engine, "armes autonomes", languages=["fr"])
    assert {"fr", "fr-plural"} <= found(engine, "arme autonome")
    assert {"nl", "nl-sing"} <= found(engine, "wapensystemen")
    assert {"nl", "nl-sing"} <= found(engine, "wapensysteem")
    assert {"nl", "nl-sing"} <= found(engine, "wapen") and {"nl", "nl-sing"} <= found(engine, "wapens")
    assert found(engine, "자율무기") == {"ko", "ko-plain"}
    assert found(engine, "자율무기를") == {"ko", "ko-plain"}
    assert found(engine, "인공지능") == {"ko"}
    assert {"fr", "unknown"} <= found(engine, "securite")
    assert {"fr", "unknown"} <= found(engine, "SÉCURITÉ")
    assert found(engine, "letales") == {"fr-plural"}
    assert found(engine, "Waffensystem") == {"de"}
    assert found(engine, "autónoma") >= {"es"}
    assert found(engine, "人工智能") == {"zh"}
    assert found(engine, "智能人工") == set()


def test_prefix_phrase_and_not(engine: Engine) -> None:
    assert found(engine, "drone*") >= {"en", "en-drone", "unknown"}
    assert "en-drone" in found(engine, "dronekr*")
    assert found(engine, '"lethal weapons"') == {"en"}
    assert found(engine, '"weapons lethal"') == set()
    assert found(engine, '"armes autonomes"') == {"fr", "fr-plural"}  # a phrase of stems
    assert found(engine, '"arme autonome"', languages=["fr"]) >= {"fr", "fr-plural"}
    assert found(engine, "wapens -krijgsmacht") == {"nl-sing"}
    assert "en" not in found(engine, "weapons NOT Geneva")
    assert found(engine, "armes -létales") == found(engine, "armes") - {"fr-plural"}
    assert found(engine, "weapons", languages=["en"]) == {"en"}


@pytest.mark.parametrize("q", QUERIES)
def test_search_agrees_with_subscription_matching(engine: Engine, q: str) -> None:
    """The full-text engines find every item the subscription matcher accepts (same normalisation)."""
    compiled = compile_query(q)
    expected = {name for name, (lang, title, body) in DOCS.items()
                if compiled.matches(f"{title}\n{body}", lang)}
    assert expected <= found(engine, q), q
    # Within one language the query is normalised exactly as the matcher does it. (Across languages a
    # query is expanded to every catalogue language's stems: `autónoma` also finds English `autonomous`.)
    for lang in {lang for lang, _, _ in DOCS.values() if lang}:
        same = {name for name in expected if DOCS[name][0] == lang}
        assert found(engine, q, languages=[lang]) == same, (q, lang)


def test_snippets_highlight_the_original_words(engine: Engine) -> None:
    with session_scope(engine) as s:
        hits = {h.item.id: h.snippet for h in search_items(s, ItemFilter(q="securite", include_all=True)).items}
        assert "<mark>sécurité</mark>" in hits[_ids["fr"]]
        hits = {h.item.id: h.snippet for h in search_items(s, ItemFilter(q="자율무기", include_all=True)).items}
        assert "<mark>자율무기를</mark>" in hits[_ids["ko"]]
        hits = {h.item.id: h.snippet for h in search_items(s, ItemFilter(q="weapon", include_all=True)).items}
        assert "<mark>weapons</mark>" in hits[_ids["en"]] and "&#x27;" not in hits[_ids["en"]]


def test_queries_are_quoted_tokens() -> None:
    node = parse_query('weapons* OR "x y" -z')
    assert to_fts5(node, ["en"]) == '(("weapon"* OR "weapons"*) OR ("x" + "y") NOT "z")'
    assert to_fts5(Term('we"ird', prefix=True), ["en"]) == '"we" + "ird"*'  # only word characters reach FTS5
    tsq = to_tsquery(parse_query("o'brien\\ drone*"), ["en"])
    assert "'o'" in tsq and "'drone':*" in tsq and "\\" not in tsq.replace("\\\\", "")
    with pytest.raises(SearchError):
        to_fts5(parse_query("NOT x"), ["en"])


def test_orm_update_language_change_and_delete(engine: Engine) -> None:
    with session_scope(engine) as s:
        item = s.get(Item, _ids["en"])
        item.text = "Zeppelins over the Channel."
    assert "en" in found(engine, "zeppelin") and "en" not in found(engine, "Geneva")
    with session_scope(engine) as s:  # same text, another language: stems follow the language
        s.get(Item, _ids["nl-sing"]).language = "en"
    assert "nl-sing" not in found(engine, "wapensystemen", languages=["nl"])
    with session_scope(engine) as s:
        s.execute(update(Item).where(Item.id == _ids["fr"]).values(summary="Des chars d'assaut."))
    assert "fr" in found(engine, "char")
    with session_scope(engine) as s:
        s.delete(s.get(Item, _ids["en"]))
    assert found(engine, "zeppelin") == set()


def test_reindex_backfills_rows_written_around_the_orm(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET search_title = NULL, search_text = NULL"))
    assert found(engine, "weapon") == set()
    with session_scope(engine) as s:
        assert reindex(s, missing_only=True) == len(DOCS)
    assert "en" in found(engine, "weapon")
    with session_scope(engine) as s:
        stored = s.execute(select(Item.search_title, Item.search_text).where(Item.id == _ids["fr"])).one()
        assert tuple(stored) == search_columns(*DOCS["fr"][1:2], None, DOCS["fr"][2], "fr")


def test_migration_backfills_existing_items(engine: Engine) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:  # 0002's downgrade: the index goes, the items stay
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET search_title = NULL, search_text = NULL"))
        conn.execute(text("INSERT INTO items (canonical_url, url, kind, title, text, date_origin, fetched_at, "
                          "relevant, score, matches, revision) VALUES ('http://t/old', 'http://t/old', 'article', "
                          "'Armes autonomes', 'stored before 0002', 'none', CURRENT_TIMESTAMP, true, 1, '[]', 1)"))
    upgrade(engine)
    with session_scope(engine) as s:
        old = s.scalar(select(Item.id).where(Item.canonical_url == "http://t/old"))
    assert found(engine, "arme autonome") == {"fr", "fr-plural", old}
    assert found(engine, "weapon") >= {"en"}


@pytest.mark.parametrize("q", ["o'brien", "İstanbul*", "ß*", "½", "x:* | y", "'a':* & !b", "a\\' OR b", "ﬁre*", "Ⅻ"])
def test_odd_words_are_quoted_tokens_not_syntax(engine: Engine, q: str) -> None:
    with session_scope(engine) as s:
        try:
            page = search_items(s, ItemFilter(q=q, include_all=True))
        except SearchError as exc:
            assert str(exc)
        else:
            assert isinstance(page.items, list)
