"""Concepts made of several roles in one sentence, for texts that describe military AI without naming it.

Role terms (`actor`, `self`, `act`, `object`, `lethal`, `weapon`, `alone`, `teaming`, `crewed`,
`platform` in terms/*.yaml) are no evidence alone; close together in one sentence they make one:

- machine choice: a machine (`actor`: software, algorithm, automatic) or a vehicle acting by itself
  (`self`, only with a `platform`, `weapon` or `drone` word in the sentence) that selects, identifies,
  decides or plans (`act`) a target, threat, enemy or route (`object`) is an AI term ("software picks
  what to strike", "détection automatique de cibles", "сам выбирает цель"); the target word stays a
  military word of its own, which the usual AI x military rules need;
- machine lethal decision: the same with a lethal object (`lethal`: kill, lethal force, 命を奪う) is a
  named topic ("leaving the decision to kill to a machine");
- weapon without a human: a `weapon` word beside `alone` (without human control, ohne menschliches
  Zutun, 人が介在せず) is a named topic (the LAWS debate without the word);
- crewed-uncrewed teaming: a `teaming` word beside a `crewed` aircraft in a sentence with a `drone`
  word is an AI term (loyal wingman, Begleitflugzeug, ведомый, 僚机 without the name).

The new hit sits on the act (or weapon, teaming) word, so that the other words stay separate
evidence; its surface is the text from the first to the last word of the concept.
"""

from __future__ import annotations

import re
from typing import Protocol

from crawler.relevance.lexicon import ROLES, Hit
from storage.textnorm import Word

SPAN = 8  # words: the roles of one concept lie this close to its act word, in one sentence
SPAN_HAN = 20  # characters, for Chinese and Japanese (one word per character)
_HAN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CONCEPT = "concept:"  # label prefix of the hits made here


class SentenceOf(Protocol):
    def __getitem__(self, index: int, /) -> int: ...


def _surface(text: str, ws: list[Word], hits: list[Hit]) -> str:
    start, end = min(h.start for h in hits), max(h.end for h in hits)
    shown = " ".join(text[ws[start].start : ws[end - 1].end].split())
    return shown if len(shown) <= 120 else " … ".join(h.surface for h in sorted(hits, key=lambda h: h.start))


def _near(cands: list[Hit], anchor: Hit, sentence_of: SentenceOf, span: int) -> Hit | None:
    best: Hit | None = None
    for c in cands:
        if c is anchor or sentence_of[c.start] != sentence_of[anchor.start]:
            continue
        if abs(c.start - anchor.start) <= span and (best is None or
                                                    abs(c.start - anchor.start) < abs(best.start - anchor.start)):
            best = c
    return best


def with_concepts(text: str, ws: list[Word], hits: list[Hit], sentence_of: SentenceOf) -> list[Hit]:
    """`hits` without the role terms, plus the concepts they make (see the module docstring)."""
    roles: dict[str, list[Hit]] = {r: [] for r in ROLES}
    rest: list[Hit] = []
    for h in hits:
        (roles[h.category] if h.category in roles else rest).append(h)
    if not any(roles.values()):
        return hits
    made: list[Hit] = []
    carriers = roles["platform"] + roles["weapon"] + [h for h in rest if h.category == "drone"]
    for act in roles["act"]:
        span = SPAN_HAN if _HAN_RE.match(ws[act.start].surface) else SPAN
        actor = _near(roles["actor"], act, sentence_of, span)
        if actor is None and _near(carriers, act, sentence_of, 2 * span) is not None:
            actor = _near(roles["self"], act, sentence_of, span)
        obj = _near(roles["object"] + roles["lethal"], act, sentence_of, span) if actor else None
        if actor is None or obj is None:
            continue
        lethal = obj.category == "lethal"
        kind = "machine-lethal-decision" if lethal else "machine-choice"
        made.append(Hit("strong" if lethal else "ai", CONCEPT + kind, act.start, act.end,
                        _surface(text, ws, [actor, act, obj]), act.part))
    for weapon in roles["weapon"]:
        span = SPAN_HAN if _HAN_RE.match(ws[weapon.start].surface) else SPAN
        alone = _near(roles["alone"], weapon, sentence_of, span)
        if alone is not None:
            made.append(Hit("strong", CONCEPT + "weapon-without-human", weapon.start, weapon.end,
                            _surface(text, ws, [weapon, alone]), weapon.part))
    uncrewed = [h for h in rest if h.category == "drone"]
    for team in roles["teaming"]:
        span = SPAN_HAN if _HAN_RE.match(ws[team.start].surface) else SPAN
        crewed = _near(roles["crewed"], team, sentence_of, span)
        drone = _near(uncrewed, team, sentence_of, 2 * span)
        if crewed is not None and drone is not None:
            made.append(Hit("ai", CONCEPT + "crewed-uncrewed-teaming", team.start, team.end,
                            _surface(text, ws, [drone, team, crewed]), team.part))
    if not made:
        return rest
    return sorted(rest + made, key=lambda h: (h.start, h.end))
