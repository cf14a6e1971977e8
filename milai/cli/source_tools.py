"""`milai sources check` and `milai sources add`: try a source now, and add a discovered one."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from milai.cli.common import console, fail

if TYPE_CHECKING:
    from crawler.catalogue import SourceConfig
    from crawler.check import CheckReport


class Output(StrEnum):
    table = "table"
    json = "json"


class Kind(StrEnum):
    feed = "feed"
    sitemap = "sitemap"
    html = "html"
    json = "json"


def guess_kind(url: str) -> str:
    """A kind for a bare URL from its look: feeds and sitemaps usually say so; anything else is a page."""
    path = urlsplit(url).path.lower()
    if "sitemap" in path:
        return "sitemap"
    if path.endswith((".rss", ".atom", ".rdf")) or any(w in path for w in ("rss", "feed", "atom")) \
            or path.endswith(".xml"):
        return "feed"
    if path.endswith(".json"):
        return "json"
    return "html"


def resolve(target: str, *, kind: str | None, links: str | None) -> SourceConfig:
    """The catalogue entry named `target` (or whose URL it is), else an ad-hoc source for the URL `target`."""
    from crawler.catalogue import CatalogueError, SourceConfig, load_catalogue, suggest

    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        fail(str(exc))
    for entry in catalogue:
        if target in (entry.name, entry.url):
            updates = {k: v for k, v in (("kind", kind), ("links", links)) if v}
            return entry.model_copy(update=updates) if updates else entry
    if not target.startswith(("http://", "https://")):
        near = suggest(target, [e.name for e in catalogue])
        hint = f" (did you mean {near!r}?)" if near else ""
        fail(f"no source named {target!r} in the catalogue{hint}; give a catalogue name or an http(s) URL")
    chosen = kind or guess_kind(target)
    host = urlsplit(target).hostname or "site"
    fields = {"name": "check", "publisher": host, "kind": chosen, "url": target}
    if chosen == "html":
        fields["links"] = links or "main a[href], article a[href]"
    elif links:
        fields["links"] = links
    try:
        return SourceConfig.model_validate(fields)
    except ValueError as exc:
        fail(f"cannot check {target!r}: {exc}")


def print_report(report: CheckReport, selector: str | None) -> None:
    status = report.http_status if report.http_status is not None else "no answer"
    rows = [
        ("source", f"{report.source} ({report.kind}) {report.url}"),
        ("HTTP", str(status)),
        ("robots.txt", report.robots),
        ("links", f"{report.links} found" + (f" by {selector!r}" if selector else "")
         + ("; a next page link too" if report.next_page else "")),
        ("health", f"{report.health.replace('_', ' ')}: {report.reason}"),
    ]
    for label, value in rows:
        console.print(f"[bold]{label:<11}[/]{escape(value)}", highlight=False)
    if report.items:
        console.print(f"[bold]first {len(report.items)} item(s)[/]")
        for n, item in enumerate(report.items, 1):
            date = item.date[:16].replace("T", " ") if item.date else "no date"
            console.print(f" {n}. {escape(item.title or '(no title)')}", highlight=False)
            console.print(f"    {date} · {item.language or '?'} · {escape(item.verdict)}", highlight=False)
            console.print(f"    [dim]{escape(item.url)}[/]", highlight=False)
    if report.problems:
        console.print(f"[bold red]{len(report.problems)} problem(s)[/]")
        for problem, suggestion in report.problems:
            console.print(f" [red]✗[/] {escape(problem)}\n   → {escape(suggestion)}", highlight=False)
    else:
        console.print("[green]no problems found[/]")


def check_cmd(
    target: Annotated[str, typer.Argument(help="A catalogue name, or the URL of a listing, feed or sitemap.")],
    kind: Annotated[Kind | None, typer.Option(help="The kind of an ad-hoc URL (default: guessed from it).")] = None,
    links: Annotated[str | None, typer.Option(help="CSS selector for article links (html), overriding the entry.")]
    = None,
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many articles to fetch and show.")] = 5,
    output: Annotated[Output, typer.Option("--format", help="table or json")] = Output.table,
) -> None:
    """Fetch a source now (robots.txt respected, nothing stored) and show what the spider finds: HTTP status,
    robots.txt verdict, links found, the first items with title, date, language and relevance, and each
    problem with a suggestion. Exit status 1 when there is a problem."""
    from crawler.check import check_source

    source = resolve(target, kind=kind.value if kind else None, links=links)
    report = check_source(source, limit=limit)
    if output is Output.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        selector = source.links or source.item_selector or source.items or source.pattern
        print_report(report, selector)
    if not report.ok:
        raise typer.Exit(1)


def register(sources_app: typer.Typer) -> None:
    sources_app.command("check")(check_cmd)
