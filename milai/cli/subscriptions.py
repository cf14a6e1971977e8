"""`milai subscriptions list|pause|resume|delete`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from milai.cli.common import EXIT_NOT_FOUND, EXIT_USAGE, console, fail, open_session, settings_of

IdArg = Annotated[int, typer.Argument(help="Subscription id (see `milai subscriptions list`).")]


def list_cmd(ctx: typer.Context) -> None:
    """Show every subscription with its state and why it is paused."""
    from alerts.subscriptions import list_subscriptions

    table = Table("id", "channel", "target", "label", "query", "frequency", "filters", "active", "last sent",
                  "paused reason")
    with open_session(settings_of(ctx)) as session:
        rows = list_subscriptions(session)
        for s in rows:
            filters = "; ".join(
                f"{name}={','.join(values)}"
                for name, values in (("source", s.sources), ("publisher", s.publishers), ("lang", s.languages))
                if values
            )
            schedule = s.frequency
            if s.frequency != "immediate":
                schedule += f" {s.delivery_hour:02d}h {s.timezone}"
            table.add_row(
                str(s.id), s.channel, escape(s.target), escape(s.label or ""), escape(s.query or "(all)"),
                schedule, escape(filters),
                "yes" if s.active else "no",
                f"{s.last_sent_at:%Y-%m-%d %H:%M}" if s.last_sent_at else "",
                escape(s.paused_reason or ""),
            )
    if not rows:
        console.print("no subscriptions")
        return
    # piped output (scripts, tests) gets whole cells rather than a table wrapped to 80 columns
    out = console if console.is_terminal else Console(width=400)
    out.print(table)


def _change(ctx: typer.Context, action: Callable[..., Any], subscription_id: int, done: str) -> None:
    from alerts.subscriptions import SubscriptionError
    from storage.models import Subscription

    try:
        with open_session(settings_of(ctx)) as session:
            if session.get(Subscription, subscription_id) is None:
                fail(f"no subscription with id {subscription_id}", EXIT_NOT_FOUND)
            action(session, subscription_id)
    except SubscriptionError as exc:
        fail(str(exc), EXIT_USAGE)
    console.print(f"subscription {subscription_id} {done}")


def pause_cmd(ctx: typer.Context, subscription_id: IdArg) -> None:
    """Stop deliveries (pending items are kept and sent on resume)."""
    from alerts.subscriptions import pause_subscription

    _change(ctx, pause_subscription, subscription_id, "paused")


def resume_cmd(ctx: typer.Context, subscription_id: IdArg) -> None:
    """Restart deliveries; failed ones are due again at once (the next `milai digest send`)."""
    from alerts.subscriptions import resume_subscription

    _change(ctx, resume_subscription, subscription_id, "resumed")


def delete_cmd(ctx: typer.Context, subscription_id: IdArg) -> None:
    """Delete a subscription and its delivery log."""
    from alerts.subscriptions import delete_subscription

    _change(ctx, delete_subscription, subscription_id, "deleted")


subscriptions_app = typer.Typer(help="List and manage subscriptions.", no_args_is_help=True)
subscriptions_app.command("list")(list_cmd)
subscriptions_app.command("pause")(pause_cmd)
subscriptions_app.command("resume")(resume_cmd)
subscriptions_app.command("delete")(delete_cmd)
