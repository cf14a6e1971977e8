"""Signed webhook delivery (Standard Webhooks) with the SSRF guard applied at send time.

Payload schema, version 1 (`Content-Type: application/json`), one request per digest batch, or
one per item for immediate subscriptions:

    {
      "type": "milai.digest",
      "version": 1,
      "id": "msg_…",                 # equals the webhook-id header; stable across retries
      "subscription": 12,
      "created": "2026-11-29T07:00:00+00:00",
      "items": [
        {"id": 345, "url": "https://…", "title": "…", "published": "2026-11-28T00:00:00+00:00" | null,
         "fetched": "…", "source": "un-news-peace-security", "publisher": "United Nations",
         "language": "en", "summary": "plain text", "matches": ["autonomous weapons"],
         "why": {"topic": ["autonomous weapons"]},
         "query_matches": ["autonomous weapons"], "classifier_matches": ["strong:autonomous weapons"],
         "also_published_by": [{"publisher": "…", "url": "https://…"}], "also_in": ["fr", …],
         "symbols": […], "translations": […]}
      ]
    }

Headers: `webhook-id`, `webhook-timestamp`, `webhook-signature` (v1, HMAC-SHA256 with the
subscription's `whsec_` secret). Receivers should de-duplicate on `webhook-id`. Any 2xx answer is
success; everything else (including redirects, which are never followed) is retried with backoff.
New fields may be added within version 1; removals or changes bump `version`.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from milai.netguard import PinnedTarget, TargetPolicy, UnsafeTargetError, parse_target, pin

USER_AGENT = "MilAIWatch-Webhooks/1"


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def encode(payload: dict[str, Any]) -> str:
    """The exact body that is signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def sign_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    timestamp = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def post(
    url: str, secret: str, message_id: str, payload: dict[str, Any], *, timeout: float,
    policy: TargetPolicy, verify: ssl.SSLContext | bool = True,
) -> WebhookResult:
    """POST one signed payload; never raises for network or HTTP failures.

    The host is resolved once and checked by the SSRF guard (`netguard.pin`); the request then
    goes to one of exactly those addresses (see `post_pinned`), so a DNS answer that changes
    between the check and the connection (rebinding) cannot redirect it.
    """
    started = time.monotonic()
    try:
        target = pin(url, policy)
    except UnsafeTargetError as exc:
        return WebhookResult(False, None, str(exc), int((time.monotonic() - started) * 1000))
    return post_pinned(target, secret, message_id, payload, timeout=timeout, verify=verify, started=started)


def post_pinned(
    target: PinnedTarget, secret: str, message_id: str, payload: dict[str, Any], *, timeout: float,
    verify: ssl.SSLContext | bool = True, started: float | None = None,
) -> WebhookResult:
    """POST to `target.addresses` in order (the next one only when connecting failed, i.e. nothing
    was sent), with the original `Host` header and, for https, the original name for SNI and
    certificate verification. No redirects are followed; no proxy from the environment is used.

    A new client (and TLS context) for this one request: `WebhookSender` keeps one per target.
    """
    with _client(timeout, verify, 1) as client:
        result, _ = _send(client, target, target.url, secret, message_id, payload, started=started)
    return result


def _client(timeout: float, verify: ssl.SSLContext | bool, connections: int) -> httpx.Client:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30)
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify, limits=limits)


def _send(
    client: httpx.Client, target: PinnedTarget, url: str, secret: str, message_id: str, payload: dict[str, Any],
    *, started: float | None = None, first: int = 0,
) -> tuple[WebhookResult, int | None]:
    """One signed POST of `url` to the pinned addresses, starting with `addresses[first]`;
    (result, index of the address that answered, or None)."""
    started = time.monotonic() if started is None else started

    def result(ok: bool, status: int | None, error: str | None) -> WebhookResult:
        return WebhookResult(ok, status, error, int((time.monotonic() - started) * 1000))

    body = encode(payload).encode("utf-8")
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "host": target.host_header}
    headers.update(sign_headers(secret, message_id, body.decode("utf-8")))
    extensions = {"sni_hostname": target.server_name} if target.server_name else {}
    errors: list[str] = []
    count = len(target.addresses)
    for index in [(first + n) % count for n in range(count)]:
        address = target.addresses[index]
        try:
            request = client.build_request(
                "POST", httpx.URL(url).copy_with(host=str(address), port=target.port),
                content=body, headers=headers, extensions=extensions,
            )
        except httpx.InvalidURL as exc:
            return result(False, None, f"invalid URL {url!r}: {exc}"), None
        try:
            response = client.send(request, stream=True)  # the status is all we need
            response.read()  # a short body, drained so the connection goes back to the pool
            response.close()
        except httpx.ConnectError as exc:  # not connected: nothing was sent, try the next address
            errors.append(f"{address}: {type(exc).__name__}: {exc}")
            continue
        except httpx.HTTPError as exc:
            return result(False, None, f"{type(exc).__name__} from {address}: {exc}"), None
        if 200 <= response.status_code < 300:
            return result(True, response.status_code, None), index
        return result(False, response.status_code, f"HTTP {response.status_code} from receiver"), index
    return result(False, None, f"cannot connect to {target.host}: " + "; ".join(errors)), None


class WebhookSender:
    """Sends webhooks with one HTTP client per target origin (scheme, host, port), so connections
    (and, for https, the TLS context) are reused across deliveries; safe to share between threads.

    Each origin is resolved and checked by the SSRF guard once (`netguard.pin`) when it is first
    used; every request then goes to exactly those pinned addresses, never to a fresh lookup, and
    starts with the address that answered last. A refused origin stays refused for the sender's life
    (one `send_due` run), so the guard decides once per run, as before, and a changed DNS answer is
    picked up at the next run.
    """

    def __init__(
        self, *, timeout: float, policy: TargetPolicy, verify: ssl.SSLContext | bool = True, connections: int = 16,
    ) -> None:
        self.timeout, self.policy, self.verify, self.connections = timeout, policy, verify, connections
        self._lock = threading.Lock()
        self._targets: dict[tuple[str, str, int], tuple[PinnedTarget, httpx.Client] | UnsafeTargetError] = {}
        self._preferred: dict[tuple[str, str, int], int] = {}

    def _target(self, url: str) -> tuple[tuple[str, str, int], PinnedTarget, httpx.Client]:
        host, port = parse_target(url)
        key = (urlsplit(url.strip()).scheme, host, port)
        with self._lock:
            entry = self._targets.get(key)
            if entry is None:
                try:
                    target = pin(url, self.policy)
                except UnsafeTargetError as exc:
                    entry = exc
                else:
                    entry = (target, _client(self.timeout, self.verify, self.connections))
                self._targets[key] = entry
        if isinstance(entry, UnsafeTargetError):
            raise entry
        return key, *entry

    def post(self, url: str, secret: str, message_id: str, payload: dict[str, Any]) -> WebhookResult:
        """POST one signed payload over the target's client; never raises for network or HTTP failures."""
        started = time.monotonic()
        try:
            key, target, client = self._target(url)
        except UnsafeTargetError as exc:
            return WebhookResult(False, None, str(exc), int((time.monotonic() - started) * 1000))
        result, index = _send(
            client, target, url.strip(), secret, message_id, payload, started=started,
            first=self._preferred.get(key, 0),
        )
        if index is not None:
            self._preferred[key] = index
        return result

    def close(self) -> None:
        with self._lock:
            for entry in self._targets.values():
                if not isinstance(entry, UnsafeTargetError):
                    entry[1].close()
            self._targets.clear()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
