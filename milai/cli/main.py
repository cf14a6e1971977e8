"""The `milai` command: one Typer app, one module per command group."""

from __future__ import annotations

import importlib

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
    "digest", "tokens", "db",
)

for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"milai.cli.{_name}")
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
