"""The labelled sets of bench/data parse and keep their promised shape; every item the classifier
finds on-topic explains itself in readable phrases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from crawler.relevance import classify

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
SETS = sorted(DATA.glob("relevance-*.jsonl"))
TEN = {"ar", "de", "en", "es", "fr", "ja", "ko", "nl", "ru", "zh"}


def _rows(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - the message names the line
                pytest.fail(f"{path.name}:{n}: {exc}")
    return rows


def test_the_relevance_sets_are_there() -> None:
    assert {p.name for p in SETS} >= {"relevance-holdout.jsonl", "relevance-holdout-v2.jsonl",
                                      "relevance-probe.jsonl", "relevance-probe2.jsonl", "relevance-probe3.jsonl"}


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_every_row_parses_with_the_labelled_fields(path: Path) -> None:
    rows = _rows(path)
    assert rows
    assert len({r["id"] for r in rows}) == len(rows), "ids are unique"
    for r in rows:
        assert isinstance(r["id"], str) and r["lang"] in TEN | {"it", "pt", "pl", "sv"}, r.get("id")
        assert isinstance(r["title"], str) and isinstance(r["text"], str) and (r["title"] or r["text"]), r["id"]
        assert r["label"] in ("relevant", "irrelevant"), r["id"]


@pytest.mark.parametrize("name", ["relevance-probe2.jsonl", "relevance-probe3.jsonl"])
def test_probe_sets_cover_ten_languages_about_half_on_topic(name: str) -> None:
    rows = _rows(DATA / name)
    per_lang = Counter(r["lang"] for r in rows)
    assert len(rows) >= 200 and set(per_lang) == TEN and min(per_lang.values()) >= 18, per_lang
    positives = sum(r["label"] == "relevant" for r in rows)
    assert 0.4 <= positives / len(rows) <= 0.6
    for lang in TEN:
        assert {r["label"] for r in rows if r["lang"] == lang} == {"relevant", "irrelevant"}, lang


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_every_item_found_on_topic_explains_itself(path: Path) -> None:
    for r in _rows(path):
        result = classify(r["title"], r["text"], r["lang"])
        if not result.relevant:
            continue
        assert result.matches and any(result.why.get(g) for g in ("topic", "ai", "military")), r["id"]
        assert set(result.why) <= {"topic", "ai", "military"}, r["id"]
        text = f"{r['title']}\n{r['text']}".casefold()
        for phrase in result.matches:  # the text's own words, no rule codes
            assert not phrase.startswith(("rule:", "mil:", "ai:", "strong:", "neg:")), (r["id"], phrase)
            assert phrase.split()[0].casefold()[:2] in text, (r["id"], phrase)
