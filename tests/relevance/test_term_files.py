"""The term files are read with libyaml's parser when PyYAML has it: the same lists as the pure-Python parser."""

from __future__ import annotations

import pytest
import yaml

from crawler.relevance.lexicon import _YAML_LOADER, TERMS_DIR, available_languages, load_terms


@pytest.mark.parametrize("lang", ["common", *available_languages()])
def test_each_term_file_reads_as_the_pure_python_parser_reads_it(lang: str) -> None:
    if yaml.__with_libyaml__:
        assert _YAML_LOADER is yaml.CSafeLoader
    pure = yaml.safe_load((TERMS_DIR / f"{lang}.yaml").read_text(encoding="utf-8")) or {}
    terms = load_terms(lang)
    assert sum(len(v) for v in terms.values()) > 10
    assert {cat: v for cat, v in terms.items() if v} == {cat: [str(t) for t in v] for cat, v in pure.items() if v}


def test_load_terms_hands_out_a_new_dict_each_call() -> None:
    """The files are read once per process; a caller changing its lists changes nobody else's."""
    first = load_terms("en")
    first["ai"].append("not a term")
    first.clear()
    again = load_terms("en")
    assert again and "not a term" not in again["ai"]


def test_threads_wanting_a_new_lexicon_together_compile_it_once() -> None:
    """The crawl's worker threads meet a page's language at the same moment: one compiles it, the others get
    the same lexicon."""
    import threading

    from crawler.relevance import lexicon

    key = (("nl", "de"), "nl")  # a pair no other test asks for
    misses = lexicon._compiled_lexicon.cache_info().misses
    barrier = threading.Barrier(4)
    got: list[object] = []

    def want() -> None:
        barrier.wait()
        got.append(lexicon.lexicon_for(*key))

    threads = [threading.Thread(target=want) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(got) == 4 and all(lex is got[0] for lex in got)
    assert lexicon._compiled_lexicon.cache_info().misses == misses + 1
    assert got[0].size > 100
