"""The server-rendered web page: search, item, sources, subscribe form."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts import confirmation
from alerts import subscriptions as subs
from alerts.mail import MailConfigError, MailError, SmtpConfig, send_message
from api.charts import bar_chart
from api.deps import SessionDep, SettingsDep, SortOrder, get_engine, item_filter
from api.routes.items import list_sources, load_item, sources_with_health
from api.routes.status import status_out
from api.templating import templates
from milai.cluster import cluster_status
from storage.labels import LABELS, add_label
from storage.links import related_items
from storage.models import Item, Subscription
from storage.search import (
    ItemFilter,
    SearchError,
    archive_languages,
    archive_publishers,
    search_items,
    search_stats,
)
from storage.stories import copies_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

CSRF_COOKIE = "milai_csrf"
PAGE_SIZE = 20
WITHIN_DAYS = (7, 30)  # the date presets of the form: the last 7 or 30 days
FACETS_TTL = 300.0  # seconds the archive's languages and publishers are cached per process
_facets: dict[str, tuple[float, Any]] = {}
# offered in the subscribe form's list (any IANA zone may be typed)
COMMON_TIMEZONES = ("UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Amsterdam", "Europe/Brussels",
                    "Europe/Geneva", "Europe/Moscow", "Africa/Nairobi", "Asia/Dubai", "Asia/Kolkata", "Asia/Shanghai",
                    "Asia/Seoul", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "America/New_York",
                    "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo")


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a page; every page carries the CSRF token of the subscribe form (double-submit cookie)."""
    token = _csrf(request)
    response = templates.TemplateResponse(request, name, {**context, "csrf": token}, status_code=status_code)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


def _cached(session: Session, key: str, load: Callable[[Session], Any]) -> Any:
    """The archive's languages / publishers, read at most every FACETS_TTL seconds (they change slowly)."""
    engine_key = f"{session.get_bind().url}:{key}"
    hit = _facets.get(engine_key)
    if hit is not None and time.monotonic() - hit[0] < FACETS_TTL:
        return hit[1]
    value = load(session)
    _facets[engine_key] = (time.monotonic(), value)
    return value


def forget_facets() -> None:
    _facets.clear()


def _within(value: str | None) -> int | None:
    try:
        days = int(value or "")
    except ValueError:
        return None
    return days if days in WITHIN_DAYS else None


def _filter_or_error(request: Request, limit: int = PAGE_SIZE) -> tuple[ItemFilter | None, str | None]:
    p = request.query_params
    within = _within(p.get("within"))
    since = p.get("since") or None
    if within:  # a preset wins over a typed start date
        since = (datetime.now(UTC) - timedelta(days=within)).date().isoformat()
    try:
        f = item_filter(q=p.get("q"), since=since, until=p.get("until") if not within else None,
                        source=[v for v in p.getlist("source") if v],
                        publisher=[v for v in p.getlist("publisher") if v],
                        lang=[v for v in p.getlist("lang") if v], all=p.get("all") in ("1", "true", "on"),
                        symbol=p.get("symbol"), limit=limit, cursor=p.get("cursor"),
                        sort=cast(SortOrder | None, p.get("sort") or None))  # the raw value: item_filter validates it
    except Exception as exc:  # HTTPException from the shared parser: show it on the page
        return None, str(getattr(exc, "detail", exc))
    return f, None


def _interval(request: Request) -> str:
    return "week" if request.query_params.get("interval") == "week" else "month"


def _form_context(request: Request, session: Session) -> dict[str, Any]:
    """What the search form offers: the archive's languages (with names), publishers and sources."""
    p = request.query_params
    return {
        "params": p,
        "languages": _cached(session, "languages", archive_languages),
        "publishers": _cached(session, "publishers", archive_publishers),
        "sources": list_sources(session),
        "chosen": {"lang": set(p.getlist("lang")), "publisher": set(p.getlist("publisher")),
                   "source": set(p.getlist("source"))},
        "within": _within(p.get("within")),
        "hours": range(24), "timezones": COMMON_TIMEZONES,
    }


def _query_string(request: Request, drop: tuple[str, ...] = ("cursor",), **override: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in drop and k not in override and v]
    return urlencode(params + [(k, v) for k, v in override.items() if v])


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep) -> HTMLResponse:
    f, error = _filter_or_error(request)
    page = stats = None
    copies: dict[int, Any] = {}
    if f is not None:
        try:
            page = search_items(session, f)
            stats = search_stats(session, replace(f, cursor=None), top=5)
            copies = copies_of(session, [h.item for h in page.items])
        except SearchError as exc:
            error, page = str(exc), None
    next_url = "/?" + _query_string(request, cursor=page.next) if page and page.next else None
    interval = _interval(request)
    chart = None
    if stats is not None and stats.count.total:
        chart = bar_chart(stats.per_week if interval == "week" else stats.per_month, interval=interval,
                          label=f"Items per {interval}", approximate=not stats.count.exact, width=320, height=180)
    return _render(request, "index.html", {
        **_form_context(request, session), "f": f, "page": page, "stats": stats, "error": error,
        "next_url": next_url, "copies": copies, "chart": chart, "interval": interval,
        "query_string": _query_string(request), "sort_links": {
            s: "/?" + _query_string(request, sort=s) for s in ("relevance", "date")},
        "first_page": not request.query_params.get("cursor"),
    }, status.HTTP_400_BAD_REQUEST if error else 200)


@router.get("/trends", response_class=HTMLResponse)
def trends_page(request: Request, session: SessionDep) -> HTMLResponse:
    """Items per week or month of any query, with its top publishers and languages."""
    f, error = _filter_or_error(request)
    stats = None
    if f is not None:
        try:
            stats = search_stats(session, replace(f, cursor=None), top=10)
        except SearchError as exc:
            error = str(exc)
    interval = _interval(request)
    chart = None
    if stats is not None and stats.count.total:
        chart = bar_chart(stats.per_week if interval == "week" else stats.per_month, interval=interval,
                          label=f"Items per {interval}", approximate=not stats.count.exact)
    return _render(request, "trends.html", {
        **_form_context(request, session), "f": f, "stats": stats, "error": error, "chart": chart,
        "interval": interval, "query_string": _query_string(request, drop=("cursor", "interval")),
        "interval_links": {i: "/trends?" + _query_string(request, interval=i) for i in ("month", "week")},
    }, status.HTTP_400_BAD_REQUEST if error else 200)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, session: SessionDep, item: Annotated[Item, Depends(load_item)]) -> HTMLResponse:
    story = copies_of(session, [item])[item.id]
    original = next((c for c in story if c.original), None)
    labelled = request.query_params.get("labelled")
    return _render(request, "item.html", {"item": item, "rel": related_items(session, item.id), "story": story,
                                          "original": original, "labelled": labelled if labelled in LABELS else None})


@router.post("/items/{item_id}/label", response_class=HTMLResponse)
def label_item(request: Request, session: SessionDep, item: Annotated[Item, Depends(load_item)],
               csrf: Annotated[str, Form()], label: Annotated[str, Form()]) -> HTMLResponse:
    """The item page's "relevant" / "not relevant" buttons: a label on this text version."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf) or label not in LABELS:
        return _render(request, "error.html", {"title": "Request refused",
                                               "message": "The form expired; please reload the page and retry."},
                       status.HTTP_403_FORBIDDEN)
    add_label(session, item, label, via="web")
    return RedirectResponse(f"/items/{item.id}?labelled={label}", status.HTTP_303_SEE_OTHER)  # type: ignore[return-value]


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, session: SessionDep, settings: SettingsDep,
                 engine: Annotated[Engine, Depends(get_engine)]) -> HTMLResponse:
    """The catalogue with health, and the crawl cluster as `GET /api/status` shows it without a token."""
    cluster = status_out(cluster_status(settings, engine), detailed=False)
    return _render(request, "sources.html", {"sources": sources_with_health(session, settings), "cluster": cluster})


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    csrf: Annotated[str, Form()],
    query: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "daily",
    hour: Annotated[str, Form()] = "7",
    timezone: Annotated[str, Form()] = "UTC",
    lang: Annotated[list[str], Form()] = [],  # noqa: B006
) -> HTMLResponse:
    """Request an email digest: stored unconfirmed, a confirmation mail with a signed link is sent, and
    nothing else is sent until the link is confirmed (double opt-in)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf):
        return _render(request, "subscribed.html", {"error": "The form expired; please reload the page and retry."},
                       status.HTTP_403_FORBIDDEN)
    if not settings.smtp_url:
        return _render(request, "subscribed.html", {"error": "Email digests are not set up on this server."}, 503)
    try:
        delivery_hour = int(hour)
        sub = confirmation.request_subscription(
            session, email=email, query=query.strip() or None, label=label, frequency=frequency,
            delivery_hour=delivery_hour,
            timezone=timezone.strip() or "UTC", languages=[v for v in lang if v])
    except ValueError as exc:  # SubscriptionError, or an hour that is no number
        message = str(exc) if isinstance(exc, subs.SubscriptionError) else "the hour must be a number from 0 to 23"
        return _render(request, "subscribed.html", {"error": message}, 422)
    url = settings.base_url.rstrip("/") + confirmation.confirm_path(sub)
    try:
        smtp = SmtpConfig.from_url(settings.smtp_url, timeout=settings.smtp_timeout)
        send_message(smtp, confirmation.confirmation_message(sub, confirm_url=url, mail_from=settings.mail_from))
    except (MailError, MailConfigError) as exc:
        session.rollback()  # nothing kept: the person can simply retry
        log.warning("confirmation mail for subscription request failed: %s", exc)
        return _render(request, "subscribed.html", {
            "error": "The confirmation email could not be sent just now; nothing was saved. Please try again later."},
            503)
    return _render(request, "subscribed.html", {"sub": sub, "error": None, "hours": confirmation.CONFIRM_HOURS},
                   status.HTTP_202_ACCEPTED)


def _pending_sub(session: Session, sub_id: str, token: str) -> Subscription:
    sub = session.get(Subscription, int(sub_id)) if sub_id.isdigit() and len(sub_id) < 19 else None
    return confirmation.check_link(sub, token)


@router.get("/confirm/{sub_id}/{token}", response_class=HTMLResponse)
def confirm_form(request: Request, session: SessionDep, sub_id: str, token: str) -> HTMLResponse:
    """The confirmation page (a GET changes nothing: mail scanners follow links); its button confirms."""
    try:
        sub = _pending_sub(session, sub_id, token)
    except subs.SubscriptionError as exc:
        return _render(request, "confirm.html", {"error": str(exc)}, status.HTTP_404_NOT_FOUND)
    return _render(request, "confirm.html", {"sub": sub, "token": token, "done": not confirmation.is_pending(sub),
                                             "error": None})


@router.post("/confirm/{sub_id}/{token}", response_class=HTMLResponse)
def confirm_subscription(request: Request, session: SessionDep, sub_id: str, token: str) -> HTMLResponse:
    try:
        sub = _pending_sub(session, sub_id, token)
        confirmation.confirm(session, sub, token)
    except subs.SubscriptionError as exc:
        return _render(request, "confirm.html", {"error": str(exc)}, status.HTTP_404_NOT_FOUND)
    return _render(request, "confirm.html", {"sub": sub, "token": token, "done": True, "error": None})


def _managed(session: Session, sub_id: str, token: str) -> Subscription:
    sub = session.get(Subscription, int(sub_id)) if sub_id.isdigit() and len(sub_id) < 19 else None
    return confirmation.check_manage_link(sub, token)


@router.get("/manage/{sub_id}/{token}", response_class=HTMLResponse)
def manage_form(request: Request, session: SessionDep, sub_id: str, token: str) -> HTMLResponse:
    """The signed link of every digest: change the query, frequency, hour or time zone, or pause."""
    try:
        sub = _managed(session, sub_id, token)
    except subs.SubscriptionError as exc:
        return _render(request, "manage.html", {"error": str(exc)}, status.HTTP_404_NOT_FOUND)
    return _render(request, "manage.html", {"sub": sub, "token": token, "error": None, "saved": False,
                                            "hours": range(24), "timezones": COMMON_TIMEZONES})


@router.post("/manage/{sub_id}/{token}", response_class=HTMLResponse)
def manage(
    request: Request, session: SessionDep, sub_id: str, token: str,
    query: Annotated[str, Form()] = "", frequency: Annotated[str, Form()] = "daily",
    hour: Annotated[str, Form()] = "7", timezone: Annotated[str, Form()] = "UTC",
    paused: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        sub = _managed(session, sub_id, token)
    except subs.SubscriptionError as exc:
        return _render(request, "manage.html", {"error": str(exc)}, status.HTTP_404_NOT_FOUND)
    context = {"sub": sub, "token": token, "hours": range(24), "timezones": COMMON_TIMEZONES}
    try:
        confirmation.change(sub, query=query.strip() or None, label=label, frequency=frequency,
                            delivery_hour=int(hour) if hour.isdigit() else -1, timezone=timezone.strip() or "UTC",
                            paused=paused in ("1", "on", "true"))
    except subs.SubscriptionError as exc:
        session.rollback()
        session.refresh(sub)
        return _render(request, "manage.html", {**context, "error": str(exc), "saved": False}, 422)
    return _render(request, "manage.html", {**context, "error": None, "saved": True})


def _feedback(session: Session, sub_id: str, token: str, item_id: str, label: str) -> tuple[Subscription, Item]:
    sub = session.get(Subscription, int(sub_id)) if sub_id.isdigit() and len(sub_id) < 19 else None
    confirmation.check_feedback_link(sub, token)
    item = session.get(Item, int(item_id)) if item_id.isdigit() and len(item_id) < 19 else None
    if item is None or label not in LABELS:
        raise subs.SubscriptionError("this link is not valid")
    return sub, item  # type: ignore[return-value]


@router.get("/feedback/{sub_id}/{token}/{item_id}/{label}", response_class=HTMLResponse)
def feedback_form(request: Request, session: SessionDep, sub_id: str, token: str, item_id: str,
                  label: str) -> HTMLResponse:
    """A digest's "not relevant?" link: a page whose button records the label (a GET records nothing)."""
    try:
        _, item = _feedback(session, sub_id, token, item_id, label)
    except subs.SubscriptionError as exc:
        return _render(request, "error.html", {"title": "Not found", "message": str(exc)}, 404)
    return _render(request, "feedback.html", {"item": item, "label": label, "done": False,
                                              "action": request.url.path})


@router.post("/feedback/{sub_id}/{token}/{item_id}/{label}", response_class=HTMLResponse)
def feedback(request: Request, session: SessionDep, sub_id: str, token: str, item_id: str, label: str) -> HTMLResponse:
    try:
        _, item = _feedback(session, sub_id, token, item_id, label)
    except subs.SubscriptionError as exc:
        return _render(request, "error.html", {"title": "Not found", "message": str(exc)}, 404)
    add_label(session, item, label, via="email")
    return _render(request, "feedback.html", {"item": item, "label": label, "done": True})
