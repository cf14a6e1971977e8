"""`milai labels export`: readers' relevant / not-relevant labels as JSON lines (the relevance dev-set format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

labels_app = typer.Typer(help="Readers' relevance labels on items.", no_args_is_help=True)


@labels_app.command("export")
def export_cmd(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Write every label (the latest per item and text version) as JSON lines: id, lang, title, text, label."""
    from storage.database import ensure_schema, session_scope
    from storage.labels import export_labels

    count = 0
    with session_scope(ensure_schema()) as session:
        lines = [json.dumps(record, ensure_ascii=False) for record in export_labels(session)]
    count = len(lines)
    text = "".join(line + "\n" for line in lines)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    typer.echo(f"{count} label{'s' if count != 1 else ''} exported", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")
