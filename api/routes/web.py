"""The server-rendered web page: search, item, sources, subscribe form."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse

from alerts import subscriptions as subs
from api.deps import SessionDep, SettingsDep, SortOrder, item_filter
from api.routes.items import list_sources, load_item, sources_with_health
from api.templating import templates
from storage.links import related_items
from storage.models import Item
from storage.search import ItemFilter, SearchError, count_items, search_items

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "milai_csrf"
LANGUAGES = ["en", "fr", "es", "de", "ru", "zh", "ar", "nl"]


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a page; every page carries the CSRF token of the subscribe form (double-submit cookie)."""
    token = _csrf(request)
    response = templates.TemplateResponse(request, name, {**context, "csrf": token}, status_code=status_code)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


def _filter_or_error(request: Request) -> tuple[ItemFilter | None, str | None]:
    p = request.query_params
    try:
        f = item_filter(q=p.get("q"), since=p.get("since"), until=p.get("until"),
                        source=p.getlist("source"), publisher=p.getlist("publisher"),
                        lang=[v for v in p.getlist("lang") if v], all=p.get("all") in ("1", "true", "on"),
                        symbol=p.get("symbol"), limit=20, cursor=p.get("cursor"),
                        sort=cast(SortOrder | None, p.get("sort") or None))  # the raw value: item_filter validates it
    except Exception as exc:  # HTTPException from the shared parser: show it on the page
        return None, str(getattr(exc, "detail", exc))
    return f, None


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep) -> HTMLResponse:
    f, error = _filter_or_error(request)
    page = count = None
    if f is not None:
        try:
            page = search_items(session, f)
            count = count_items(session, f)
        except SearchError as exc:
            error = str(exc)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    next_url = "/?" + urlencode(params + [("cursor", page.next)]) if page and page.next else None
    return _render(request, "index.html", {
        "f": f, "params": request.query_params, "page": page, "count": count, "error": error, "next_url": next_url,
        "sources": list_sources(session), "languages": LANGUAGES, "query_string": urlencode(params),
    }, status.HTTP_400_BAD_REQUEST if error else 200)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, session: SessionDep, item: Annotated[Item, Depends(load_item)]) -> HTMLResponse:
    return _render(request, "item.html", {"item": item, "rel": related_items(session, item.id)})


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return _render(request, "sources.html", {"sources": sources_with_health(session, settings)})


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    session: SessionDep,
    email: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    query: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "daily",
    lang: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Create an email digest subscription from the form."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf):
        return _render(request, "subscribed.html", {"error": "The form expired; please reload the page and retry."},
                       status.HTTP_403_FORBIDDEN)
    try:
        sub = subs.create_subscription(session, channel="email", target=email, query=query.strip() or None,
                                       frequency=frequency, languages=[lang] if lang else [])
    except subs.SubscriptionError as exc:
        return _render(request, "subscribed.html", {"error": str(exc)}, 422)
    return _render(request, "subscribed.html", {"sub": sub, "error": None}, status.HTTP_201_CREATED)
