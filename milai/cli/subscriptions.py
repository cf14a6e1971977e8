"""`milai subscriptions list|pause|resume|delete`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from milai.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    WIDE,
    console,
    fail,
    fit,
    open_session,
    settings_of,
    table_console,
)

if TYPE_CHECKING:
    from storage.models import Subscription

IdArg = Annotated[int, typer.Argument(help="Subscription id (see `milai subscriptions list`).")]


def _schedule(s: Subscription) -> str:
    schedule = s.frequency
    if s.frequency != "immediate":
        schedule += f" {s.delivery_hour:02d}h {s.timezone}"
    return schedule


def _filters(s: Subscription) -> str:
    return "; ".join(f"{name}={','.join(values)}"
                     for name, values in (("source", s.sources), ("publisher", s.publishers), ("lang", s.languages))
                     if values)


def _table(rows: list[Subscription], width: int) -> Table:
    """One column per field when wide; below WIDE, five columns of two-line cells (each cell wraps)."""
    if width >= WIDE:
        table = Table("id", "channel", "target", "label", "query", "frequency", "filters", "active", "last sent",
                      "paused reason")
        for s in rows:
            table.add_row(
                str(s.id), s.channel, escape(s.target), escape(s.label or ""), escape(s.query or "(all)"),
                _schedule(s), escape(_filters(s)), "yes" if s.active else "no",
                f"{s.last_sent_at:%Y-%m-%d %H:%M}" if s.last_sent_at else "", escape(s.paused_reason or ""),
            )
        return table
    table = Table()
    table.add_column("id", no_wrap=True, justify="right")
    for header in ("target", "search", "schedule", "state"):
        table.add_column(header)
    for s in rows:
        search = escape(s.query or "(all)")
        if s.label:
            search = f"[bold]{escape(s.label)}[/]\n{search}"
        schedule = _schedule(s) + (f"\n{escape(_filters(s))}" if _filters(s) else "")
        state = "active" if s.active else f"paused: {escape(s.paused_reason or '')}"
        if s.last_sent_at:
            state += f"\nsent {s.last_sent_at:%Y-%m-%d %H:%M}"
        table.add_row(str(s.id), f"{s.channel}\n{escape(s.target)}", search, schedule, state)
    return fit(table, width, {"target": 3, "search": 3, "schedule": 2, "state": 2})


def list_cmd(ctx: typer.Context) -> None:
    """Show every subscription with its state and why it is paused."""
    from alerts.subscriptions import list_subscriptions

    out = table_console()
    with open_session(settings_of(ctx)) as session:
        rows = list_subscriptions(session)
        table = _table(rows, out.width)
    if not rows:
        console.print("no subscriptions")
        return
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
