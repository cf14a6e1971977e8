"""`milai search` output formats and errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from milai.cli.main import app
from tests.storage.search.seed import seed
from tests.support.db import configured_engine


@pytest.fixture
def ids(milai_env: dict[str, str]) -> dict[str, int]:
    """The seeded search archive (tests/storage/search/seed.py) in the configured database, as the API tests use it."""
    return seed(configured_engine())


def test_json_csv_table(ids: dict[str, int]) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["search", "REAIM", "--format", "json", "--lang", "fr"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == [ids["reaim-fr"]] and rows[0]["published"].startswith("2025-06-01")
    r = runner.invoke(app, ["search", "--all", "--limit", "7", "--format", "json"])
    assert len(json.loads(r.stdout)) == 7
    r = runner.invoke(app, ["search", "--symbol", "A/RES/79/239", "--format", "csv"])
    assert [int(row["id"]) for row in csv.DictReader(io.StringIO(r.stdout))] == [ids["resolution"]]
    r = runner.invoke(app, ["search", "Hague", "--source", "nl-gov", "--since", "2025-01-01"])
    assert r.exit_code == 0 and "Netherlands hosts" in r.stdout


def test_errors_exit_2_without_traceback(ids: dict[str, int]) -> None:
    runner = CliRunner()
    for args in (["search", "--since", "tomorrow"], ["search", "-- [alone", "--limit", "5"], ["search", "-x"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "Traceback" not in r.output
    r = runner.invoke(app, ["search", "NOT"])
    assert r.exit_code in (0, 2) and r.exception is None or isinstance(r.exception, SystemExit)


def test_a_query_may_start_with_a_minus(ids: dict[str, int]) -> None:
    """QA #8: `milai search -REAIM` was parsed as an unknown option (usage error)."""
    runner = CliRunner()
    def ids_of(*args: str) -> set[int]:
        r = runner.invoke(app, list(args))
        assert r.exit_code == 0, r.output
        return {row["id"] for row in json.loads(r.stdout)}

    expected = ids_of("search", "drone* -REAIM", "--all", "--format", "json")
    reaim = ids_of("search", "REAIM", "--all", "--format", "json")
    assert expected and reaim and not expected & reaim
    assert ids_of("search", "-REAIM drone*", "--all", "--format", "json") == expected
    assert ids_of("search", "--all", "--format", "json", "--", "-REAIM drone*") == expected
    r = runner.invoke(app, ["search", "-REAIM"])  # a NOT alone: a clear error, not a usage error
    assert r.exit_code == 2 and "at least one word" in r.output
    r = runner.invoke(app, ["search", "--bogus"])
    assert r.exit_code == 2 and "no such option: --bogus" in r.output


def test_language_nul_and_cursor_errors(ids: dict[str, int]) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["search", "REAIM", "--lang", "english"])
    assert r.exit_code == 2 and "ISO 639-1" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["search", "a\x00b"])
    assert r.exit_code == 2 and "NUL" in r.output
    r = runner.invoke(app, ["search", "drone*", "--all", "--limit", "7", "--format", "json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) >= 1  # paging with cursors bound to the query


def test_csv_with_bom(ids: dict[str, int]) -> None:
    r = CliRunner().invoke(app, ["search", "--lang", "fr", "--format", "csv", "--bom"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("\ufeffid,") and "Systèmes d'armes" in r.stdout
