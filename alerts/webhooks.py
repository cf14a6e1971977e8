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
         "also_published_by": [{"publisher": "…", "url": "https://…"}]}
      ]
    }

Headers: `webhook-id`, `webhook-timestamp`, `webhook-signature` (v1, HMAC-SHA256 with the
subscription's `whsec_` secret). Receivers should de-duplicate on `webhook-id`. Any 2xx answer is
success; everything else (including redirects, which are never followed) is retried with backoff.
New fields may be added within version 1; removals or changes bump `version`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from alerts.netguard import UnsafeTargetError, check_url

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
    allow_private: bool | None = None,
) -> WebhookResult:
    """POST one signed payload; never raises for network or HTTP failures."""
    started = time.monotonic()

    def result(ok: bool, status: int | None, error: str | None) -> WebhookResult:
        return WebhookResult(ok, status, error, int((time.monotonic() - started) * 1000))

    try:
        check_url(url, allow_private=allow_private)
    except UnsafeTargetError as exc:
        return result(False, None, str(exc))
    body = encode(payload)
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    headers.update(sign_headers(secret, message_id, body))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(url, content=body.encode("utf-8"), headers=headers)
    except httpx.HTTPError as exc:
        return result(False, None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return result(True, response.status_code, None)
    return result(False, response.status_code, f"HTTP {response.status_code} from receiver")
