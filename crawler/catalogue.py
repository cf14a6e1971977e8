"""The source catalogue: a YAML list of sources, validated into SourceConfig models."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import yaml
from apscheduler.triggers.cron import CronTrigger
from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crawler.dates import local_zone
from storage.search import iso639_1

if TYPE_CHECKING:
    from milai.config import Settings

BUNDLED_CATALOGUE = Path(__file__).resolve().parent / "sources.yaml"  # the catalogue shipped with the crawler

SELECTOR_FIELDS = ("links", "next_page", "item_selector", "title_selector", "date_selector", "summary_selector")


class SourceConfig(BaseModel):
    """One catalogue entry (see ../shared/design.md, "Source catalogue")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,118}$")
    publisher: str
    kind: Literal["feed", "sitemap", "html", "json"]
    url: str
    language: str | None = None  # expected ISO 639-1 code
    timezone: str | None = None  # IANA zone of zone-less times on its pages and listings ("Europe/Brussels")
    schedule: str | None = None  # cron expression; a default applies
    enabled: bool = True
    follow: bool = True  # false: trust the listing/feed text instead of fetching articles
    follow_pdfs: bool = False  # true: PDF links inside fetched article pages become items too
    notes: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # html
    links: str | None = None  # CSS selector for article links
    link_regex: str | None = None  # regex over the selected link value (e.g. ::attr(onclick)); group 1 kept
    link_template: str | None = None  # "view.do?seq={}": the kept group formatted in, relative to the page
    next_page: str | None = None  # CSS selector for the next listing page
    max_pages: int = 5
    item_selector: str | None = None  # follow: false -> CSS selector of one listing entry
    title_selector: str | None = None
    date_selector: str | None = None
    summary_selector: str | None = None
    # json
    method: Literal["GET", "POST"] = "GET"
    body: Any | None = None  # JSON body for POST APIs
    items: str | None = None  # dotted path to the result list, e.g. "rawResponse.rawResults"
    link_field: str | None = None  # dotted path inside one result, e.g. "url.raw"
    title_field: str | None = None
    date_field: str | None = None
    summary_field: str | None = None
    link_prefix: str | None = None  # prepended to relative links
    page_param: str | None = None  # query parameter (GET) or dotted body path (POST) holding the page
    page_start: int = 1
    page_step: int = 1
    # sitemap
    pattern: str | None = None  # regex an article URL must match


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a catalogue: where (file, entry, field) and what."""

    file: str
    entry: str  # "#<index> <name>" or "-" for file-level problems
    field: str  # field name or "-"
    message: str

    def __str__(self) -> str:
        return f"{self.file}: entry {self.entry}: field {self.field}: {self.message}"


class CatalogueError(ValueError):
    """An invalid catalogue; the message lists every problem with its file, entry and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem(s) in the source catalogue"
        super().__init__(count + ":\n" + "\n".join(f"  {p}" for p in problems))


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys (a silent overwrite hides a mistake)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The choice nearest to a mistyped `word` ("lnks" -> "links"), or None when none is close."""
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return near[0] if near else None


FIELDS: tuple[str, ...] = tuple(SourceConfig.model_fields)
_KINDS = ("feed", "sitemap", "html", "json")


def _plain_message(error: Any) -> str:
    """A validation error in plain words, naming the nearest valid field or value for a typo."""
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else "-"
    kind = error.get("type")
    given = error.get("input")
    if kind == "extra_forbidden":
        near = suggest(field, FIELDS)
        hint = f"; did you mean {near!r}?" if near else "; see docs/sources.md for the fields"
        return f"unknown field {field!r}{hint}"
    if kind == "missing":
        return f"the field {field!r} is required"
    if kind == "literal_error" and field == "kind" and isinstance(given, str):
        near = suggest(given, _KINDS)
        hint = f"; did you mean {near!r}?" if near else ""
        return f"unknown kind {given!r}: use one of {', '.join(_KINDS)}{hint}"
    if kind == "string_pattern_mismatch" and field == "name":
        return (f"invalid name {given!r}: use 2-119 lower-case letters, digits and hyphens, "
                "starting with a letter or digit")
    return str(error["msg"])


def _entry_label(index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"#{index} {name}" if name else f"#{index}"


def _read(path: Path) -> tuple[list[Any] | None, list[Problem]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(file, "-", "-", f"cannot read file: {exc.strerror or exc}")]
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(file, "-", "-", f"YAML syntax error{where}: {problem}")]
    if isinstance(data, dict):
        data = data.get("sources")
    if not isinstance(data, list):
        return None, [Problem(file, "-", "sources", "expected a list of sources under the key 'sources'")]
    return data, []


def _check_selector(value: str) -> str | None:
    try:
        Selector(text="<html></html>").css(value)
    except Exception as exc:  # cssselect raises SelectorSyntaxError / ExpressionError (both ValueError-like)
        return f"invalid CSS selector {value!r}: {exc}"
    return None


def _check_zone(name: str) -> str | None:
    """Why `name` is no IANA time zone zoneinfo knows (with the nearest one), or None when it is one."""
    try:
        local_zone(name)
    except ValueError:
        near = suggest(name, sorted(zoneinfo.available_timezones()))
        hint = f"; did you mean {near!r}?" if near else " (an IANA name such as 'Europe/Brussels')"
        return f"unknown time zone {name!r}{hint}"
    return None


def _extra_checks(raw: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """(field, message) for rules beyond the field types."""
    kind = raw.get("kind")
    url = raw.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            yield "url", f"must be an absolute http(s) URL, got {url!r}"
    schedule = raw.get("schedule")
    if isinstance(schedule, str):
        try:
            CronTrigger.from_crontab(schedule)
        except ValueError as exc:
            yield "schedule", f"invalid cron expression {schedule!r}: {exc}"
    language = raw.get("language")
    if isinstance(language, str) and language not in iso639_1():
        yield "language", f"not an ISO 639-1 code: {language!r}"
    zone = raw.get("timezone")
    if isinstance(zone, str) and (message := _check_zone(zone)):
        yield "timezone", message
    for name in SELECTOR_FIELDS:
        value = raw.get(name)
        if isinstance(value, str) and (message := _check_selector(value)):
            yield name, message
    for name in ("pattern", "link_regex"):
        value = raw.get(name)
        if isinstance(value, str):
            try:
                re.compile(value)
            except re.error as exc:
                yield name, f"invalid regular expression {value!r}: {exc}"
    template = raw.get("link_template")
    if isinstance(template, str) and "{}" not in template:
        yield "link_template", "must contain '{}' where the link_regex group goes"
    if kind == "html" and not raw.get("links") and not raw.get("item_selector"):
        yield "links", "an html source needs 'links' (article links) or 'item_selector' (listing entries)"
    if kind == "html" and raw.get("follow") is False and not raw.get("item_selector"):
        yield "item_selector", "an html source with follow: false needs 'item_selector'"
    if kind == "json":
        for name in ("items", "link_field"):
            if not raw.get(name):
                yield name, f"a json source needs '{name}'"
    if raw.get("method") == "POST" and kind != "json":
        yield "method", "POST is only supported for json sources"
    prefix = raw.get("link_prefix")
    if isinstance(prefix, str) and urlsplit(prefix).scheme not in ("http", "https"):
        yield "link_prefix", f"must be an absolute http(s) URL, got {prefix!r}"
    max_pages = raw.get("max_pages")
    if isinstance(max_pages, int) and max_pages < 1:
        yield "max_pages", "must be at least 1"


def _parse(path: Path, base: dict[str, dict[str, Any]] | None = None) -> tuple[list[SourceConfig], list[Problem]]:
    """The valid sources of the file at `path` and every problem; with `base` (the bundled entries by name) an
    entry naming a bundled source is merged over it, so a user file may override or disable it by name."""
    file = str(path)
    entries, problems = _read(path)
    if entries is None:
        return [], problems
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        label = _entry_label(index, raw)
        if not isinstance(raw, dict):
            problems.append(Problem(file, label, "-", "an entry must be a mapping of fields"))
            continue
        if base and isinstance(raw.get("name"), str) and raw["name"] in base:
            raw = {**base[raw["name"]], **raw}
        entry_problems: list[Problem] = []
        try:
            source = SourceConfig.model_validate(raw)
        except ValidationError as exc:
            source = None
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "-"
                entry_problems.append(Problem(file, label, field, _plain_message(error)))
        for field, message in _extra_checks(raw):
            entry_problems.append(Problem(file, label, field, message))
        name = raw.get("name")
        if isinstance(name, str):
            if name in seen:
                entry_problems.append(Problem(file, label, "name", f"duplicate name (also entry #{seen[name]})"))
            else:
                seen[name] = index
        problems.extend(entry_problems)
        if source is not None and not entry_problems:
            sources.append(source)
    if not entries and base is None:
        problems.append(Problem(file, "-", "sources", "the catalogue lists no sources"))
    return sources, problems


def _raw_entries(path: Path) -> dict[str, dict[str, Any]]:
    entries, _ = _read(path)
    return {e["name"]: e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("name"), str)}


def catalogue_path(configured: str | Path | None = None) -> Path:
    """The catalogue to read: the configured one (MILAI_SOURCES, a --catalogue option), else the bundled one."""
    return Path(configured) if configured else BUNDLED_CATALOGUE


def merge(bundled: list[SourceConfig], user: list[SourceConfig]) -> list[SourceConfig]:
    """The bundled sources with the user's entries replacing those of the same name, then the user's new ones."""
    by_name = {s.name: s for s in user}
    merged = [by_name.pop(s.name, s) for s in bundled]
    return merged + [s for s in user if s.name in by_name]


def validate_file(path: str | Path, *, base: str | Path | None = None) -> list[Problem]:
    """Every problem in a catalogue file (empty when it is valid); `base`: the catalogue a user file overrides."""
    return _parse(Path(path), _raw_entries(Path(base)) if base is not None else None)[1]


def configured_catalogue(settings: Settings) -> list[SourceConfig]:
    """The catalogue `settings` name (MILAI_SOURCES, else the bundled one) merged with the user's own file
    (MILAI_USER_SOURCES, default <data dir>/sources.yaml) when it exists."""
    return load_catalogue(catalogue_path(settings.sources), user=settings.user_sources_path)


def load_catalogue(path: str | Path, *, user: str | Path | None = None) -> list[SourceConfig]:
    """The sources of the catalogue at `path`, merged with the user file `user` when given and present: its
    entries add sources, or override / disable (`enabled: false`) bundled ones by name; raises CatalogueError
    if invalid."""
    sources, problems = _parse(Path(path))
    if user is not None and Path(user).exists():
        mine, user_problems = _parse(Path(user), _raw_entries(Path(path)))
        problems += user_problems
        sources = merge(sources, mine)
    if problems:
        raise CatalogueError(problems)
    return sources


def append_entry(path: str | Path, entry: dict[str, Any], comment: str, *, base: str | Path | None = None) -> None:
    """Append `entry` (with `comment` above it) to the user catalogue at `path`, creating it when absent; the
    file is validated afterwards (over `base`) and left as it was when that fails (CatalogueError)."""
    target = Path(path)
    before = target.read_text(encoding="utf-8") if target.exists() else None
    header = "# Your own sources (docs/sources.md): merged over the bundled catalogue by name.\nsources:\n"
    text = before if before and before.strip() else header
    if not text.endswith("\n"):
        text += "\n"
    dumped = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=110)
    block = "".join(f"  {line}\n" for line in dumped.splitlines())
    comments = "".join(f"  # {line}\n" for line in comment.splitlines())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n" + comments + block, encoding="utf-8")
    problems = validate_file(target, base=base)
    if problems:
        if before is None:
            target.unlink()
        else:
            target.write_text(before, encoding="utf-8")
        raise CatalogueError(problems)
