"""`milai serve`: the web API and page only."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: MILAI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: MILAI_PORT).")] = None,
) -> None:
    """Serve the archive API, Atom feeds and web page with uvicorn."""
    import uvicorn

    from api.app import create_app
    from milai.config import get_settings

    settings = get_settings()
    uvicorn.run(create_app(), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True)


def register(app: typer.Typer) -> None:
    """Add `milai serve` to `app`."""
    app.command("serve")(serve_cmd)
