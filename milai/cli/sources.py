"""`milai sources`: the catalogue and the health of each source."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from milai.cli.common import (
    EXIT_RUNTIME,
    EXIT_USAGE,
    WIDE,
    console,
    fail,
    fit,
    open_session,
    settings_of,
    table_console,
)

if TYPE_CHECKING:
    from milai.config import Settings

sources_app = typer.Typer(help="The source catalogue and its health.", no_args_is_help=True)


_COLOURS = {"ok": "green", "disabled": "dim", "never_crawled": "dim", "failing": "red", "blocked": "red",
            "not_found": "red", "not_well_formed": "red"}


def _ago(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M") if iso else "never"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _rows(settings: Settings) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from crawler.catalogue import configured_catalogue
    from storage.health import ACTIONS as HEALTH_ACTIONS
    from storage.health import NEVER_CRAWLED, Health, health_of_sources
    from storage.models import Source

    catalogue = configured_catalogue(settings)
    with open_session(settings) as session:
        health = {s.name: s for s in session.scalars(select(Source))}
        verdicts = health_of_sources(session, [e.name for e in catalogue], silent_factor=settings.silent_factor,
                                     enabled={e.name: e.enabled for e in catalogue})
        rows = []
        for entry in catalogue:
            h = health.get(entry.name)
            verdict = verdicts.get(entry.name) or (
                Health("disabled", "disabled in the catalogue", HEALTH_ACTIONS["disabled"]) if not entry.enabled
                else Health(NEVER_CRAWLED, "not crawled yet", HEALTH_ACTIONS[NEVER_CRAWLED]))
            rows.append({
                "name": entry.name, "publisher": entry.publisher, "kind": entry.kind,
                "language": entry.language, "url": entry.url, "enabled": entry.enabled,
                "schedule": entry.schedule,
                "last_success": h.last_success_at.isoformat() if h and h.last_success_at else None,
                "last_error": h.last_error if h else None,
                "consecutive_failures": h.consecutive_failures if h else 0,
                "last_links_found": h.last_links_found if h else None,
                "last_new_items": h.last_new_items if h else None,
                "warning": h.warning if h else None,
                "health": verdict.as_dict(),
            })
    return rows


@sources_app.command("list")
def list_cmd(
    ctx: typer.Context,
    output: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the catalogue with each source's health (last success, failures, warnings)."""
    from crawler.catalogue import CatalogueError

    try:
        rows = _rows(settings_of(ctx))
    except CatalogueError as exc:  # the configured catalogue is invalid: a configuration error
        fail(str(exc), EXIT_USAGE)
    if output is ListFormat.json:
        print(json.dumps(rows, indent=2))
        return
    out = table_console()
    out.print(_table(rows, out.width))


def _health(verdict: dict[str, str]) -> str:
    colour = _COLOURS.get(verdict["state"], "yellow")
    health = f"[{colour}]{escape(verdict['label'])}[/]: {escape(verdict['reason'][:120])}"
    if verdict["state"] not in ("ok", "disabled"):
        health += f"\n[dim]→ {escape(verdict['action'])}[/]"
    return health


def _table(rows: list[dict[str, Any]], width: int) -> Table:
    """One column per field when wide; below WIDE, the source (name, publisher, kind, language in one cell),
    its last success and failures, and its health, which wraps."""
    table = Table(title=f"{len(rows)} sources")
    if width >= WIDE:
        for col in ("name", "publisher", "kind", "lang", "last success", "fails", "links", "new", "health"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["name"], r["publisher"], r["kind"], r["language"] or "", _ago(r["last_success"]),
                          str(r["consecutive_failures"]), str(r["last_links_found"] or ""),
                          str(r["last_new_items"] or ""), _health(r["health"]))
        return table
    table.add_column("source")
    table.add_column("last ok")
    table.add_column("fails", justify="right", no_wrap=True)
    table.add_column("health")
    for r in rows:
        about = " · ".join(x for x in (r["publisher"], r["kind"], r["language"] or "") if x)
        table.add_row(f"{escape(r['name'])}\n[dim]{escape(about)}[/]", _ago(r["last_success"]).replace(" ", "\n"),
                      str(r["consecutive_failures"]), _health(r["health"]))
    return fit(table, width, {"source": 1, "health": 1})


@sources_app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Catalogue YAML (default: the configured one and the user's own, "
                                                     "MILAI_USER_SOURCES).")] = None,
) -> None:
    """Check a catalogue; report every problem with its file, entry and field."""
    from crawler.catalogue import catalogue_path, validate_file

    settings = settings_of(ctx)
    path = file or catalogue_path(settings.sources)
    problems = validate_file(path)
    user = settings.user_sources_path
    checked = [str(path)]
    if file is None and user.exists():  # the user's own catalogue, merged over the configured one by name
        problems += validate_file(user, base=path)
        checked.append(str(user))
    if not problems:
        console.print(f"[green]{' and '.join(checked)}: valid[/]", highlight=False)
        return
    for p in problems:
        console.print(f"{p.file}: entry {p.entry}: field {p.field}: {p.message}", highlight=False, markup=False)
    fail(f"{len(problems)} problem(s) in {path}", EXIT_RUNTIME)
