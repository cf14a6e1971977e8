"""`milai crawl`: crawl now, with progress and a per-source summary."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from milai.cli.common import EXIT_USAGE, console, fail, settings_of, setup_logging


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"


COLUMNS = ("fetched", "new", "updated", "duplicate", "off_topic", "errors")


def _table(summaries: list[Any]) -> Table:
    table = Table(title="Crawl summary")
    table.add_column("source")
    table.add_column("status")
    for col in COLUMNS:
        table.add_column(col.replace("_", "-"), justify="right")
    table.add_column("note", overflow="fold", max_width=60)
    totals = dict.fromkeys(COLUMNS, 0)
    for s in summaries:
        for col in COLUMNS:
            totals[col] += getattr(s, col)
        style = "green" if s.status == "ok" else "red"
        table.add_row(s.name, f"[{style}]{s.status}[/]", *(str(getattr(s, c)) for c in COLUMNS), s.error or "")
    table.add_section()
    table.add_row(f"{len(summaries)} sources", "", *(str(totals[c]) for c in COLUMNS), "")
    return table


def crawl_cmd(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Crawl only this source (repeatable).")]
    = None,
    output: Annotated[SummaryFormat, typer.Option("--format", help="Summary format.")] = SummaryFormat.table,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the crawler's log on stderr.")] = False,
) -> None:
    """Crawl the catalogue (or the named sources) now and print what each source yielded."""
    from crawler.catalogue import CatalogueError, configured_catalogue
    from crawler.runner import run_crawl

    settings = settings_of(ctx)
    setup_logging("INFO" if verbose else "CRITICAL")  # the summary table reports every error
    tasks: dict[str, Any] = {}
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=console, transient=True, disable=output is SummaryFormat.json)

    def on_progress(name: str, counts: dict[str, int]) -> None:
        text = f"{name}: " + " ".join(f"{k}={v}" for k, v in counts.items() if v)
        if name not in tasks:
            tasks[name] = progress.add_task(text, total=None)
        else:
            progress.update(tasks[name], description=text)

    try:
        catalogue = configured_catalogue(settings)
        with progress:
            summaries = run_crawl(settings, source or None, catalogue=catalogue, progress=on_progress,
                                  overrides={"LOG_LEVEL": "INFO" if verbose else "ERROR"})
    except CatalogueError as exc:
        fail(str(exc), EXIT_USAGE)
    except ValueError as exc:  # an unknown --source
        fail(str(exc), EXIT_USAGE)
    if output is SummaryFormat.json:
        print(json.dumps([asdict(s) for s in summaries], indent=2))
    else:
        console.print(_table(summaries))
