"""Term lists (data files in terms/) compiled into word patterns, and matching them against a text's words.

Terms of `xx.yaml` match only in texts of language `xx`; `common.yaml` (acronyms, programme and system
names) matches in every language. See terms/README.md for the categories and the term syntax.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml

from storage.textnorm import (
    Word,
    arabic_light_stem,
    fold,
    is_hangul,
    normalise_word,
    simplified,
    strip_korean_particle,
    words,
)

TERMS_DIR = Path(__file__).resolve().parent / "terms"
# roles: words that are evidence only together, as a concept (concepts.py): a machine that selects a
# target, a weapon that acts without a human, an uncrewed aircraft teamed with a crewed one, many drones
# that coordinate; and the cues of an exclusion ("does not address …", "… は対象外"), whose scope no longer counts
ROLES = ("actor", "self", "act", "object", "lethal", "weapon", "alone", "teaming", "crewed", "platform",
         "aim", "many", "together", "mutual", "single", "lostlink", "gge", "ccw", "exclude", "excluded",
         "absent")
CATEGORIES = ("strong", "name", "ai", "auto", "mil", "war", "drone", "neg", "ignore", *ROLES)
EVIDENCE = ("strong", "name", "ai", "auto", "mil", "war", "drone")
CANCELLED = (*EVIDENCE, *ROLES)  # what `neg` and `ignore` terms can cancel
_PREFIX_KEY = 3
_CACHE_MAX = 200_000  # memoised candidate lists per lexicon
_INFIX_MIN = 4
_HAN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")
# Arabic prepositions written with alif maqsura: folded (ى -> ي) they look like the start of content words
_ARABIC_PARTICLES = frozenset({"إلى", "الى", "على", "علي"})
# Words of one term are separated by at most this much, and never by the end of a sentence.
_MAX_GAP = 3
_GAP_BREAK_RE = re.compile(r"[.!?;:。！？؟\n]")


@dataclass(frozen=True)
class Pattern:
    """One word of a term: kind is norm | case | prefix | infix | hangul."""

    kind: str
    value: str

    def matches(self, word: Word, case_ok: bool) -> bool:
        if self.kind == "norm":
            return word.norm == self.value
        if self.kind == "case":
            return case_ok and word.surface == self.value
        if self.kind == "prefix":
            if word.surface in _ARABIC_PARTICLES:
                return False  # a preposition is no word's stem (إلى folds like آلي, "automatic")
            return word.fold.startswith(self.value) or (
                _ARABIC_RE.match(word.surface) is not None and word.norm.startswith(self.value)
            )
        return self.value in word.fold  # infix, hangul


@dataclass(frozen=True)
class Term:
    category: str
    label: str
    patterns: tuple[Pattern, ...]
    han: bool = False  # all words are Han/kana characters: the match must not cut a Chinese word
    touch: tuple[bool, ...] = ()  # per pair of neighbouring words: must they touch (Han in one chunk)?


@dataclass(frozen=True)
class Hit:
    category: str
    label: str
    start: int  # word index
    end: int  # exclusive
    surface: str = ""  # the words of the text that matched, as written (for explanations)
    part: tuple[int, int] | None = None  # a term found inside one word (Korean, compounds): its letters

    def overlaps(self, other: Hit) -> bool:
        """The two hits share words (and, inside one compound word, letters)."""
        if self.start >= other.end or other.start >= self.end:
            return False
        if self.part is None or other.part is None or (self.end - self.start, other.end - other.start) != (1, 1):
            return True
        return self.part[0] < other.part[1] and other.part[0] < self.part[1]


def arabic_stem(surface: str) -> str:
    """The light stem (`arabic_light_stem`) without the accusative tanween either: `نموذجاً لغوياً`
    (or `نموذجا لغويا`, written without the mark) is the term `نموذج لغوي`, `ذاتياً` is `ذاتي`."""
    stem = arabic_light_stem(surface)
    if len(stem) >= 4 and stem.endswith("ا"):
        stem = stem[:-1]
        if len(stem) >= 4 and stem[-1] in "ية":  # the suffix before the tanween (لغوي-اً, ذاتي-اً)
            stem = stem[:-1]
    return stem


_AR_MARKS_RE = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]+")


def refine_words(text: str, ws: list[Word]) -> list[Word]:
    """The text's words with the relevance-specific Arabic forms: a word written with a shadda or
    another mark inside it (`مسيّرات`, `طوّرت`) is one word, not two cut at the mark, and Arabic words
    are stemmed by `arabic_stem` (the shared analysis in storage.textnorm splits at the marks and
    keeps the tanween alef)."""
    out: list[Word] = []
    changed = False
    for w in ws:
        prev = out[-1] if out else None
        if (prev is not None and _ARABIC_RE.match(w.surface) and _ARABIC_RE.match(prev.surface)
                and prev.end < w.start and _AR_MARKS_RE.fullmatch(text, prev.end, w.start)):
            surface = text[prev.start : w.end]
            out[-1] = Word(surface, fold(surface), arabic_stem(surface), prev.start, w.end)
            changed = True
        elif w.norm.endswith("ا") and _ARABIC_RE.match(w.surface):
            out.append(w._replace(norm=arabic_stem(w.surface)))
            changed = True
        else:
            out.append(w)
    return out if changed else ws


def _word_pattern(word: Word, lang: str | None, prefix: bool) -> Pattern:
    if is_hangul(word.surface):
        return Pattern("hangul", strip_korean_particle(word.fold))
    if prefix:
        value = arabic_stem(word.surface) if _ARABIC_RE.match(word.surface) else word.fold
        return Pattern("prefix", value)
    if len(word.surface) >= 2 and word.surface.isupper():
        return Pattern("case", word.surface)
    if _HAN_RE.match(word.surface) and lang == "zh":
        return Pattern("norm", simplified(word.surface))
    if _ARABIC_RE.match(word.surface):
        return Pattern("norm", arabic_stem(word.surface))
    return Pattern("norm", normalise_word(word.surface, lang)[1])


def compile_term(category: str, text: str, lang: str | None) -> Term | None:
    """Turn `autonomous weapon*` / `LAWS` / `인공지능` / `*drohne*` into patterns stemmed for `lang`.

    `*word*` (a one-word term) matches any word containing `word` (accents and case ignored),
    e.g. the second part of a compound (German "Angriffsdrohnen", Dutch "gevechtsdrones").
    """
    chunks = text.split()
    if len(chunks) == 1 and chunks[0].startswith("*"):
        value = fold(chunks[0].strip("*"))
        if len(value) < _INFIX_MIN:
            raise ValueError(f"infix term {text!r} is shorter than {_INFIX_MIN} letters")
        return Term(category, text, (Pattern("infix", value),))
    patterns: list[Pattern] = []
    touch: list[bool] = []
    han = True
    for chunk in chunks:
        prefix = chunk.endswith("*")
        ws = words(chunk.rstrip("*"), lang)[0]
        for i, word in enumerate(ws):
            is_han = bool(_HAN_RE.match(word.surface))
            han = han and is_han
            if patterns:  # Han characters of one chunk touch; words and chunks may have a gap
                touch.append(i > 0 and is_han and bool(_HAN_RE.match(ws[i - 1].surface)))
            patterns.append(_word_pattern(word, lang, prefix and i == len(ws) - 1))
    if not patterns:
        return None
    return Term(category, text, tuple(patterns), han and len(patterns) > 1, tuple(touch))


def compile_terms(category: str, text: str, lang: str | None) -> list[Term]:
    """`compile_term`, plus for a Korean term of several words the same words written as one
    (Korean writes compounds with or without spaces: `자폭 드론` is also `자폭드론`, `자폭드론을`)."""
    term = compile_term(category, text, lang)
    if term is None:
        return []
    out = [term]
    if len(term.patterns) > 1 and all(p.kind == "hangul" for p in term.patterns):
        joined = "".join(p.value for p in term.patterns)
        out.append(Term(category, text, (Pattern("hangul", joined),)))
    return out


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
    _cache: dict[tuple[str, bool], tuple[Term, ...]] = field(default_factory=dict, repr=False)

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

    def starting_with(self, word: Word, case_ok: bool) -> tuple[Term, ...]:
        """The terms whose first word is `word` (memoised per word as written: a lexicon serves texts
        of one language, where the written form decides the normalised ones)."""
        key = (word.surface, case_ok)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            found = tuple(t for t in dict.fromkeys(self._candidates(word)) if t.patterns[0].matches(word, case_ok))
            self._cache[key] = found
        return found

    def _candidates(self, word: Word) -> list[Term]:
        out = list(self.by_norm.get(word.norm, ()))
        out += self.by_case.get(word.surface, ())
        out += self.by_prefix.get(word.fold[:_PREFIX_KEY], ())
        if word.norm[:_PREFIX_KEY] != word.fold[:_PREFIX_KEY]:  # Arabic: the stem without its clitics
            out += self.by_prefix.get(word.norm[:_PREFIX_KEY], ())
        out += self.short_prefix
        if self.infix and len(word.fold) >= _INFIX_MIN:
            out += [t for t in self.infix if t.patterns[0].value in word.fold]
        if self.hangul and is_hangul(word.surface):
            for syllable in set(word.fold):
                out += self.hangul.get(syllable, ())
        return out

    def find(self, text: str, ws: list[Word], breaks: set[int], case_ok: bool = True) -> list[Hit]:
        """All term occurrences in `text` (analysed as `ws`, with Chinese word `breaks`), in word order.

        Words covered by an `ignore` term count for nothing; words covered by a `neg` term no longer
        count as evidence (a `neg` phrase such as "AI-generated" cancels the "AI" inside it).
        """
        hits: list[Hit] = []
        n = len(ws)
        cache = self._cache
        for i, word in enumerate(ws):
            terms = cache.get((word.surface, case_ok))
            if terms is None:
                terms = self.starting_with(word, case_ok)
            for term in terms:
                patterns = term.patterns
                end = i + len(patterns)
                if end > n or (end > i + 1 and not _rest_matches(patterns, ws, i, case_ok)):
                    continue
                if not _joined(text, ws, i, term.touch) or (term.han and _cuts_word(ws, i, end, breaks)):
                    continue
                part = None
                if end == i + 1 and patterns[0].kind in ("infix", "hangul"):
                    at = word.fold.find(patterns[0].value)
                    part = (at, at + len(patterns[0].value))
                hits.append(Hit(term.category, term.label, i, end, _surface(text, ws, i, end), part))
        return _parts_shown(text, ws, _longest(_mask(hits, n)))


_SAME_GROUP = {"strong": "topic", "name": "topic", "ai": "ai", "auto": "ai", "mil": "mil", "war": "mil",
               "drone": "drone", "neg": "neg"}  # a vehicle inside a military phrase ("drone de combat") stays seen
_RANK = {"strong": 0, "name": 1, "ai": 0, "auto": 1, "mil": 0, "drone": 1, "war": 2}


def _longest(hits: list[Hit]) -> list[Hit]:
    """Of the hits of one group covering the same words, the longest (`autonomous weapon systems`,
    not also `autonomous weapon`); of two on the same words the more specific term (the metaphor
    `Rüstungswettlauf`, not `Rüstung*` in it), then the stronger category; but terms at different
    letters of one compound word are both kept (`자폭` and `무인기` in `자폭무인기`). Linear after sorting."""
    out: list[Hit] = []
    reach: dict[str, int] = {}  # group -> farthest end of the hits kept so far
    cover: dict[str, Hit] = {}  # group -> the hit that reaches farthest
    for h in sorted(hits, key=lambda h: (h.start, -h.end, -len(h.label.strip("*")), _RANK.get(h.category, 0))):
        group = _SAME_GROUP.get(h.category, h.category)
        if reach.get(group, -1) >= h.end:
            if cover[group].overlaps(h):
                continue
        else:
            reach[group] = h.end
            cover[group] = h
        out.append(h)
    return out


def _parts_shown(text: str, ws: list[Word], hits: list[Hit]) -> list[Hit]:
    """A Korean word holding several terms (`인공지능무기`: 인공지능 + 무기) shows each term's own letters,
    so that the explanation names both; a word with one term is shown whole (without its particle)."""
    per_word: dict[int, int] = {}
    for h in hits:
        if h.part is not None and h.category in EVIDENCE:
            per_word[h.start] = per_word.get(h.start, 0) + 1
    if all(c < 2 for c in per_word.values()):
        return hits
    out = []
    for h in hits:
        word = ws[h.start]
        if h.part is not None and per_word.get(h.start, 0) > 1 and is_hangul(word.surface):
            a, b = h.part
            h = Hit(h.category, h.label, h.start, h.end, text[word.start + a : word.start + b], h.part)
        out.append(h)
    return out


def _rest_matches(patterns: tuple[Pattern, ...], ws: list[Word], start: int, case_ok: bool) -> bool:
    for k in range(1, len(patterns)):
        if not patterns[k].matches(ws[start + k], case_ok):
            return False
    return True


def _joined(text: str, ws: list[Word], start: int, touch: tuple[bool, ...]) -> bool:
    """The words of one match follow each other: Han characters of one chunk touching, other words
    separated by at most a few spaces or marks and never by the end of a sentence."""
    for k, must_touch in enumerate(touch, start + 1):
        gap = text[ws[k - 1].end : ws[k].start]
        if must_touch and gap:
            return False
        if len(gap) > _MAX_GAP or _GAP_BREAK_RE.search(gap):
            return False
    return True


def _cuts_word(ws: list[Word], start: int, end: int, breaks: set[int]) -> bool:
    """A Chinese term that would start inside a word (军事 in 冠军事迹 = 冠军|事迹, 国防 in 中国防疫): its
    first character is not at a word boundary and a boundary falls inside the match. Ending inside a
    word is fine (协同 in 协同作战, 国防 in 国防部), and so is lying inside one word (国防部 in 美国国防部)."""
    if not breaks or ws[start].start in breaks:
        return False
    return any(ws[k].start in breaks for k in range(start + 1, end))


def _mask(hits: list[Hit], n: int) -> list[Hit]:
    ignored = [False] * n
    negated = [False] * n
    for h in hits:
        if h.category == "ignore":
            ignored[h.start : h.end] = [True] * (h.end - h.start)
        elif h.category == "neg":
            negated[h.start : h.end] = [True] * (h.end - h.start)
    if not any(ignored) and not any(negated):
        return hits
    out = []
    for h in hits:
        if h.category == "ignore" or any(ignored[h.start : h.end]):
            continue
        if h.category in CANCELLED and h.category != "strong" and any(negated[h.start : h.end]):
            continue
        out.append(h)
    return out


def _surface(text: str, ws: list[Word], start: int, end: int) -> str:
    """How a match reads in the text: its words as written (one space between words), a Korean word
    without its particle."""
    shown = " ".join(text[ws[start].start : ws[end - 1].end].split())
    if is_hangul(ws[end - 1].surface):
        last = ws[end - 1].surface
        bare = strip_korean_particle(last)
        if bare != last and shown.endswith(last):
            shown = shown[: len(shown) - len(last)] + bare
    return shown


# libyaml's parser when PyYAML has it (the term files load ~5x faster than with the pure-Python one)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_terms(lang: str) -> dict[str, list[str]]:
    """The raw term lists of one language file (empty when there is none); a new dict each call."""
    return {category: list(terms) for category, terms in _term_lists(lang).items()}


@cache
def _term_lists(lang: str) -> dict[str, tuple[str, ...]]:
    """The term lists of one language file, read once (every lexicon_for reads common.yaml)."""
    path = TERMS_DIR / f"{lang}.yaml"
    if not path.exists():
        return {}
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    unknown = set(data) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{path}: unknown categories {sorted(unknown)}")
    return {cat: tuple(str(t) for t in data.get(cat) or []) for cat in CATEGORIES}


def available_languages() -> list[str]:
    return sorted(p.stem for p in TERMS_DIR.glob("*.yaml") if p.stem != "common")


_lexicon_lock = threading.Lock()


def lexicon_for(langs: tuple[str, ...], stem_lang: str | None) -> Lexicon:
    """The terms of `langs` plus common.yaml, analysed like a text in `stem_lang`; made once per process, also
    when several worker threads first want it together (each used to compile its own, ~0.1 s of CPU apiece, at
    the start of every crawl with pages in several languages)."""
    with _lexicon_lock:
        return _compiled_lexicon(langs, stem_lang)


@lru_cache(maxsize=64)
def _compiled_lexicon(langs: tuple[str, ...], stem_lang: str | None) -> Lexicon:
    """The lexicon from its cache file (crawler.relevance.lexicon_cache), else compiled and written there."""
    from crawler.langid_model import default_cache_dir
    from crawler.relevance import lexicon_cache

    files = [TERMS_DIR / f"{lang}.yaml" for lang in ("common", *langs)]
    try:
        path = lexicon_cache.cache_file(default_cache_dir(), files, f"{','.join(langs)}|{stem_lang}")
    except OSError:  # a term file unreadable: compiling reports it
        path = None
    return lexicon_cache.load_or_compile(path, lambda: compile_lexicon(langs, stem_lang), Lexicon)


def compile_lexicon(langs: tuple[str, ...], stem_lang: str | None) -> Lexicon:
    lex = Lexicon()
    seen: set[tuple[str, tuple[Pattern, ...]]] = set()
    for lang in ("common", *langs):
        for category, terms in load_terms(lang).items():
            for text in terms:
                for term in compile_terms(category, text, stem_lang):
                    if (category, term.patterns) in seen:
                        continue
                    seen.add((category, term.patterns))
                    lex.add(term)
    return lex
