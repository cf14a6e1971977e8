"""Military-AI relevance classifier (interface; the model lives in this package).

classify(title, text, lang=None) -> Classification(relevant, score, matches)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Classification:
    relevant: bool
    score: float
    matches: list[str] = field(default_factory=list)


_AI = ("artificial intelligence", " ai ", "autonomous weapon", "lethal autonomous", "kunstmatige intelligentie")
_MIL = ("military", "defence", "defense", "weapon", "militair", "reaim")


def classify(title: str, text: str, lang: str | None = None) -> Classification:
    """PLACEHOLDER keyword model, replaced by the relevance work."""
    hay = f" {title} {text} ".lower()
    ai = [t.strip() for t in _AI if t in hay]
    mil = [t for t in _MIL if t in hay]
    relevant = bool(ai and mil)
    return Classification(relevant, 1.0 if relevant else 0.0, ai + mil)
