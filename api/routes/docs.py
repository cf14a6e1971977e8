"""GET /docs: the interactive API documentation, Swagger UI served from the swagger-ui-bundle package
installed with the service (works offline; no CDN). Its assets are mounted at /docs/assets by
`mount_assets`; the page starts it with our own script file, so the only CSP exception /docs needs
is Swagger UI's inline styles (api.security.DOCS_CSP)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.templating import templates

router = APIRouter(include_in_schema=False)
ASSETS = "/docs/assets"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {"assets": ASSETS,
                                                             "openapi_url": request.app.openapi_url})


@router.get("/redoc")
def redoc() -> RedirectResponse:
    """ReDoc came from a CDN; the offline documentation is /docs."""
    return RedirectResponse("/docs", status_code=308)


def mount_assets(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
