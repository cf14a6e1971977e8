"""The keyword model: strong terms, AI x military co-occurrence (title / window), negative cues."""

from __future__ import annotations

import math
import re

from crawler.relevance.lexicon import Hit, available_languages, lexicon_for
from storage.textnorm import Token, base_language, detect_language, tokenize

THRESHOLD = 2.5
NEAR = 12  # words: an AI and a military concept this close in one sentence are decisive
WINDOW = 25  # words: farther apart, or in one long sentence, they count less
STRONG_TITLE, STRONG_BODY, STRONG_CAP = 4.0, 3.0, 8.0
TITLE_PAIR = 3.0
NEAR_PAIR, PAIR, PAIR_CAP = 2.5, 1.0, 4.0
CROSS_PAIR = 1.5
NEG, NEG_CAP = 2.5, 4.0
_LETTER_RE = re.compile(r"[^\W\d_]")
_SENTENCE_RE = re.compile(r"(?<=[.!?;:。！？؟])\s+|\n+")


def _case_ok(text: str) -> bool:
    """Case-sensitive terms (LAWS, AI) are not trusted in an ALL-CAPS passage."""
    letters = _LETTER_RE.findall(text[:3000])
    if len(letters) < 12:
        return True
    upper = sum(1 for ch in letters if ch.isupper())
    return upper / len(letters) < 0.7


def _languages(title: str, text: str, lang: str | None) -> tuple[tuple[str, ...], str | None]:
    given = base_language(lang)
    detected = detect_language(f"{title}\n{text}")
    langs = [x for x in dict.fromkeys([given, detected, "en"]) if x]
    if not given and not detected:
        langs = ["en", *[x for x in available_languages() if x != "en"]]
    return tuple(langs), given or detected


def _pair_score(ai: list[Hit], mil: list[Hit], sentence_of: list[int]) -> tuple[float, int, int]:
    """Score of AI x military pairs in the body: (score, near pairs, other pairs)."""
    near = loose = 0
    for a in ai:
        best = 0
        for m in mil:
            if (m.start, m.end) == (a.start, a.end):
                continue
            same_sentence = sentence_of[a.start] == sentence_of[m.start]
            distance = abs(m.start - a.start)
            if same_sentence and distance <= NEAR:
                best = 2
                break
            if same_sentence or distance <= WINDOW:
                best = 1
        near += best == 2
        loose += best == 1
    score = 0.0
    if near:
        score = NEAR_PAIR + (near - 1) * PAIR
    score += loose * PAIR
    return min(max(score, 0.0), max(PAIR_CAP, NEAR_PAIR if near else 0.0)), near, loose


def score_hits(
    title_hits: list[Hit], body_hits: list[Hit], sentence_of: list[int] | None = None
) -> tuple[float, list[str]]:
    """The raw score and the rules that fired (`explain` lists the matched terms)."""
    matches: list[str] = []
    score = 0.0

    strong: dict[str, float] = {}
    for h in title_hits:
        if h.category == "strong":
            strong[h.label] = STRONG_TITLE
    for h in body_hits:
        if h.category == "strong":
            strong.setdefault(h.label, STRONG_BODY)
    score += min(STRONG_CAP, sum(strong.values()))

    t_ai_plain = [h for h in title_hits if h.category == "ai"]
    t_mil_plain = [h for h in title_hits if h.category == "mil"]
    if any((a.start, a.end) != (m.start, m.end) for a in t_ai_plain for m in t_mil_plain):
        score += TITLE_PAIR
        matches.append("rule:title-ai+mil")
    b_ai_plain = [h for h in body_hits if h.category == "ai"]
    b_mil_plain = [h for h in body_hits if h.category == "mil"]
    if sentence_of is None:
        sentence_of = [0] * (max((h.end for h in body_hits), default=0) + 1)
    pair_score, near, loose = _pair_score(b_ai_plain, b_mil_plain, sentence_of)
    score += pair_score
    if near:
        matches.append(f"rule:near-ai+mil x{near}")
    if loose:
        matches.append(f"rule:sentence-ai+mil x{loose}")
    if (t_ai_plain and b_mil_plain) or (t_mil_plain and b_ai_plain):
        score += CROSS_PAIR
        matches.append("rule:title+body-ai+mil")

    negs = {h.label for h in title_hits + body_hits if h.category == "neg"}
    if negs:
        score -= min(NEG_CAP, NEG * len(negs))

    return score, matches


def _as_written(words: str, text: str) -> str:
    """A multi-word match as it reads in `text` (`systèmes d armes` -> "systèmes d'armes")."""
    parts = words.split(" ")
    if len(parts) < 2 or not text:
        return words
    m = re.search(r"\W{1,3}".join(re.escape(p) for p in parts), text)
    return " ".join(m.group().split()) if m else words


def explain(hits: list[Hit], text: str = "") -> list[str]:
    """`category:words` for each matched term once: the words as found in the text (first occurrence,
    title first), so `mil:armée` matching "armes" reads `mil:armes`. Terms differing only in case
    (`NATO` / `nato`) and terms found as the same words count once."""
    seen: set[tuple[str, str]] = set()
    labels: list[str] = []
    for h in hits:
        shown = _as_written(h.surface, text) if h.surface else h.label
        if shown.casefold() == h.label.casefold() and not shown.isupper():
            shown = h.label  # the term as listed, not "Kunstmatige" at the start of a sentence
        keys = {(h.category, h.label.casefold()), (h.category, shown.casefold())}
        if keys & seen:
            seen |= keys
            continue
        seen |= keys
        labels.append(f"{h.category}:{shown}")
    return sorted(labels, key=_order)


def _order(label: str) -> tuple[int, str]:
    return (("strong", "ai", "mil", "neg").index(label.split(":", 1)[0]), label)


def squash(raw: float) -> float:
    """Map the raw score to 0..1; 0.5 is the decision threshold."""
    return round(1.0 / (1.0 + math.exp(-(raw - THRESHOLD) * 1.2)), 4)


def classify_text(title: str, text: str, lang: str | None) -> tuple[bool, float, list[str]]:
    langs, stem_lang = _languages(title, text, lang)
    lexicon = lexicon_for(langs, stem_lang)
    title_hits = lexicon.find(tokenize(title, stem_lang), _case_ok(title))
    body_tokens: list[Token] = []
    sentence_of: list[int] = []
    for n, sentence in enumerate(_SENTENCE_RE.split(text)):
        toks = tokenize(sentence, stem_lang)
        body_tokens += toks
        sentence_of += [n] * len(toks)
    body_hits = lexicon.find(body_tokens, _case_ok(text))
    raw, rules = score_hits(title_hits, body_hits, sentence_of)
    return raw >= THRESHOLD, squash(raw), [*explain(title_hits + body_hits, f"{title}\n{text}"), *rules]
