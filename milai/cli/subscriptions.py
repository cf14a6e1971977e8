"""`milai subscriptions list|pause|resume|delete`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from milai.cli.common import console, fail

IdArg = Annotated[int, typer.Argument(help="Subscription id (see `milai subscriptions list`).")]


def list_cmd() -> None:
    """Show every subscription with its state and why it is paused."""
    from alerts.subscriptions import list_subscriptions
    from storage.database import ensure_schema, session_scope

    ensure_schema()
    table = Table("id", "channel", "target", "query", "frequency", "filters", "active", "last sent",
                  "paused reason")
    with session_scope() as session:
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
                str(s.id), s.channel, escape(s.target), escape(s.query or "(all)"), schedule, escape(filters),
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


def _change(action: Callable[..., Any], subscription_id: int, done: str) -> None:
    from alerts.subscriptions import SubscriptionError
    from storage.database import ensure_schema, session_scope

    ensure_schema()
    try:
        with session_scope() as session:
            action(session, subscription_id)
    except SubscriptionError as exc:
        fail(str(exc))
    console.print(f"subscription {subscription_id} {done}")


def pause_cmd(subscription_id: IdArg) -> None:
    """Stop deliveries (pending items are kept and sent on resume)."""
    from alerts.subscriptions import pause_subscription

    _change(pause_subscription, subscription_id, "paused")


def resume_cmd(subscription_id: IdArg) -> None:
    """Restart deliveries; failed ones are due again at once (the next `milai digest send`)."""
    from alerts.subscriptions import resume_subscription

    _change(resume_subscription, subscription_id, "resumed")


def delete_cmd(subscription_id: IdArg) -> None:
    """Delete a subscription and its delivery log."""
    from alerts.subscriptions import delete_subscription

    _change(delete_subscription, subscription_id, "deleted")


def register(app: typer.Typer) -> None:
    """Add `milai subscriptions …` to `app`."""
    sub = typer.Typer(help="List and manage subscriptions.", no_args_is_help=True)
    sub.command("list")(list_cmd)
    sub.command("pause")(pause_cmd)
    sub.command("resume")(resume_cmd)
    sub.command("delete")(delete_cmd)
    app.add_typer(sub, name="subscriptions")
