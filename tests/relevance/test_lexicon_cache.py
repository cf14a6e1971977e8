"""Compiled lexicons in a cache file (crawler.relevance.lexicon_cache): a process loads what it would compile,
a change to what a lexicon is compiled from names another file, and a bad file is compiled over."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from crawler.relevance import lexicon, lexicon_cache
from crawler.relevance.lexicon import TERMS_DIR, Lexicon, compile_lexicon


def _files(*langs: str, terms_dir: Path = TERMS_DIR) -> list[Path]:
    return [terms_dir / f"{lang}.yaml" for lang in ("common", *langs)]


@pytest.mark.parametrize(("langs", "stem_lang"), [(("en",), "en"), (("fr",), "fr"), (("zh",), "zh"),
                                                  (("ar",), "ar"), (("ko",), "ko"), (("en", "de"), "en")])
def test_a_lexicon_read_from_its_cache_file_is_the_compiled_one(
    tmp_path: Path, langs: tuple[str, ...], stem_lang: str
) -> None:
    path = lexicon_cache.cache_file(tmp_path, _files(*langs), f"{langs}|{stem_lang}")
    compiled = lexicon_cache.load_or_compile(path, lambda: compile_lexicon(langs, stem_lang), Lexicon)
    assert path.exists()

    def fail() -> Lexicon:
        raise AssertionError("compiled although the cache file is there")

    loaded = lexicon_cache.load_or_compile(path, fail, Lexicon)
    assert loaded is not compiled and loaded.size == compiled.size > 100
    assert vars(loaded) == vars(compiled)  # every index, term and pattern


def test_another_term_file_python_or_compiler_names_another_cache_file(tmp_path: Path, monkeypatch) -> None:
    terms = tmp_path / "terms"
    shutil.copytree(TERMS_DIR, terms)
    before = lexicon_cache.cache_file(tmp_path, _files("en", terms_dir=terms), "en|en")
    assert before == lexicon_cache.cache_file(tmp_path, _files("en", terms_dir=terms), "en|en")
    assert before != lexicon_cache.cache_file(tmp_path, _files("en", terms_dir=terms), "en|fr")
    (terms / "en.yaml").write_text((terms / "en.yaml").read_text(encoding="utf-8") + "\n# one more line\n",
                                   encoding="utf-8")
    edited = lexicon_cache.cache_file(tmp_path, _files("en", terms_dir=terms), "en|en")
    assert edited != before
    (terms / "common.yaml").unlink()  # a missing file counts too
    assert lexicon_cache.cache_file(tmp_path, _files("en", terms_dir=terms), "en|en") != edited
    current = lexicon_cache.cache_file(tmp_path, _files("en"), "en|en")
    lexicon_cache._code_key.cache_clear()
    monkeypatch.setattr(lexicon_cache, "LAYOUT", "another layout")  # stands for any change of the code key
    try:
        assert lexicon_cache.cache_file(tmp_path, _files("en"), "en|en") != current
    finally:
        lexicon_cache._code_key.cache_clear()


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps(Evil()), pickle.dumps({"a": 1}),
                                     pickle.dumps([1, 2, 3])])
def test_an_unreadable_foreign_or_hostile_cache_file_is_compiled_over(tmp_path: Path, content: bytes, capsys) -> None:
    path = tmp_path / "lexicon.pickle"
    path.write_bytes(content)
    got = lexicon_cache.load_or_compile(path, lambda: compile_lexicon(("nl",), "nl"), Lexicon)
    assert isinstance(got, Lexicon) and got.size > 100
    assert "this must never run" not in capsys.readouterr().out
    assert vars(lexicon_cache.load_or_compile(path, lambda: Lexicon(), Lexicon)) == vars(got)  # rewritten


def test_an_unwritable_cache_only_means_compiling(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    path = blocked / "lexicon.pickle"
    got = lexicon_cache.load_or_compile(path, lambda: compile_lexicon(("es",), "es"), Lexicon)
    assert got.size > 100 and not path.exists()
    assert lexicon_cache.load_or_compile(None, lambda: got, Lexicon) is got


def test_lexicon_for_reads_and_writes_the_cache_in_the_default_cache_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lexicon._compiled_lexicon.cache_clear()
    try:
        first = lexicon.lexicon_for(("ja",), "ja")
        files = list((tmp_path / "milai").glob("lexicon-*.pickle"))
        assert len(files) == 1
        lexicon._compiled_lexicon.cache_clear()
        again = lexicon.lexicon_for(("ja",), "ja")
        assert again is not first and vars(again) == vars(first)
    finally:
        lexicon._compiled_lexicon.cache_clear()
