"""Concepts made of several roles in one sentence, for texts that describe military AI without naming it.

Role terms (`actor`, `self`, `act`, `object`, `lethal`, `weapon`, `alone`, `teaming`, `crewed`,
`platform` in terms/*.yaml) are no evidence alone; close together in one sentence they make one:

- machine choice: a machine (`actor`: software, algorithm, automatic) or a vehicle acting by itself
  (`self`, only with a `platform`, `weapon` or `drone` word in the sentence) that selects, identifies,
  decides or plans (`act`) a target, threat, enemy or route (`object`; the words that also mean
  "goal", `aim`: target, Ziel, цель, objetivo, 目标, only in a sentence with a military, vehicle, weapon
  or enemy word) is an AI term ("software picks
  what to strike", "détection automatique de cibles", "сам выбирает цель"); the target word stays a
  military word of its own, which the usual AI x military rules need;
  the war word on an `aim` outside a military sentence no longer counts either;
- machine lethal decision: the same with a lethal object (`lethal`: kill, lethal force, 命を奪う) is a
  named topic ("leaving the decision to kill to a machine");
- weapon without a human: a `weapon` word beside `alone` (without human control, ohne menschliches
  Zutun, 人が介在せず) is a named topic (the LAWS debate without the word);
- crewed-uncrewed teaming: a `teaming` word beside a `crewed` aircraft in a sentence with a `drone`
  word is an AI term (loyal wingman, Begleitflugzeug, ведомый, 僚机 without the name);
- drone group: a `many` word (dozens, hundreds, 多数の, 数十架) beside a `together` word (coordinate,
  with each other, untereinander, 同士, 协同) or a `single` operator (a single operator, 一人で), in a
  sentence with a `drone` word, is an AI term (a swarm without the word: "dozens of uncrewed aircraft
  coordinate their search", "one soldier flies hundreds of drones"); so is a `mutual` word alone, a
  reciprocal that needs several actors (with each other, entre sí, untereinander, друг с другом, 相互).

- lost link: a vehicle or weapon that goes on "when the link is lost" (`lostlink`: aunque pierda la
  señal, lorsque les communications sont coupées, при потере связи, 通信が途絶) acts on its own: an AI term;
- the CCW's expert group: a `gge` word (group of governmental experts, grupo de expertos
  gubernamentales, группа правительственных экспертов, 政府专家组) beside a `ccw` one (the Convention on
  Certain Conventional Weapons, CCAC, КНО, 特定常规武器公约) in one sentence is a named topic: that group's
  mandate is lethal autonomous weapons (a GGE alone may be on cyberspace or nuclear verification).

Exclusions come first: the evidence within EXCLUDE_SPAN words after an `exclude` cue ("does not address",
"à l'exclusion de", "за исключением", 不适用于) or before an `excluded` one (は対象外, 을 제외한, 除外) in
the same sentence no longer counts ("the resolution does not address AI in the military domain": a
civil text that names the military only to leave it out); before an `absent` cue ("is not involved",
no participa, 不参与) only the military words do ("the defence ministry is not involved in the plan").

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
EXCLUDE_SPAN, EXCLUDE_SPAN_HAN = 12, 24  # the scope of an exclusion cue (French elisions make more words)
_HAN_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CONCEPT = "concept:"  # label prefix of the hits made here
_MILITARY = ("mil", "war", "drone", "strong", "name")
_CUES = ("exclude", "excluded", "absent")


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


def _military_sentence(h: Hit, military: list[Hit], sentence_of: SentenceOf) -> bool:
    """A military word, or a vehicle, weapon, enemy or lethal word, other than `h` itself in the sentence
    of `h` (an `aim` word, target/Ziel/цель/objetivo/目标, is a target there and a goal elsewhere:
    "software picks the sales targets")."""
    return any(sentence_of[m.start] == sentence_of[h.start] and (m.start, m.end) != (h.start, h.end)
               for m in military)  # a longer phrase on it counts ("objetivos humanos", "enemy targets")


def _span(ws: list[Word], at: Hit) -> int:
    return SPAN_HAN if _HAN_RE.match(ws[at.start].surface) else SPAN


def _without_excluded(ws: list[Word], hits: list[Hit], sentence_of: SentenceOf) -> list[Hit]:
    """`hits` without those in the scope of an exclusion cue (EXCLUDE_SPAN words after `exclude`, before
    `excluded`, in the cue's sentence)."""
    cues = [h for h in hits if h.category in _CUES]
    if not cues:
        return hits

    def in_scope(h: Hit, cue: Hit) -> bool:
        if sentence_of[cue.start] != sentence_of[h.start]:
            return False
        if cue.category == "absent" and h.category not in ("mil", "war"):
            return False  # "the defence ministry is not involved": only the military actor is absent
        gap = h.start - cue.end if cue.category == "exclude" else cue.start - h.end
        return 0 <= gap < (EXCLUDE_SPAN_HAN if _span(ws, cue) == SPAN_HAN else EXCLUDE_SPAN)

    return [h for h in hits if h.category in _CUES or not any(in_scope(h, c) for c in cues)]


def with_concepts(text: str, ws: list[Word], hits: list[Hit], sentence_of: SentenceOf) -> list[Hit]:
    """`hits` without the role terms, plus the concepts they make (see the module docstring)."""
    hits = _without_excluded(ws, hits, sentence_of)
    roles: dict[str, list[Hit]] = {r: [] for r in ROLES}
    rest: list[Hit] = []
    for h in hits:
        (roles[h.category] if h.category in roles else rest).append(h)
    if not any(roles.values()):
        return hits
    made: list[Hit] = []
    carriers = roles["platform"] + roles["weapon"] + [h for h in rest if h.category == "drone"]
    military = [h for h in rest if h.category in _MILITARY] + roles["weapon"] + roles["platform"] + roles["object"]
    military += roles["lethal"]
    aims = [h for h in roles["aim"] if _military_sentence(h, military, sentence_of)]
    goals = [h for h in roles["aim"] if h not in aims]
    if goals:  # the war word on a goal ("cumple sus objetivos") is no military word either
        rest = [h for h in rest if h.category != "war" or not any(g.overlaps(h) for g in goals)]
    objects = roles["object"] + roles["lethal"] + aims
    seen: set[tuple[int, int]] = set()  # (actor, object) pairs already explained by a concept
    for act in roles["act"]:
        span = SPAN_HAN if _HAN_RE.match(ws[act.start].surface) else SPAN
        actor = _near(roles["actor"], act, sentence_of, span)
        if actor is None and _near(carriers, act, sentence_of, 2 * span) is not None:
            actor = _near(roles["self"], act, sentence_of, span)
        obj = _near(objects, act, sentence_of, span) if actor else None
        if actor is None or obj is None or (actor.start, obj.start) in seen:
            continue  # "analytics to propose which enemy positions to engage": one concept, not two
        seen.add((actor.start, obj.start))
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
    for group in roles["together"] + roles["single"] + roles["mutual"]:
        span = _span(ws, group)
        many = group if group.category == "mutual" else _near(roles["many"], group, sentence_of, span)
        drone = _near(uncrewed, group, sentence_of, 2 * span)
        if many is not None and drone is not None:
            made.append(Hit("ai", CONCEPT + "drone-group", group.start, group.end,
                            _surface(text, ws, [many, drone, group]), group.part))
    for cut in roles["lostlink"]:
        carrier = _near(carriers, cut, sentence_of, 2 * _span(ws, cut))
        if carrier is not None:
            made.append(Hit("ai", CONCEPT + "lost-link", cut.start, cut.end,
                            _surface(text, ws, [carrier, cut]), cut.part))
    for gge in roles["gge"]:
        ccw = _near(roles["ccw"], gge, sentence_of, 2 * _span(ws, gge))
        if ccw is not None:
            made.append(Hit("strong", CONCEPT + "ccw-expert-group", gge.start, gge.end,
                            _surface(text, ws, [gge, ccw]), gge.part))
    if not made:
        return rest
    return sorted(rest + made, key=lambda h: (h.start, h.end))
