"""The uncompressed language model cache (crawler.langid_model): the same classifications, whatever the cache holds."""

from __future__ import annotations

from pathlib import Path

from crawler import langid_model
from crawler.extract import LANGUAGES

TEXTS = (
    "The ministry of defence announced a new strategy on artificial intelligence in the armed forces.",
    "Le ministère des armées a présenté sa stratégie sur l'intelligence artificielle de défense.",
    "Das Verteidigungsministerium stellte heute seine Strategie für künstliche Intelligenz vor.",
    "国防部今天发布了人工智能战略。",
    "Министерство обороны представило стратегию в области искусственного интеллекта.",
    "12345 !!!",
    "",
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
