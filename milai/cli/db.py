"""`milai db`: database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from milai.cli.common import EXIT_RUNTIME, console, fail, settings_of

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context, revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply Alembic migrations up to REVISION (default: head)."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.database import engine_of, upgrade

    settings = settings_of(ctx)
    url = settings.effective_database_url
    engine = engine_of(settings)
    try:
        upgrade(engine, revision)
    except SQLAlchemyError as exc:
        from storage.dberrors import describe

        fail(f"cannot upgrade: {describe(exc, engine.url.render_as_string(hide_password=False))}", EXIT_RUNTIME)
    console.print(f"database at {url.split('@')[-1]} is at {revision}")
