"""`milai search`: query the archive from the command line."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from milai.cli.common import EXIT_RUNTIME, EXIT_USAGE, console, fail, fit, open_session, settings_of, table_console


class Sort(StrEnum):
    relevance = "relevance"
    date = "date"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


QUERY_HELP = ('Boolean query: words, "phrases", AND/OR/NOT, -word, prefix*. A query may start with -word'
              ' (`milai search "-REAIM drone"`, or after `--`).')


def search_cmd(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help=QUERY_HELP)] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after (YYYY-MM-DD or ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before (YYYY-MM-DD or ISO 8601).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source name (repeatable).")] = None,
    publisher: Annotated[list[str] | None, typer.Option(help="Publisher (repeatable).")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="Language code, e.g. en (repeatable).")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Include off-topic items and duplicate copies.")] = False,
    symbol: Annotated[str | None, typer.Option(help="UN document symbol, e.g. A/RES/79/239.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Maximum number of items.")] = 20,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    sort: Annotated[Sort, typer.Option(help="relevance (best match first) or date (newest published first, "
                                            "undated last); without a query always date.")] = Sort.relevance,
    bom: Annotated[bool, typer.Option("--bom", help="CSV: start with a UTF-8 byte-order mark (for spreadsheet "
                                                    "programs).")] = False,
) -> None:
    """Search the archive (on-topic items only unless --all)."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.presentation import CSV_FIELDS, csv_row, hits_to_dicts
    from storage.search import MAX_LIMIT, ItemFilter, SearchError, count_items, parse_date, search_items

    if query is not None and query.startswith("--"):
        # unknown options reach us as the query (so that `-REAIM` is a query, not an option)
        fail(f"no such option: {query.split('=', 1)[0]} (see `milai search --help`)", EXIT_USAGE)
    total = None
    try:
        f = ItemFilter(q=query, since=parse_date(since) if since else None,
                       until=parse_date(until, end=True) if until else None,
                       sources=list(source or []), publishers=list(publisher or []), languages=list(lang or []),
                       include_all=all_items, symbol=symbol, limit=min(limit, MAX_LIMIT), sort=sort.value)
        rows: list[dict[str, Any]] = []
        with open_session(settings_of(ctx)) as session:
            total = count_items(session, f) if fmt is Format.table else None
            while len(rows) < limit:
                page = search_items(session, replace(f, limit=min(MAX_LIMIT, limit - len(rows))))
                rows += hits_to_dicts(session, page.items)
                if not page.next:
                    break
                f = replace(f, cursor=page.next)
    except SearchError as exc:
        fail(str(exc), EXIT_USAGE)
    except SQLAlchemyError as exc:
        from storage.dberrors import describe

        fail(describe(exc, settings_of(ctx).effective_database_url), EXIT_RUNTIME)
    if fmt is Format.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt is Format.csv:
        if bom:
            sys.stdout.write("\ufeff")
        writer = csv.DictWriter(sys.stdout, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(csv_row(row))
    else:
        _table(rows)
        if total is not None and rows:
            about = "" if total.exact else "about "
            table_console().print(f"showing {len(rows)} of {about}{total.total:,} matching items", markup=False)


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not rows:
        console.print("no items match")
        return
    out = table_console()
    table = Table(show_lines=False)
    for col in ("id", "published", "publisher", "lang", "title", "why"):  # why: the phrases that fired
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), (r["published"] or "")[:10], escape(r["publisher"] or ""),
                      r["language"] or "", escape(r["title"] or r["url"]), escape(", ".join(r["matches"][:4])))
    fit(table, out.width, {"publisher": 2, "title": 5, "why": 2})
    table.columns[-1].no_wrap, table.columns[-1].overflow = True, "ellipsis"  # why: one line is enough
    out.print(table)


# `-REAIM` (exclude a word) is a query, not an unknown option; options may still follow the query
SEARCH_CONTEXT = {"ignore_unknown_options": True}
