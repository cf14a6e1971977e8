"""The keyword model: named topics, AI x military co-occurrence (title / window), context rules.

Evidence, added up into a raw score (THRESHOLD decides):
- `strong` terms (a topic on its own: "autonomous weapons", REAIM, Project Maven);
- `name` terms (a programme or system whose name alone is ambiguous: Lancet, Lavender, Gospel,
  Maven) when an AI, military or topic term stands within WINDOW words of them (or in the title);
- an `ai` and a `mil` term together: in the title, in one sentence of the body (NEAR words apart
  count most), or one in the title and one in the body. `war` terms (war, battle, weapon: words that
  are often metaphors, as in "the battle for AI supremacy") count as military only when the item also
  has a literal military term;
- `neg` terms (AI-generated videos, export controls, home drones, veterans' health care, AI
  business) lower the score, and the AI or military words inside them no longer count.

Every step is linear in the number of words and hits (sorted positions and bisection, no pairs).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from crawler.relevance.concepts import CONCEPT, with_concepts
from crawler.relevance.lexicon import Hit, available_languages, lexicon_for, refine_words
from storage.textnorm import Word, base_language, detect_language, detect_script_language, words

THRESHOLD = 2.5
NEAR = 12  # words: an AI and a military concept this close in one sentence are decisive
WINDOW = 25  # words: farther apart, or in one long sentence, they count less
AUTO_NEAR = 6  # words: an `auto` word ("automatically") this close to a vehicle word is AI
STRONG_TITLE, STRONG_BODY, STRONG_CAP = 4.0, 3.0, 8.0
NAME_TITLE, NAME_BODY = 3.5, 3.0
TITLE_PAIR = 3.0
NEAR_PAIR, PAIR, PAIR_CAP = 2.5, 1.0, 4.0
CROSS_PAIR = 1.5
CROSS_PAIR_CLEAN = 2.5  # the same with a literal military half and no look-alike (`neg`) term in the item
NEG, NEG_CAP = 2.5, 4.0
_LETTER_RE = re.compile(r"[^\W\d_]")
_SENTENCE_RE = re.compile(r"[.!?;:。！？؟]+(?=\s|$)|[。！？؟]|\n+")


@dataclass
class Evidence:
    """What the scorer used: the hits that counted, per group, and the rules that fired."""

    topic: list[Hit] = field(default_factory=list)
    ai: list[Hit] = field(default_factory=list)
    military: list[Hit] = field(default_factory=list)
    negative: list[Hit] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)  # every term found (title, then body), for debugging


def _case_ok(text: str) -> bool:
    """Case-sensitive terms (LAWS, AI) are not trusted in an ALL-CAPS passage."""
    letters = _LETTER_RE.findall(text[:800])
    if len(letters) < 12:
        return True
    upper = sum(map(str.isupper, letters))
    return upper / len(letters) < 0.7


def languages(title: str, text: str, lang: str | None) -> tuple[tuple[str, ...], str | None]:
    """(languages whose terms apply, language the text is analysed in). The given language comes
    first, and a different script (a Korean text labelled `en`) adds its language's terms; without a
    given language, a guess; with neither, every language's terms apply."""
    given = base_language(lang)
    sample = f"{title}\n{text[:2000]}"
    detected = detect_script_language(sample) if given else detect_language(sample)
    langs = [x for x in dict.fromkeys([given, detected]) if x]
    if not langs:
        return ("en", *[x for x in available_languages() if x != "en"]), None
    return tuple(langs), given or detected


class _Sentences:
    """The sentence number of a word (sentences end at . ! ? ; : and line breaks), looked up by
    bisection for the few words that carry hits."""

    def __init__(self, text: str, ws: Sequence[Word]) -> None:
        self.ends = [m.end() for m in _SENTENCE_RE.finditer(text)]
        self.ws = ws
        self._memo: dict[int, int] = {}

    def __getitem__(self, index: int) -> int:
        found = self._memo.get(index)
        if found is None:
            found = self._memo[index] = bisect_right(self.ends, self.ws[index].start)
        return found


class _Positions:
    """Sorted start positions of hits, for "is there one within d words" questions in O(log n)."""

    def __init__(self, hits: Sequence[Hit]) -> None:
        self.starts = sorted({h.start for h in hits})
        self.at: dict[int, list[Hit]] = {}
        for h in hits:
            self.at.setdefault(h.start, []).append(h)

    def nearest(self, hit: Hit, sentence_of: _Sentences | None = None) -> tuple[int, bool] | None:
        """(distance, same sentence) of the nearest other hit, preferring one in the same sentence."""
        i = bisect_left(self.starts, hit.start)
        best: tuple[int, bool] | None = None
        for j in (i - 1, i, i + 1):  # the neighbours on each side (i itself may be this very hit)
            if not 0 <= j < len(self.starts):
                continue
            pos = self.starts[j]
            if all(other.overlaps(hit) for other in self.at[pos]):
                continue  # only these very words (one word that is both an AI and a military term)
            same = sentence_of is not None and sentence_of[pos] == sentence_of[hit.start]
            cand = (abs(pos - hit.start), same)
            if best is None or (cand[1], -cand[0]) > (best[1], -best[0]):
                best = cand
        return best


def _body_pairs(ai: list[Hit], mil: list[Hit], sentence_of: _Sentences) -> tuple[float, int, int]:
    """Score of AI x military co-occurrence in the body: (score, near AI hits, loose AI hits)."""
    if not ai or not mil:
        return 0.0, 0, 0
    positions = _Positions(mil)
    near = loose = 0
    for a in ai:
        found = positions.nearest(a, sentence_of)
        if found is None:
            continue
        distance, same = found
        if same and distance <= NEAR:
            near += 1
        elif same or distance <= WINDOW:
            loose += 1
    score = (NEAR_PAIR + (near - 1) * PAIR) if near else 0.0
    score += loose * PAIR
    return min(score, max(PAIR_CAP, NEAR_PAIR if near else 0.0)), near, loose


def _distinct_pair(ai: list[Hit], mil: list[Hit]) -> bool:
    """An AI and a military hit that are not the same words (one word that is both is no pair; two
    terms at different letters of one compound, as in Korean `인공지능무기`, are)."""
    return any(not a.overlaps(m) for a in ai for m in mil[:50])


def _of(hits: list[Hit], *categories: str) -> list[Hit]:
    return [h for h in hits if h.category in categories]


def _named_in_context(names: list[Hit], context: list[Hit], anywhere: bool) -> list[Hit]:
    """The names with an AI, military or topic term within WINDOW words (or anywhere: title names)."""
    if not names:
        return []
    if anywhere:
        return names if context else []
    positions = _Positions(context)
    out = []
    for h in names:
        found = positions.nearest(h)
        if found is not None and found[0] <= WINDOW:
            out.append(h)
    return out


def score_hits(title_hits: list[Hit], body_hits: list[Hit], sentence_of: _Sentences,
               title_sentence_of: _Sentences | None = None) -> tuple[float, Evidence]:
    """The raw score and the evidence that produced it."""
    ev = Evidence(hits=title_hits + body_hits)
    title_hits = _promote_auto(title_hits, title_sentence_of)
    body_hits = _promote_auto(body_hits, sentence_of, lede_anchor=bool(_of(title_hits, "drone")))
    every = title_hits + body_hits
    # a military context: a literal military term, or a vehicle word beside a combat word (a drone that
    # attacks a target); metaphors ("the battle for AI", "arms race") and home drones are neither
    literal_mil = bool(_of(every, "mil", "strong", "name")) or bool(_of(every, "drone") and _of(every, "war"))
    mil_cats = ("mil", "war", "drone") if literal_mil else ("mil",)
    if literal_mil and not _of(every, "mil", "strong", "name"):
        ev.rules.append("rule:drone+combat")
    t_ai, b_ai = _of(title_hits, "ai"), _of(body_hits, "ai")
    t_mil, b_mil = _of(title_hits, *mil_cats), _of(body_hits, *mil_cats)

    # named topics: strong terms, and names in context
    topic: dict[str, float] = {}
    # a name's context: an AI, military, topic or vehicle term ("Aarok drone", "Ghost Shark submarine")
    t_context = _of(title_hits, "ai", "mil", "strong", "drone") + _of(body_hits, "ai", "mil", "strong", "drone")
    for h in _of(title_hits, "strong"):
        topic[h.label] = STRONG_TITLE
    for h in _named_in_context(_of(title_hits, "name"), t_context, anywhere=True):
        topic.setdefault(h.label, NAME_TITLE)
    for h in _of(body_hits, "strong"):
        topic.setdefault(h.label, STRONG_BODY)
    for h in _named_in_context(_of(body_hits, "name"), _of(body_hits, "ai", "mil", "strong", "drone"), anywhere=False):
        topic.setdefault(h.label, NAME_BODY)
    score = min(STRONG_CAP, sum(topic.values()))
    ev.topic = [h for h in title_hits + body_hits if h.label in topic and h.category in ("strong", "name")]

    # AI x military
    pair_ai: list[Hit] = []
    pair_mil: list[Hit] = []
    title_neg = bool(_of(title_hits, "neg"))  # a title about sport, health or trade: its AI x military is incidental
    if _distinct_pair(t_ai, t_mil) and not title_neg:
        score += TITLE_PAIR
        ev.rules.append("rule:title-ai+mil")
        pair_ai += t_ai
        pair_mil += t_mil
    pair_score, near, loose = _body_pairs(b_ai, b_mil, sentence_of)
    score += pair_score
    if near:
        ev.rules.append(f"rule:near-ai+mil x{near}")
    if loose:
        ev.rules.append(f"rule:sentence-ai+mil x{loose}")
    if near or loose:
        pair_ai += b_ai
        pair_mil += b_mil
    if (t_ai and b_mil) or (t_mil and b_ai):
        # the title's AI (or military) term, and the other half as a literal term in the lede (the
        # body's first two sentences): in an item with no look-alike context, as strong as one
        # sentence holding both; farther down, or beside a look-alike, it is an incidental mention
        lede = [h for h in body_hits if sentence_of[h.start] <= 1]  # the body's first two sentences
        literal_half = (t_ai and _of(lede, "mil")) or (_of(title_hits, "mil") and _of(lede, "ai"))
        score += CROSS_PAIR_CLEAN if literal_half and not _of(every, "neg") else CROSS_PAIR
        ev.rules.append("rule:title+body-ai+mil")
        pair_ai += t_ai + (b_ai if t_mil else [])
        pair_mil += t_mil + (b_mil if t_ai else [])
    # the AI and military words shown: those of the rules that fired, plus those beside a topic
    if topic:
        pair_ai += t_ai + b_ai
        pair_mil += t_mil + b_mil
    ev.ai = _uncovered(_in_order(pair_ai), ev.topic, title_hits)
    ev.military = _nested_dropped(_uncovered(_in_order(pair_mil), ev.topic, title_hits), title_hits)

    ev.rules += list(dict.fromkeys(f"rule:{h.label}" for h in ev.topic + ev.ai if h.label.startswith(CONCEPT)))
    ev.negative = _of(title_hits + body_hits, "neg")
    negs = {h.label for h in ev.negative}
    if negs:
        score -= min(NEG_CAP, NEG * len(negs))
        ev.rules.append(f"rule:negative x{len(negs)}")
    return score, ev


def _promote_auto(hits: list[Hit], sentence_of: _Sentences | None, lede_anchor: bool = False) -> list[Hit]:
    """`auto` words (automatically, by itself, selbstständig, самостоятельно, onboard computer) are AI
    evidence only within AUTO_NEAR words of a vehicle (`drone` term) in the same sentence (of the title or
    the body: "Hochschulautonomie: … Bundeswehr" is two); so is the bare noun "autonomy", which is as
    often a university's, a region's or a port's. The first sentence of the body also counts when the
    title names the vehicle ("Navy takes uncrewed submarine into service" / "It searches the seabed on
    its own"). Beside a unit ("the battalion works on its own") or elsewhere they count for nothing."""
    autos = [h for h in hits if h.category == "auto"]
    if not autos:
        return hits
    anchors = _Positions(_of(hits, "drone"))
    promoted = {}
    for h in autos:
        found = anchors.nearest(h, sentence_of) if anchors.starts else None
        near = found is not None and found[0] <= AUTO_NEAR and (sentence_of is None or found[1])
        if near or (lede_anchor and sentence_of is not None and sentence_of[h.start] == 0):
            promoted[id(h)] = Hit("ai", h.label, h.start, h.end, h.surface, h.part)
    return [promoted.get(id(h), h) for h in hits if h.category != "auto" or id(h) in promoted]


def _uncovered(hits: list[Hit], topic: list[Hit], title_hits: list[Hit]) -> list[Hit]:
    """The hits not inside a topic phrase of the same field (`weapon` in `autonomous weapon systems`)."""
    if not topic:
        return hits
    in_title = {id(h) for h in title_hits}
    covered: dict[bool, set[int]] = {True: set(), False: set()}
    for t in topic:
        covered[id(t) in in_title].update(range(t.start, t.end))
    return [h for h in hits if not covered[id(h) in in_title].issuperset(range(h.start, h.end))]


def _nested_dropped(hits: list[Hit], title_hits: list[Hit]) -> list[Hit]:
    """The hits not inside a longer one of the same field (`drone` in `drone de combat`)."""
    in_title = {id(h) for h in title_hits}
    reach: dict[bool, int] = {}
    keep: set[int] = set()
    for h in sorted(hits, key=lambda h: (id(h) in in_title, h.start, -h.end)):
        field_ = id(h) in in_title
        if reach.get(field_, -1) >= h.end and h.category == "drone":
            continue
        reach[field_] = max(reach.get(field_, -1), h.end)
        keep.add(id(h))
    return [h for h in hits if id(h) in keep]


def _in_order(hits: list[Hit]) -> list[Hit]:
    seen: set[int] = set()
    out = []
    for h in hits:
        if id(h) not in seen:
            seen.add(id(h))
            out.append(h)
    return out


def squash(raw: float) -> float:
    """Map the raw score to 0..1; 0.5 is the decision threshold."""
    return round(1.0 / (1.0 + math.exp(-(raw - THRESHOLD) * 1.2)), 4)


@dataclass(frozen=True)
class Verdict:
    relevant: bool
    score: float
    evidence: Evidence
    language: str | None


def classify_text(title: str, text: str, lang: str | None) -> Verdict:
    langs, stem_lang = languages(title, text, lang)
    lexicon = lexicon_for(langs, stem_lang)
    t_words, t_breaks = words(title, stem_lang)
    b_words, b_breaks = words(text, stem_lang)
    if "ar" in langs:
        t_words, b_words = refine_words(title, t_words), refine_words(text, b_words)
    t_sentences, b_sentences = _Sentences(title, t_words), _Sentences(text, b_words)
    title_hits = with_concepts(title, t_words, lexicon.find(title, t_words, t_breaks, _case_ok(title)), t_sentences)
    body_hits = with_concepts(text, b_words, lexicon.find(text, b_words, b_breaks, _case_ok(text)), b_sentences)
    raw, evidence = score_hits(title_hits, body_hits, b_sentences, t_sentences)
    return Verdict(raw >= THRESHOLD, squash(raw), evidence, stem_lang)
