"""`milai crawl`: crawl now, with progress and a per-source summary (on a terminal a live display and a table;
otherwise, as from cron, one plain line per source as soon as that source is done and a totals line at the end);
exit 1 when no source could be reached."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from milai.cli.common import EXIT_RUNTIME, EXIT_USAGE, WIDE, console, fail, fit, settings_of, setup_logging


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"


COLUMNS = ("fetched", "new", "updated", "duplicate", "off_topic", "errors")

# Twisted's and Scrapy's names for failures to reach a host at all; the crawl error reads `Name: reason (url)`,
# or `IgnoreRequest: robots.txt unreachable (Name): …` when the first request, for robots.txt, failed
NETWORK_ERRORS = frozenset({
    "DNSLookupError", "ConnectionRefusedError", "TCPTimedOutError", "TimeoutError", "ConnectError", "NoRouteError",
    "ConnectingCancelledError", "CannotResolveHostError", "DownloadConnectionRefusedError", "DownloadTimeoutError",
})
OFFLINE = "no source could be reached: is this machine offline?"


def unreachable(summary: Any) -> bool:
    """Whether the source failed before any page answered, at the network (DNS, refused, timeout)."""
    if summary.status != "failed" or summary.fetched or not summary.error:
        return False
    return bool(NETWORK_ERRORS & set(re.findall(r"\b[A-Za-z]+Error\b", summary.error)))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def plain_line(summary: Any) -> str:
    """One source's result as one plain line, e.g. `un-news: ok, 3 new, 0 errors`."""
    line = f"{summary.name}: {summary.status}, {summary.new} new, {_plural(summary.errors, 'error')}"
    return f"{line} ({summary.error})" if summary.error else line


def totals_line(summaries: list[Any]) -> str:
    """The run's totals as one line: sources by status, new items, errors."""
    statuses: dict[str, int] = {}
    for s in summaries:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    new, errors = sum(s.new for s in summaries), sum(s.errors for s in summaries)
    return (f"crawl done: {_plural(len(summaries), 'source')} ({by_status or 'none'}), {new} new, "
            f"{_plural(errors, 'error')}")


def _table(summaries: list[Any], width: int) -> Table:
    """One column per count when wide; below WIDE, three columns of multi-line cells (source and status; the
    counts that are not zero; the note), so the summary fits a narrow terminal (`fit()`: the note wraps)."""
    totals = dict.fromkeys(COLUMNS, 0)
    for s in summaries:
        for col in COLUMNS:
            totals[col] += getattr(s, col)
    if width >= WIDE:
        table = Table(title="Crawl summary")
        table.add_column("source")
        table.add_column("status")
        for col in COLUMNS:
            table.add_column(col.replace("_", "-"), justify="right")
        table.add_column("note")
        for s in summaries:
            style = "green" if s.status == "ok" else "red"
            table.add_row(escape(s.name), f"[{style}]{s.status}[/]", *(str(getattr(s, c)) for c in COLUMNS),
                          escape(s.error or ""))
        table.add_section()
        table.add_row(f"{len(summaries)} sources", "", *(str(totals[c]) for c in COLUMNS), "")
        return fit(table, width, {"source": 2, "note": 3})

    def counts(values: dict[str, int]) -> str:
        shown = [f"{values[c]} {c.replace('_', '-')}" for c in COLUMNS if values[c] or c in ("fetched", "new")]
        return "\n".join(shown)

    table = Table("source", "counts", "note", title="Crawl summary")
    for s in summaries:
        style = "green" if s.status == "ok" else "red"
        table.add_row(f"{escape(s.name)}\n[{style}]{s.status}[/]", counts({c: getattr(s, c) for c in COLUMNS}),
                      escape(s.error or ""))
    table.add_section()
    table.add_row(f"{len(summaries)} sources", counts(totals), "")
    return fit(table, width, {"source": 2, "note": 3})


def crawl_cmd(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Crawl only this source (repeatable).")]
    = None,
    output: Annotated[SummaryFormat, typer.Option("--format", help="Summary format.")] = SummaryFormat.table,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the crawler's log on stderr.")] = False,
    every: Annotated[float, typer.Option("--progress-every", min=0, help="Not on a terminal: print a progress "
                                         "line at most this often (seconds).")] = 30.0,
) -> None:
    """Crawl the catalogue (or the named sources) now and print what each source yielded."""
    # First, while fewer modules are loaded: importing Scrapy's HTTP/1.1 handler runs create_deprecated_class three
    # times (scrapy.core.downloader.tls, .contextfactory), each an inspect.stack() whose inspect.getmodule scans
    # sys.modules for every frame. Left to the engine's start (deep stack, ~1,800 modules) that cost 0.16-0.20 s
    # CPU per crawl process. Not in crawler.runner: crawler.worker imports it and loads the handler in its warm-up.
    import scrapy.core.downloader.handlers.http11  # noqa: F401  # isort: skip
    from crawler.catalogue import CatalogueError, configured_catalogue
    from crawler.runner import run_crawl

    settings = settings_of(ctx)
    setup_logging("INFO" if verbose else "CRITICAL")  # the summary table reports every error
    tasks: dict[str, Any] = {}
    live = console.is_terminal and output is SummaryFormat.table  # piped or from cron: plain lines instead
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        console=console, transient=True, disable=not live)
    latest: dict[str, dict[str, int]] = {}
    last_line = [time.monotonic()]

    def progress_line(name: str, counts: dict[str, int]) -> None:
        """Not on a terminal: one line with the running totals, at most every `every` seconds."""
        latest[name] = counts
        now = time.monotonic()
        if now - last_line[0] < every:
            return
        last_line[0] = now
        fetched, new = (sum(c.get(k, 0) for c in latest.values()) for k in ("fetched", "new"))
        typer.echo(f"progress: {_plural(len(latest), 'source')} started, {fetched} fetched, {new} new")

    def on_progress(name: str, counts: dict[str, int]) -> None:
        if not live:
            if output is SummaryFormat.table:
                progress_line(name, counts)
            return
        text = f"{name}: " + " ".join(f"{k}={v}" for k, v in counts.items() if v)
        if name not in tasks:
            tasks[name] = progress.add_task(text, total=None)
        else:
            progress.update(tasks[name], description=text)

    def on_finished(summary: Any) -> None:
        """Not on a terminal: the source's line now, not when the slowest source is done."""
        typer.echo(plain_line(summary))

    plain = not live and output is SummaryFormat.table
    try:
        catalogue = configured_catalogue(settings)
        with progress:
            summaries = run_crawl(settings, source or None, catalogue=catalogue, progress=on_progress,
                                  overrides={"LOG_LEVEL": "INFO" if verbose else "ERROR"},
                                  finished=on_finished if plain else None)
    except CatalogueError as exc:
        fail(str(exc), EXIT_USAGE)
    except ValueError as exc:  # an unknown --source
        fail(str(exc), EXIT_USAGE)
    if output is SummaryFormat.json:
        print(json.dumps([asdict(s) for s in summaries], indent=2))
    elif live:
        console.print(_table(summaries, console.width))
    else:  # each source's line was printed as it finished
        typer.echo(totals_line(summaries))
    if summaries and all(unreachable(s) for s in summaries):
        fail(OFFLINE, EXIT_RUNTIME)
