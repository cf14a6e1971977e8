"""UN document symbols (A/RES/79/239, S/RES/2719 (2023), CCW/GGE.1/2024/2, GA/DIS/3731) found in text."""

from __future__ import annotations

import re

# Series roots: UN organs, the CCW and other treaty bodies, and the press release codes (GA/, SC/, SG/SM/).
_ROOTS = "A|S|E|ST|CCW|GA|SC|SG|DSG|CD|BWC|APLC|NPT|TPNW|UNODA|DC|ECOSOC|HR|TD|UNEP"
_COMPONENT = r"(?:[A-Z]{1,8}(?:\.(?:\d{1,3}|[IVX]{1,5}))?|\d{1,6})"
_SUFFIX = r"(?:/(?:Corr|Add|Rev|Amend|CORR|ADD|REV|AMEND)\.\d{1,3})"
_SYMBOL_RE = re.compile(
    rf"(?<![\w/.\-])(?P<root>{_ROOTS})(?P<body>(?:/{_COMPONENT})+)(?P<suffix>{_SUFFIX}*)"
    rf"(?:\s?\((?P<year>(?:19|20)\d\d)\))?(?![\w/])"
)
_SINGLE_COMPONENT_ROOTS = {"GA", "SC", "DC"}  # press codes: GA/12345, SC/15359
_UPPER_SUFFIX_RE = re.compile(r"(CORR|ADD|REV|AMEND)\.\d{1,3}")


def _title_suffix(part: str) -> str:
    """CORR.1 → Corr.1 (the documents' own spelling)."""
    return part[0] + part[1:].lower() if _UPPER_SUFFIX_RE.fullmatch(part) else part


def _normalise(root: str, body: str, suffix: str, year: str | None) -> str | None:
    parts = [_title_suffix(p) for p in body.strip("/").split("/")]
    if not any(p.isdigit() for p in parts):
        return None
    if not parts[-1][-1].isdigit():
        return None
    if len(parts) < 2 and root not in _SINGLE_COMPONENT_ROOTS:
        return None
    suffixes = [_title_suffix(s) for s in suffix.strip("/").split("/") if s]
    symbol = "/".join([root, *parts, *suffixes])
    return f"{symbol} ({year})" if year else symbol


def find_symbols(text: str) -> list[str]:
    """Distinct UN document symbols cited in `text`, normalised, in order of appearance."""
    found: dict[str, None] = {}
    for m in _SYMBOL_RE.finditer(text):
        symbol = _normalise(m["root"], m["body"], m["suffix"], m["year"])
        if symbol:
            found.setdefault(symbol, None)
    return list(found)
