"""Security headers on every response of the web side: a strict Content-Security-Policy and the usual others."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our pages load only our own stylesheet and scripts: no inline script or style, no other host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive docs (/docs, /redoc) load Swagger UI / ReDoc from a CDN and start it with an
# inline script; they get this narrower exception until the docs are served from installed assets.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

COMMON_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ("cross-origin-opener-policy", "same-origin"),
)


def security_headers(path: str) -> list[tuple[str, str]]:
    """The headers a response to `path` carries."""
    csp = DOCS_CSP if path.startswith(DOCS_PATHS) else CSP
    return [("content-security-policy", csp), *COMMON_HEADERS]


def _merge(raw: Iterable[tuple[bytes, bytes]], extra: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in raw}
    out = list(raw)
    out.extend((k.encode(), v.encode()) for k, v in extra if k.encode() not in present)
    return out


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (works for streamed responses too) adding `security_headers` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merge(message.get("headers", []), extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)
