"""Why the classifier found an item on-topic: the stored shape of `Item.matches` and how people read it.

Stored (JSON), since the multilingual classifier:

    {"why": {"topic": ["Project Maven"], "ai": ["KI"], "military": ["Bundeswehr", "Drohnen"]},
     "codes": ["strong:Project Maven", "ai:KI", "mil:Bundeswehr", "rule:near-ai+mil x1", "lang:de"]}

`why` holds the phrases that fired, in the text's own words, by group ("Named topic", "AI",
"Military"; phrases of old rows whose group is unknown: "other", shown without a label); `codes` are
the classifier's rule codes, for debugging only (JSON, never shown to people). Rows written before
hold a plain list: rule codes (`strong:…`, `ai:…`, `mil:…`, `rule:…`, `neg:…`) or, in some tests
and imports, plain phrases; `Explanation.from_stored` reads all three.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GROUPS = ("topic", "ai", "military", "other")  # "other": readable phrases of old rows, group unknown
GROUP_LABELS = {"topic": "Named topic", "ai": "AI", "military": "Military", "other": ""}
_CODE_GROUPS = {
    "strong": "topic", "name": "topic", "ai": "ai", "auto": "ai", "mil": "military", "war": "military",
    "drone": "military",
}
_HIDDEN = ("rule", "neg", "lang", "ignore")


@dataclass(frozen=True)
class Explanation:
    """The phrases per group (each once, strongest evidence first) and the debugging codes."""

    topic: tuple[str, ...] = ()
    ai: tuple[str, ...] = ()
    military: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    other: tuple[str, ...] = ()

    @classmethod
    def build(cls, groups: Mapping[str, Iterable[str]], codes: Iterable[str] = ()) -> Explanation:
        """From phrases per group: blanks dropped, each phrase once (case-insensitively) overall."""
        seen: set[str] = set()
        out: dict[str, list[str]] = {g: [] for g in GROUPS}
        for group in GROUPS:
            for phrase in groups.get(group, ()):
                phrase = " ".join(str(phrase).split())
                if phrase and phrase.casefold() not in seen:
                    seen.add(phrase.casefold())
                    out[group].append(phrase)
        return cls(tuple(out["topic"]), tuple(out["ai"]), tuple(out["military"]), tuple(codes), tuple(out["other"]))

    @classmethod
    def from_stored(cls, raw: Any) -> Explanation:
        """Read a stored value: the dict above, an old list of rule codes or of phrases, or nothing."""
        if isinstance(raw, Mapping):
            why = raw.get("why")
            codes = raw.get("codes")
            groups = {g: [p for p in why.get(g) or [] if isinstance(p, str)] for g in GROUPS} if isinstance(
                why, Mapping) else {}
            return cls.build(groups, [c for c in codes or [] if isinstance(c, str)] if isinstance(codes, list) else [])
        if not isinstance(raw, list | tuple):
            return cls()
        groups: dict[str, list[str]] = {g: [] for g in GROUPS}
        codes: list[str] = []
        for entry in raw:
            if not isinstance(entry, str):
                continue
            kind, sep, rest = entry.partition(":")
            if sep and kind in _CODE_GROUPS:
                groups[_CODE_GROUPS[kind]].append(rest)
                codes.append(entry)
            elif sep and kind in _HIDDEN:
                codes.append(entry)
            else:  # an already readable phrase (old rows and imports): group unknown
                groups["other"].append(entry)
        return cls.build(groups, codes)

    def phrases(self, limit: int | None = None) -> list[str]:
        """Every phrase, topics first, then AI, then military; at most `limit`."""
        out = [*self.topic, *self.ai, *self.military, *self.other]
        return out[:limit] if limit is not None else out

    def groups(self) -> dict[str, list[str]]:
        """The non-empty groups, in display order: {"topic": [...], "ai": [...], "military": [...]}."""
        return {g: list(getattr(self, g)) for g in GROUPS if getattr(self, g)}

    def labelled(self, limit: int | None = None) -> list[tuple[str, list[str]]]:
        """[("Named topic", [...]), ("AI", [...]), ("Military", [...])], non-empty groups only, at most
        `limit` phrases in all (for templates and tables)."""
        out: list[tuple[str, list[str]]] = []
        left = limit
        for group, phrases in self.groups().items():
            if left is not None:
                phrases = phrases[:left]
                left -= len(phrases)
            if phrases:
                out.append((GROUP_LABELS[group], phrases))
        return out

    def sentence(self, limit: int | None = None) -> str:
        """One line for people: `Named topic: Project Maven · AI: KI · Military: Bundeswehr, Drohnen`."""
        return " · ".join(f"{label}: {', '.join(p)}" if label else ", ".join(p) for label, p in self.labelled(limit))

    def stored(self) -> dict[str, Any]:
        return {"why": self.groups(), "codes": list(self.codes)}

    def __bool__(self) -> bool:
        return bool(self.topic or self.ai or self.military or self.other)


def readable(raw: Any, limit: int | None = None) -> list[str]:
    """The phrases of a stored value (any shape), without codes."""
    return Explanation.from_stored(raw).phrases(limit)


def codes(raw: Any) -> list[str]:
    """The debugging codes of a stored value (any shape)."""
    return list(Explanation.from_stored(raw).codes)


__all__ = ["GROUPS", "GROUP_LABELS", "Explanation", "codes", "readable"]
