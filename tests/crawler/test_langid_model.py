"""The uncompressed language model cache (crawler.langid_model): the same classifications, whatever the cache holds."""

from __future__ import annotations

import json
import random
from pathlib import Path

from py3langid.langid import MODEL_FILE, LanguageIdentifier, visit_counts

from crawler import langid_model
from crawler.extract import LANGUAGES
from tests.conftest import FIXTURES

TEXTS = (
    "The ministry of defence announced a new strategy on artificial intelligence in the armed forces.",
    "Le ministère des armées a présenté sa stratégie sur l'intelligence artificielle de défense.",
    "Das Verteidigungsministerium stellte heute seine Strategie für künstliche Intelligenz vor.",
    "国防部今天发布了人工智能战略。",
    "Министерство обороны представило стратегию в области искусственного интеллекта.",
    "12345 !!!",
    "",
)


# Japanese and Korean sentences: their n-grams reach the automaton's deepest states (six bytes)
DEEP = (
    "軍事領域における人工知能の責任ある利用に関するサミット。",
    "군사 영역에서의 책임 있는 인공지능 사용에 관한 고위급 회의.",
)


def _results(identifier: object) -> list[object]:
    return [(identifier.classify(t), identifier.rank(t)) for t in TEXTS]  # type: ignore[attr-defined]


def test_the_cached_model_classifies_exactly_as_the_model_from_py3langid(tmp_path: Path) -> None:
    """The first load writes the cache file; a load from it gives the same arrays and the same results."""
    expected = langid_model.load(LANGUAGES, None)
    written = langid_model.load(LANGUAGES, tmp_path)
    path = langid_model.cache_file(tmp_path, LANGUAGES)
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    cached = langid_model.load(LANGUAGES, tmp_path)

    for identifier in (written, cached):
        assert identifier.nb_classes == expected.nb_classes
        assert identifier.nb_ptc.dtype == expected.nb_ptc.dtype
        assert identifier.nb_ptc.tobytes() == expected.nb_ptc.tobytes()
        assert identifier.nb_pc.tobytes() == expected.nb_pc.tobytes()
        assert identifier.tk_nextmove == expected.tk_nextmove and identifier.tk_row == expected.tk_row
        assert identifier.tk_output == expected.tk_output
        assert _results(identifier) == _results(expected)
    assert cached.classify(TEXTS[0])[0] == "en" and cached.classify(TEXTS[2])[0] == "de"


def test_another_language_list_has_its_own_cache_file(tmp_path: Path) -> None:
    assert langid_model.cache_file(tmp_path, ("en", "fr")) != langid_model.cache_file(tmp_path, LANGUAGES)
    small = langid_model.load(("en", "fr"), tmp_path)
    assert sorted(small.nb_classes) == ["en", "fr"]
    assert langid_model.load(("en", "fr"), tmp_path).nb_classes == small.nb_classes


def test_a_damaged_cache_file_is_replaced_and_an_unwritable_cache_only_costs_the_slow_load(tmp_path: Path) -> None:
    expected = _results(langid_model.load(LANGUAGES, None))
    path = langid_model.cache_file(tmp_path, LANGUAGES)
    path.write_bytes(b"not an npz file")
    assert _results(langid_model.load(LANGUAGES, tmp_path)) == expected
    assert path.stat().st_size > 1_000_000  # rewritten whole
    assert _results(langid_model.load(LANGUAGES, tmp_path)) == expected

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert _results(langid_model.load(LANGUAGES, blocked / "cache")) == expected
    assert not (blocked / "cache").exists()


def _py3langid() -> LanguageIdentifier:
    """py3langid's own identifier (its Python walk), restricted to our languages: the reference."""
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(list(LANGUAGES))
    return reference


def _texts() -> list[str]:
    rng = random.Random(9)
    texts = list(TEXTS) + ["a", "ab", "ÉCOLE", "\x00\x01", "🙂" * 40, *DEEP]
    for _ in range(200):  # random bytes: every state the automaton can reach from odd input
        texts.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 700))).decode("utf-8", "replace"))
    for name in ("relevance-dev.jsonl", "relevance-dev-v2.jsonl"):
        path = FIXTURES / name
        if path.exists():  # the real multilingual texts, when the shared fixtures are there
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
            texts += [f"{row['title']}\n{row['text']}"[:3000] for row in rows]
    return texts


def test_the_numpy_walk_counts_the_features_of_py3langids_walk_and_gives_the_same_floats(tmp_path: Path) -> None:
    """WalkingIdentifier's features are py3langid's visit_counts (same keys, same order, same counts), so the
    scores are bit for bit the same and so are classify and rank; from the cache file as from the slow load."""
    reference = _py3langid()
    slow = langid_model.load(LANGUAGES, None)
    langid_model.load(LANGUAGES, tmp_path)
    cached = langid_model.load(LANGUAGES, tmp_path)
    assert slow.depth == cached.depth == langid_model.automaton_depth(
        *langid_model.automaton_arrays(reference.tk_nextmove, reference._rowbase))
    texts = _texts()
    assert len(texts) > 200
    for text in texts:
        data = reference._encode(text)
        counts = visit_counts(reference.tk_nextmove, reference._rowbase, reference.tk_output, data)
        for identifier in (slow, cached):
            found, times = identifier.features(data)
            assert (found.tolist(), times.tolist()) == ((list(counts), list(counts.values())) if counts else ([], []))
            assert identifier._decide(text).tobytes() == reference._decide(text).tobytes()
            assert identifier.classify(text) == reference.classify(text)
            assert identifier.rank(text) == reference.rank(text)


def test_a_shallower_walk_than_the_automatons_depth_would_miss_states() -> None:
    """The depth matters: one step fewer than the deepest state gives other counts on Japanese and Korean text
    (so the equality above is not an accident of shallow text)."""
    identifier = langid_model.load(LANGUAGES, None)
    for text in DEEP:
        data = identifier._encode(text)
        exact = identifier.features(data)
        identifier.depth -= 1
        try:
            shallow = identifier.features(data)
        finally:
            identifier.depth += 1
        assert (exact[0].tolist(), exact[1].tolist()) != (shallow[0].tolist(), shallow[1].tolist())
