"""`milai sources check` and `milai sources add`: try a source now, and add a discovered one."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
import yaml
from rich.markup import escape

from milai.cli.common import EXIT_RUNTIME, console, fail, settings_of

if TYPE_CHECKING:
    from crawler.catalogue import SourceConfig
    from crawler.check import CheckReport
    from milai.config import Settings


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


def resolve(target: str, settings: Settings, *, kind: str | None, links: str | None) -> SourceConfig:
    """The catalogue entry named `target` (or whose URL it is), else an ad-hoc source for the URL `target`."""
    from crawler.catalogue import CatalogueError, SourceConfig, configured_catalogue, suggest

    try:
        catalogue = configured_catalogue(settings)
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
        ("links", f"{report.links} found" + (f" by {selector!r}" if selector else "")),
    ]
    if len(report.pages) > 1 or report.next_page:
        counts = ", ".join(f"{n}: {p.links}" for n, p in enumerate(report.pages, 1))
        capped = f" (max_pages {report.max_pages} reached)" if report.next_page and \
            len(report.pages) >= report.max_pages else ""
        rows.append(("pages", f"{len(report.pages)} listing page(s), links per page {counts}{capped}"))
    rows.append(("health", f"{report.health.replace('_', ' ')}: {report.reason}"))
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
    ctx: typer.Context,
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

    settings = settings_of(ctx)
    source = resolve(target, settings, kind=kind.value if kind else None, links=links)
    report = check_source(source, settings, limit=limit)
    if output is Output.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        selector = source.links or source.item_selector or source.items or source.pattern
        print_report(report, selector)
    if not report.ok:
        raise typer.Exit(EXIT_RUNTIME)


def derive_name(url: str, taken: set[str]) -> str:
    """A catalogue name from the URL: host without www, then the first path segment ("gov-example-news")."""
    parts = urlsplit(url)
    host = (parts.hostname or "site").removeprefix("www.")
    words = [host.replace(".", "-")] + [w for w in parts.path.split("/") if w and not re.fullmatch(r"[a-z]{2}", w)][:1]
    base = re.sub(r"[^a-z0-9-]+", "-", "-".join(words).lower()).strip("-")[:100] or "source"
    if not re.match(r"[a-z0-9]", base) or len(base) < 2:
        base = f"src-{base}".strip("-")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _language(report: CheckReport) -> str | None:
    langs = Counter(i.language for i in report.items if i.language)
    if langs:
        lang, count = langs.most_common(1)[0]
        if count * 2 > len(report.items):
            return lang
    return None


def add_cmd(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Any page of the site: its news page, a feed or a sitemap.")],
    name: Annotated[str | None, typer.Option(help="Catalogue name (default: from the host and path).")] = None,
    publisher: Annotated[str | None, typer.Option(help="Who publishes it (default: the site's name).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=20, help="How many articles to fetch when checking.")] = 5,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be added; write nothing.")] = False,
) -> None:
    """Discover what a site offers (feeds announced by the page, sitemaps from robots.txt or /sitemap.xml, or
    a listing's repeated link pattern), check the best candidate as `sources check` does, and append a
    validated entry with a comment saying what was found to your own catalogue (MILAI_USER_SOURCES)."""
    from crawler.catalogue import CatalogueError, SourceConfig, append_entry, catalogue_path, configured_catalogue
    from crawler.check import discover_and_check

    settings = settings_of(ctx)
    if not url.startswith(("http://", "https://")):
        fail(f"not an http(s) URL: {url!r}")
    try:
        catalogue = configured_catalogue(settings)
    except CatalogueError as exc:
        fail(str(exc))
    taken = {s.name for s in catalogue}
    if name is not None and name in taken:
        fail(f"a source named {name!r} is already in the catalogue; choose another --name")
    chosen_name = name or derive_name(url, taken)
    host = urlsplit(url).hostname or "site"

    def make_source(candidate: Any, title: str | None) -> SourceConfig:
        return SourceConfig.model_validate({"name": chosen_name, "publisher": publisher or title or host,
                                            **candidate.entry()})

    try:
        result = discover_and_check(url, make_source, settings, limit=limit)
    except ValueError as exc:
        fail(f"cannot add {url!r}: {exc}")
    if not result.candidates:
        status = f"HTTP {result.page_status}" if result.page_status else "no answer"
        fail(f"nothing to crawl found at {url} ({status}): no feed link, no sitemap and no repeated link pattern",
             1)
    for candidate, report in zip(result.candidates, result.reports, strict=False):
        mark = "[green]✓[/]" if report is result.report and result.chosen else "[red]✗[/]"
        console.print(f"{mark} {escape(candidate.kind)} {escape(candidate.url)}: {escape(candidate.found)} — "
                      f"{escape(report.reason)}", highlight=False)
    untried = result.candidates[len(result.reports):]
    for candidate in untried:
        console.print(f"  (not tried) {escape(candidate.kind)} {escape(candidate.url)}: {escape(candidate.found)}",
                      highlight=False)
    if result.chosen is None or result.report is None:
        fail("no candidate could be crawled (see above); try `milai sources check URL --kind …`", EXIT_RUNTIME)
    report = result.report
    print_report(report, result.chosen.links or result.chosen.pattern)
    entry = result.chosen.model_dump(mode="json", exclude_defaults=True)
    language = _language(report)
    if language and "language" not in entry:
        entry["language"] = language
    comment = (f"added by `milai sources add {url}` on {datetime.now(UTC):%Y-%m-%d}: {result.found}; "
               f"checked: {report.links} links, {len(report.items)} items read")
    path = settings.user_sources_path
    if dry_run:
        console.print(f"[bold]would add to {path}:[/]\n# {comment}", highlight=False)
        console.print(yaml.safe_dump([entry], allow_unicode=True, sort_keys=False), highlight=False, markup=False)
        return
    try:
        append_entry(path, entry, comment, base=catalogue_path(settings.sources))
    except CatalogueError as exc:
        fail(f"the entry was not added: {exc}")
    console.print(f"[green]added {entry['name']!r} to {path}[/]; crawl it with `milai crawl --source {entry['name']}`",
                  highlight=False)

