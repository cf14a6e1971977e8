"""Military-AI relevance classifier.

classify(title, text, lang=None) -> Classification(relevant, score, matches)

A keyword model over per-language term lists (terms/*.yaml): strong standalone terms, an AI concept
and a military concept together (in the title, or within a window of words in the body), minus
negative cues. `score` is in 0..1 (0.5 is the threshold); `matches` explains the decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crawler.relevance.model import classify_text


@dataclass(frozen=True)
class Classification:
    relevant: bool
    score: float
    matches: list[str] = field(default_factory=list)


def classify(title: str, text: str, lang: str | None = None) -> Classification:
    """Decide whether an item concerns AI or autonomy in the military domain."""
    relevant, score, matches = classify_text(title or "", text or "", lang)
    return Classification(relevant, score, matches)


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
    return {"id": item_id, "relevant": result.relevant, "score": result.score, "matches": result.matches}


def classify_jsonl(lines: Iterable[str]) -> Iterator[str]:
    """`milai classify`: JSON lines {"id","title","text","lang"?} in, {"id","relevant","score","matches"} out.

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
