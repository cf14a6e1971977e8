"""`milai subscribe email|webhook`: create a subscription and say in one sentence what will happen
(`--quiet`: print only its id, for scripts)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from milai.cli.common import EXIT_USAGE, err_console, fail, open_session, settings_of

if TYPE_CHECKING:
    from storage.models import Subscription


class EmailFrequency(StrEnum):
    daily = "daily"
    weekly = "weekly"
    immediate = "immediate"


class WebhookFrequency(StrEnum):
    immediate = "immediate"
    daily = "daily"


QueryOpt = Annotated[str | None, typer.Option("--query", "-q", help="Boolean query (default: every on-topic item).")]
SourceOpt = Annotated[
    list[str] | None, typer.Option("--source", help="Only this source name, see `milai sources list` (repeatable).")
]
PublisherOpt = Annotated[list[str] | None, typer.Option("--publisher", help="Only this publisher (repeatable).")]
LangOpt = Annotated[
    list[str] | None, typer.Option("--lang", help="Only this language, an ISO 639-1 code such as en (repeatable).")
]
HourOpt = Annotated[int, typer.Option("--hour", help="Local hour (0-23) of daily/weekly digests.")]
LabelOpt = Annotated[str | None, typer.Option("--label", help="Your name for it, shown in digest subjects.")]
TzOpt = Annotated[str, typer.Option("--timezone", help="IANA time zone of --hour, e.g. Europe/Paris.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="Print only the new subscription's id (for scripts).")]


def _what(subscription: Subscription) -> str:
    """The saved search in words: its label (and query), or every on-topic item, with its filters."""
    query = subscription.query
    if query and '"' not in query:
        query = f'"{query}"'  # a query with phrases already reads as quoted
    if subscription.label:
        what = f'"{subscription.label}"' + (f" ({subscription.query})" if subscription.query else "")
    else:
        what = query or "every on-topic item"
    filters = [(subscription.sources, "from source"), (subscription.publishers, "published by"),
               (subscription.languages, "in")]
    return " ".join([what, *(f"{name} {', '.join(values)}" for values, name in filters if values)])


def _when(subscription: Subscription) -> str:
    """How and when deliveries come, in the subscriber's own time zone."""
    at = f"at {subscription.delivery_hour:02d}:00 {subscription.timezone}"
    if subscription.channel == "webhook":
        if subscription.frequency == "immediate":
            return "a signed JSON POST for each new item, on the first sender run after it is found"
        return f"one signed JSON POST a day with the day's new items, {at}"
    if subscription.frequency == "immediate":
        return "an email with the new items on every sender run that finds some"
    if subscription.frequency == "weekly":
        return f"a weekly digest on Mondays {at}"
    return f"a daily digest {at}"


def describe(subscription: Subscription) -> str:
    """One sentence saying what the new subscription will do, e.g. `Subscribed a@b.org (id 7) to
    "drones": a daily digest at 08:00 Europe/Paris; active now, no confirmation mail (made by the operator).`"""
    if subscription.active and not subscription.paused_reason:
        state = "active now, no confirmation needed (made by the operator)"
    else:
        state = f"not active yet: {subscription.paused_reason or 'paused'}"
    return (f"Subscribed {subscription.target} (id {subscription.id}) to {_what(subscription)}: "
            f"{_when(subscription)}; {state}.")


def _warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def _create(
    ctx: typer.Context, channel: str, target: str, frequency: StrEnum, hour: int, timezone: str,
    source: list[str] | None, publisher: list[str] | None, lang: list[str] | None, quiet: bool, **extra: Any,
) -> None:
    """Create the subscription from the options both commands share (`extra`: query, secret)."""
    from alerts.subscriptions import SubscriptionError, create_subscription

    settings = settings_of(ctx)
    try:
        with open_session(settings) as session:
            subscription = create_subscription(
                session, channel=channel, target=target, frequency=frequency.value, delivery_hour=hour,
                timezone=timezone, sources=source or (), publishers=publisher or (), languages=lang or (),
                warn=_warn, policy=settings.target_policy, **extra,
            )
            line = str(subscription.id) if quiet else describe(subscription)
    except SubscriptionError as exc:
        fail(str(exc), EXIT_USAGE)
    typer.echo(line)  # once committed


def email_cmd(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Where to send the digest.")],
    query: QueryOpt = None,
    label: LabelOpt = None,
    frequency: Annotated[EmailFrequency, typer.Option(help="How often.")] = EmailFrequency.daily,
    hour: HourOpt = 7,
    timezone: TzOpt = "UTC",
    source: SourceOpt = None,
    publisher: PublisherOpt = None,
    lang: LangOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Subscribe an email address to a digest of new on-topic items; says what will happen, with the id."""
    _create(ctx, "email", address, frequency, hour, timezone, source, publisher, lang, quiet, query=query,
            label=label)


def webhook_cmd(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    secret: Annotated[str, typer.Option(help="Signing secret: whsec_ followed by base64 (Standard Webhooks).")],
    query: QueryOpt = None,
    label: LabelOpt = None,
    frequency: Annotated[WebhookFrequency, typer.Option(help="Per item (immediate) or daily.")] = (
        WebhookFrequency.immediate
    ),
    hour: HourOpt = 7,
    timezone: TzOpt = "UTC",
    source: SourceOpt = None,
    publisher: PublisherOpt = None,
    lang: LangOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Subscribe a webhook receiver to signed JSON deliveries; says what will happen, with the id."""
    _create(ctx, "webhook", url, frequency, hour, timezone, source, publisher, lang, quiet, query=query,
            secret=secret, label=label)


subscribe_app = typer.Typer(help="Subscribe to alerts by email or webhook.", no_args_is_help=True)
subscribe_app.command("email")(email_cmd)
subscribe_app.command("webhook")(webhook_cmd)
