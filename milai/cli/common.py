"""Small helpers shared by the CLI command modules."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from milai.config import Settings

# Exit statuses of every `milai` command (the README's table): 0 done; 1 a runtime failure or something named
# that does not exist (a database that cannot be used, a failed delivery, an unknown id); 2 a usage or
# configuration error (a bad option or argument, an invalid MILAI_* setting or catalogue).
EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2

console = Console()
err_console = Console(stderr=True)

# below this width a table shows its columns by priority: two-line cells, the least needed columns left out
WIDE = 120


def table_console() -> Console:
    """Where tables go: the terminal at its width; when stdout is not a terminal (a pipe, cron), a fixed width of
    COLUMNS or 80, whatever terminal stdin may be (the table's reader is at the other end of the pipe)."""
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else 80)


def fit(table: Table, width: int, flex: dict[str, int]) -> Table:
    """Give the `flex` columns (header -> weight) exact widths that share by weight what the other columns (as
    wide as their widest cell) and the borders leave of `width`; their cells wrap, so the table fits `width`
    without Rich's collapsing (which crops the last column when a cell holds one long word, such as a URL)."""
    measuring = Console(width=10_000)
    used = 3 * len(table.columns) + 1  # a boxed table: a border and two spaces of padding per column, one border
    for column in table.columns:
        if column.header not in flex:
            column.width = max(Measurement.get(measuring, measuring.options, cell).maximum
                               for cell in (column.header, *column.cells))
            used += column.width
    free, weights = max(width - used, 6 * len(flex)), sum(flex.values())
    flexible = [c for c in table.columns if c.header in flex]
    for column in flexible:
        column.width, column.overflow = max(6, free * flex[str(column.header)] // weights), "fold"
    flexible[-1].width = max(6, free - sum(c.width or 0 for c in flexible[:-1]))
    return table


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a clear error (no traceback) and exit; `message` is plain text ([brackets] are kept as typed)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


LOG_HANDLER = "milai-stderr"


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr at `level` through our own root handler, whose level also filters what libraries' loggers
    propagate. Handlers someone else installed (an embedding program, pytest's capture) are left as they are."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if handler.get_name() == LOG_HANDLER]
    if not ours and not root.handlers:
        handler: logging.Handler = logging.StreamHandler()
        handler.set_name(LOG_HANDLER)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        ours = [handler]
    for handler in ours:
        handler.setLevel(numeric)
    if ours:
        root.setLevel(numeric)


class CliState:
    """What one `milai` invocation shares between its commands: the settings, read once, when first needed
    (a command that needs none runs even when a MILAI_* variable is invalid)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from milai.config import Settings

            self._settings = Settings()
        return self._settings


def state_of(ctx: typer.Context) -> CliState:
    state: CliState = ctx.ensure_object(CliState)
    return state


def settings_of(ctx: typer.Context) -> Settings:
    """The settings of this invocation (read from the environment once)."""
    return state_of(ctx).settings


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """One unit of work on the configured database, its schema brought up to date first."""
    from storage.database import engine_of, ensure_schema, session_scope

    with session_scope(ensure_schema(engine_of(settings))) as session:
        yield session
