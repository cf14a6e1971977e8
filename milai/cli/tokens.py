"""`milai tokens`: API tokens for the subscription endpoints."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from milai.cli.common import EXIT_NOT_FOUND, EXIT_USAGE, console, fail, fit, open_session, settings_of, table_console

tokens_app = typer.Typer(help="API tokens for the HTTP subscription endpoints.", no_args_is_help=True)


@tokens_app.command("create")
def create_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument(help="What the token is for.")]) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from api.auth import create_token

    try:
        with open_session(settings_of(ctx)) as session:
            row, secret = create_token(session, name)
            token_id = row.id
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    typer.echo(secret)
    typer.echo(f"token {token_id} ({name}) created; store it now, it is not shown again", err=True)


@tokens_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """The tokens (never their secrets)."""
    from api.auth import list_tokens

    out = table_console()
    with open_session(settings_of(ctx)) as session:
        rows = [(t.id, t.name, t.created_at, "revoked" if t.revoked else "active") for t in list_tokens(session)]
    if not rows:
        console.print("no tokens")
        return
    table = Table("id", "name", "created", "state", title=f"{len(rows)} token(s)")
    for token_id, name, created, state in rows:
        table.add_row(str(token_id), escape(name), f"{created:%Y-%m-%d %H:%M}", state)
    out.print(fit(table, out.width, {"name": 1}), highlight=False)


@tokens_app.command("revoke")
def revoke_cmd(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="Token id (see `milai tokens list`).")],
) -> None:
    """Revoke a token."""
    from api.auth import revoke_token

    with open_session(settings_of(ctx)) as session:
        if not revoke_token(session, token_id):
            fail(f"no token with id {token_id}", EXIT_NOT_FOUND)
    console.print(f"token {token_id} revoked")
