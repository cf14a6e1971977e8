"""The dates of a search (`since`, `until`, date cursors): parsed as UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from storage.search.types import SearchError


def as_utc(parsed: datetime) -> datetime:
    """In UTC, as stored (naive means UTC); may raise OverflowError at the edge of the calendar."""
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: str, *, end: bool = False) -> datetime:
    """Parse `YYYY-MM-DD` or an ISO 8601 datetime (UTC when no offset); `end` makes a date inclusive."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return as_utc(parsed)  # a date at the edge of the calendar may not fit once shifted: an error, not a 500
    except (ValueError, OverflowError):
        raise SearchError(f"invalid date {value!r}: use YYYY-MM-DD or an ISO 8601 datetime") from None
