"""The archive API: search, one item, sources, health, CSV / JSON-lines exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, selectinload

from api.deps import FilterDep, SessionDep, SettingsDep, get_engine, id_path, require_token
from api.errors import HealthOut, responses
from api.presentation import CSV_FIELDS, csv_row, hits_to_dicts, item_to_dict
from api.schemas import ItemDetail, ItemPage, SourceOut, StatsOut
from milai.config import Settings
from storage.database import session_scope
from storage.health import health_of_sources
from storage.labels import add_label
from storage.links import related_items
from storage.models import Item, Source
from storage.search import ItemFilter, SearchPage, count_items, id_fits, search_items, search_stats
from storage.stories import copies_of

router = APIRouter()

EXPORT_PAGE = 500


SEARCH_ERRORS = responses(400, 422, 503)


@router.get("/healthz", tags=["health"], response_model=HealthOut,
            responses={503: {"model": HealthOut, "description": "The database does not answer"}})
def healthz(engine: Engine = Depends(get_engine)) -> JSONResponse:
    """200 when the database answers, 503 otherwise."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database
        body = {"status": "unavailable", "detail": type(exc).__name__}
        return JSONResponse(body, status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse({"status": "ok"})


@router.get("/api/items", response_model=ItemPage, tags=["items"], responses=SEARCH_ERRORS)
def list_items(session: SessionDep, f: FilterDep) -> dict[str, Any]:
    """Search the archive; follow `next` (as `cursor`) for the following page."""
    page = search_items(session, f)
    return {"items": hits_to_dicts(session, page.items), "next": page.next,
            "count": count_items(session, f).to_dict()}


@router.get("/api/stats", response_model=StatsOut, tags=["items"], responses=SEARCH_ERRORS)
def stats(session: SessionDep, f: FilterDep,
          top: Annotated[int, Query(ge=1, le=100, description="How many publishers and languages")] = 10,
          ) -> dict[str, Any]:
    """Counts and facets of a query (same filters as /api/items): the total, items per month and per
    week, top publishers and languages. Beyond 20,000 matches they are estimates (`count.exact` false)."""
    return search_stats(session, f, top=top).to_dict()


def _pages(engine: Engine, f: ItemFilter, first: SearchPage) -> Iterator[dict[str, Any]]:
    """Every item of the query, page after page (each page in its own unit of work)."""
    page, rows = first, None
    while True:
        if rows is None:
            with session_scope(engine) as session:
                rows = hits_to_dicts(session, page.items)
        yield from rows
        if not page.next:
            return
        with session_scope(engine) as session:
            page = search_items(session, replace(f, cursor=page.next))
            rows = hits_to_dicts(session, page.items)


def _first_page(session: SessionDep, f: FilterDep) -> tuple[ItemFilter, SearchPage]:
    f = replace(f, limit=EXPORT_PAGE)
    return f, search_items(session, f)  # errors surface as 400 before streaming starts


@router.get("/api/items.jsonl", tags=["exports"], response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                             "description": "One item (as in /api/items) per line"}, **SEARCH_ERRORS})
def export_jsonl(request: Request, session: SessionDep, f: FilterDep) -> StreamingResponse:
    """Every matching item as JSON lines (all pages)."""
    f, first = _first_page(session, f)
    lines = (json.dumps(d, ensure_ascii=False) + "\n" for d in _pages(request.app.state.engine, f, first))
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="items.jsonl"'})


def _csv_rows(rows: Iterator[dict[str, Any]], *, bom: bool = False) -> Iterator[str]:
    buf = io.StringIO()
    if bom:
        buf.write("\ufeff")
    writer = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


@router.get("/api/items.csv", tags=["exports"], response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "A header row, then one row per item"}, **SEARCH_ERRORS})
def export_csv(request: Request, session: SessionDep, f: FilterDep,
               bom: Annotated[bool, Query(description="Start with a UTF-8 byte-order mark, so spreadsheet "
                                          "programs read accents and other scripts right")] = False,
               ) -> StreamingResponse:
    """Every matching item as CSV (all pages), UTF-8; `bom=1` for spreadsheet programs."""
    f, first = _first_page(session, f)
    rows = _csv_rows(_pages(request.app.state.engine, f, first), bom=bom)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="items.csv"'})


ItemId = Annotated[int, id_path("An item")]


def load_item(session: SessionDep, item_id: ItemId) -> Item:
    item = session.scalar(
        select(Item).where(Item.id == item_id).options(selectinload(Item.symbols))  # copies: storage.stories
    ) if id_fits(session, Item, item_id) else None
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no item with id {item_id}")
    return item


@router.get("/api/items/{item_id}", response_model=ItemDetail, tags=["items"], responses=responses(404, 422, 503))
def get_item(session: SessionDep, item: Item = Depends(load_item)) -> dict[str, Any]:
    """One item with its text, duplicates, translations, document symbols (undocs.org links) and the
    other items citing those symbols."""
    data = item_to_dict(item, copies=copies_of(session, [item])[item.id])
    rel = related_items(session, item.id)
    data.update(text=item.text, duplicates=rel["duplicates"], translations=rel["translations"],
                symbol_links=rel["symbols"], same_symbol=rel["same_symbol"])
    return data


def list_sources(session: SessionDep) -> list[Source]:
    """The catalogue as stored (names and publishers for the search form)."""
    return list(session.scalars(select(Source).order_by(Source.name)))


def sources_with_health(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Each stored source with its health verdict (storage.health): state, reason, suggested action, since."""

    sources = list_sources(session)
    verdicts = health_of_sources(session, [s.name for s in sources], silent_factor=settings.silent_factor)
    out = []
    for source in sources:
        row = SourceOut.model_validate(source).model_dump()
        row["health"] = verdicts[source.name].as_dict()
        out.append(row)
    return out


@router.get("/api/sources", response_model=list[SourceOut], tags=["sources"], responses=responses(503))
def api_sources(session: SessionDep, settings: SettingsDep) -> list[dict[str, Any]]:
    """The catalogue as stored, with each source's health: `health.state` is one of ok, no_links, blocked,
    not_found, not_well_formed, layout_changed, silent, failing, never_crawled, disabled; `health.reason`
    says why in one line and `health.action` what to do."""
    return sources_with_health(session, settings)


class LabelIn(BaseModel):
    label: Literal["relevant", "not_relevant"] = Field(description="The reader's verdict on the item")


@router.post("/api/items/{item_id}/labels", status_code=status.HTTP_201_CREATED, tags=["items"],
             dependencies=[Depends(require_token)], responses=responses(401, 404, 422, 503))
def label_item(session: SessionDep, body: LabelIn, item: Item = Depends(load_item)) -> dict[str, Any]:
    """Record a relevant / not-relevant verdict on the item's current text version (`milai labels export`
    writes them in the relevance dev-set format); needs an API token."""
    row = add_label(session, item, body.label, via="api")
    return {"id": row.id, "item": item.id, "label": row.label, "revision": row.revision}
