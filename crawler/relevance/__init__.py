"""Military-AI relevance classifier.

classify(title, text, lang=None) -> Classification(relevant, score, matches, why, codes)

A keyword model over per-language term lists (terms/*.yaml, each matching only in its own language,
common.yaml in all): named topics, an AI concept and a military concept together (in the title, or
within a window of words in the body), context rules for look-alikes. `score` is in 0..1 (0.5 is
the threshold). `matches` are the phrases that fired, in the text's own words; `why` groups them
("topic", "ai", "military"); `codes` are the rule codes, for debugging.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crawler.relevance.model import Evidence, classify_text
from storage.matches import Explanation


@dataclass(frozen=True)
class Classification:
    relevant: bool
    score: float
    matches: list[str] = field(default_factory=list)  # readable phrases: topics, then AI, then military
    why: dict[str, list[str]] = field(default_factory=dict)  # the same phrases by group
    codes: list[str] = field(default_factory=list)  # rule codes (category:words, rule:…, lang:…)

    def stored(self) -> dict[str, Any]:
        """The value kept in Item.matches (see storage.matches)."""
        return {"why": self.why, "codes": self.codes}


def _explanation(ev: Evidence, language: str | None) -> Explanation:
    seen: set[str] = set()
    codes: list[str] = []
    for h in ev.hits:  # every term found, each once (case-insensitively), then the rules that fired
        code = f"{h.category}:{h.surface or h.label}"
        if code.casefold() not in seen:
            seen.add(code.casefold())
            codes.append(code)
    codes += ev.rules + ([f"lang:{language}"] if language else [])
    return Explanation.build(
        {
            "topic": [h.surface or h.label for h in ev.topic],
            "ai": [h.surface or h.label for h in ev.ai],
            "military": [h.surface or h.label for h in ev.military],
        },
        codes,
    )


def classify(title: str, text: str, lang: str | None = None) -> Classification:
    """Decide whether an item concerns AI or autonomy in the military domain."""
    verdict = classify_text(title or "", text or "", lang)
    why = _explanation(verdict.evidence, verdict.language)
    return Classification(verdict.relevant, verdict.score, why.phrases(), why.groups(), list(why.codes))


def _classify_line(line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"invalid JSON: {exc.msg} (column {exc.colno})"}
    if not isinstance(obj, dict):
        return {"id": None, "error": "each line must be a JSON object"}
    item_id = obj.get("id")
    if isinstance(item_id, dict | list):
        return {"id": None, "error": "'id' must be a string or a number"}
    problems = []
    for key in ("title", "text"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            problems.append(f"'{key}' must be a string")
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        problems.append("'lang' must be a string or null")
    if obj.get("title") in (None, "") and obj.get("text") in (None, ""):
        problems.append("a 'title' or a 'text' is required")
    if problems:
        return {"id": item_id, "error": "; ".join(problems)}
    result = classify(obj.get("title") or "", obj.get("text") or "", lang)
    return {"id": item_id, "relevant": result.relevant, "score": result.score, "matches": result.matches,
            "why": result.why, "codes": result.codes}


def classify_jsonl(lines: Iterable[str]) -> Iterator[str]:
    """`milai classify`: JSON lines {"id","title","text","lang"?} in, {"id","relevant","score","matches",
    "why","codes"} out (`matches`: the phrases that fired; `why`: the same by group; `codes`: debugging).

    A bad line yields {"id": <id or null>, "error": "..."} and processing continues; blank lines are skipped.
    """
    for line in lines:
        if not line.strip():
            continue
        try:
            out = _classify_line(line)
        except Exception as exc:  # noqa: BLE001 - one bad line must not stop the stream
            out = {"id": None, "error": f"internal error: {type(exc).__name__}: {exc}"}
        yield json.dumps(out, ensure_ascii=False)


__all__ = ["Classification", "classify", "classify_jsonl"]
