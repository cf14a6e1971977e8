"""A query's words as the index token sequences they may match, normalised like the documents
(storage.index_terms.index_word), per language."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from storage import query as q_ast
from storage.index_terms import index_word
from storage.textnorm import HANGUL_RE, TOKEN_RE, base_language, fold, strip_korean_particle

# Languages a query is normalised in when the search names none (more would add cross-language noise:
# Spanish `Hague` -> `hag`, Polish `REAIM` -> `rea`). Other languages still match by folded form.
DEFAULT_QUERY_LANGUAGES: tuple[str, ...] = ("en", "nl", "fr", "de", "es")  # the catalogue's Latin-script languages
_MAX_VARIANTS = 24

Seq = tuple[tuple[str, bool], ...]  # (index token, prefix?) per position


def query_languages(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The languages a query's words are normalised in: the searched ones, else every stemmer's."""
    picked = tuple(dict.fromkeys(b for lang in languages or () if (b := base_language(lang))))
    return picked or DEFAULT_QUERY_LANGUAGES


@lru_cache(maxsize=20_000)
def _variants(words: tuple[str, ...], prefix: bool, langs: tuple[str, ...]) -> tuple[Seq, ...]:
    """The token sequences one typed word or phrase may match, per language (as CompiledQuery does):
    the word's stem, its folded form, and the stem of its stem (absorbs stemmer quirks: Dutch
    `wapens`→`wapen` but `wapen`→`waap`). Prefix terms keep prefix semantics on the normalised form;
    Hangul words match by prefix once their particle is stripped (`자율무기를` → `자율무기`*)."""
    surfaces = [s for w in words for s in TOKEN_RE.findall(w)]
    if not surfaces:
        return ()
    last = len(surfaces) - 1
    out: dict[Seq, None] = {}
    for lang in langs:
        forms: list[list[tuple[str, bool]]] = [[], [], []]
        for i, s in enumerate(surfaces):
            folded = fold(s)
            if HANGUL_RE.match(s):
                tok = (strip_korean_particle(folded), True)
                for f in forms:
                    f.append(tok)
                continue
            pre = prefix and i == last
            stem = index_word(s, lang)
            forms[0].append((stem, pre))
            forms[1].append((folded, pre))
            forms[2].append((index_word(stem, lang), pre))
        for f in forms:
            out.setdefault(tuple(f), None)
    return tuple(out)[:_MAX_VARIANTS]


def node_variants(node: q_ast.Term | q_ast.Phrase, langs: tuple[str, ...]) -> tuple[Seq, ...]:
    """The token sequences a word or phrase of the query may match."""
    if isinstance(node, q_ast.Term):
        return _variants((node.text,), node.prefix, langs)
    prefix = node.words[-1].endswith("*")
    return _variants(tuple(w.rstrip("*") for w in node.words), prefix, langs)


def positive_tokens(node: q_ast.Node, langs: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(exact tokens, prefix tokens) of the words a match must or may contain (not those under NOT)."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for leaf in q_ast.positive_leaves(node):
        for seq in node_variants(leaf, langs):
            for tok, pre in seq:
                (prefixes if pre else exact).add(tok)
    return exact, prefixes
