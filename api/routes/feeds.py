"""GET /feeds/items.atom: any archive query as an Atom feed."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request, Response

from api.atom import render_feed
from api.deps import FilterDep, SessionDep, SettingsDep
from api.errors import responses
from storage.search import search_items
from storage.stories import copies_of

router = APIRouter(tags=["feeds"])


@router.get("/feeds/items.atom", response_class=Response,
            responses={200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}},
                       **responses(400, 422, 503)})
def items_feed(request: Request, session: SessionDep, settings: SettingsDep, f: FilterDep) -> Response:
    """The matching items (same parameters as /api/items) as Atom 1.0: newest first unless `sort=relevance`."""
    sort = f.sort if "sort" in request.query_params else "date"  # a feed reader shows entries by date
    f = replace(f, limit=min(f.limit, 200), cursor=None, sort=sort)
    page = search_items(session, f)
    base = settings.base_url.rstrip("/")
    query = request.url.query
    self_url = f"{base}/feeds/items.atom" + (f"?{query}" if query else "")
    alternate = f"{base}/" + (f"?{query}" if query else "")
    title = "MilAI Watch" + (f": {f.q}" if f.q else "")
    body = render_feed(page.items, title=title, self_url=self_url, alternate_url=alternate, base_url=base,
                       copies=copies_of(session, [h.item for h in page.items]))
    return Response(body, media_type="application/atom+xml; charset=utf-8")
