"""Optional Apprise channel: a digest as one notification to Slack, Teams, Discord or Telegram.

Apprise makes its own HTTP requests (its own DNS lookups, redirects followed), so the webhook
sender's pinning does not apply. Two checks instead:

- when a subscription is made and again before each send, only services whose endpoint is fixed
  by Apprise are accepted in general; the generic `json://`, `xml://` and `form://` schemes (any
  host) only when MILAI_ALLOW_PRIVATE_WEBHOOKS is on (a trusted network, tests) or
  MILAI_NETWORK_ALLOWLIST names the target's host[:port] (milai.netguard.generic_target_allowed);
- while a notification is sent, every connection Apprise opens (through requests/urllib3),
  redirects included, passes the network guard at connect time: the name is resolved, every
  address checked (`netguard.refusal`, with the allow-list), and the socket connected to a checked
  address, so a redirect or a DNS answer that points at a private address is refused.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from milai.netguard import (
    ALLOWLIST_HINT,
    Allowlist,
    TargetPolicy,
    UnsafeTargetError,
    generic_target_allowed,
    refusal,
    resolve,
)

SERVICE_SCHEMES = frozenset({"slack", "msteams", "discord", "tgram"})
GENERIC_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
BODY_ITEMS = 20


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def validate_url(url: str, policy: TargetPolicy) -> str:
    """The Apprise URL stripped, or UnsafeTargetError (unknown scheme, unparsable, not allowed)."""
    url = url.strip()
    scheme = _scheme(url)
    if scheme in GENERIC_SCHEMES and not generic_target_allowed(url, policy):
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


class RefusedConnection(ConnectionRefusedError):
    """A connection the network guard refused (an OSError, so urllib3 reports it as a failed connect)."""


_guard: ContextVar[Allowlist | None] = ContextVar("apprise_network_guard", default=None)
_installed = False


def _guarded_create_connection(original: Any) -> Any:
    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        allowlist = _guard.get()
        if allowlist is None:  # not inside an Apprise notification: urllib3 as usual
            return original(address, *args, **kwargs)
        host, port = address
        try:
            addresses = resolve(host, port)
        except UnsafeTargetError as exc:
            raise RefusedConnection(str(exc)) from None
        for candidate in addresses:
            why = refusal(candidate, host, port, allowlist=allowlist)
            if why:
                raise RefusedConnection(f"refusing Apprise connection to {host}:{port}: {why} ({ALLOWLIST_HINT})")
        error: OSError | None = None
        for candidate in addresses:  # connect to a checked address, never to a second lookup
            try:
                return original((str(candidate), port), *args, **kwargs)
            except OSError as exc:
                error = exc
        assert error is not None
        raise error

    return create_connection


@contextmanager
def network_guard(policy: TargetPolicy) -> Iterator[None]:
    """Inside: every urllib3 connection opened by this thread passes the network guard (unless
    `policy` allows private targets). Installed once, process-wide, into urllib3; a no-op elsewhere."""
    global _installed
    if policy.allow_private:
        yield
        return
    if not _installed:
        from urllib3.util import connection

        connection.create_connection = _guarded_create_connection(connection.create_connection)
        _installed = True
    token = _guard.set(policy.allowlist)
    try:
        yield
    finally:
        _guard.reset(token)


def message(payload: dict[str, Any], title: str, unsubscribe_url: str) -> str:
    """A short plain-text body: the first BODY_ITEMS titles with publisher and link."""
    items = payload.get("items", [])
    lines = [
        f"- {i.get('title')} ({i.get('publisher') or 'unknown'}) {i.get('url')}"
        + (" (the original of a story you already received)" if i.get("original_of") else "")
        for i in items[:BODY_ITEMS]
    ]
    if len(items) > BODY_ITEMS:
        lines.append(f"… and {len(items) - BODY_ITEMS} more")
    lines += ["", f"Unsubscribe: {unsubscribe_url}"]
    return "\n".join(lines)


def notify(url: str, title: str, body: str, policy: TargetPolicy) -> tuple[bool, str | None]:
    """Send one notification; (ok, error). Never raises for delivery failures."""
    try:
        validate_url(url, policy)
    except UnsafeTargetError as exc:
        return False, str(exc)
    import apprise

    # in this thread (not Apprise's worker pool), so that the network guard below applies
    sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
    sender.add(url)
    with apprise.LogCapture(level=logging.WARNING) as output, network_guard(policy):
        ok = sender.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        log = output.getvalue().strip()
    if ok:
        return True, None
    return False, "Apprise notification failed" + (f": {log.splitlines()[-1][:300]}" if log else "")
