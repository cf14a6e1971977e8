"""FastAPI dependencies: the database session of a request, search filters, API-token auth."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import find_token
from milai.config import Settings
from storage.database import session_scope
from storage.models import ApiToken
from storage.search import INT64_MAX, INT64_MIN, MAX_LIMIT, ItemFilter, SearchError, parse_date


def get_settings(request: Request) -> Settings:
    """The settings the app was made with (create_app(settings))."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One unit of work per request: commit on success, roll back on error."""
    with session_scope(engine) as session:
        yield session


# scope="function": the unit of work ends (commits) when the route returns, before the response is sent, so a
# failed commit is the route's error (503 with Retry-After, nothing claimed as done) — with FastAPI's default
# ("request") the commit runs after the response has started and a failure could only be logged as a traceback.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def id_path(what: str) -> Any:
    """A row id in the path: any 64-bit integer (one beyond the column's range is a 404: see id_fits)."""
    return Path(ge=INT64_MIN, le=INT64_MAX, description=f"{what} id (a 64-bit integer)")


def _split(values: list[str]) -> list[str]:
    """Accept repeated parameters and comma-separated lists alike."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class SortOrder(StrEnum):
    relevance = "relevance"
    date = "date"


def _sort(value: str | None) -> str:
    try:
        return SortOrder(value or SortOrder.relevance).value
    except ValueError:
        raise SearchError(f"invalid sort {value!r}: use relevance or date") from None


SORT_HELP = "relevance (best match first, the default with a query) or date (newest published first, undated last)"


def item_filter(
    q: Annotated[str | None, Query(description="Boolean query: words, \"phrases\", AND/OR/NOT, -word, prefix*")] = None,
    since: Annotated[str | None, Query(description="Published on or after (YYYY-MM-DD or ISO 8601)")] = None,
    until: Annotated[str | None, Query(description="Published on or before (YYYY-MM-DD or ISO 8601)")] = None,
    source: Annotated[list[str], Query(description="Source name (repeatable)")] = [],  # noqa: B006
    publisher: Annotated[list[str], Query(description="Publisher (repeatable)")] = [],  # noqa: B006
    lang: Annotated[list[str], Query(description="Language code, e.g. en (repeatable)")] = [],  # noqa: B006
    all: Annotated[bool, Query(description="Include off-topic items and duplicate copies")] = False,
    symbol: Annotated[str | None, Query(description="UN document symbol, e.g. A/RES/79/239")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(description="The `next` value of the previous page")] = None,
    sort: Annotated[SortOrder | None, Query(description=SORT_HELP)] = None,
) -> ItemFilter:
    """The search parameters shared by the API, the exports, the Atom feed and the page."""
    try:
        return ItemFilter(
            q=q or None,
            since=parse_date(since) if since else None,
            until=parse_date(until, end=True) if until else None,
            sources=_split(source),
            publishers=[p.strip() for p in publisher if p.strip()],
            languages=_split(lang),
            include_all=all,
            symbol=symbol or None,
            limit=limit,
            cursor=cursor or None,
            sort=_sort(sort),
        )
    except SearchError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


FilterDep = Annotated[ItemFilter, Depends(item_filter)]

_bearer = HTTPBearer(auto_error=False, description="An API token from `milai tokens create NAME`")


def require_token(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The API token of the request, or 401."""
    token = find_token(session, credentials.credentials) if credentials else None
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid API token is required (Authorization: Bearer …; see `milai tokens create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token


def optional_token(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken | None:
    """The API token of the request when an Authorization header is sent (401 when it is not a valid bearer
    token), None without one. Its route's OpenAPI `security` is OPTIONAL_TOKEN."""
    if credentials is None and "authorization" not in request.headers:
        return None
    return require_token(session, credentials)


# the OpenAPI `security` of a route with optional_token: a bearer token, or none (anonymous)
OPTIONAL_TOKEN: dict[str, Any] = {"security": [{}]}  # merged after the dependency's HTTPBearer
