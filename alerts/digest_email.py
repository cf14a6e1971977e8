"""Compose digest emails (multipart plain text + HTML from Jinja2 templates) from a batch payload."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alerts.snapshots import MAX_MATCHES, header_safe, human_matches
from milai.safeurl import safe_link
from storage.matches import Explanation
from storage.textnorm import base_language


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Templates autoescape HTML; the plain-text template is never HTML-escaped."""
    env = Environment(
        loader=PackageLoader("alerts", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["language_name"] = language_name
    env.filters["human_matches"] = human_matches  # batches stored before v1 was clarified hold raw tokens
    env.filters["why_line"] = why_line
    env.filters["day"] = lambda iso: datetime.fromisoformat(iso).strftime("%d %b %Y") if iso else "undated"
    return env


def safe_url(url: str | None) -> str:
    """Only http(s) links reach a mail client (no javascript: or data: URLs from scraped pages)."""
    return safe_link(url) or "#"


# Names of languages in themselves ("Also in: Nederlands"); other codes are shown as given.
LANGUAGE_NAMES = {
    "ar": "العربية", "bg": "Български", "cs": "Čeština", "da": "Dansk", "de": "Deutsch",
    "el": "Ελληνικά", "en": "English", "es": "Español", "et": "Eesti", "fi": "Suomi",
    "fr": "Français", "he": "עברית", "hu": "Magyar", "id": "Bahasa Indonesia", "it": "Italiano",
    "ja": "日本語", "ko": "한국어", "lt": "Lietuvių", "lv": "Latviešu", "nl": "Nederlands",
    "no": "Norsk", "nb": "Norsk bokmål", "pl": "Polski", "pt": "Português", "ro": "Română",
    "ru": "Русский", "sk": "Slovenčina", "sl": "Slovenščina", "sv": "Svenska", "tr": "Türkçe",
    "uk": "Українська", "zh": "中文",
}


def why_line(item: dict[str, Any]) -> str:
    """`Named topic: Project Maven · AI: KI · Military: Bundeswehr` from a payload item's `why`
    (items of batches stored before `why` existed: their readable `matches`, joined)."""
    if item.get("why"):
        return Explanation.build(item["why"]).sentence(MAX_MATCHES)
    return ", ".join(human_matches(item.get("matches")))


def language_name(code: str | None) -> str:
    """`nl` → `Nederlands`; unknown or empty codes come back as they are (or "other language")."""
    if not code:
        return "other language"
    return LANGUAGE_NAMES.get(base_language(code) or "", code)


def with_relations(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the payload items with `symbols` and `translations` always present (batches
    stored before those fields existed lack them)."""
    return [
        {
            **item, "symbols": list(item.get("symbols") or []), "translations": list(item.get("translations") or []),
            "matches": list(item.get("matches") or []), "query_matches": list(item.get("query_matches") or []),
            "why": dict(item.get("why") or {}),
        }
        for item in items
    ]


def shared_symbols(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """UN document symbols cited by two or more items of the digest, each with those items:
    [{"symbol", "url", "items": [item, …]}], most-cited first, then by symbol."""
    cited: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for item in items:
        for entry in item.get("symbols") or []:
            symbol = entry.get("symbol")
            if not symbol:
                continue
            group = cited.setdefault(symbol, {"symbol": symbol, "url": entry.get("url"), "items": []})
            if all(other is not item for other in group["items"]):
                group["items"].append(item)
    shared = [group for group in cited.values() if len(group["items"]) >= 2]
    return sorted(shared, key=lambda group: (-len(group["items"]), group["symbol"]))


def group_items(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Items grouped by publisher, in order of first appearance (newest first)."""
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for item in items:
        groups.setdefault(item.get("publisher") or "Other sources", []).append(item)
    return list(groups.items())


SUBJECT_TITLE_CHARS = 180


def local_time(when: datetime, timezone: str | None) -> datetime:
    """`when` in the subscriber's IANA time zone (UTC when unset or unknown)."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone)


SUBJECT_NAME_CHARS = 60


def search_name(query: str | None, label: str | None = None) -> str | None:
    """What a subscription is called in its subjects: the label its subscriber gave it, else its query."""
    for value in (label, query):
        if value and header_safe(value):
            return header_safe(value, SUBJECT_NAME_CHARS)
    return None


def subject_for(
    count: int, when: datetime, *, title: str | None = None, name: str | None = None, originals: int = 0,
) -> str:
    """`MilAI Watch: N new items — D Mon YYYY` (`when` already local), or `MilAI Watch: <title>`
    for a single-item alert; with the saved search's `name` (search_name), `MilAI Watch · <name>: …`,
    so two subscriptions' messages are told apart. `originals` (the batch's items marked
    `original_of`) are not new items: a batch of nothing else says so instead of "0 new items", and a
    single-item alert of one says "Original of a story you received: <title>". The result is
    header-safe (no line breaks or control characters)."""
    head = f"MilAI Watch · {name}" if name else "MilAI Watch"
    if title and header_safe(title):
        lead = "Original of a story you received: " if originals and not count else ""
        return header_safe(f"{head}: {lead}{header_safe(title, SUBJECT_TITLE_CHARS)}")
    day = f"{when.day} {when:%b %Y}"
    if originals and not count:
        noun = "original of a story" if originals == 1 else "originals of stories"
        return header_safe(f"{head}: {originals} {noun} you already received — {day}")
    noun = "item" if count == 1 else "items"
    return header_safe(f"{head}: {count} new {noun} — {day}")


def is_original_of_received(item: dict[str, Any]) -> bool:
    """The payload item is the original of a story the subscriber already got through a copy
    (its `original_of`, alerts.planner): delivered, but not a new item."""
    return bool(item.get("original_of"))


def received_day(item: dict[str, Any], timezone: str | None) -> str:
    """`2 Dec 2026`: the day (in the subscriber's zone) the subscriber got a copy of this item's story."""
    received = (item.get("original_of") or {}).get("received")
    if not received:
        return "an earlier day"
    when = local_time(datetime.fromisoformat(received), timezone)
    return f"{when.day} {when:%b %Y}"


def batch_created(payload: dict[str, Any]) -> datetime:
    """When the batch was made (its `created`; now for a payload without one)."""
    return datetime.fromisoformat(payload["created"]) if payload.get("created") else datetime.now(UTC)


def batch_subject(
    items: list[dict[str, Any]], created: datetime, *, timezone: str | None, frequency: str | None,
    name: str | None = None,
) -> str:
    """The subject (or notification title) of a batch: its creation day in the subscriber's
    `timezone`, or the item's title for an immediate alert carrying exactly one item."""
    title = items[0].get("title") if frequency == "immediate" and len(items) == 1 else None
    originals = sum(1 for item in items if is_original_of_received(item))
    return subject_for(len(items) - originals, local_time(created, timezone), title=title, name=name,
                       originals=originals)


def _domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2] or "localhost"
    return "".join(ch for ch in domain if ch.isalnum() or ch in ".-") or "localhost"


def message_id(batch_id: str, mail_from: str) -> str:
    """Stable per batch, so a re-send after a crash is recognisable as the same message."""
    return f"<{batch_id}@{_domain(mail_from)}>"


# Headers that must reach the wire verbatim. With the default policy a line over 78 characters is
# folded, and List-Unsubscribe (its 43-character token makes it always longer) came out as RFC 2047
# encoded-words, which RFC 2369/8058 do not allow there and which breaks one-click unsubscribe.
RAW_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post", "message-id", "x-milai-batch"})
MAX_LINE = 998  # RFC 5322


class MailPolicy(EmailPolicy):
    """SMTP policy (CRLF) that writes RAW_HEADERS as they are (ASCII, one line of at most 998
    characters) and folds every other header as usual, so a non-ASCII Subject is still encoded
    in RFC 2047 words of at most 75 characters."""

    def _raw(self, name: str, value: object) -> str | None:
        text = str(value)
        line = f"{name}: {text}"
        if name.lower() in RAW_HEADERS and text.isascii() and len(line) <= MAX_LINE and "\n" not in text \
                and "\r" not in text:
            return line + self.linesep
        return None

    def fold(self, name: str, value: str) -> str:
        return self._raw(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        raw = self._raw(name, value)
        return raw.encode("ascii") if raw else super().fold_binary(name, value)


MAIL_POLICY = MailPolicy(linesep="\r\n")


def build_digest(
    *, batch_id: str, payload: dict[str, Any], to: str, mail_from: str, unsubscribe_url: str,
    query: str | None = None, timezone: str | None = "UTC", frequency: str | None = None,
    label: str | None = None, manage_url: str | None = None, site_url: str | None = None,
    feedback_url: str | None = None,
) -> EmailMessage:
    """The digest email of one batch.

    The subject date is the batch's creation day in the subscriber's `timezone`; an immediate
    alert (`frequency="immediate"`) carrying exactly one item is titled after that item.
    """
    items = with_relations(payload.get("items", []))
    created = batch_created(payload)
    subject = batch_subject(items, created, timezone=timezone, frequency=frequency, name=search_name(query, label))
    news = [item for item in items if not is_original_of_received(item)]
    originals = [{**item, "received_day": received_day(item, timezone)}
                 for item in items if is_original_of_received(item)]
    context = {
        "subject": subject,
        "groups": group_items(news),
        "originals": originals,  # originals of stories received through a copy: their own section, not new
        "cited": shared_symbols(items),
        "count": len(news),
        "query": query,
        "label": label,
        "unsubscribe_url": unsubscribe_url,
        "manage_url": manage_url,  # change the query, frequency or pause (alerts.confirmation)
        "site_url": site_url,  # each item's page here: {site_url}/items/{id}
        "feedback_url": feedback_url,  # + /{item id}/relevant or /not_relevant (signed per subscription)
    }
    env = environment()
    message = EmailMessage(policy=MAIL_POLICY)
    name, address = parseaddr(header_safe(mail_from))
    message["From"] = Address(display_name=header_safe(name), addr_spec=address) if name else address
    message["To"] = header_safe(to, 320)
    message["Subject"] = header_safe(subject)
    message["Date"] = format_datetime(local_time(created, "UTC"))
    message["Message-ID"] = message_id(batch_id, mail_from)
    message["List-Unsubscribe"] = f"<{header_safe(unsubscribe_url, 500)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message["X-MilAI-Batch"] = batch_id
    message.set_content(env.get_template("digest.txt").render(context))
    message.add_alternative(env.get_template("digest.html").render(context), subtype="html")
    return message
