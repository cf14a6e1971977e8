"""Compose digest emails (multipart plain text + HTML from Jinja2 templates) from a batch payload."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alerts.render import header_safe


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
    env.filters["day"] = lambda iso: datetime.fromisoformat(iso).strftime("%d %b %Y") if iso else "undated"
    return env


def safe_url(url: str | None) -> str:
    """Only http(s) links reach a mail client (no javascript: or data: URLs from scraped pages)."""
    return url if url and url.lower().startswith(("http://", "https://")) else "#"


def group_items(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Items grouped by publisher, in order of first appearance (newest first)."""
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for item in items:
        groups.setdefault(item.get("publisher") or "Other sources", []).append(item)
    return list(groups.items())


def subject_for(count: int, when: datetime) -> str:
    noun = "item" if count == 1 else "items"
    return f"MilAI Watch: {count} new {noun} — {when.day} {when:%b %Y}"


def _domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2] or "localhost"
    return "".join(ch for ch in domain if ch.isalnum() or ch in ".-") or "localhost"


def message_id(batch_id: str, mail_from: str) -> str:
    """Stable per batch, so a re-send after a crash is recognisable as the same message."""
    return f"<{batch_id}@{_domain(mail_from)}>"


def build_digest(
    *, batch_id: str, payload: dict[str, Any], to: str, mail_from: str, unsubscribe_url: str,
    query: str | None = None,
) -> EmailMessage:
    """The digest email of one batch."""
    items = payload.get("items", [])
    created = datetime.fromisoformat(payload["created"]) if payload.get("created") else datetime.now(UTC)
    subject = subject_for(len(items), created)
    context = {
        "subject": subject,
        "groups": group_items(items),
        "count": len(items),
        "query": query,
        "unsubscribe_url": unsubscribe_url,
    }
    env = environment()
    message = EmailMessage()
    name, address = parseaddr(header_safe(mail_from))
    message["From"] = Address(display_name=header_safe(name), addr_spec=address) if name else address
    message["To"] = header_safe(to, 320)
    message["Subject"] = header_safe(subject)
    message["Date"] = format_datetime(created.astimezone(UTC))
    message["Message-ID"] = message_id(batch_id, mail_from)
    message["List-Unsubscribe"] = f"<{header_safe(unsubscribe_url, 500)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message["X-MilAI-Batch"] = batch_id
    message.set_content(env.get_template("digest.txt").render(context))
    message.add_alternative(env.get_template("digest.html").render(context), subtype="html")
    return message
