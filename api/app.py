"""The web application: JSON API, Atom feeds and the server-rendered page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from api.routes import feeds, items, subscriptions, web
from api.templating import STATIC_DIR
from storage.database import ensure_schema, get_engine
from storage.search import SearchError

log = logging.getLogger(__name__)


def create_app(database_url: str | None = None) -> FastAPI:
    """The FastAPI app on `database_url` (default: the configured database)."""
    engine = get_engine(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            ensure_schema(engine)
        except SQLAlchemyError as exc:  # serve anyway: /healthz reports 503 until the database answers
            log.error("database unavailable at startup: %s", exc)
        yield

    app = FastAPI(
        title="MilAI Watch",
        summary="Archive of news on AI in the military domain from government and UN websites.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.engine = engine

    @app.exception_handler(SearchError)
    async def _search_error(_: Request, exc: SearchError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status.HTTP_400_BAD_REQUEST)

    app.include_router(items.router)
    app.include_router(feeds.router)
    app.include_router(subscriptions.router)
    app.include_router(subscriptions.public)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
