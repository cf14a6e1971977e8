"""The CLI's tables fit 80 columns when piped (cron, `| less`) or on a narrow terminal: long columns wrap or end
in an ellipsis, low-priority columns give way; COLUMNS still widens them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from milai.cli.main import app
from storage.database import ensure_schema
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.db import configured_engine

runner = CliRunner()

LONG = ("Statement by the Permanent Representative at the Group of Governmental Experts on Lethal Autonomous "
        "Weapons Systems, Convention on Certain Conventional Weapons, Geneva")


@pytest.fixture
def env(milai_env: dict[str, str]) -> dict[str, str]:
    ensure_schema(configured_engine())
    return milai_env


def _lines(args: list[str], columns: str | None = None, **env: str | None) -> list[str]:
    result = runner.invoke(app, args, env={"COLUMNS": columns, **env})  # None: unset, as under cron
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _assert_fits(lines: list[str], width: int = 80) -> None:
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, "\n".join(too_long)
    # ...and not by cropping: every row of the table ends with its right border
    cropped = [line for line in lines if line[:1] in "┏┃┡│└" and line[-1:] not in "┓┃┩│┘"]
    assert not cropped, "\n".join(lines)


def test_search_table_fits_80_columns(env: dict[str, str]) -> None:
    for i in range(3):
        add_item(title=f"{LONG} ({i})", publisher="Ministry of Foreign Affairs of the Kingdom of the Netherlands",
                 source="a-source-with-a-rather-long-name", matches=["lethal autonomous weapons systems",
                                                                      "group of governmental experts"])
    lines = _lines(["search", "autonomous"])
    _assert_fits(lines)
    text = "\n".join(lines)
    assert "showing 3 of 3 matching items" in text and "Statement" in text
    wide = _lines(["search", "autonomous"], columns="250")
    assert max(len(line) for line in wide) > 80  # COLUMNS still widens it


def test_sources_list_fits_80_columns(env: dict[str, str]) -> None:
    lines = _lines(["sources", "list"], MILAI_SOURCES=None)  # the bundled catalogue: real names and reasons
    _assert_fits(lines)
    assert "sources" in lines[0] and "un-" in "\n".join(lines)


def test_subscriptions_list_fits_80_columns(env: dict[str, str]) -> None:
    subscribe(target="a.very.long.address.of.an.analyst@ministry-of-defence.example.org", label="LAWS at the UN",
              query='"lethal autonomous weapons" AND (UN OR NATO OR "European Union") NOT cyber',
              publishers=["United Nations"], languages=["en", "fr"], timezone="Europe/Paris")
    subscribe(channel="webhook", target="https://hooks.example.org/milai/receiver/with/a/long/path", secret=SECRET,
              frequency="immediate")
    lines = _lines(["subscriptions", "list"])
    _assert_fits(lines)
    assert "webhook" in "\n".join(lines) and "LAWS at the UN" in "\n".join(lines)
    _assert_fits(_lines(["subscriptions", "list"], columns="64"), 64)  # a narrow terminal's COLUMNS
    wide = _lines(["subscriptions", "list"], columns="250")
    assert max(map(len, wide)) > 80 and len(wide) < len(lines)  # COLUMNS widens it: one column per field


def test_tokens_list_fits_80_and_narrow_columns(env: dict[str, str]) -> None:
    assert _lines(["tokens", "list"]) == ["no tokens"]
    too_long = runner.invoke(app, ["tokens", "create", f"the nightly export job of the {LONG}"])
    assert too_long.exit_code == 2 and "at most 120 characters" in too_long.output  # not a DataError on PostgreSQL
    for name in ("ci", f"the nightly export job of the {LONG}"[:120]):
        assert runner.invoke(app, ["tokens", "create", name]).exit_code == 0
    assert runner.invoke(app, ["tokens", "revoke", "1"]).exit_code == 0
    lines = _lines(["tokens", "list"])
    _assert_fits(lines)
    text = "\n".join(lines)
    assert "2 token(s)" in text and "revoked" in text and "active" in text and "nightly export" in text
    _assert_fits(_lines(["tokens", "list"], columns="50"), 50)
    wide = _lines(["tokens", "list"], columns="250")
    assert max(map(len, wide)) > 80 and len(wide) < len(lines)  # COLUMNS widens it: the name on one line


def test_crawl_summary_table_fits_80_and_narrow_terminals() -> None:
    """The terminal's end-of-crawl summary (a live display only draws it on a terminal, so it is rendered here on
    a Rich console of each width, as `milai crawl` does with the terminal's)."""
    from rich.console import Console

    from crawler.runner import SourceSummary
    from milai.cli.crawl import _table

    summaries = [
        SourceSummary(name="un-news-peace-and-security-all-languages", status="ok", fetched=120, new=14, updated=2,
                      duplicate=7, off_topic=90),
        SourceSummary(name="ministry-of-defence-of-the-netherlands", status="failed", errors=3,
                      error="IgnoreRequest: robots.txt unreachable (DownloadConnectionRefusedError): not crawling "
                            "www.defensie.example this run (RFC 9309) (https://www.defensie.example/actueel/nieuws)"),
    ]
    for width in (80, 50, 250):
        out = Console(width=width, record=True, color_system=None)
        out.print(_table(summaries, width))
        lines = out.export_text().splitlines()
        _assert_fits(lines, width)
        body = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
        note = "".join(row[-1].strip() for row in body)
        assert "(https://www.defensie.example/actueel/nieuws)" in note  # the whole error, wrapped, not cropped
        if width < 120:
            counts = " ".join(row[1].strip() for row in body)
            assert "14 new" in counts and "90 off-topic" in counts and "3 errors" in counts
            assert "133 fetched" not in counts and "120 fetched" in counts
