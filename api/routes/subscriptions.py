"""Subscriptions over HTTP (API-token protected) and the one-click unsubscribe endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from alerts import subscriptions as subs
from api.deps import SessionDep, SettingsDep, id_path, require_token
from api.errors import responses
from api.schemas import SubscriptionIn, SubscriptionOut
from api.templating import templates
from storage.models import Subscription
from storage.search import id_fits

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"], dependencies=[Depends(require_token)],
                   responses=responses(401, 503))
public = APIRouter(tags=["subscriptions"], responses=responses(404, 422, 503, html=True))
BY_ID = responses(404, 422)


SubscriptionId = Annotated[int, id_path("A subscription")]


def _get(session: SessionDep, subscription_id: SubscriptionId) -> Subscription:
    sub = session.get(Subscription, subscription_id) if id_fits(session, Subscription, subscription_id) else None
    if sub is None or sub.purpose != "digest":  # the operator channel is configured, not managed here
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription with id {subscription_id}")
    return sub


@router.post("", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED, responses=responses(422))
def create(session: SessionDep, settings: SettingsDep, body: SubscriptionIn) -> Subscription:
    """Create an email or webhook subscription (a saved search)."""
    try:
        return subs.create_subscription(session, **body.model_dump(), policy=settings.target_policy)
    except subs.SubscriptionError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("", response_model=list[SubscriptionOut])
def list_all(session: SessionDep) -> list[Subscription]:
    return subs.list_subscriptions(session)


@router.post("/{subscription_id}/pause", response_model=SubscriptionOut, responses=BY_ID)
def pause(session: SessionDep, sub: Annotated[Subscription, Depends(_get)]) -> Subscription:
    return subs.pause_subscription(session, sub.id)


@router.post("/{subscription_id}/resume", response_model=SubscriptionOut, responses=BY_ID)
def resume(session: SessionDep, sub: Annotated[Subscription, Depends(_get)]) -> Subscription:
    return subs.resume_subscription(session, sub.id)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, responses=BY_ID)
def delete(session: SessionDep, sub: Annotated[Subscription, Depends(_get)]) -> Response:
    subs.delete_subscription(session, sub.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _by_token(session: SessionDep, token: str) -> Subscription:
    ok = "\x00" not in token and len(token) <= 200  # PostgreSQL rejects NUL in text: a 404, not a 500
    sub = session.scalar(select(Subscription).where(Subscription.unsubscribe_token == token)) if ok else None
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown or expired unsubscribe link")
    return sub


@public.head("/unsubscribe/{token}", response_class=HTMLResponse, operation_id="unsubscribe_form_head")
@public.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, sub: Annotated[Subscription, Depends(_by_token)], token: str) -> HTMLResponse:
    """A confirmation form (a GET never unsubscribes: mail scanners follow links)."""
    return templates.TemplateResponse(request, "unsubscribe.html", {"sub": sub, "token": token, "done": False})


@public.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, session: SessionDep, sub: Annotated[Subscription, Depends(_by_token)],
                token: str) -> HTMLResponse:
    """RFC 8058 one-click unsubscribe (body `List-Unsubscribe=One-Click`); no authentication."""
    subs.unsubscribe(session, token)
    return templates.TemplateResponse(request, "unsubscribe.html", {"sub": sub, "token": token, "done": True})
