"""Term lists (data files in terms/) compiled into token patterns, and matching them against tokens."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from storage.textnorm import Token, fold, is_hangul, normalise_word, strip_korean_particle, tokenize

TERMS_DIR = Path(__file__).resolve().parent / "terms"
CATEGORIES = ("strong", "ai", "mil", "neg", "ignore")
_PREFIX_KEY = 3
_INFIX_MIN = 4


@dataclass(frozen=True)
class Pattern:
    """One word of a term: kind is norm | case | prefix | infix | hangul."""

    kind: str
    value: str

    def matches(self, tok: Token, case_ok: bool) -> bool:
        if self.kind == "norm":
            return tok.norm == self.value
        if self.kind == "case":
            return case_ok and tok.surface == self.value
        if self.kind == "prefix":
            return tok.fold.startswith(self.value)
        return self.value in tok.fold  # infix, hangul


@dataclass(frozen=True)
class Term:
    category: str
    label: str
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class Hit:
    category: str
    label: str
    start: int
    end: int  # exclusive
    surface: str = ""  # the words of the text that matched, as written (for explanations)


def compile_term(category: str, text: str, lang: str | None) -> Term | None:
    """Turn `autonomous weapon*` / `LAWS` / `인공지능` / `*drohne*` into patterns stemmed for `lang`.

    `*word*` (a one-word term) matches any word containing `word` (accents and case ignored),
    e.g. the second part of a compound (German "Angriffsdrohnen", Dutch "gevechtsdrones").
    """
    patterns: list[Pattern] = []
    chunks = text.split()
    if len(chunks) == 1 and chunks[0].startswith("*"):
        value = fold(chunks[0].strip("*"))
        if len(value) < _INFIX_MIN:
            raise ValueError(f"infix term {text!r} is shorter than {_INFIX_MIN} letters")
        return Term(category, text, (Pattern("infix", value),))
    for chunk in chunks:
        prefix = chunk.endswith("*")
        words = tokenize(chunk.rstrip("*"), lang)
        for i, tok in enumerate(words):
            last = i == len(words) - 1
            if is_hangul(tok.surface):
                patterns.append(Pattern("hangul", strip_korean_particle(tok.fold)))
            elif prefix and last:
                patterns.append(Pattern("prefix", tok.fold))
            elif len(tok.surface) >= 2 and tok.surface.isupper():
                patterns.append(Pattern("case", tok.surface))
            else:
                patterns.append(Pattern("norm", normalise_word(tok.surface, lang)[1]))
    return Term(category, text, tuple(patterns)) if patterns else None


@dataclass
class Lexicon:
    """Compiled terms with an index on the first word of each term."""

    by_norm: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    by_case: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    by_prefix: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))
    short_prefix: list[Term] = field(default_factory=list)
    infix: list[Term] = field(default_factory=list)  # compound parts: checked against every long word
    hangul: dict[str, list[Term]] = field(default_factory=lambda: defaultdict(list))  # by first syllable
    size: int = 0

    def add(self, term: Term) -> None:
        first = term.patterns[0]
        self.size += 1
        if first.kind == "norm":
            self.by_norm[first.value].append(term)
        elif first.kind == "case":
            self.by_case[first.value].append(term)
        elif first.kind == "prefix" and len(first.value) >= _PREFIX_KEY:
            self.by_prefix[first.value[:_PREFIX_KEY]].append(term)
        elif first.kind == "prefix":
            self.short_prefix.append(term)
        elif first.kind == "infix":
            self.infix.append(term)
        else:
            self.hangul[first.value[:1]].append(term)

    def _candidates(self, tok: Token) -> list[Term]:
        out = list(self.by_norm.get(tok.norm, ()))
        out += self.by_case.get(tok.surface, ())
        out += self.by_prefix.get(tok.fold[:_PREFIX_KEY], ())
        out += self.short_prefix
        if self.infix and len(tok.fold) >= _INFIX_MIN:
            out += [t for t in self.infix if t.patterns[0].value in tok.fold]
        if self.hangul and is_hangul(tok.surface):
            for syllable in set(tok.fold):
                out += self.hangul.get(syllable, ())
        return out

    def find(self, tokens: list[Token], case_ok: bool = True) -> list[Hit]:
        """All term occurrences; words covered by an `ignore` term do not count."""
        hits: list[Hit] = []
        n = len(tokens)
        for i, tok in enumerate(tokens):
            for term in self._candidates(tok):
                end = i + len(term.patterns)
                if end > n:
                    continue
                if all(p.matches(tokens[i + k], case_ok) for k, p in enumerate(term.patterns)):
                    hits.append(Hit(term.category, term.label, i, end, _surface(term, tokens[i:end])))
        masked = {j for h in hits if h.category == "ignore" for j in range(h.start, h.end)}
        if not masked:
            return hits
        return [h for h in hits if h.category != "ignore" and masked.isdisjoint(range(h.start, h.end))]


def _surface(term: Term, tokens: list[Token]) -> str:
    """How a term's match reads in the text: the words found (Han characters joined without spaces);
    Hangul terms keep their label (the matched word also carries a particle or a compound)."""
    if any(p.kind == "hangul" for p in term.patterns):
        return term.label
    words = [t.surface for t in tokens]
    if all(len(w) == 1 and _HAN_RE.match(w) for w in words):
        return "".join(words)
    return " ".join(words)


_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def load_terms(lang: str) -> dict[str, list[str]]:
    """The raw term lists of one language file (empty when there is none)."""
    path = TERMS_DIR / f"{lang}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{path}: unknown categories {sorted(unknown)}")
    return {cat: [str(t) for t in data.get(cat) or []] for cat in CATEGORIES}


def available_languages() -> list[str]:
    return sorted(p.stem for p in TERMS_DIR.glob("*.yaml") if p.stem != "common")


@lru_cache(maxsize=64)
def lexicon_for(langs: tuple[str, ...], stem_lang: str | None) -> Lexicon:
    """The terms of `langs` plus common.yaml, stemmed like a text in `stem_lang`."""
    lex = Lexicon()
    seen: set[tuple[str, tuple[Pattern, ...]]] = set()
    for lang in ("common", *langs):
        for category, terms in load_terms(lang).items():
            for text in terms:
                term = compile_term(category, text, stem_lang)
                if term is None or (category, term.patterns) in seen:
                    continue
                seen.add((category, term.patterns))
                lex.add(term)
    return lex
