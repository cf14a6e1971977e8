"""The `milai` command: one Typer app, one module per command group."""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="milai",
    help="MilAI Watch: monitor government and UN websites for news on AI in the military domain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module exposes `register(app)`; the order is the order of `milai --help`.
COMMAND_MODULES = (
    "run", "serve", "crawl", "search", "classify", "sources", "subscribe", "subscriptions",
    "digest", "tokens", "labels", "db",
)

for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"milai.cli.{_name}")
    _module.register(app)


def main() -> None:
    """Console entry point: an invalid MILAI_* setting is one line and exit status 2; a database that cannot
    be used (unreachable, read-only, locked) is one line naming the cause and where, and exit status 1."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from milai.config import describe_errors, get_settings
    from storage.dberrors import describe, is_unavailable

    try:
        app(prog_name="milai")
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"error: {describe_errors(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except SQLAlchemyError as exc:
        if not is_unavailable(exc):
            raise
        print(f"error: {describe(exc, get_settings().effective_database_url)}", file=sys.stderr)
        raise SystemExit(1) from None
