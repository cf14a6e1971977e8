"""`milai digest send [--now]`: deliver due digests and webhooks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from milai.cli.common import console, err_console


def send_cmd(
    now: Annotated[
        bool, typer.Option("--now", help="Send everything pending whatever the schedule; retry failures now.")
    ] = False,
) -> None:
    """Deliver what is due and print what was sent, failed or skipped."""
    from alerts.digest import send_due

    report = send_due(force=now)
    for line in report.messages:
        target = err_console if line.startswith(("failed", "paused", "email disabled")) else console
        target.print(escape(line), highlight=False)
    console.print(
        f"{report.batches_sent} sent ({report.items_sent} items), {report.failed} failed, "
        f"{report.skipped} skipped", highlight=False,
    )
    if report.failed and not report.batches_sent:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `milai digest send` to `app`."""
    sub = typer.Typer(help="Email digests and webhook deliveries.", no_args_is_help=True)
    sub.command("send")(send_cmd)
    app.add_typer(sub, name="digest")
