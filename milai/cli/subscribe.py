"""`milai subscribe email|webhook`: create a subscription and print its id."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from milai.cli.common import EXIT_USAGE, err_console, fail, open_session, settings_of


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


def _warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def _create(
    ctx: typer.Context, channel: str, target: str, frequency: StrEnum, hour: int, timezone: str,
    source: list[str] | None, publisher: list[str] | None, lang: list[str] | None, **extra: Any,
) -> None:
    """Create the subscription from the options both commands share (`extra`: query, secret)."""
    from alerts.subscriptions import SubscriptionError, create_subscription

    settings = settings_of(ctx)
    try:
        with open_session(settings) as session:
            subscription_id = create_subscription(
                session, channel=channel, target=target, frequency=frequency.value, delivery_hour=hour,
                timezone=timezone, sources=source or (), publishers=publisher or (), languages=lang or (),
                warn=_warn, policy=settings.target_policy, **extra,
            ).id
    except SubscriptionError as exc:
        fail(str(exc), EXIT_USAGE)
    typer.echo(subscription_id)


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
) -> None:
    """Subscribe an email address to a digest of new on-topic items; prints the subscription id."""
    _create(ctx, "email", address, frequency, hour, timezone, source, publisher, lang, query=query, label=label)


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
) -> None:
    """Subscribe a webhook receiver to signed JSON deliveries; prints the subscription id."""
    _create(ctx, "webhook", url, frequency, hour, timezone, source, publisher, lang, query=query, secret=secret,
            label=label)


subscribe_app = typer.Typer(help="Subscribe to alerts by email or webhook.", no_args_is_help=True)
subscribe_app.command("email")(email_cmd)
subscribe_app.command("webhook")(webhook_cmd)
