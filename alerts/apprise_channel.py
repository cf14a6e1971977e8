"""Optional Apprise channel: a digest as one notification to Slack, Teams, Discord or Telegram.

Apprise makes its own HTTP requests (its own DNS lookups, redirects followed), so the webhook
SSRF guard cannot pin them. Hence only services whose endpoint is fixed by Apprise are accepted
in general; the generic `json://`, `xml://` and `form://` schemes (any host) only when
MILAI_ALLOW_PRIVATE_WEBHOOKS is on (a trusted network, tests) or MILAI_NETWORK_ALLOWLIST names the
target's host[:port] (milai.netguard.generic_target_allowed).
"""

from __future__ import annotations

import logging
from typing import Any

from milai.netguard import UnsafeTargetError, generic_target_allowed

SERVICE_SCHEMES = frozenset({"slack", "msteams", "discord", "tgram"})
GENERIC_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
BODY_ITEMS = 20


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def validate_url(url: str, *, allow_private: bool | None = None) -> str:
    """The Apprise URL stripped, or UnsafeTargetError (unknown scheme, unparsable, not allowed)."""
    url = url.strip()
    scheme = _scheme(url)
    if scheme in GENERIC_SCHEMES and not generic_target_allowed(url, allow_private=allow_private):
        raise UnsafeTargetError(
            f"refusing Apprise {scheme}:// target: generic URLs bypass the SSRF guard "
            "(list its host:port in MILAI_NETWORK_ALLOWLIST, set MILAI_ALLOW_PRIVATE_WEBHOOKS=true, "
            "or use a webhook subscription)"
        )
    if scheme not in SERVICE_SCHEMES | GENERIC_SCHEMES:
        supported = ", ".join(f"{s}://" for s in sorted(SERVICE_SCHEMES))
        raise UnsafeTargetError(f"unsupported Apprise URL scheme {scheme or '(none)'!r} (use one of {supported})")
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        raise UnsafeTargetError(f"Apprise cannot use the URL {scheme}://… (check its format)")
    return url


def message(payload: dict[str, Any], title: str, unsubscribe_url: str) -> str:
    """A short plain-text body: the first BODY_ITEMS titles with publisher and link."""
    items = payload.get("items", [])
    lines = [f"- {i.get('title')} ({i.get('publisher') or 'unknown'}) {i.get('url')}" for i in items[:BODY_ITEMS]]
    if len(items) > BODY_ITEMS:
        lines.append(f"… and {len(items) - BODY_ITEMS} more")
    lines += ["", f"Unsubscribe: {unsubscribe_url}"]
    return "\n".join(lines)


def notify(url: str, title: str, body: str, *, allow_private: bool | None = None) -> tuple[bool, str | None]:
    """Send one notification; (ok, error). Never raises for delivery failures."""
    try:
        validate_url(url, allow_private=allow_private)
    except UnsafeTargetError as exc:
        return False, str(exc)
    import apprise

    sender = apprise.Apprise()
    sender.add(url)
    with apprise.LogCapture(level=logging.WARNING) as output:
        ok = sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        log = output.getvalue().strip()
    if ok:
        return True, None
    return False, "Apprise notification failed" + (f": {log.splitlines()[-1][:300]}" if log else "")
