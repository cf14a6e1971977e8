"""The stored shape of the classifier's explanation (storage.matches): new dicts and old lists."""

from __future__ import annotations

from sqlalchemy import Engine

from crawler.relevance import classify
from storage.database import session_scope
from storage.items import add_item
from storage.matches import Explanation, codes, readable
from storage.models import Item
from storage.search import item_to_dict


def test_new_shape_round_trip() -> None:
    result = classify("Bundeswehr setzt auf KI", "Die Streitkräfte testen Drohnen mit künstlicher Intelligenz.", "de")
    stored = result.stored()
    why = Explanation.from_stored(stored)
    assert why.groups() == result.why and why.phrases() == result.matches
    assert list(why.codes) == result.codes
    assert readable(stored) == result.matches and not any(":" in p for p in readable(stored))


def test_old_rule_code_lists_are_read() -> None:
    old = ["strong:autonomous weapons", "ai:artificial intelligence", "mil:weapons", "neg:fisheries",
           "rule:near-ai+mil x2"]
    why = Explanation.from_stored(old)
    assert why.groups() == {"topic": ["autonomous weapons"], "ai": ["artificial intelligence"], "military": ["weapons"]}
    assert codes(old) == old
    assert why.sentence() == "Named topic: autonomous weapons · AI: artificial intelligence · Military: weapons"


def test_code_lists_with_drone_and_acting_alone_kinds_are_grouped() -> None:
    old = ["drone:drones", "auto:on its own", "war:attack", "rule:near-ai+mil x1"]
    why = Explanation.from_stored(old)
    assert why.groups() == {"ai": ["on its own"], "military": ["drones", "attack"]}
    assert why.other == ()


def test_old_plain_phrase_lists_and_junk() -> None:
    assert Explanation.from_stored(["REAIM", "military AI"]).sentence() == "REAIM, military AI"
    assert readable(None) == [] and readable({"why": "nonsense", "codes": 5}) == [] and readable(7) == []
    assert Explanation.from_stored({"why": {"ai": ["AI", 3, "ai"]}}).phrases() == ["AI"]  # once, strings only


def test_labelled_respects_the_limit() -> None:
    why = Explanation.build({"topic": ["a", "b"], "ai": ["c", "d"], "military": ["e"]})
    assert why.labelled(3) == [("Named topic", ["a", "b"]), ("AI", ["c"])]


def test_item_json_shows_phrases_and_keeps_codes(db_url: str, engine: Engine) -> None:
    result = classify("Military AI", "The army tests machine learning for targeting.", "en")
    with session_scope(engine) as s:
        new = add_item(s, canonical_url="http://t/new", url="http://t/new", title="Military AI", text="x",
                       relevant=True, score=result.score, matches=result.stored())
        old = add_item(s, canonical_url="http://t/old", url="http://t/old", title="Old", text="x",
                       relevant=True, score=1.0, matches=["strong:REAIM", "rule:title-ai+mil"])
        new_id, old_id = new.id, old.id
    with session_scope(engine) as s:
        data = item_to_dict(s.get(Item, new_id))
        assert data["matches"] == result.matches and data["why"] == result.why
        assert "rule:title-ai+mil" in data["match_codes"]
        legacy = item_to_dict(s.get(Item, old_id))
        assert legacy["matches"] == ["REAIM"] and legacy["why"] == {"topic": ["REAIM"]}
        assert legacy["match_codes"] == ["strong:REAIM", "rule:title-ai+mil"]
