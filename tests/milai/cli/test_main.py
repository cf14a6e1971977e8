"""The `milai` entry point: the exit-status table of the README (0 done, 1 runtime failure or not found,
2 usage or configuration error) on every command, and one line naming cause and place when the database
cannot be used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from milai.cli.common import EXIT_NOT_FOUND, EXIT_RUNTIME, EXIT_USAGE
from milai.cli.main import app

runner = CliRunner()

COMMANDS = [["search", "drone"], ["sources", "list"], ["subscriptions", "list"], ["digest", "send"],
            ["tokens", "list"], ["db", "upgrade"]]


def _run(args: list[str], url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILAI_")}
    env |= {"MILAI_DATABASE_URL": url, "MILAI_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "milai", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("url", "where", "cause"), [
    ("sqlite:///{tmp}/a-directory", "{tmp}/a-directory", "the database file cannot be opened"),
    ("postgresql://milai:s3cret-pw@127.0.0.1:1/milai", "postgresql at 127.0.0.1:1/milai",
     "the database server refused the connection"),
])
def test_one_line_naming_cause_and_place(url: str, where: str, cause: str, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    for args in COMMANDS:
        done = _run(args, url.format(tmp=tmp_path), tmp_path)
        assert done.returncode == 1, (args, done.stderr[-500:])
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, done.stderr[-800:])
        assert "database unavailable" in lines[0] and cause in lines[0] and where.format(tmp=tmp_path) in lines[0]
        assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr + done.stdout


def test_the_exit_statuses_are_the_readme_table() -> None:
    assert (EXIT_RUNTIME, EXIT_NOT_FOUND, EXIT_USAGE) == (1, 1, 2)


@pytest.mark.parametrize("args", [
    ["subscriptions", "pause", "999"],
    ["subscriptions", "resume", "999"],
    ["subscriptions", "delete", "999"],
    ["tokens", "revoke", "999"],
])
def test_an_id_that_names_nothing_exits_1(args: list[str], milai_env: dict[str, str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "no " in result.output and "999" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["search", "drone", "--format", "xml"],
    ["sources", "list", "--format", "xml"],
    ["crawl", "--format", "xml"],
    ["crawl", "--source", "no-such-source"],
    ["search", "drone", "--sort", "sideways"],
    ["search", "drone", "--lang", "english"],
    ["subscribe", "email", "not-an-address"],
    ["subscriptions", "pause", "not-a-number"],
    ["db", "upgrade", "--no-such-option"],
])
def test_usage_errors_exit_2(args: list[str], milai_env: dict[str, str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (args, result.output)
    assert "Traceback" not in result.output


def test_every_format_option_lists_its_choices() -> None:
    for args in (["search", "--help"], ["sources", "list", "--help"], ["crawl", "--help"]):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "table" in result.output and "json" in result.output, args


@pytest.mark.postgres
@pytest.mark.slow
def test_a_read_only_database_is_one_line_from_every_writing_command_and_503_from_the_api(tmp_path: Path) -> None:
    """PostgreSQL with default_transaction_read_only (a standby, a database put read-only by its operator): every
    command that writes says so in one line naming the host and exits 1; a writing route answers 503; reads work."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text

    from api.app import create_app
    from api.auth import create_token
    from milai.config import Settings
    from storage.database import make_engine, session_scope
    from tests.conftest import PG_ADMIN_URL, _pg_url

    urls = _pg_url()
    url = next(urls)
    try:
        engine = make_engine(url)
        with session_scope(engine) as session:
            token = create_token(session, "read-only test")[1]
        engine.dispose()
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET default_transaction_read_only = on'))
        admin.dispose()
        for args in (["tokens", "create", "x"], ["subscribe", "email", "a@example.org", "--query", "drone"]):
            done = _run(args, url, tmp_path)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            assert done.returncode == 1 and len(lines) == 1, (args, done.stderr[-800:])
            assert "database unavailable: the database is read-only" in lines[0] and "127.0.0.1:5432" in lines[0]
        assert _run(["search", "drone"], url, tmp_path).returncode == 0
        with TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False) as client:
            assert client.get("/api/items").status_code == 200
            r = client.post("/api/subscriptions", headers={"Authorization": f"Bearer {token}"},
                            json={"channel": "email", "target": "a@example.org", "query": "drone"})
            assert r.status_code == 503, r.text
            assert r.json()["detail"].startswith("The archive's database cannot be used")
    finally:
        next(urls, None)
