"""`milai labels export`: readers' relevant / not-relevant labels as JSON lines (the relevance dev-set format)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from milai.cli.common import open_session, settings_of

labels_app = typer.Typer(help="Readers' relevance labels on items.", no_args_is_help=True)


@labels_app.command("export")
def export_cmd(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Write every label (the latest per item and text version) as JSON lines: id, lang, title, text, label."""
    from storage.labels import export_labels

    with open_session(settings_of(ctx)) as session:
        lines = [json.dumps(record, ensure_ascii=False) for record in export_labels(session)]
    count = len(lines)
    text = "".join(line + "\n" for line in lines)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    typer.echo(f"{count} label{'s' if count != 1 else ''} exported", err=True)

