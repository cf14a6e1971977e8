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
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from milai.netguard import PinnedTarget, UnsafeTargetError, pin

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
    allow_private: bool | None = None, verify: ssl.SSLContext | bool = True,
) -> WebhookResult:
    """POST one signed payload; never raises for network or HTTP failures.

    The host is resolved once and checked by the SSRF guard (`netguard.pin`); the request then
    goes to one of exactly those addresses (see `post_pinned`), so a DNS answer that changes
    between the check and the connection (rebinding) cannot redirect it.
    """
    started = time.monotonic()
    try:
        target = pin(url, allow_private=allow_private)
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
    """
    started = time.monotonic() if started is None else started

    def result(ok: bool, status: int | None, error: str | None) -> WebhookResult:
        return WebhookResult(ok, status, error, int((time.monotonic() - started) * 1000))

    body = encode(payload).encode("utf-8")
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "host": target.host_header}
    headers.update(sign_headers(secret, message_id, body.decode("utf-8")))
    extensions = {"sni_hostname": target.server_name} if target.server_name else {}
    errors: list[str] = []
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify) as client:
        for address in target.addresses:
            try:
                request = client.build_request(
                    "POST", httpx.URL(target.url).copy_with(host=str(address), port=target.port),
                    content=body, headers=headers, extensions=extensions,
                )
            except httpx.InvalidURL as exc:
                return result(False, None, f"invalid URL {target.url!r}: {exc}")
            try:
                response = client.send(request, stream=True)  # the status is all we need
                response.close()
            except httpx.ConnectError as exc:  # not connected: nothing was sent, try the next address
                errors.append(f"{address}: {type(exc).__name__}: {exc}")
                continue
            except httpx.HTTPError as exc:
                return result(False, None, f"{type(exc).__name__} from {address}: {exc}")
            if 200 <= response.status_code < 300:
                return result(True, response.status_code, None)
            return result(False, response.status_code, f"HTTP {response.status_code} from receiver")
    return result(False, None, f"cannot connect to {target.host}: " + "; ".join(errors))
