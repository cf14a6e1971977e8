"""`milai digest send [--now]`: deliver due digests and webhooks."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.markup import escape

from milai.cli.common import EXIT_RUNTIME, EXIT_USAGE, console, err_console, fail, settings_of, setup_logging


def send_cmd(
    ctx: typer.Context,
    now: Annotated[
        bool, typer.Option("--now", help="Send everything pending whatever the schedule; retry failures now.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also log each delivery to stderr.")] = False,
) -> None:
    """Deliver what is due and print what was sent, failed or skipped.

    Exit status: 0 when nothing failed, 1 when any delivery failed (it is retried with backoff),
    2 when the configuration is wrong (e.g. a malformed MILAI_SMTP_URL; other channels are still sent).
    """
    from alerts.dispatch import send_due

    settings = settings_of(ctx)

    alerts_log = logging.getLogger("milai.alerts")
    quiet = logging.NullHandler()
    if verbose:
        setup_logging("INFO")
    else:  # the report below already lists every failure: do not print each one twice
        alerts_log.addHandler(quiet)
    try:
        report = send_due(settings, force=now)
    finally:
        alerts_log.removeHandler(quiet)
    for line in report.messages:
        target = err_console if line.startswith(("failed", "paused", "email disabled")) else console
        target.print(escape(line), highlight=False)
    console.print(
        f"{report.batches_sent} sent ({report.items_sent} items), {report.failed} failed, "
        f"{report.skipped} skipped", highlight=False,
    )
    if report.config_error:
        fail(report.config_error, EXIT_USAGE)
    if report.failed:
        raise typer.Exit(EXIT_RUNTIME)


digest_app = typer.Typer(help="Email digests and webhook deliveries.", no_args_is_help=True)
digest_app.command("send")(send_cmd)
