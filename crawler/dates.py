"""Publication dates as government pages write them, in their languages; never invented.

A date written without a zone is UTC unless the source says where it publishes (the catalogue's `timezone`,
e.g. Europe/Brussels): then a zone-less date *with a time of day* is that zone's local time (daylight saving
included; a time the clock skipped or repeated is read with the offset before the change). A date without a
time keeps the calendar day as written (midnight UTC): shifting it would move it to the previous day.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS_FILE = Path(__file__).resolve().parent / "data" / "months.json"
MIN_YEAR = 1945
MAX_YEAR = 2100
HEADER_CHARS = 400  # find_date_in_text only looks at the start (header) of a text

# North American zone names appear in US government feeds; everything else uses offsets.
ZONE_OFFSETS = {
    "GMT": 0, "UTC": 0, "UT": 0, "Z": 0, "BST": 60, "CET": 60, "CEST": 120, "EST": -300, "EDT": -240,
    "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420, "KST": 540, "JST": 540,
}
# Arabic-Indic and Persian digits to ASCII.
_DIGITS = {ord(c): str(i) for digits in ("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹") for i, c in enumerate(digits)}


@lru_cache(maxsize=1)
def month_names() -> dict[str, dict[str, int]]:
    """Month names and abbreviations per language (crawler/data/months.json)."""
    data: dict[str, dict[str, int]] = json.loads(MONTHS_FILE.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def _month_lookup() -> dict[str, int]:
    merged: dict[str, int] = {}
    for names in month_names().values():
        for name, number in names.items():
            merged.setdefault(name.casefold(), number)
    return merged


_TIME = (
    r"(?:[,\s]+(?:à|a|at|um|om|a las|às|kl\.?)?\s*"
    r"(?P<hh>\d{1,2})[:h](?P<mi>\d{2})(?::(?P<ss>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?"
    r"(?:\s*(?P<tz>GMT|UTC|UT|Z|[A-Z]{3,4}\b|[+-]\d{2}:?\d{2}))?"
    r"(?:\s*(?P<tz2>[+-]\d{2}:?\d{2}))?)?"
)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    names = sorted(_month_lookup(), key=len, reverse=True)
    month = "(?P<mon>" + "|".join(re.escape(n) for n in names) + r")(?!\w)\.?"
    weekday = r"(?:[^\W\d_]{2,12}\.?,?\s+)?"
    day = r"(?P<d>\d{1,2})(?:st|nd|rd|th|er|e|º|°)?\.?"
    year = r"(?P<y>\d{4})(?!\d)"
    flags = re.IGNORECASE | re.UNICODE
    return [
        ("iso", re.compile(
            r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
            r"(?:[T\s](?P<hh>\d{2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?:[.,]\d+)?)?"
            r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?)?(?!\d)", flags)),
        ("cjk", re.compile(
            r"(?P<y>\d{4})\s*[年년]\s*(?P<m>\d{1,2})\s*[月월]\s*(?P<d>\d{1,2})\s*[日일]?"
            r"(?:\s*(?:\([^)]{1,3}\)\s*)?(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?)?", flags)),
        ("ymd", re.compile(
            r"(?<![\d.])(?P<y>\d{4})\s?[./]\s?(?P<m>\d{1,2})\s?[./]\s?(?P<d>\d{1,2})\.?(?![\d])"
            r"(?:\s*(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?)?", flags)),
        ("dmy-text", re.compile(
            r"(?<!\w)" + weekday + day + r"[\s\-/]*(?:de\s+)?" + month + r"[\s\-/,]*(?:de\s+|del\s+)?"
            + year + r"(?:\s*(?:г\.?|года))?" + _TIME, flags)),
        ("mdy-text", re.compile(
            r"(?<!\w)" + weekday + month + r"\s*(?P<d>\d{1,2})(?:st|nd|rd|th)?(?!\d),?\s+" + year + _TIME,
            flags)),
        ("dmy-num", re.compile(
            r"(?<![\d./])(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})(?![\d])"
            r"(?:\s*(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?)?", flags)),
    ]


class Stamp(NamedTuple):
    """A date found in a text: the instant (tz-aware UTC), whether a time of day was written, the day as written."""

    value: datetime
    timed: bool
    day: date


@lru_cache(maxsize=64)
def local_zone(name: str | None) -> tzinfo | None:
    """The IANA time zone `name` ("Europe/Brussels"), None for None; raises ValueError for an unknown name."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _localise(naive: datetime, zone: str | None) -> datetime:
    """A zone-less date and time read in the source's `zone` (UTC without one), as tz-aware UTC."""
    return naive.replace(tzinfo=local_zone(zone) or UTC).astimezone(UTC)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_DIGITS)


def _zone(tz: str | None) -> timezone | None:
    if not tz:
        return None
    tz = tz.strip()
    if tz.upper() in ZONE_OFFSETS:
        return timezone(timedelta(minutes=ZONE_OFFSETS[tz.upper()]))
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", tz)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))


def _build(match: re.Match[str], kind: str, lang: str | None, zone: str | None = None) -> Stamp | None:
    g = match.groupdict()
    year = int(g["y"])
    if kind in ("dmy-text", "mdy-text"):
        month = _month_lookup().get(g["mon"].casefold().rstrip("."))
        day = int(g["d"])
    elif kind == "dmy-num":
        a, b = int(g["a"]), int(g["b"])
        if g["sep"] == "/" and lang == "en" and b <= 12 < a:
            day, month = a, b
        elif g["sep"] == "/" and lang == "en":
            month, day = a, b  # US style month/day/year
        else:
            day, month = a, b
    else:
        month, day = int(g["m"]), int(g["d"])
    if month is None or not MIN_YEAR <= year <= MAX_YEAR:
        return None
    hour = int(g.get("hh") or 0)
    minute = int(g.get("mi") or 0)
    second = int(g.get("ss") or 0)
    ampm = (g.get("ampm") or "").replace(".", "").lower()
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    written = _zone(g.get("tz2")) or _zone(g.get("tz"))
    timed = g.get("hh") is not None
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if written is not None:
        value = naive.replace(tzinfo=written).astimezone(UTC)
    else:
        value = _localise(naive, zone if timed else None)
    return Stamp(value, timed, naive.date())


def _candidates(text: str, lang: str | None, zone: str | None = None) -> Iterator[tuple[int, int, Stamp]]:
    """(start, -length, stamp) of every date written in `text`: ordered, the earliest and longest sorts first."""
    lang = (lang or "").lower()[:2] or None
    for kind, pattern in _patterns():
        for match in pattern.finditer(text):
            stamp = _build(match, kind, lang, zone)
            if stamp is not None:
                yield match.start(), -(match.end() - match.start()), stamp


def parse_stamp(text: str, lang: str | None = None, zone: str | None = None) -> Stamp | None:
    """The date written in a short string (a date field or label), zone-less times read in `zone`; None if none."""
    if not text or not text.strip():
        return None
    text = _normalise(text.strip())
    iso = _from_iso(text, zone)
    if iso is not None:
        return iso
    best = min(_candidates(text, lang, zone), default=None, key=lambda c: c[:2])
    return best[2] if best else None


def parse_date(text: str, lang: str | None = None, zone: str | None = None) -> datetime | None:
    """The date written in a short string, as tz-aware UTC (zone-less times read in the IANA `zone`, else UTC)."""
    stamp = parse_stamp(text, lang, zone)
    return stamp.value if stamp else None


def _from_iso(text: str, zone: str | None = None) -> Stamp | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    timed = len(text) > 10  # "2023-07-10" is a day; anything longer carries a time
    if value.tzinfo is not None:
        return Stamp(value.astimezone(UTC), timed, value.date())
    return Stamp(_localise(value, zone if timed else None), timed, value.date())


def find_date_in_text(text: str, lang: str | None = None, *, now: datetime | None = None,
                      zone: str | None = None) -> datetime | None:
    """The first plausible (not future) date in the header of a text; None when there is none."""
    if not text:
        return None
    limit = (now or datetime.now(UTC)) + timedelta(days=1)
    head = _normalise(text[:HEADER_CHARS])
    found = sorted(_candidates(head, lang, zone), key=lambda c: c[:2])
    for _, _, stamp in found:
        if stamp.value <= limit:
            return stamp.value
    return None
