"""Text normalisation shared by the relevance classifier, the query language and deduplication.

A text becomes a list of `Token`s: `surface` (as written, for case-sensitive terms such as "AI" or
"LAWS"), `fold` (casefolded, accents stripped) and `norm` (the Snowball stem of the casefolded word,
accents stripped; Korean particles removed; one Han character per token). `tokenize` is what the
search index and the query language read, so its output must stay stable.

`words` is the relevance classifier's richer, script-aware analysis of the same tokens: offsets in
the text, Han characters folded to Simplified Chinese (OpenCC) for Chinese text, Chinese word
boundaries (jieba), Arabic light stemming (conjunctions, prepositions, the definite article and
suffixes). It does not change `tokenize`.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any, NamedTuple

import snowballstemmer

STEMMERS = {
    "en": "english",
    "nl": "dutch",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "ru": "russian",
    "ar": "arabic",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "pl": "polish",
}

_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"
_HAN = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN_RE = re.compile(rf"[{_HANGUL}]+|[{_HAN}]|[^\W_{_HANGUL}{_HAN}]+")
HANGUL_RE = re.compile(rf"[{_HANGUL}]")
_HAN_RE = re.compile(rf"[{_HAN}]")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_NON_LATIN_RE = re.compile(rf"[{_HANGUL}{_HAN}\u0400-\u04ff\u0600-\u06ff]")
CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+")
_ARABIC_CLITIC_RE = re.compile(r"^(?:[وفبكل]?ال|لل|و(?=ال))(?=...)")

# Korean particles (josa), longest first; stripped only when two or more syllables remain.
_KO_PARTICLES = tuple(
    sorted(
        "으로써 에서는 에게서 이라는 에서 으로 에게 까지 부터 처럼 보다 라는 와의 과의 에는 에도 "
        "으로는 로는 이며 이고 은 는 이 가 을 를 의 에 와 과 도 로 만 들".split(),
        key=len,
        reverse=True,
    )
)

_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ـ": None})

# A few very frequent words per Latin-script language, to guess the language of unlabelled text.
_STOPWORDS = {
    "en": set("the and of to in is for that with on are this by from be as has have".split()),
    "nl": set("de het een en van in is op te dat voor met zijn niet ook door bij wordt".split()),
    "fr": set("le la les des et du un une est pour dans que sur par au aux pas avec".split()),
    "de": set("der die das und ist nicht mit den von zu ein eine auf für dem des im sich".split()),
    "es": set("el la los las de y en que por con para una del se es al como su".split()),
}


class Token(NamedTuple):
    surface: str
    fold: str
    norm: str


def _strip_accents_slow(text: str) -> str:
    """The definition: NFD, drop the combining marks, NFC, fold Arabic letter variants."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).translate(_ARABIC_FOLD)


class _AccentTable(dict[int, str]):
    """str.translate table: each code point's own _strip_accents_slow, computed the first time it is seen."""

    def __missing__(self, code: int) -> str:
        value = self[code] = _strip_accents_slow(chr(code))
        return value


_ACCENTS = _AccentTable()
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f](?:[^\x00-\x7f]| )*")  # a word, or words of a non-Latin script


@lru_cache(maxsize=65536)
def _strip_run(run: str) -> str:
    return run.translate(_ACCENTS)


def _strip_match(match: re.Match[str]) -> str:
    run = match.group()
    return _strip_run(run) if len(run) <= 64 else run.translate(_ACCENTS)


def strip_accents(text: str) -> str:
    """Remove combining marks (é→e, ü→u, Arabic harakat) while keeping Hangul syllables whole.

    The same as _strip_accents_slow at a fraction of its cost: only the non-ASCII runs go through a cached
    per-character table, then NFC over the whole (NFD works per character but for the order of combining
    marks, which are dropped; NFC of a string equals NFC of its pieces' NFC; no letter of _ARABIC_FOLD is
    composed of mark-free pieces)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", _NON_ASCII_RUN.sub(_strip_match, text))


def fold(text: str) -> str:
    """Casefold and strip accents."""
    return strip_accents(text.casefold())


def strip_korean_particle(word: str) -> str:
    """`인공지능의` → `인공지능`; short words are left alone."""
    for particle in _KO_PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


_stemmers = threading.local()


def _stemmer(lang: str) -> Any:
    """The Snowball stemmer for `lang`, one per thread: a stemmer keeps its state while it stems, so one
    shared by two threads (crawler workers, API threads) garbles words or raises IndexError."""
    mine: dict[str, object] | None = getattr(_stemmers, "by_lang", None)
    if mine is None:
        mine = _stemmers.by_lang = {}
    stemmer = mine.get(lang)
    if stemmer is None:
        stemmer = mine[lang] = snowballstemmer.stemmer(STEMMERS[lang])
    return stemmer


@lru_cache(maxsize=500_000)
def normalise_word(word: str, lang: str | None) -> tuple[str, str]:
    """(fold, norm) of one token."""
    cf = word.casefold()
    folded = strip_accents(cf)
    if HANGUL_RE.match(word):
        return folded, strip_korean_particle(folded)
    if _HAN_RE.match(word) or word.isdigit():
        return folded, folded
    if len(cf) <= 3:  # "ai", "ki", "ии", "war": too short to stem safely
        return folded, folded
    stem_lang = _stem_language(word, lang)
    if stem_lang == "ar":
        cf = _ARABIC_CLITIC_RE.sub("", cf.translate(_ARABIC_FOLD))
    return folded, strip_accents(_stemmer(stem_lang).stemWord(cf))


def _stem_language(word: str, lang: str | None) -> str:
    """The script decides for Cyrillic and Arabic; otherwise the text's language, or English."""
    if CYRILLIC_RE.match(word):
        return "ru"
    if _ARABIC_RE.match(word):
        return "ar"
    if lang in STEMMERS and lang not in ("ru", "ar"):
        return lang
    return "en"


def base_language(lang: str | None) -> str | None:
    """`en-GB` → `en`; None stays None."""
    if not lang:
        return None
    return lang.split("-")[0].split("_")[0].lower() or None


def detect_script_language(text: str) -> str | None:
    """The language a non-Latin script gives away (ko, ja, zh, ru, ar), or None."""
    sample = text[:2000]
    if not _NON_LATIN_RE.search(sample):
        return None
    if HANGUL_RE.search(sample):
        return "ko"
    if len(_KANA_RE.findall(sample)) >= 3:
        return "ja"
    if _HAN_RE.search(sample):
        return "zh"
    if len(CYRILLIC_RE.findall(sample)) > 5:
        return "ru"
    if len(_ARABIC_RE.findall(sample)) > 5:
        return "ar"
    return None


def detect_language(text: str) -> str | None:
    """A cheap guess: script first (ko, ja, zh, ru, ar), then Latin-script stopword counts (en nl fr de es)."""
    sample = text[:2000]
    if HANGUL_RE.search(sample):
        return "ko"
    if len(_KANA_RE.findall(sample)) >= 3:  # Japanese writes kana between its kanji; Chinese never does
        return "ja"
    if _HAN_RE.search(sample):
        return "zh"
    if len(CYRILLIC_RE.findall(sample)) > 5:
        return "ru"
    if len(_ARABIC_RE.findall(sample)) > 5:
        return "ar"
    words = [w.casefold() for w in _LATIN_WORD_RE.findall(sample)]
    best, best_count = None, 0
    for lang, stop in _STOPWORDS.items():
        count = sum(1 for w in words if w in stop)
        if count > best_count:
            best, best_count = lang, count
    return best


def tokenize(text: str, lang: str | None = None) -> list[Token]:
    """Tokens of `text`, stemmed for `lang` (Latin words of unknown language use English)."""
    lang = base_language(lang)
    out = []
    for surface in TOKEN_RE.findall(text):
        folded, norm = normalise_word(surface, lang)
        out.append(Token(surface, folded, norm))
    return out


def norms(text: str, lang: str | None = None) -> list[str]:
    """Just the normalised forms of `text`'s tokens."""
    return [t.norm for t in tokenize(text, lang)]


def is_hangul(text: str) -> bool:
    return bool(HANGUL_RE.match(text))


# --- the relevance classifier's script-aware analysis ---------------------------------------------


class Word(NamedTuple):
    """A token with its offsets in the text (`end` exclusive) and the classifier's forms."""

    surface: str
    fold: str
    norm: str
    start: int
    end: int


@lru_cache(maxsize=1)
def _t2s() -> Any:
    """OpenCC's Traditional → Simplified converter, loaded on first use (Chinese text only)."""
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """rjieba (jieba-rs), loaded on first use: its dictionary takes ~0.2 s, only Chinese text needs it."""
    import rjieba

    return rjieba


@lru_cache(maxsize=50_000)
def simplified(char: str) -> str:
    """One Han character in Simplified Chinese (國 → 国, 無 → 无); others unchanged."""
    out = _t2s().convert(char)
    return out if len(out) == 1 else char


def to_simplified(text: str) -> str:
    """`text` with Traditional Chinese characters folded to Simplified, character by character, so
    offsets do not move."""
    out: str = _t2s().convert(text)
    if len(out) == len(text):
        return out
    return "".join(simplified(ch) if _HAN_RE.match(ch) else ch for ch in text)


# Arabic light stemming (after Larkey et al.'s "light10"): proclitics (wa-, fa-, bi-, ka-, li-, the
# article al-) and the commonest suffixes, keeping at least three letters. The Snowball stemmer
# `tokenize` uses leaves plural and clitic forms apart (الخوارزميات, لجيش).
_AR_PREFIXES = ("وبال", "وكال", "ولل", "فال", "فبال", "وال", "بال", "كال", "لل", "ال")
_AR_ONE_LETTER = "وفبلك"
_AR_SUFFIXES = ("يات", "ات", "ون", "ين", "ان", "ية", "ها", "هم", "هن", "كم", "نا", "ه", "ة", "ي")


@lru_cache(maxsize=200_000)
def arabic_light_stem(word: str) -> str:
    """`والخوارزميات` → `خوارزم`, `لجيش` → `جيش`, `المسيّرة` → `مسير` (folded, diacritics removed)."""
    w = strip_accents(word).translate(_ARABIC_FOLD)
    for prefix in _AR_PREFIXES:
        if w.startswith(prefix) and len(w) - len(prefix) >= 3:
            w = w[len(prefix):]
            break
    else:
        if len(w) >= 4 and w[0] in _AR_ONE_LETTER:
            w = w[1:]
    for _ in range(2):  # الخوارزميات: -ات, then -ي
        for suffix in _AR_SUFFIXES:
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
        else:
            break
    return w


_RUN_RE = re.compile(rf"[{_HAN}]+|[{_HANGUL}]+|[^\W_{_HANGUL}{_HAN}]+")


def _han_breaks(run: str, start: int, breaks: set[int]) -> None:
    """Add the offsets where jieba puts a word boundary in a run of Han characters (Chinese text),
    the run's start and end included."""
    pos = start
    breaks.add(pos)
    for seg in _jieba().cut(run):
        pos += len(seg)
        breaks.add(pos)


@lru_cache(maxsize=500_000)
def _word_forms(surface: str, lang: str | None) -> tuple[str, str]:
    folded, norm = normalise_word(surface, lang)
    if _ARABIC_RE.match(surface):
        return folded, arabic_light_stem(surface)
    return folded, norm


def words(text: str, lang: str | None = None) -> tuple[list[Word], set[int]]:
    """The classifier's words of `text`, and the offsets of Chinese word boundaries inside runs of
    Han characters (empty unless `lang` is Chinese).

    Forms: Latin and Cyrillic words as in `tokenize`; Arabic `norm` light-stemmed
    (`arabic_light_stem`); Han characters (one word each) folded to Simplified Chinese in Chinese
    text (so 國防 and 国防 are one term); Hangul without its particle.
    """
    lang = base_language(lang)
    out: list[Word] = []
    append = out.append
    breaks: set[int] = set()
    forms = _word_forms
    han = _HAN_RE.match
    for m in _RUN_RE.finditer(text):
        run = m.group()
        start = m.start()
        if han(run):
            if lang == "zh":
                simple = to_simplified(run)
                pairs = enumerate(zip(run, simple, strict=True))
                out += [Word(c, f, f, start + i, start + i + 1) for i, (c, f) in pairs]
                if len(run) > 2:
                    _han_breaks(simple, start, breaks)
            else:
                for i, c in enumerate(run):
                    folded, norm = forms(c, lang)
                    append(Word(c, folded, norm, start + i, start + i + 1))
        else:
            folded, norm = forms(run, lang)
            append(Word(run, folded, norm, start, m.end()))
    return out, breaks
