"""`milai db`: database migrations."""

from __future__ import annotations

import typer

from milai.cli.common import console, fail

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply Alembic migrations up to REVISION (default: head)."""
    from sqlalchemy.exc import SQLAlchemyError

    from milai.config import get_settings
    from storage.database import get_engine, upgrade

    engine = get_engine()
    try:
        upgrade(engine, revision)
    except SQLAlchemyError as exc:
        from storage.dberrors import describe

        fail(f"cannot upgrade: {describe(exc, engine.url.render_as_string(hide_password=False))}", 1)
    console.print(f"database at {get_settings().effective_database_url.split('@')[-1]} is at {revision}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
