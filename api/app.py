"""The web application: JSON API, Atom feeds and the server-rendered page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import docs, feeds, items, subscriptions, web
from api.routes import status as status_routes
from api.security import SecurityHeadersMiddleware, security_headers
from api.templating import STATIC_DIR, templates
from milai.config import Settings
from milai.heap import freeze_startup_objects
from storage.database import engine_of, ensure_schema
from storage.dberrors import describe, is_unavailable
from storage.search import SearchError

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI app of `settings` (its database, base URL); routes read them through api.deps.SettingsDep."""
    engine = engine_of(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            ensure_schema(engine)
        except SQLAlchemyError as exc:  # serve anyway: /healthz reports 503 until the database answers
            log.error("database unavailable at startup: %s", exc)
        log.debug("%d start-up objects frozen out of the garbage collector's reach", freeze_startup_objects())
        yield

    app = FastAPI(
        title="MilAI Watch",
        summary="Archive of news on AI in the military domain from government and UN websites.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api.routes.docs from installed assets (offline)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine

    @app.exception_handler(SearchError)
    async def _search_error(_: Request, exc: SearchError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_400_BAD_REQUEST)

    @app.exception_handler(SQLAlchemyError)
    async def _database_error(request: Request, exc: SQLAlchemyError) -> Response:
        if not is_unavailable(exc):
            return _server_error(request, exc)
        message = describe(exc, engine.url.render_as_string(hide_password=False))
        log.error("%s %s: %s", request.method, request.url.path, message)
        return _error(request, status.HTTP_503_SERVICE_UNAVAILABLE, "Service unavailable",
                      "The archive's database cannot be used right now; try again in a minute.", {"Retry-After": "30"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_page(request):
            title = {404: "Not found", 405: "Not allowed"}.get(exc.status_code, "Request refused")
            text = exc.detail if exc.status_code != 404 else "There is no page at this address."
            return templates.TemplateResponse(request, "error.html", {"title": title, "message": str(text)},
                                              status_code=exc.status_code, headers=exc.headers)
        return await http_exception_handler(request, exc)

    # Starlette answers unhandled errors outside every middleware, so this response carries its own headers.
    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        return _server_error(request, exc)

    app.include_router(items.router)
    app.include_router(feeds.router)
    app.include_router(status_routes.router)
    app.include_router(subscriptions.router)
    app.include_router(subscriptions.public)
    app.include_router(web.router)
    app.include_router(docs.router)
    docs.mount_assets(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _server_error(request: Request, exc: BaseException) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(request, status.HTTP_500_INTERNAL_SERVER_ERROR, "Server error",
                  "Something went wrong on our side; it has been logged.")


def _wants_page(request: Request) -> bool:
    """A person's browser asking for a page (errors as HTML), not the API, feeds or a script (errors as JSON)."""
    api = request.url.path.startswith(("/api", "/feeds", "/healthz", "/docs", "/redoc", "/openapi.json", "/static"))
    return not api and "text/html" in request.headers.get("accept", "")


def _error(request: Request, code: int, title: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The error as JSON ({"detail": …}) for the API and feeds, as a page for people; with the security headers."""
    all_headers = dict(security_headers(request.url.path)) | (headers or {})
    if not _wants_page(request):
        return JSONResponse({"detail": message}, code, headers=all_headers)
    return templates.TemplateResponse(request, "error.html", {"title": title, "message": message},
                                      status_code=code, headers=all_headers)
