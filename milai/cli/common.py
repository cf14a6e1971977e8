"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import logging
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error (no traceback) and exit; `message` is plain text ([brackets] are kept as typed)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`; the handler's own level also filters what libraries' loggers propagate."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:
        handler.setLevel(numeric)
