"""`milai serve`: the web API and page only."""

from __future__ import annotations

from typing import Annotated

import typer

from milai.cli.common import settings_of


def serve_cmd(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: MILAI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: MILAI_PORT).")] = None,
) -> None:
    """Serve the archive API, Atom feeds and web page with uvicorn."""
    import uvicorn

    from api.app import create_app

    settings = settings_of(ctx)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True)
