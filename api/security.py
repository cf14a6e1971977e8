"""Security headers on every response of the web side: a strict Content-Security-Policy and the usual others."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our pages load only our own stylesheet and scripts: no inline script or style, no other host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# /docs runs Swagger UI from the installed swagger-ui-bundle assets, started by our own script file; its
# React components set inline styles, so /docs (and its assets) alone allow them. Nothing else differs.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
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
